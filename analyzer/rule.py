"""A rule: one diagnostic with a stable id, and its documentation.

The documentation is written once, beside the checker, in fixed sections; it feeds
``kref-lint explain``, the README rule table and the SARIF reportingDescriptor."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    id: str                 # kebab-case, stable public contract
    name: str               # PascalCase, SARIF reportingDescriptor.name
    summary: str            # one line: what it finds
    what: str               # What it does
    why: str                # Why is this bad? (kernel reasoning)
    example: str            # bad C code
    instead: str            # good C code
    limits: str             # known limits
    level: str = "warning"  # SARIF level
    precision: str = "high"  # CodeQL-style: very-high | high | medium | low
    tags: tuple[str, ...] = ()
    #: Rules that tell this one's story better: a finding of this rule is left out when a
    #: finding of one of them in the same function starts at the same place (its first
    #: related location is among theirs): one reference, one finding.
    defers_to: tuple[str, ...] = ()

    def markdown(self) -> str:
        """The full documentation as Markdown (explain, SARIF help.markdown)."""
        return (
            f"# {self.id}\n\n{self.summary}\n\n"
            f"## What it does\n\n{self.what.strip()}\n\n"
            f"## Why is this bad?\n\n{self.why.strip()}\n\n"
            f"## Example\n\n```c\n{self.example.strip()}\n```\n\n"
            f"## Use instead\n\n```c\n{self.instead.strip()}\n```\n\n"
            f"## Suppressing\n\nAdd `/* kref-lint: ignore[{self.id}] reason */` on the "
            f"reported line or the line before it.\n\n"
            f"## Known limits\n\n{self.limits.strip()}\n"
        )

    def text(self) -> str:
        """The documentation as plain text for a terminal."""
        return self.markdown().replace("```c\n", "").replace("```\n", "")
