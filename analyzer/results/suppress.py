"""In-source suppressions: ``/* kref-lint: ignore[rule-id] reason */``.

Written as a C comment (block or ``//``)::

    get_page(page);     /* kref-lint: ignore[try-get-without-ref] caller holds the PTL */

    /* kref-lint: ignore[try-get-without-ref, racy-refcount-check] pinned by the caller */
    get_page(page);

A comment that trails code covers its own line; a comment on lines of its own covers the
line after it (and its own lines); in a multi-line block comment the marker may start any
`` * `` line.  Several rule ids may be listed, comma-separated.

The reason is required: a suppression without one does not suppress and is itself
reported (a notification, kind ``suppression``), as is one naming an unknown rule.  A
suppressed finding is not a failure; it is kept with its justification (SARIF
``suppressions``, text ``--show-suppressed``).

Applied once, in :meth:`analyzer.pipeline.file.Analyzer.analyze_source`, on the source text
the findings were computed from.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from analyzer.result import Finding, Notification

MARKER = "kref-lint:"
_RX = re.compile(r"(?P<open>/\*|//|^[ \t]*\*(?!/))"          # a block comment's "* " line too
                 r"[ \t]*kref-lint:[ \t]*ignore[ \t]*\[(?P<ids>[^\]\n]*)\]")
_REASON_LEAD = " \t:-\u2013\u2014"          # "] - reason", "]: reason", "] -- reason"


@dataclass(frozen=True)
class Suppression:
    line: int                   # where the comment starts (1-based)
    lines: frozenset[int]       # the lines it covers
    rules: tuple[str, ...]
    reason: str


def parse(path: str, lines: list[str], known_rules: Iterable[str] = ()
          ) -> tuple[list[Suppression], list[Notification]]:
    """Every valid suppression in ``lines`` (the file's text, split into lines) and a
    notification for every malformed one."""
    known = frozenset(known_rules)
    found: list[Suppression] = []
    notes: list[Notification] = []
    for i, text in enumerate(lines, start=1):
        if MARKER not in text:
            continue
        for m in _RX.finditer(text):
            if _in_string(text, m.start()):
                continue
            end_line, rest = i, text[m.end():]
            if m["open"] != "//":
                rest, end_line = _block_rest(lines, i, m.end())
            reason = " ".join(rest.split()).lstrip(_REASON_LEAD).strip()
            ids = tuple(dict.fromkeys(s.strip() for s in m["ids"].split(",") if s.strip()))
            if not ids:
                notes.append(Notification(
                    "suppression names no rule, ignored: write "
                    "'kref-lint: ignore[rule-id] reason'", path, i, "warning", "suppression"))
                continue
            if not reason:
                notes.append(Notification(
                    f"suppression of {', '.join(ids)} has no reason and is ignored: write "
                    "the reason after ']'", path, i, "warning", "suppression"))
                continue
            if known:
                for bad in (r for r in ids if r not in known):
                    notes.append(Notification(
                        f"suppression names unknown rule '{bad}'", path, i, "warning",
                        "suppression"))
            standalone = not text[:m.start()].strip()
            covered = set(range(i, end_line + 1))
            if standalone:
                covered.add(end_line + 1)
            found.append(Suppression(i, frozenset(covered), ids, reason))
    return found, notes


def _in_string(text: str, pos: int) -> bool:
    """Whether ``pos`` lies inside a string or character literal (a rough C lexer over
    one line: enough to keep ``"/* kref-lint: ..."`` in a string from counting)."""
    quote = None
    i = 0
    while i < pos:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif text.startswith("//", i):
            return False
        i += 1
    return quote is not None


def _block_rest(lines: list[str], line: int, start: int) -> tuple[str, int]:
    """The text of a block comment after the marker, up to ``*/`` (leading ``*`` of
    continuation lines dropped), and the comment's last line (at most 20 lines on)."""
    parts = []
    text, col = lines[line - 1], start
    for _ in range(20):
        end = text.find("*/", col)
        if end >= 0:
            parts.append(text[col:end])
            return " ".join(parts), line
        parts.append(text[col:])
        if line >= len(lines):
            break
        line += 1
        text = lines[line - 1]
        stripped = text.lstrip()
        col = len(text) - len(stripped)
        if stripped.startswith("*") and not stripped.startswith("*/"):
            col += 1
    return " ".join(parts), line


def apply(findings: Iterable[Finding], suppressions: list[Suppression]
          ) -> tuple[list[Finding], list[Finding]]:
    """(active, suppressed): a finding whose reported line a suppression of its rule
    covers is suppressed (its ``suppression`` holds the justification)."""
    if not suppressions:
        return list(findings), []
    by_line: dict[tuple[int, str], str] = {}
    for s in suppressions:
        for line in s.lines:
            for rule in s.rules:
                by_line.setdefault((line, rule), s.reason)
    active, suppressed = [], []
    for f in findings:
        reason = by_line.get((f.span.line, f.rule_id))
        if reason is None:
            active.append(f)
        else:
            suppressed.append(replace(f, suppression=reason))
    return active, suppressed


def suppress_file(path: str, lines: list[str], findings: list[Finding],
                  known_rules: Iterable[str] = ()
                  ) -> tuple[list[Finding], list[Finding], list[Notification]]:
    """Parse and apply in one go: (active, suppressed, notifications)."""
    if not any(MARKER in line for line in lines):
        return findings, [], []
    sups, notes = parse(path, lines, known_rules)
    active, suppressed = apply(findings, sups)
    return active, suppressed, notes
