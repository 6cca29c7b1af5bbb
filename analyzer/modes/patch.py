"""``kref-lint check-patch PATCH --tree DIR``: the findings each patch of a series adds.

Input (untrusted): one patch or a series, as ``git format-patch`` writes it (an mbox), as
a mailing-list archive gives it (an mbox, ``>From`` quoting undone, replies and the cover
letter skipped) or as a bare ``git diff``.  At most :data:`MAX_PATCH_BYTES` bytes; a
bigger input is refused before it is read.

Each patch is applied, in series order (``[PATCH n/m]``), with ``git apply`` to a private
copy of the files the series touches, in a temporary directory: the tree is only read.
The ``.c``/``.h`` files a patch touches are analyzed before and after it; a finding whose
fingerprint (see :mod:`analyzer.baseline`) is not there before is the patch's own.

Refused, with a :class:`PatchError` naming the patch and the reason (exit 2): input that is
too big, holds no patch, or is cut short (a hunk with fewer lines than its header counts,
a ``[PATCH n/m]`` without a diff, a series with a gap); binary patches; symlink or
submodule entries; paths that are absolute, contain ``..`` or ``.git``, or lead through a
symlink in the tree; a patch ``git apply`` rejects.  Mail bodies are decoded with their
declared charset (re-encoded to UTF-8, as ``git am`` does) or, for an unknown charset,
as Latin-1; undeclared 8-bit bodies are applied byte for byte.
"""
from __future__ import annotations

import codecs
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from email import policy
from email.parser import BytesParser
from typing import BinaryIO, Iterable, Optional

from analyzer.pipeline.discover import SOURCE_SUFFIXES
from analyzer.ir import Span
from analyzer.result import FileOutcome, Finding, Notification, Stats, Step

MAX_PATCH_BYTES = 10 * 1024 * 1024          # 10 MiB: far above any reviewable series
APPLY_TIMEOUT = 120


class PatchError(Exception):
    """Input that cannot be checked (exit 2)."""


# --------------------------------------------------------------------------- data
@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    header: str                         # the whole "@@ ... @@ context" line
    lines: list[str]                    # " ctx", "+add", "-del", "\\ No newline..."

    def new_line_index(self, line: int) -> Optional[int]:
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
    old_path: Optional[str]             # tree-relative, None for a new file
    new_path: Optional[str]             # tree-relative, None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)

    def hunk_for(self, line: int) -> Optional[Hunk]:
        for h in self.hunks:
            if h.new_start <= line < h.new_start + max(h.new_len, 1):
                return h
        return None


@dataclass
class Patch:
    index: int                          # 1-based position in the checked series
    subject: str                        # as in the mail, or the input's name for a diff
    diff: bytes                         # what git apply gets
    files: list[FilePatch] = field(default_factory=list)
    number: Optional[int] = None        # n of [PATCH n/m]
    total: Optional[int] = None         # m of [PATCH n/m]
    message_id: str = ""
    author: str = ""

    @property
    def label(self) -> str:
        """How a maintainer names it: the subject with its [PATCH n/m] tag."""
        return self.subject

    @property
    def short(self) -> str:
        """``[PATCH 2/3]``, ``[PATCH v2]``, or ``the patch`` for a bare diff."""
        if self.number is not None and self.total is not None:
            return f"[PATCH {self.number}/{self.total}]"
        m = _SERIES_TAG.match(self.subject)
        return f"[{m.group(1)}]" if m else "the patch"

    def paths(self) -> list[str]:
        out = []
        for f in self.files:
            for p in (f.old_path, f.new_path):
                if p and p not in out:
                    out.append(p)
        return out


@dataclass
class Series:
    name: str
    patches: list[Patch]
    skipped: list[str] = field(default_factory=list)      # messages without a patch
    base_commit: str = ""                                 # "base-commit:" trailer


