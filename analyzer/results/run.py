"""One run's results, as every report writer receives them.

:class:`RunResult` gathers the file outcomes of a run: the active and the suppressed
findings (sorted), every notification, the summed :class:`Stats`, the source lines the
findings name (for display columns and quoting) and GitHub's line hashes, and -- with
``--baseline`` or ``--diff`` -- the comparison with the baseline.  :class:`RunInfo` says
what ran: the tool version, the command line, the SARIF automation id and the version
control state of the tree.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from analyzer.result import Finding, Notification
from analyzer.results.baseline import Comparison
from analyzer.results.outcome import FileOutcome, LineTexts, Stats


@dataclass(frozen=True)
class Provenance:
    """The tree's version control state (SARIF ``versionControlProvenance``)."""

    repository_uri: str              # the remote's URL, credentials removed ("" if none)
    revision: str                    # the commit checked out
    branch: str = ""


@dataclass(frozen=True)
class RunInfo:
    """What ran: written into SARIF ``tool``, ``invocations``, ``automationDetails``."""

    tool_version: str
    command_line: str = ""
    automation_id: str | None = None
    provenance: Provenance | None = None
    properties: dict | None = None        # SARIF run.properties (the kernel version)


@dataclass
class RunResult:
    root: str                                         # paths are reported relative to it
    findings: list[Finding] = field(default_factory=list)       # active, sorted
    suppressed: list[Finding] = field(default_factory=list)     # in-source ignores
    notifications: list[Notification] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    lines: LineTexts = field(default_factory=dict)
    line_hashes: dict[tuple[str, int], str] = field(default_factory=dict)
    comparison: Comparison | None = None           # --baseline / --diff
    elapsed: float = 0.0                               # seconds

    @classmethod
    def from_outcomes(cls, outcomes: Iterable[FileOutcome], root: str,
                      notifications: Iterable[Notification] = ()) -> RunResult:
        run = cls(root, notifications=list(notifications))
        for o in outcomes:
            run.findings += o.findings
            run.suppressed += o.suppressed
            run.notifications += o.notifications
            run.stats.add(o.stats)
            run.lines.update(o.lines)
            run.line_hashes.update(o.line_hashes)
        run.findings.sort(key=Finding.sort_key)
        run.suppressed.sort(key=Finding.sort_key)
        return run

    @property
    def failing(self) -> list[Finding]:
        """The findings that fail the run: the new ones when compared with a baseline."""
        return self.comparison.new if self.comparison is not None else self.findings

    def rule_counts(self) -> Counter:
        """rule id -> number of failing findings (``--statistics``)."""
        return Counter(f.rule_id for f in self.failing)

    def diagnostic_counts(self) -> Counter:
        """notification kind -> how many (``--statistics``, the stderr summary)."""
        return Counter(n.kind for n in self.notifications)
