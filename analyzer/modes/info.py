"""``kref-lint explain RULE``, ``kref-lint rules``, ``kref-lint rules --models`` (the schema of
the rule files) and ``kref-lint rules --apis`` (the API models and the kernel versions they hold
in): the rules' own documentation."""
from __future__ import annotations

from analyzer import kversion
from analyzer.models import RULES_DIR, ModelError, sections, tomllib
from analyzer.modes.settings import UsageError, did_you_mean, known_rule_ids
from checkers import all_rules

VERSIONS_NOTE = (
    "\n## Kernel versions\n\nThe API models this rule reads are those of the analyzed "
    "kernel's version (its top-level Makefile, or --kernel-version X.Y; unknown: the "
    "newest). `kref-lint rules --apis --versioned --kernel-version X.Y` lists the ones "
    "that depend on it (e.g. try_grab_folio(): a speculative get up to 6.9, a pin of a "
    "held folio from 6.10).\n")


def explain(rule_id: str, markdown: bool = False) -> str:
    for rule in all_rules():
        if rule.id == rule_id:
            return (rule.markdown() if markdown else rule.text()) + VERSIONS_NOTE
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


def apis_table(kernel: str | None = None, versioned_only: bool = False) -> str:
    """Every model of the built-in rule files, one line per version variant: section, API,
    the versions it holds in (since inclusive, until exclusive) and ``*`` on the variant
    the analysis of a ``kernel`` tree uses (None: the newest models)."""
    try:
        version = kversion.parse(kernel) if kernel else None
    except ValueError as exc:
        raise UsageError(f"--kernel-version: {exc}") from None
    lines = [f"API models for kernel {kernel or 'unknown (the newest models)'}; "
             "* = used, versions: since <= v < until"]
    for path in sorted(RULES_DIR.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        try:
            chosen = kversion.select(data, version, str(path), text)
        except ModelError as exc:
            raise UsageError(str(exc)) from None
        for section, table in data.items():
            for api, entry in table.items():
                listed = kversion.variants(entry, text, section, api, 0)
                ranges = [kversion.range_text(v.get("since"), v.get("until"))
                          for v, _ in listed]
                if versioned_only and not any(ranges):
                    continue
                for (variant, _), where in zip(listed, ranges):
                    used = "*" if variant is chosen.get((section, api)) else " "
                    effect = ", ".join(f"{k}={v}" for k, v in variant.items()
                                       if k not in kversion.KEYS)
                    lines.append(f"{used} {path.stem:11} {section:16} {api:32} "
                                 f"{where or 'all versions':18} {effect}".rstrip())
    return "".join(line + "\n" for line in lines)
