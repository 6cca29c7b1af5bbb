"""What an analysis produces: findings (with the path that leads to them) and
notifications (files or functions that could not be analyzed fully)."""
from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.ir import Span


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


@dataclass(slots=True)
class Stats:
    files: int = 0
    functions: int = 0
    degraded: int = 0
    failed_files: int = 0
    skipped: int = 0              # not parsed: names no API a checker starts from

    def add(self, other: "Stats") -> None:
        self.files += other.files
        self.functions += other.functions
        self.degraded += other.degraded
        self.failed_files += other.failed_files
        self.skipped += other.skipped


@dataclass(slots=True)
class FileOutcome:
    """The result of analyzing one file, as a worker returns it (picklable)."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    headers: tuple[str, ...] = ()     # files the result also depends on (clang includes)
    covered: tuple[str, ...] = ()     # headers whose functions were analyzed with this TU

    def fail(self, message: str, kind: str) -> "FileOutcome":
        """Mark the file as not analyzed, for ``message``; returns self."""
        self.notifications.append(Notification(message, self.path, 0, "error", kind))
        self.stats = Stats(files=1, failed_files=1)
        return self
    suppressed: list[Finding] = field(default_factory=list)   # findings ignored in source
