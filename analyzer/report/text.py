"""gcc-style text output, the format editors' quickfix lists and terminals understand.

One line per finding::

    mm/gup.c:120:9: warning: 'folio' from folio_try_get() is used ... [speculative-get-unvalidated]

optionally followed (``show_path``) by one indented ``note:`` line per step of the path
that leads to it, and one line per notification::

    mm/broken.c:7: error: cannot parse file [kref-lint:parse-error]
    kref-lint: warning: compile_commands.json not found [kref-lint:discover]

A finding is always a ``warning`` here, whatever its SARIF level: the exit code, not the
word, says whether the run failed.
"""
from __future__ import annotations

import functools
import os
from typing import Iterable

from analyzer.ir import Span
from analyzer.result import Finding, Notification, Stats


def relative_to_root(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators, or None when it lies outside.

    Both are made absolute (against the working directory) without resolving symlinks, so
    the path stays the one the user named."""
    if not path:
        return None
    if os.path.isabs(path) and os.path.isabs(root):
        return _relative_abs(path, root)        # the common case, asked many times
    return _relative_abs(os.path.abspath(path), os.path.abspath(root))


@functools.lru_cache(maxsize=4096)
def _relative_abs(abs_path: str, abs_root: str) -> str | None:
    abs_path = os.path.normpath(abs_path)
    abs_root = os.path.normpath(abs_root)
    try:
        if os.path.commonpath([abs_path, abs_root]) != abs_root:
            return None
    except ValueError:          # different drives on Windows
        return None
    rel = os.path.relpath(abs_path, abs_root)
    return rel.replace(os.sep, "/")


def display_path(path: str, root: str) -> str:
    """The path to print: relative to ``root`` when under it, else as given."""
    rel = relative_to_root(path, root)
    return rel if rel is not None else path


def _position(span: Span, root: str) -> str:
    """``path:line:col`` leaving out a line or column that is unknown (0)."""
    text = display_path(span.file, root)
    if span.line > 0:
        text += f":{span.line}"
        if span.col > 0:
            text += f":{span.col}"
    return text


def _finding_lines(finding: Finding, root: str, show_path: bool) -> list[str]:
    lines = [f"{_position(finding.span, root)}: warning: {finding.message} [{finding.rule_id}]"]
    if show_path:
        lines += [f"    {_position(step.span, root)}: note: {step.message}"
                  for step in finding.trail]
    return lines


def _notification_line(note: Notification, root: str) -> str:
    if note.file:
        where = display_path(note.file, root)
        if note.line > 0:
            where += f":{note.line}"
    else:
        where = "kref-lint"
    return f"{where}: {note.level}: {note.message} [kref-lint:{note.kind}]"


def format_text(findings: list[Finding], notifications: list[Notification], root: str,
                show_path: bool = False, suppressed: Iterable[Finding] = ()) -> str:
    """All findings and notifications as text, one entry per line, ending with a newline
    (empty string when there is nothing to say).  ``suppressed`` findings (in-source
    ignores) are listed as ``note: suppressed: ... [rule] (reason)``.

    Entries are sorted by (path, line, column, rule or kind, message); notifications that
    name no file come last."""
    entries: list[tuple[tuple, list[str]]] = []
    for f in findings:
        key = (0, display_path(f.span.file, root), f.span.line, f.span.col, f.rule_id,
               f.message, f.function)
        entries.append((key, _finding_lines(f, root, show_path)))
    for f in suppressed:
        key = (0, display_path(f.span.file, root), f.span.line, f.span.col, f.rule_id,
               f.message, f.function)
        entries.append((key, [f"{_position(f.span, root)}: note: suppressed: {f.message} "
                              f"[{f.rule_id}] ({f.suppression})"]))
    for n in notifications:
        key = (0 if n.file else 1, display_path(n.file, root), n.line, 0,
               f"kref-lint:{n.kind}", n.message, n.level)
        entries.append((key, [_notification_line(n, root)]))
    entries.sort(key=lambda entry: entry[0])
    return "".join(line + "\n" for _, lines in entries for line in lines)


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