# --------------------------------------------------------------------------- reading
def read_input(source: str, stdin: Optional[BinaryIO] = None,
               limit: int = MAX_PATCH_BYTES) -> bytes:
    """The bytes of ``source`` (a file, or ``-`` for ``stdin``), refusing more than
    ``limit`` bytes without reading them."""
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise PatchError(f"input is larger than the {_mib(limit)} limit, not checked")
        return data
    try:
        size = os.path.getsize(source)
        if size > limit:
            raise PatchError(f"{source} is {_mib(size)}, larger than the {_mib(limit)} "
                             "limit, not checked")
        with open(source, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise PatchError(f"cannot read {source}: {exc.strerror or exc}") from None


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MiB"


# --------------------------------------------------------------------------- series
_FROM_LINE = re.compile(rb"^From \S+ +\w{3} \w{3} +\d+ \d+:\d+:\d+ \d{4}[^\n]*\n", re.M)
_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]")
_DIFF_START = re.compile(rb"^(?:diff --git |--- \S[^\n]*\n\+\+\+ )", re.M)
_SERIES_TAG = re.compile(r"^\s*\[([^\]]*)\]")
_NUMBERS = re.compile(r"(?<![\w.])(\d+)/(\d+)(?![\w/])")
_BASE = re.compile(rb"^base-commit: *([0-9a-fA-F]{7,64})\s*$", re.M)


def parse_series(data: bytes, name: str) -> Series:
    """Split ``data`` into the patches to check, in series order."""
    if not data.strip():
        raise PatchError(f"{name} is empty: no patch to check")
    if b"\0" in data:
        raise PatchError(f"{name} contains NUL bytes: not a patch or mail")
    if _FROM_LINE.match(data):
        raws = _split_mbox(data)
    elif _HEADER_LINE.match(data) and re.search(rb"^(?:Subject|From):", data, re.M | re.I) \
            and b"\n\n" in data.replace(b"\r\n", b"\n"):
        raws = [data]
    else:
        files = parse_diff(data, name)
        if not files:
            raise PatchError(f"{name}: no patch found (neither a diff nor a patch mail)")
        return Series(name, [Patch(1, os.path.basename(name) if name != "-" else "patch",
                                   data, files)])
    series = Series(name, [])
    for raw in raws:
        _add_message(series, raw, name)
    if not series.patches:
        what = f" (skipped: {'; '.join(series.skipped)})" if series.skipped else ""
        raise PatchError(f"{name}: no patch found in the mail{'s' if len(raws) > 1 else ''}"
                         f"{what}: not a patch email?")
    _order(series)
    return series


def _split_mbox(data: bytes) -> list[bytes]:
    starts = [m.start() for m in _FROM_LINE.finditer(data)]
    out = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        msg = data[s:end]
        msg = msg[msg.index(b"\n") + 1:]                     # drop the From_ line
        out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", msg))  # mboxrd unquoting
    return out


def _add_message(series: Series, raw: bytes, name: str) -> None:
    if raw.count(b"\r\n") * 2 > raw.count(b"\n"):
        raw = raw.replace(b"\r\n", b"\n")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        subject = " ".join(str(msg.get("Subject", "") or "").split())
        message_id = str(msg.get("Message-ID", "") or "").strip()
        author = " ".join(str(msg.get("From", "") or "").split())
    except Exception as exc:                                # malformed headers
        raise PatchError(f"{name}: unreadable mail headers: {exc}") from None
    subject = subject.encode("utf-8", "replace").decode("utf-8")
    label = subject or "(no subject)"
    body = b"".join(_decoded_bodies(msg, label))
    base = _BASE.search(body)
    if base and not series.base_commit:
        series.base_commit = base.group(1).decode()
    number, total = _numbers(subject)
    if re.match(r"(?i)\s*(re|aw|fwd?):", subject):
        series.skipped.append(f"reply '{label}'")
        return
    start = _DIFF_START.search(body)
    if start is None:
        if number == 0:
            series.skipped.append(f"cover letter '{label}'")
            return
        if number is not None and total:
            raise PatchError(f"{label}: the mail has no diff (truncated mbox?)")
        series.skipped.append(f"'{label}' (no diff)")
        return
    diff = body[start.start():]
    files = parse_diff(diff, label)
    if not files:
        raise PatchError(f"{label}: no file changes in the diff (truncated?)")
    series.patches.append(Patch(0, label, diff, files, number, total, message_id, author))


def _decoded_bodies(msg, label: str) -> Iterable[bytes]:
    parts = msg.walk() if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        fname = part.get_filename() or ""
        if not (ctype in ("text/plain", "text/x-patch", "text/x-diff", "text/x-csrc",
                          "application/x-patch", "application/x-diff")
                or fname.endswith((".patch", ".diff"))):
            continue
        payload = part.get_payload(decode=True) or b""
        charset = (part.get_content_charset() or "").lower()
        yield _to_utf8(payload, charset)


def _to_utf8(payload: bytes, charset: str) -> bytes:
    """A body in UTF-8, as git am applies it: a declared non-UTF-8 charset is decoded
    (an unknown one as Latin-1); an undeclared or UTF-8 body is kept byte for byte."""
    if not charset or charset in ("utf-8", "utf8", "us-ascii", "ascii"):
        return payload
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        codec = "latin-1"
    try:
        return payload.decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1").encode("utf-8")


