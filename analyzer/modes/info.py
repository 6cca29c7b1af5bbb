"""``kref-lint explain RULE``, ``kref-lint rules`` and ``kref-lint rules --models``: the
rules' own documentation and the schema of the rule files."""
from __future__ import annotations

from analyzer.models import sections
from analyzer.modes.settings import UsageError, did_you_mean, known_rule_ids
from checkers import all_rules


def explain(rule_id: str, markdown: bool = False) -> str:
    for rule in all_rules():
        if rule.id == rule_id:
            return rule.markdown() if markdown else rule.text()
    known = known_rule_ids()
    raise UsageError(f"unknown rule '{rule_id}'{did_you_mean(rule_id, known)}; known rules: "
                     f"{', '.join(known)}")


def rules_table(markdown: bool = False) -> str:
    lines = ["| rule id | precision | finds |", "|---|---|---|"] if markdown else []
    for r in all_rules():
        lines.append(f"| `{r.id}` | {r.precision} | {r.summary} |" if markdown
                     else f"{r.id:32} {r.precision:8} {r.summary}")
    return "".join(line + "\n" for line in lines)


def models_table(markdown: bool = False) -> str:
    """Every model section (``[section.api]`` in rules/*.toml): its owner, the event it
    produces and its keys, from the sections' own declarations."""
    lines = ["| section | owner | event | keys | what |", "|---|---|---|---|---|"] \
        if markdown else []
    for name, cls in sections().items():
        keys = []
        for key, spec in cls.schema().items():
            kind = "|".join(spec.choices) if spec.choices else spec.types[0].__name__
            keys.append(f"{key}{'' if spec.required else '?'}={kind}")
        event = f"on_{cls.event()}" if cls.event() else "-"
        if markdown:
            lines.append(f"| `{name}` | {cls.OWNER} | {event} | {', '.join(keys)} | "
                         f"{cls.doc()} |")
            continue
        lines.append(f"[{name}]  ({cls.OWNER}; {event}) {cls.doc()}")
        for key, spec in cls.schema().items():
            kind = "|".join(spec.choices) if spec.choices else spec.types[0].__name__
            req = "required" if spec.required else "optional"
            lines.append(f"    {key:15} {kind:38} {req:9} {spec.doc}".rstrip())
    return "".join(line + "\n" for line in lines)
