"""Unified diffs (``git diff``, ``git format-patch``, plain ``diff -u``) as file patches,
checked before anything touches a tree.

The diff itself is read by the `unidiff` library (file headers, git extended headers,
modes, binary markers, hunks counted against their headers).  What stays ours is what a
library cannot decide for us: git's C-quoted path names, the ``-p1`` prefix, and path
confinement -- a path that is absolute, contains ``..`` or ``.git`` is refused
(:class:`analyzer.inputs.PatchError`), as are binary patches, symlinks and submodules.
Text outside file patches (the commit message, a diffstat, the signature) is ignored, as
``git apply`` ignores it.  Nothing here touches the file system.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from analyzer.inputs import PatchError


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    header: str                         # the whole "@@ ... @@ context" line, as written
    lines: list[str]                    # " ctx", "+add", "-del", "\\ No newline..."

    def new_line_index(self, line: int) -> int | None:
        """Index into ``lines`` of the line that is ``line`` in the new file."""
        n = self.new_start
        for i, text in enumerate(self.lines):
            if text.startswith(("-", "\\")):
                continue
            if n == line:
                return i
            n += 1
        return None


@dataclass
class FilePatch:
    old_path: str | None             # tree-relative, None for a new file
    new_path: str | None             # tree-relative, None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)

    def hunk_for(self, line: int) -> Hunk | None:
        for h in self.hunks:
            if h.new_start <= line < h.new_start + max(h.new_len, 1):
                return h
        return None


class _Lines:
    """The diff's lines for unidiff, remembering how far it read (to name the hunk an
    error is in)."""

    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)
        self.pos = 0

    def __iter__(self) -> Iterator[str]:
        for pos, line in enumerate(self.lines, start=1):
            self.pos = pos
            yield line


def parse_diff(diff: bytes, label: str) -> list[FilePatch]:
    """The file patches of a unified (git or plain) diff, checked: paths confined,
    nothing binary, every hunk complete.  ``label`` names the patch in errors."""
    text = diff.decode("utf-8", "surrogateescape")
    if "\r\n" in text and text.count("\r\n") * 2 > text.count("\n"):
        text = text.replace("\r\n", "\n")          # a CRLF mail body, as git am reads it
    lines = _Lines(text)
    try:
        patched = PatchSet(lines)
    except UnidiffParseError as exc:
        raise PatchError(_parse_error(lines, str(exc), label)) from None
    out = []
    for pf in patched:
        info = list(pf.patch_info or ())
        old, new = _names(pf.source_file, pf.target_file, info, label)
        shown = _show(new or old)
        if pf.is_binary_file:
            raise PatchError(f"{label}: binary patch ({shown}), not supported")
        mode = pf.target_mode or ""
        if mode.startswith("120"):
            raise PatchError(f"{label}: creates a symlink ({shown}), not supported")
        if mode.startswith("160"):
            raise PatchError(f"{label}: changes a submodule ({shown}), not supported")
        fp = FilePatch(old, new)
        for h in pf:
            first = next((ln.diff_line_no for ln in h), None)
            header = (lines.lines[first - 2].rstrip("\r\n") if first and first >= 2
                      else f"@@ -{h.source_start},{h.source_length} "
                           f"+{h.target_start},{h.target_length} @@")
            body = [ln.line_type + _text(ln.value.rstrip("\r\n")) for ln in h
                    if ln.line_type in (" ", "+", "-", "\\")]
            fp.hunks.append(Hunk(h.source_start, h.source_length, h.target_start,
                                 h.target_length, _text(header), body))
        out.append(fp)
    return out


def _parse_error(lines: _Lines, problem: str, label: str) -> str:
    """unidiff's complaint, said with the file and hunk it is about."""
    upto = lines.lines[:max(lines.pos, 1)]
    hunk = next((x.rstrip("\r\n") for x in reversed(upto) if x.startswith("@@ ")), "")
    where = next((x for x in reversed(upto) if x.startswith(("diff --git ", "+++ "))), "")
    name = where.rstrip("\r\n").split(" b/", 1)[-1] if where.startswith("diff --git ") \
        else where[4:].split("\t", 1)[0].strip()
    name = _show(name[2:] if name.startswith("b/") else name)
    hunk = _text(hunk)[:60]
    if problem.startswith("Hunk is shorter"):
        return (f"{label}: truncated: the hunk '{hunk}' of {name} ends before the lines its "
                "header counts (cut-off mail or mbox?)")
    if problem.startswith("Hunk is longer"):
        return (f"{label}: corrupt hunk '{hunk}' of {name}: more lines than its header "
                "counts")
    if problem.startswith("Hunk diff line expected"):
        bad = _text(lines.lines[lines.pos - 1].rstrip("\r\n"))[:60] if lines.pos else ""
        return (f"{label}: corrupt or truncated hunk '{hunk}' of {name}: unexpected line "
                f"{bad!r}")
    return f"{label}: corrupt diff: {problem[:120]}"


