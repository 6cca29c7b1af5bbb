"""``kref-lint explain RULE`` and ``kref-lint rules``: the rules' own documentation."""
from __future__ import annotations

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