def _numbers(subject: str) -> tuple[Optional[int], Optional[int]]:
    m = _SERIES_TAG.match(re.sub(r"(?i)^\s*(?:(?:re|aw|fwd?):\s*)+", "", subject))
    if not m:
        return None, None
    n = _NUMBERS.search(m.group(1))
    return (int(n.group(1)), int(n.group(2))) if n else (None, None)


def _order(series: Series) -> None:
    """Series order; a gap or a duplicate in the numbering is an error."""
    patches = series.patches
    if len(patches) > 1 and all(p.number is not None for p in patches):
        totals = {p.total for p in patches}
        if len(totals) > 1:
            raise PatchError(f"{series.name}: patches of different series "
                             f"({', '.join(sorted(f'of {t}' for t in map(str, totals)))})")
        patches.sort(key=lambda p: p.number)
        numbers = [p.number for p in patches]
        dup = sorted({n for n in numbers if numbers.count(n) > 1})
        if dup:
            raise PatchError(f"{series.name}: [PATCH {dup[0]}/{patches[0].total}] appears "
                             "twice (two versions of the series?)")
        total = patches[0].total
        missing = [n for n in range(1, total + 1) if n not in numbers]
        if missing:
            raise PatchError(f"{series.name}: incomplete series, missing "
                             + ", ".join(f"[PATCH {n}/{total}]" for n in missing)
                             + " (truncated mbox?)")
    for i, p in enumerate(patches, start=1):
        p.index = i


# --------------------------------------------------------------------------- diffs
_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_diff(diff: bytes, label: str) -> list[FilePatch]:
    """The file patches of a unified (git or plain) diff, checked: paths confined,
    nothing binary, every hunk complete.  Text outside file patches (the commit
    message, a diffstat, the signature) is ignored, as git apply does."""
    lines = diff.split(b"\n")
    if diff.endswith(b"\n"):
        lines.pop()
    out: list[FilePatch] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if line.startswith(b"diff --git "):
            fp, i = _git_file(lines, i, label)
        elif line.startswith(b"--- ") and i + 1 < n and lines[i + 1].startswith(b"+++ "):
            fp = FilePatch(_name(lines[i][4:], label), _name(lines[i + 1][4:], label))
            i += 2
        else:
            i += 1
            continue
        i = _hunks(lines, i, fp, label)
        out.append(fp)
    return out


def _git_file(lines: list[bytes], i: int, label: str) -> tuple[FilePatch, int]:
    header = lines[i]
    old, new = _git_header_names(header[len(b"diff --git "):], label)
    i += 1
    while i < len(lines):
        line = lines[i]
        if line.startswith((b"diff --git ", b"@@ ")):
            break
        if line.startswith(b"--- ") and i + 1 < len(lines) and lines[i + 1].startswith(b"+++ "):
            old, new = _name(line[4:], label), _name(lines[i + 1][4:], label)   # /dev/null: None
            i += 2
            break
        if line.startswith((b"GIT binary patch", b"Binary files ")):
            raise PatchError(f"{label}: binary patch ({_show(new or old)}), not supported")
        if line.startswith(b"new file mode "):
            old = None
            _check_mode(line, label, new)
        elif line.startswith(b"deleted file mode "):
            new = None
        elif line.startswith(b"new mode "):
            _check_mode(line, label, new)
        elif line.startswith((b"rename from ", b"copy from ")):
            old = _safe(_unquote(line.split(b" ", 2)[2]), label)
        elif line.startswith((b"rename to ", b"copy to ")):
            new = _safe(_unquote(line.split(b" ", 2)[2]), label)
        elif not line.startswith((b"old mode ", b"similarity index", b"dissimilarity index",
                                  b"index ")):
            break
        i += 1
    return FilePatch(old, new), i


def _check_mode(line: bytes, label: str, path: Optional[str]) -> None:
    mode = line.rsplit(b" ", 1)[-1]
    if mode.startswith(b"120"):
        raise PatchError(f"{label}: creates a symlink ({_show(path)}), not supported")
    if mode.startswith(b"160"):
        raise PatchError(f"{label}: changes a submodule ({_show(path)}), not supported")


