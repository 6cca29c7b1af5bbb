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
from dataclasses import dataclass, field, replace

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
    #: kind -> how many diagnostics (exact repeats counted once), before :meth:`condense`
    #: grouped them: what ``--statistics`` and JSON's ``by_diagnostic`` count
    diagnostic_totals: Counter | None = None

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

    @property
    def not_analyzed(self) -> list[str]:
        """The files (or, for a run-level error, "") that were not analyzed, or not
        completely: every ``error`` notification says one was.  A run with any is
        incomplete (exit 2, see :func:`incomplete_line`)."""
        return not_analyzed(self.notifications)

    def rule_counts(self) -> Counter:
        """rule id -> number of failing findings (``--statistics``)."""
        return Counter(f.rule_id for f in self.failing)

    def diagnostic_counts(self) -> Counter:
        """notification kind -> how many (``--statistics``, the stderr summary)."""
        if self.diagnostic_totals is not None:
            return Counter(self.diagnostic_totals)
        return Counter(n.kind for n in self.notifications)

    def condense(self, detailed: bool = False) -> None:
        """Drop exact repeats of a notification; unless ``detailed`` (``-v``,
        ``--show-diagnostics``), group the rest per file, kind and level: see
        :func:`condense`."""
        unique = dedup(self.notifications)
        self.diagnostic_totals = Counter(n.kind for n in unique)
        self.notifications = unique if detailed else group(unique)


def not_analyzed(notifications: Iterable[Notification]) -> list[str]:
    """The distinct files named by ``error`` notifications, in order."""
    return list(dict.fromkeys(n.file for n in notifications if n.level == "error"))


def incomplete_line(files: list[str]) -> str:
    """The last word of an incomplete run (exit 2), on stderr whatever ``-q`` says."""
    n = len(files)
    return (f"kref-lint: error: {n} file{'s' if n != 1 else ''} not analyzed (listed "
            "above): the report is incomplete (exit 2); it has every finding of the "
            "files that were")


def dedup(notifications: Iterable[Notification]) -> list[Notification]:
    """The notifications without exact repeats (a header's problem reported once per
    TU that read it, a statement degraded in every expansion of one macro), in order."""
    return list(dict.fromkeys(notifications))


#: How many lines a grouped notification lists.
_GROUP_LINES = 8


def group(notifications: Iterable[Notification]) -> list[Notification]:
    """One notification per file, kind and level, with a count and the lines, where a
    file has several (``parse-error`` on every unreadable top-level macro): ``N x
    [kind] at lines A, B, ...; first: MESSAGE``, on the first line.  Errors (a file
    not analyzed) and notes about the whole run are kept as they are.  Deterministic,
    and per file: shards grouped alone merge to what one run groups."""
    order: list[Notification | tuple[str, str, str]] = []
    groups: dict[tuple[str, str, str], list[Notification]] = {}
    for n in notifications:
        if not n.file or n.level == "error":
            order.append(n)
            continue
        key = (n.file, n.kind, n.level)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(n)
    out: list[Notification] = []
    for item in order:
        if isinstance(item, Notification):
            out.append(item)
            continue
        members = groups[item]
        if len(members) == 1:
            out.append(members[0])
            continue
        first = min(members, key=lambda n: (n.line, n.message))
        lines = sorted({n.line for n in members if n.line})
        where = ""
        if lines:
            shown = ", ".join(map(str, lines[:_GROUP_LINES]))
            more = f" and {len(lines) - _GROUP_LINES} more" if len(lines) > _GROUP_LINES else ""
            where = f" at line{'s' if len(lines) > 1 else ''} {shown}{more}"
        out.append(replace(first, message=f"{len(members)} x [{first.kind}]{where} "
                                          f"(-v lists each); first: {first.message}"))
    return out
