"""What the analysis core produces: findings (with the path that leads to them) and
notifications (files or functions that could not be analyzed fully).  What a file or a
run gives as a whole (outcomes, statistics, baselines) is in :mod:`analyzer.results`."""
from __future__ import annotations

from dataclasses import dataclass

from analyzer.ir import Span, fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Step:
    """One event on the path to a finding: becomes a SARIF threadFlowLocation."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    message: str
    span: Span                      # the reported statement
    function: str
    trail: tuple[Step, ...] = ()    # origin ... finding, in order (SARIF codeFlow)
    related: tuple[Step, ...] = ()  # the origin site(s) (SARIF relatedLocations)
    snippet: str = ""               # the source text of the reported line, stripped
    suppression: str = ""           # the justification of an in-source suppression

    def sort_key(self):
        return (self.span.file, self.span.line, self.span.col, self.rule_id, self.message)


@dataclass(frozen=True, slots=True)
class Notification:
    """A problem with the input or the analysis, never silently dropped.

    ``level`` is ``error`` (a file could not be analyzed), ``warning`` (analyzed partly:
    degraded statements, budget exceeded) or ``note``."""

    message: str
    file: str = ""
    line: int = 0
    level: str = "warning"
    kind: str = "analysis"          # stable short id: parse-error, unreadable, budget, ...
