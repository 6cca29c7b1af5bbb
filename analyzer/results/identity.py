"""Who a finding is and where it is: paths relative to the tree root, the fingerprint
that survives line shifts, GitHub's line hash, and gcc's display column.

* :func:`fingerprints` -- the ``krefLint/v1`` partial fingerprint every mode matches
  findings by (``--baseline``, ``--diff``, ``check-patch``, SARIF
  ``partialFingerprints``): rule, path relative to the root, function, the reported
  statement with comments and whitespace removed, and the occurrence among identical
  ones.  No line or column goes in.
* :func:`line_hashes` -- ``primaryLocationLineHash``, computed exactly as GitHub's
  ``upload-sarif`` action computes it (``src/fingerprints.ts`` in github/codeql-action),
  so that code scanning keeps alerts stable when it would otherwise compute it itself.
* :func:`display_column` -- gcc's column convention (``-fdiagnostics-column-unit=display``
  with ``-ftabstop=8``): a tab advances to the next multiple of 8, a wide character
  counts 2.
"""
from __future__ import annotations

import functools
import hashlib
import os
import unicodedata
from collections.abc import Iterable

from analyzer.result import Finding

FINGERPRINT_KEY = "krefLint/v1"
LINE_HASH_KEY = "primaryLocationLineHash"


# --------------------------------------------------------------------------- paths
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


# --------------------------------------------------------------------------- fingerprints
def normalize_snippet(snippet: str) -> str:
    """The reported statement without comments and without whitespace outside string and
    character literals: re-indenting or re-spacing the line (``if(x)`` / ``if (x)``), or
    adding a comment to it (a suppression, an ``expect:`` marker), is no change."""
    if "/" not in snippet and '"' not in snippet and "'" not in snippet:
        return "".join(snippet.split())
    out, i, n, quote = [], 0, len(snippet), None
    while i < n:
        c = snippet[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(snippet[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            out.append(c)
        elif snippet.startswith("//", i):
            break
        elif snippet.startswith("/*", i):
            end = snippet.find("*/", i + 2)
            if end < 0:
                break
            i = end + 1
        elif not c.isspace():
            out.append(c)
        i += 1
    return "".join(out)


def fingerprint(finding: Finding, root: str, occurrence: int) -> str:
    """The ``krefLint/v1`` partial fingerprint: a hex SHA-256 of the rule, the path relative
    to ``root``, the function, the normalized snippet and ``occurrence`` (how many findings
    with the same rule, path, function and snippet precede this one in sorted order).

    No line or column goes in, so lines added above the function, or re-indentation, keep
    the fingerprint; changing the reported statement or the rule changes it."""
    parts = (finding.rule_id, display_path(finding.span.file, root), finding.function,
             normalize_snippet(finding.snippet), str(occurrence))
    data = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def _sort_key(finding: Finding):
    return finding.sort_key() + (finding.function,)


def fingerprints(findings: Iterable[Finding], root: str) -> list[tuple[Finding, str]]:
    """Every finding with its fingerprint, in the deterministic output order."""
    seen: dict[tuple[str, str, str, str], int] = {}
    out = []
    for f in sorted(findings, key=_sort_key):
        key = (f.rule_id, display_path(f.span.file, root), f.function,
               normalize_snippet(f.snippet))
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        out.append((f, fingerprint(f, root, occurrence)))
    return out


# --------------------------------------------------------------------------- GitHub's hash
_BLOCK = 100                      # characters (UTF-16 code units) hashed per line
_MOD = 37
_MASK = (1 << 64) - 1             # the action computes with 64-bit wrap-around (Long)
_FIRST_MOD = pow(_MOD, _BLOCK, 1 << 64)
_EOF = 0xFFFF                     # the action's end-of-file marker character


def line_hashes(text: str, lines: Iterable[int] | None = None) -> dict[int, str]:
    """GitHub's ``primaryLocationLineHash`` of every line of ``text`` (1-based line ->
    ``"<hex>:<n>"``), or only of ``lines``.

    The same algorithm as the upload action: a rolling hash over the next 100
    non-blank characters from the start of each line (spaces and tabs skipped; CR, LF
    and CRLF all read as LF; an end-of-file marker and NULs pad the end), in UTF-16 code
    units as JavaScript strings count them, with 64-bit wrap-around; ``n`` numbers the
    lines that share a hash, in file order.  ``text`` is the file decoded as UTF-8 with
    replacement characters, as the action reads it."""
    wanted = None if lines is None else set(lines)
    units = memoryview(text.encode("utf-16-le", "surrogatepass")).cast("H")
    window = [0] * _BLOCK
    starts = [-1] * _BLOCK          # the line a window slot starts, or -1
    h = index = line = 0
    line_start, prev_cr = True, False
    counts: dict[int, int] = {}
    out: dict[int, str] = {}

    def emit() -> None:
        counts[h] = counts.get(h, 0) + 1
        if wanted is None or starts[index] in wanted:
            out[starts[index]] = f"{h:x}:{counts[h]}"
        starts[index] = -1

    for c in (*units, _EOF):
        if c == 32 or c == 9 or (prev_cr and c == 10):
            prev_cr = False
            continue
        if c == 13:
            c, prev_cr = 10, True
        else:
            prev_cr = False
        if starts[index] != -1:
            emit()
        if line_start:
            line_start = False
            line += 1
            starts[index] = line
        if c == 10:
            line_start = True
        h = (_MOD * h + c - _FIRST_MOD * window[index]) & _MASK
        window[index] = c
        index = (index + 1) % _BLOCK
    for _ in range(_BLOCK):
        if starts[index] != -1:
            emit()
        h = (_MOD * h - _FIRST_MOD * window[index]) & _MASK
        window[index] = 0
        index = (index + 1) % _BLOCK
    return out


# --------------------------------------------------------------------------- gcc columns
TABSTOP = 8


def display_column(line: str, col: int, tabstop: int = TABSTOP) -> int:
    """The 1-based column gcc prints for the character at 1-based ``col`` of ``line``
    (columns as the frontends count them: one per character): a tab moves to the next
    multiple of ``tabstop``, an East Asian wide character counts 2, a combining mark 0.
    Columns past the end of ``line`` count 1 each; 0 (unknown) stays 0."""
    if col <= 0:
        return col
    width = 0
    for c in line[:col - 1]:
        if c == "\t":
            width = (width // tabstop + 1) * tabstop
        elif unicodedata.combining(c):
            continue
        elif unicodedata.east_asian_width(c) in ("W", "F"):
            width += 2
        else:
            width += 1
    return width + 1 + max(0, col - 1 - len(line))
