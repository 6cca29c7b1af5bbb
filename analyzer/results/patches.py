"""What ``check-patch`` found: each new finding attributed to the patch of the series
that introduced it, with the hunk (or the lines around it) to quote in the reply, and the
findings each patch leaves in the files it touches (the "All warnings" list)."""
from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.inputs.diff import Hunk
from analyzer.inputs.mbox import Patch, Series
from analyzer.result import Finding, Notification
from analyzer.results.outcome import LineTexts, Stats

# The parsed patch types are part of this result's vocabulary: reports take them from here.
__all__ = ["Hunk", "Patch", "PatchFinding", "Series", "SeriesResult"]


@dataclass
class PatchFinding:
    patch: Patch
    finding: Finding                    # paths in the tree; lines after this patch
    fingerprint: str = ""               # krefLint/v1, in the tree after this patch
    hunk: Hunk | None = None         # the hunk of the patch holding the line
    context: list[tuple[int, str]] = field(default_factory=list)   # when no hunk does
    fixed_by: Patch | None = None    # a later patch of the series removes it
    lines: LineTexts = field(default_factory=dict)    # the lines it names, after the patch
    line_hash: str = ""                 # GitHub's primaryLocationLineHash, after the patch


@dataclass
class SeriesResult:
    series: Series
    tree: str
    findings: list[PatchFinding] = field(default_factory=list)     # new, per patch
    notifications: list[Notification] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    tree_commit: str = ""               # HEAD of the tree, when it is a git tree
    #: patch index -> every finding in the files it touches, after it (new ones too)
    after: dict[int, list[Finding]] = field(default_factory=dict)
    after_lines: dict[int, LineTexts] = field(default_factory=dict)
    #: (patch index, tree-relative path) -> the file's text after that patch, for the
    #: files findings are reported in (SARIF embeds them: the tree has the old text)
    versions: dict[tuple[int, str], str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """The commit the series applies to: its ``base-commit:`` trailer, else the
        tree's HEAD (``""`` when neither is known)."""
        return self.series.base_commit or self.tree_commit

    def of(self, patch: Patch) -> list[PatchFinding]:
        return [pf for pf in self.findings if pf.patch is patch]