# --------------------------------------------------------------------------- names
def _names(source: str, target: str, info: list[str], label: str
           ) -> tuple[str | None, str | None]:
    """The tree-relative (old, new) paths of a file patch, confined to the tree."""
    old, new = _name(source, label), _name(target, label)
    for line in info:                     # exact names of renames and copies
        line = line.rstrip("\r\n")
        for prefix, which in (("rename from ", 0), ("copy from ", 0), ("rename to ", 1),
                              ("copy to ", 1)):
            if line.startswith(prefix):
                path = _safe(_unquote(line[len(prefix):]), label)
                if which == 0:
                    old = path
                else:
                    new = path
    return old, new


def _name(raw: str | None, label: str) -> str | None:
    """The path of a file header name (quoted or not), ``-p1`` applied; None for
    /dev/null."""
    if raw is None:
        return None
    raw = raw.rstrip("\r\n")
    name = _unquote(raw) if raw.startswith('"') else raw.split("\t", 1)[0].rstrip()
    if name == "/dev/null":
        return None
    return _safe(_strip(name, label), label)


def _strip(name: str, label: str) -> str:
    """``-p1``: drop the first component (``a/``, ``b/``)."""
    if name.startswith("/"):
        raise PatchError(f"{label}: absolute path '{_show(name)}' in the patch, refused")
    return name.split("/", 1)[1] if "/" in name else name


def _unquote(s: str) -> str:
    """A git path, C-quoted (``"caf\\303\\251.c"``) or not, as text."""
    s = s.strip()
    if not (s.startswith('"') and s.endswith('"') and len(s) >= 2):
        return s
    body = s[1:-1].encode("utf-8", "surrogateescape")
    out, i = bytearray(), 0
    simple = {ord("n"): 10, ord("t"): 9, ord('"'): 34, ord("\\"): 92, ord("a"): 7,
              ord("b"): 8, ord("f"): 12, ord("r"): 13, ord("v"): 11}
    while i < len(body):
        c = body[i]
        if c == 92 and i + 1 < len(body):
            nxt = body[i + 1]
            if 48 <= nxt <= 55:
                out.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(simple.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out).decode("utf-8", "surrogateescape")


def safe_path(path: str, label: str) -> str:
    """``path`` (tree-relative, ``/``-separated) if it stays inside the tree; else
    :class:`PatchError` naming ``label``."""
    return _safe(path, label)


def _safe(path: str, label: str) -> str:
    shown = _show(path)
    if not path or "\0" in path:
        raise PatchError(f"{label}: empty or invalid path in the patch")
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path):
        raise PatchError(f"{label}: absolute path '{shown}' in the patch, refused")
    parts = re.split(r"[\\/]", path)
    if ".." in parts:
        raise PatchError(f"{label}: path '{shown}' escapes the tree ('..'), refused")
    if any(p.lower() == ".git" for p in parts):
        raise PatchError(f"{label}: path '{shown}' is inside .git, refused")
    return "/".join(p for p in parts if p not in ("", "."))


def show_path(path: str | None) -> str:
    """A path as an error message shows it (printable, at most 200 characters)."""
    return _show(path)


def _show(path: str | None) -> str:
    if path is None:
        return "?"
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:200]


def _text(line: str) -> str:
    """A diff line for display: its bytes as UTF-8, else Latin-1 (never fails)."""
    raw = line.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