def _hunks(lines: list[bytes], i: int, fp: FilePatch, label: str) -> int:
    n = len(lines)
    while i < n and lines[i].startswith(b"@@ "):
        m = _HUNK.match(lines[i])
        if not m:
            raise PatchError(f"{label}: corrupt hunk header in {_show(fp.new_path or fp.old_path)}:"
                             f" {lines[i][:80].decode('utf-8', 'replace')}")
        old_len = int(m.group(2)) if m.group(2) is not None else 1
        new_len = int(m.group(4)) if m.group(4) is not None else 1
        hunk = Hunk(int(m.group(1)), old_len, int(m.group(3)), new_len,
                    _text(lines[i]), [])
        i += 1
        want_old, want_new = old_len, new_len
        while want_old > 0 or want_new > 0:
            if i >= n:
                raise PatchError(
                    f"{label}: truncated: the hunk '{hunk.header[:60]}' of "
                    f"{_show(fp.new_path or fp.old_path)} ends {want_old + want_new} "
                    "line(s) early (cut-off mail or mbox?)")
            line = lines[i]
            c = line[:1]
            if c == b" " or line in (b"", b"\r"):
                want_old, want_new = want_old - 1, want_new - 1
            elif c == b"-":
                want_old -= 1
            elif c == b"+":
                want_new -= 1
            elif c == b"\\":
                pass
            else:
                raise PatchError(
                    f"{label}: corrupt or truncated hunk '{hunk.header[:60]}' of "
                    f"{_show(fp.new_path or fp.old_path)}: unexpected line "
                    f"{line[:60].decode('utf-8', 'replace')!r}")
            if want_old < 0 or want_new < 0:
                raise PatchError(f"{label}: corrupt hunk '{hunk.header[:60]}' of "
                                 f"{_show(fp.new_path or fp.old_path)}: more lines than "
                                 "its header counts")
            hunk.lines.append(_text(line) if line else " ")
            i += 1
        if i < n and lines[i].startswith(b"\\"):
            hunk.lines.append(_text(lines[i]))
            i += 1
        fp.hunks.append(hunk)
    return i


def _git_header_names(rest: bytes, label: str) -> tuple[Optional[str], Optional[str]]:
    """The names of ``diff --git a/X b/Y`` (one prefix component stripped)."""
    if rest.startswith(b'"'):
        a, _, tail = _split_quoted(rest)
        b = _unquote(tail.strip())
        return _safe(_strip(a, label), label), _safe(_strip(b, label), label)
    # "a/P b/P": both halves are the same when there is no rename
    if (len(rest) - 1) % 2 == 0:
        half = (len(rest) - 1) // 2
        a, b = rest[:half], rest[half + 1:]
        if a[2:] == b[2:]:
            return (_safe(_strip(a.decode("utf-8", "surrogateescape"), label), label),) * 2
    parts = rest.split(b" ")
    if len(parts) == 2:
        return tuple(_safe(_strip(p.decode("utf-8", "surrogateescape"), label), label)
                     for p in parts)  # type: ignore[return-value]
    return None, None                   # renames: "rename from/to" tell


def _split_quoted(s: bytes) -> tuple[str, bool, bytes]:
    i, out = 1, bytearray(b'"')
    while i < len(s):
        out.append(s[i])
        if s[i:i + 1] == b"\\":
            out.append(s[i + 1])
            i += 2
            continue
        if s[i:i + 1] == b'"':
            return _unquote(bytes(out)), True, s[i + 1:]
        i += 1
    return _unquote(bytes(out)), False, b""


def _unquote(s: bytes) -> str:
    """A git path, C-quoted or not, as text."""
    s = s.strip()
    if not (s.startswith(b'"') and s.endswith(b'"') and len(s) >= 2):
        return s.decode("utf-8", "surrogateescape")
    body, out, i = s[1:-1], bytearray(), 0
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


def _name(raw: bytes, label: str) -> Optional[str]:
    """The path of a ``---``/``+++`` line (timestamp dropped, prefix stripped), None for
    /dev/null."""
    raw = raw.rstrip(b"\r")
    if raw.startswith(b'"'):
        name, _, _ = _split_quoted(raw)
    else:
        name = raw.split(b"\t", 1)[0].decode("utf-8", "surrogateescape").rstrip()
    if name == "/dev/null":
        return None
    if name.startswith("/"):
        raise PatchError(f"{label}: absolute path '{_show(name)}' in the patch, refused")
    return _safe(_strip(name, label), label)


