"""gcc-style text, the format editors' quickfix lists, terminals and grep understand.

One line per finding, gcc's conventions (columns count a tab to the next multiple of 8,
as gcc and sparse print them)::

    mm/gup.c:120:9: warning: 'folio' from folio_try_get() is used ... [speculative-get-unvalidated]

with ``show_path``, followed by the path that leads to it in gcc's own note format (the
finding's own line is not repeated)::

    mm/gup.c:112:15: note: 'ptep' read locklessly by ptep_get_lockless()

Tool diagnostics are never written like findings: they start with ``kref-lint:`` (as gcc
prints ``cc1: warning: ...``) and go to stderr::

    kref-lint: error: mm/broken.c: cannot read file: Permission denied [unreadable]

A finding is a ``warning`` whatever its SARIF level (kbuild's ``-Wsparse-error`` makes it
an ``error``): the exit code, not the word, says whether the run failed.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from analyzer.ir import Span
from analyzer.result import Finding, Notification
from analyzer.results.identity import display_column, display_path
from analyzer.results.outcome import LineTexts, Stats
from analyzer.results.run import RunResult
from analyzer.rule import Rule


def position(span: Span, root: str, lines: LineTexts) -> str:
    """``path:line:col`` (gcc's display column), leaving out what is unknown (0)."""
    text = display_path(span.file, root)
    if span.line > 0:
        text += f":{span.line}"
        if span.col > 0:
            line = lines.get((span.file, span.line))
            col = display_column(line, span.col) if line is not None else span.col
            text += f":{col}"
    return text


def finding_lines(finding: Finding, root: str, lines: LineTexts, show_path: bool = False,
                  level: str = "warning") -> list[str]:
    """The finding's line, and with ``show_path`` one ``note:`` per step that leads to
    it (the step at the finding's own position is the finding: not repeated)."""
    out = [f"{position(finding.span, root, lines)}: {level}: {finding.message} "
           f"[{finding.rule_id}]"]
    if show_path:
        here = (finding.span.file, finding.span.line, finding.span.col)
        for step in finding.trail:
            if (step.span.file, step.span.line, step.span.col) == here:
                continue
            out.append(f"{position(step.span, root, lines)}: note: {step.message}")
    return out


def format_findings(findings: Iterable[Finding], root: str, lines: LineTexts,
                    show_path: bool = False, suppressed: Iterable[Finding] = (),
                    level: str = "warning") -> str:
    """Every finding (and ``suppressed`` one, as ``note: suppressed: ... (reason)``)
    sorted by path, line, column and rule; ``""`` when there is none."""
    entries: list[tuple[tuple, list[str]]] = []
    for f in findings:
        entries.append((_key(f, root), finding_lines(f, root, lines, show_path, level)))
    for f in suppressed:
        entries.append((_key(f, root), [f"{position(f.span, root, lines)}: note: "
                                        f"suppressed: {f.message} [{f.rule_id}] "
                                        f"({f.suppression})"]))
    entries.sort(key=lambda entry: entry[0])
    return "".join(line + "\n" for _, group in entries for line in group)


def _key(f: Finding, root: str) -> tuple:
    return (display_path(f.span.file, root), f.span.line, f.span.col, f.rule_id, f.message,
            f.function)


def format_text(run: RunResult, cwd: str, show_path: bool = False,
                show_suppressed: bool = False) -> str:
    """A run's failing findings, paths relative to ``cwd`` (absolute outside it)."""
    return format_findings(run.failing, cwd, run.lines, show_path,
                           run.suppressed if show_suppressed else ())


# --------------------------------------------------------------------------- diagnostics
def diagnostic_line(note: Notification, cwd: str) -> str:
    where = ""
    if note.file:
        where = display_path(note.file, cwd) + (f":{note.line}" if note.line > 0 else "")
        where += ": "
    return f"kref-lint: {note.level}: {where}{note.message} [{note.kind}]"


#: How the one-line summary names the files with diagnostics of a kind.
_KIND_PHRASES = {"parse-error": "with parse problems", "degraded": "with degraded statements",
                 "encoding": "not valid UTF-8", "empty": "empty",
                 "suppression": "with malformed suppressions",
                 "frontend": "read by tree-sitter instead", "symlink-loop": "symlink loops",
                 "clang-flags": "with ignored compile flags",
                 "skipped": "skipped (not a regular file)",
                 "duplicate-directory": "directories reached twice through links",
                 "frontend-output": "with frontend output on stderr"}


def diagnostics_summary(notes: Sequence[Notification]) -> str:
    """One line for the per-file diagnostics that are not errors (errors, and notes about
    the whole run, are always listed), or ``""``: ``kref-lint: 186 files with parse
    problems, 165 with degraded statements (--show-diagnostics lists them)``."""
    files: dict[str, set[str]] = {}
    for n in notes:
        if n.level != "error" and n.file:
            files.setdefault(n.kind, set()).add(n.file)
    if not files:
        return ""
    parts = []
    for i, (kind, where) in enumerate(sorted(files.items(), key=lambda kv: (-len(kv[1]),
                                                                            kv[0]))):
        count = len(where)
        phrase = _KIND_PHRASES.get(kind, f"[{kind}]")
        noun = ("file" if count == 1 else "files") + " " if i == 0 else ""
        parts.append(f"{count} {noun}{phrase}")
    return f"kref-lint: {', '.join(parts)} (--show-diagnostics lists them)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary_line(stats: Stats, n_findings: int) -> str:
    """One line for the end of a run, e.g.
    ``kref-lint: 12 files, 340 functions, 3 statements degraded, 2 findings``;
    ``, N files failed`` is added when some could not be analyzed."""
    parts = [
        _count(stats.files, "file"),
        _count(stats.functions, "function"),
        _count(stats.degraded, "statement") + " degraded",
    ]
    if stats.failed_files:
        parts.append(_count(stats.failed_files, "file") + " failed")
    if stats.skipped:
        parts.append(f"{stats.skipped} not parsed (no API of interest)")
    parts.append(_count(n_findings, "finding"))
    return "kref-lint: " + ", ".join(parts)


def statistics(run: RunResult, rules: Sequence[Rule]) -> str:
    """``--statistics``: failing findings per rule, most frequent first (as
    ``ruff --statistics``), then diagnostics per kind."""
    summaries = {r.id: r.summary for r in rules}
    counts: Counter = run.rule_counts()
    out = []
    if counts:
        width = len(str(max(counts.values())))
        for rule_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"{n:>{width}}\t{rule_id}\t{summaries.get(rule_id, '')}".rstrip())
    diags: Counter = run.diagnostic_counts()
    if diags:
        if out:
            out.append("")
        width = len(str(max(diags.values())))
        for kind, n in sorted(diags.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"{n:>{width}}\t[{kind}]\tdiagnostic")
    out += _coverage(run)
    return "".join(line + "\n" for line in out)


def _percent(good: int, total: int) -> str:
    # floor, not round: 99.996% is not shown as 100.00%
    return f"{int(10000 * good / total) / 100:.2f}%" if total else "-"


def _coverage(run: RunResult) -> list[str]:
    """The parse coverage lines of ``--statistics``: parsed files without a parse-error
    diagnostic, functions without a degraded statement."""
    s = run.stats
    parsed = s.files - s.skipped - s.failed_files
    if parsed <= 0:
        return []
    bad = len({n.file for n in run.notifications if n.kind == "parse-error" and n.file})
    good = max(parsed - bad, 0)
    files = f"({good} of {parsed} parsed files"
    if s.skipped:
        files += f"; {s.skipped} not parsed: no API of interest"
    fn_good = s.functions - s.degraded_functions
    return ["", f"{_percent(good, parsed)}\tparse coverage\tfiles without a parse error "
                f"{files})",
            f"{_percent(fn_good, s.functions)}\tparse coverage\tfunctions without a "
            f"degraded statement ({fn_good} of {s.functions}; {s.degraded} statements "
            "degraded)"]
