"""What analyzing one file gives (:class:`FileOutcome`, as a worker returns it and the
cache stores it) and the counters summed over a run (:class:`Stats`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.result import Finding, Notification

#: (file, line) -> the raw text of that line (tabs kept): what text output needs for
#: gcc's display columns and the mail for its carets, whatever happens to the file later.
LineTexts = dict[tuple[str, int], str]


@dataclass(slots=True)
class Stats:
    files: int = 0
    functions: int = 0
    degraded: int = 0
    degraded_functions: int = 0   # functions with at least one degraded statement
    failed_files: int = 0
    skipped: int = 0              # not parsed: names no API a checker starts from

    def add(self, other: Stats) -> None:
        self.files += other.files
        self.functions += other.functions
        self.degraded += other.degraded
        self.degraded_functions += other.degraded_functions
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
    suppressed: list[Finding] = field(default_factory=list)   # findings ignored in source
    lines: LineTexts = field(default_factory=dict)            # lines the findings name
    line_hashes: dict[tuple[str, int], str] = field(default_factory=dict)  # GitHub's
    #: the tree-wide summaries the result used: (called name, digest of its facts, ""
    #: for none); a cached result is valid while each is still the same
    summaries_used: tuple[tuple[str, str], ...] = ()

    def fail(self, message: str, kind: str) -> FileOutcome:
        """Mark the file as not analyzed, for ``message``; returns self."""
        self.notifications.append(Notification(message, self.path, 0, "error", kind))
        self.stats = Stats(files=1, failed_files=1)
        return self