def _strip(name: str, label: str) -> str:
    """``-p1``: drop the first component (``a/``, ``b/``)."""
    if name.startswith("/"):
        raise PatchError(f"{label}: absolute path '{_show(name)}' in the patch, refused")
    return name.split("/", 1)[1] if "/" in name else name


def _safe(path: str, label: str) -> str:
    """``path`` if it stays inside the tree; else :class:`PatchError`."""
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


def _show(path: Optional[str]) -> str:
    if path is None:
        return "?"
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:200]


def _text(line: bytes) -> str:
    """A diff line for display: UTF-8, else Latin-1 (never fails)."""
    line = line.rstrip(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


# --------------------------------------------------------------------------- checking
@dataclass
class PatchFinding:
    patch: Patch
    finding: Finding                    # paths in the tree; lines after this patch
    hunk: Optional[Hunk] = None         # the hunk of the patch holding the line
    context: list[tuple[int, str]] = field(default_factory=list)   # when no hunk does
    fixed_by: Optional[Patch] = None    # a later patch of the series removes it


@dataclass
class SeriesResult:
    series: Series
    tree: str
    findings: list[PatchFinding] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    tree_commit: str = ""               # HEAD of the tree, when it is a git tree


def check_series(series: Series, tree: str, options, jobs: int = 1, excluder=None
                 ) -> SeriesResult:
    """Apply the series patch by patch to a private copy and collect what each adds."""
    from analyzer.pipeline.file import analyze_files
    from analyzer.report.sarif import fingerprints

    tree = os.path.realpath(tree)
    if not os.path.isdir(tree):
        raise PatchError(f"--tree {tree}: not a directory")
    result = SeriesResult(series, tree, tree_commit=_tree_commit(tree))
    open_findings: dict[str, PatchFinding] = {}
    memo: dict[tuple[str, str], FileOutcome] = {}

    def analyze(work: str, rels: dict[str, str]
                ) -> tuple[list[Finding], list[Notification], Stats]:
        """Analyze work/<rel> for each rel (a file unchanged since it was last analyzed
        is not analyzed again); findings re-pathed to tree/<rels[rel]>."""
        todo, outs = [], {}
        for rel in rels:
            key = (rel, _digest(os.path.join(work, *rel.split("/"))))
            if key in memo:
                outs[rel] = memo[key]
            else:
                todo.append((rel, key))
        fresh = analyze_files([os.path.join(work, *r.split("/")) for r, _ in todo], options,
                              jobs if len(todo) > 3 else 1, None)
        for (rel, key), o in zip(todo, fresh):
            memo[key] = outs[rel] = o
        findings, notes, stats = [], [], Stats()
        for rel, o in outs.items():
            src = os.path.join(work, *rel.split("/"))
            dst = os.path.join(tree, *rels[rel].split("/"))
            findings += [_rebase(f, src, dst) for f in (*o.findings, *o.suppressed)]
            notes += [replace(n, file=dst) if n.file == src else n for n in o.notifications]
            stats.add(o.stats)
        return findings, notes, stats

    with tempfile.TemporaryDirectory(prefix="kref-lint-patch-") as tmp:
        work = os.path.join(tmp, "tree")
        os.mkdir(work)
        known: set[str] = set()
        for patch in series.patches:
            for rel in patch.paths():
                if rel not in known:
                    _copy_in(tree, work, rel, patch)
                    known.add(rel)
            before_rels, after_rels = {}, {}
            for f in patch.files:
                target = f.new_path or f.old_path
                if excluder is not None and excluder.excluded(os.path.join(tree, target)):
                    continue
                if f.old_path and _is_source(f.old_path) and _is_file(work, f.old_path):
                    before_rels[f.old_path] = target
                if f.new_path and _is_source(f.new_path):
                    after_rels[f.new_path] = f.new_path
            before, _, _ = analyze(work, before_rels)
            _git_apply(work, tmp, patch, series, result)
            after_rels = {r: t for r, t in after_rels.items() if _is_file(work, r)}
            after, notes, stats = analyze(work, after_rels)
            result.stats.add(stats)
            result.notifications += notes
            before_fps = {fp for _, fp in fingerprints(before, tree)}
            after_pairs = fingerprints(after, tree)
            after_fps = {fp for _, fp in after_pairs}
            for fp in list(open_findings):
                pf = open_findings[fp]
                if fp in before_fps and fp not in after_fps:
                    pf.fixed_by = patch
                    del open_findings[fp]
            for f, fp in after_pairs:
                if fp in before_fps or f.suppression:
                    continue
                pf = _locate(patch, f, work, tree)
                result.findings.append(pf)
                open_findings[fp] = pf
    result.notifications = list(dict.fromkeys(result.notifications))
    return result


def _locate(patch: Patch, f: Finding, work: str, tree: str) -> PatchFinding:
    rel = os.path.relpath(f.span.file, tree).replace(os.sep, "/")
    for fp in patch.files:
        if fp.new_path == rel:
            hunk = fp.hunk_for(f.span.line)
            if hunk is not None and hunk.new_line_index(f.span.line) is not None:
                return PatchFinding(patch, f, hunk)
    # the line is not in the diff: quote the patched file around it
    try:
        with open(os.path.join(work, *rel.split("/")), "rb") as fh:
            text = fh.read().split(b"\n")
    except OSError:
        text = []
    lo, hi = max(1, f.span.line - 3), min(len(text), f.span.line + 2)
    return PatchFinding(patch, f, None, [(n, _text(text[n - 1])) for n in range(lo, hi + 1)])


def _rebase(f: Finding, src: str, dst: str) -> Finding:
    def span(s: Span) -> Span:
        return replace(s, file=dst) if s.file == src else s

    def steps(ss: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(replace(s, span=span(s.span)) for s in ss)

    return replace(f, span=span(f.span), trail=steps(f.trail), related=steps(f.related))


def _is_source(path: str) -> bool:
    return path.endswith(SOURCE_SUFFIXES)


def _is_file(work: str, rel: str) -> bool:
    p = os.path.join(work, *rel.split("/"))
    return os.path.isfile(p) and not os.path.islink(p)


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _copy_in(tree: str, work: str, rel: str, patch: Patch) -> None:
    """Copy tree/<rel> (when it exists) into the private copy, refusing anything that
    would read outside the tree."""
    parts = rel.split("/")
    cur = tree
    for part in parts:
        cur = os.path.join(cur, part)
        if os.path.islink(cur):
            raise PatchError(f"{patch.label}: '{_show(rel)}' leads through a symlink in the "
                             "tree, refused")
        if not os.path.lexists(cur):
            return                                  # a file the patch creates
    real = os.path.realpath(cur)
    if os.path.commonpath([real, tree]) != tree:
        raise PatchError(f"{patch.label}: '{_show(rel)}' is outside the tree, refused")
    st = os.stat(cur)
    if stat.S_ISDIR(st.st_mode):
        raise PatchError(f"{patch.label}: '{_show(rel)}' is a directory in the tree")
    if not stat.S_ISREG(st.st_mode):
        raise PatchError(f"{patch.label}: '{_show(rel)}' is not a regular file in the tree")
    dst = os.path.join(work, *parts)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(cur, dst)
    os.chmod(dst, (stat.S_IMODE(st.st_mode) & 0o755) | 0o600)


def _git_apply(work: str, tmp: str, patch: Patch, series: Series,
               result: SeriesResult) -> None:
    from analyzer.vcs.git import git_env

    env = git_env()
    env["GIT_CEILING_DIRECTORIES"] = tmp         # never a repository above the copy
    env["HOME"] = tmp
    try:
        r = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=work,
                           input=patch.diff, capture_output=True, env=env,
                           timeout=APPLY_TIMEOUT)
    except FileNotFoundError:
        raise PatchError("git is not installed (check-patch applies patches with git apply)"
                         ) from None
    except subprocess.TimeoutExpired:
        raise PatchError(f"{patch.label}: git apply did not finish in {APPLY_TIMEOUT} s"
                         ) from None
    if r.returncode == 0:
        return
    errors = [l for l in r.stderr.decode("utf-8", "replace").splitlines()
              if l.startswith(("error:", "fatal:"))] or [r.stderr.decode("utf-8", "replace")]
    detail = "; ".join(e.replace("error: ", "").replace("fatal: ", "") for e in errors[:4])
    hint = ""
    if series.base_commit:
        at = f" (the tree is at {result.tree_commit[:12]})" if result.tree_commit else ""
        hint = f"; the series is based on {series.base_commit[:12]}{at}"
    earlier = f" after {patch.index - 1} earlier patch(es)" if patch.index > 1 else ""
    raise PatchError(f"{patch.label} does not apply to {result.tree}{earlier}: {detail}{hint}")


def _tree_commit(tree: str) -> str:
    """HEAD of ``tree`` if it is a git work tree (read only: no index refresh)."""
    from analyzer.vcs.git import git_env

    env = git_env()
    env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=tree,
                           capture_output=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout.decode().strip() if r.returncode == 0 else ""
