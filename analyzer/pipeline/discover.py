"""Which files to analyze, and the tree they belong to.

Directories are walked in sorted order for .c and .h files; symlinked directories are
followed once (a link back to an enclosing directory is a ``symlink-loop`` warning, a
second way into a directory already walked a ``duplicate-directory`` note, never a
hang); nothing is silently skipped: every path that cannot be used becomes a
notification naming it and the reason.  Non-regular files are never opened (a fifo
would block ``open()``): named on the command line they are an error (the run is
incomplete, exit 2), found in a tree a ``skipped`` warning.  :func:`read_source`
reads a file the same way later (it may have been replaced since it was discovered).

What a directory walk skips, both with git's own matching rules (the `pathspec`
library's ``GitIgnoreSpec``):

* in a git work tree, the files git ignores: the ``.gitignore`` files from the top of
  the work tree down to each directory, and ``.git/info/exclude`` (a built kernel's
  ``*.mod.c``, ``*.lex.c``, ``include/generated/`` ...); an ignored directory is not
  entered.  Outside a git work tree ``.gitignore`` files are not read (as ripgrep does):
  they describe a repository that is not there -- Debian's ``linux-source`` tarballs end
  theirs with ``/*``, which would ignore the whole kernel.  A file named on the command
  line is analyzed even if git ignores it; ``gitignore=False`` (``--no-gitignore``)
  turns this off;
* the ``exclude`` patterns (:class:`Excluder`: configuration file or ``--exclude``),
  gitignore syntax including ``!`` to re-include; they apply to named files too.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

from analyzer.errors import ToolError
from analyzer.result import Notification

SOURCE_SUFFIXES = (".c", ".h")


class NotRegularFile(OSError):
    """:func:`read_source` on a path that is not a regular file (a fifo, a device)."""


def read_source(path: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, never blocking: opened ``O_NONBLOCK`` and
    checked with ``fstat`` before reading (a fifo or device put there after discovery
    is :class:`NotRegularFile`).  ``limit``: a larger file raises :class:`FileTooLarge`.
    Raises ``OSError``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(0, f"not a regular file ({_kind(st.st_mode)})", path)
        if limit is not None and st.st_size > limit:
            raise FileTooLarge(0, f"file too large ({st.st_size} bytes > {limit})", path)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class FileTooLarge(OSError):
    """:func:`read_source` on a file over its ``limit``."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a fifo"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


class DiscoveryError(ToolError):
    """A command-line path that does not exist (exit 2)."""


class PatternError(ToolError):
    """An exclude pattern that is not a valid gitignore pattern (exit 2)."""


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)        # absolute, sorted, unique
    notifications: list[Notification] = field(default_factory=list)
    root: str = ""                                        # common root for relative URIs
    excluded: int = 0                                     # removed by exclude patterns
    ignored: int = 0                                      # skipped: git ignores them


def _spec(lines: Iterable[str], origin: str) -> GitIgnoreSpec:
    lines = list(lines)
    try:
        return GitIgnoreSpec.from_lines(lines)
    except Exception:                     # re.error & co: find the culprit
        for line in lines:
            try:
                GitIgnoreSpec.from_lines([line])
            except Exception as exc:
                raise PatternError(f"{origin}: invalid pattern '{line.strip()}': "
                                   f"{exc}") from None
        raise PatternError(f"{origin}: invalid patterns") from None


class Excluder:
    """Which files the ``exclude`` patterns remove.  gitignore syntax, relative to
    ``base``: a pattern without a ``/`` but at its end (``*.h``, ``staging``) matches a
    name at any depth; one with a ``/`` (``drivers/staging/``, ``mm/*_test.c``) is
    anchored at ``base``; a pattern matching a directory excludes everything under it;
    ``!PATTERN`` re-includes what an earlier pattern excluded (the last match wins).
    Raises :class:`PatternError` for a pattern that is not valid."""

    def __init__(self, patterns: Iterable[str], base: str, origin: str = "--exclude"):
        self.patterns = tuple(p for p in (q.strip().replace(os.sep, "/") for q in patterns)
                              if p)
        self.base = os.path.abspath(base)
        self._spec = _spec(self.patterns, origin) if self.patterns else None

    def __bool__(self) -> bool:
        return self._spec is not None

    def excluded(self, path: str) -> bool:
        if self._spec is None:
            return False
        rel = os.path.relpath(os.path.abspath(path), self.base).replace(os.sep, "/")
        if rel.startswith("../") or rel == "..":
            return False
        return self._spec.match_file(rel)


class _GitIgnores:
    """The ``.gitignore`` rules of the git work tree whose top is ``root``, read once
    per directory."""

    @classmethod
    def above(cls, path: str) -> _GitIgnores | None:
        """The rules of the git work tree ``path`` is in, or None outside one."""
        for cand in (Path(path), *Path(path).parents):
            if (cand / ".git").exists():
                return cls(str(cand))
        return None

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._by_dir: dict[str, GitIgnoreSpec | None] = {}
        self._top: GitIgnoreSpec | None = None
        exclude = os.path.join(self.root, ".git", "info", "exclude")
        if os.path.isfile(exclude):
            self._top = self._read(exclude)

    def _read(self, path: str) -> GitIgnoreSpec | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return GitIgnoreSpec.from_lines(fh.read().splitlines())
        except Exception:               # an unreadable or malformed .gitignore: none
            return None

    def _spec_of(self, d: str) -> GitIgnoreSpec | None:
        if d not in self._by_dir:
            f = os.path.join(d, ".gitignore")
            self._by_dir[d] = self._read(f) if os.path.isfile(f) else None
        return self._by_dir[d]

    def ignored(self, path: str, is_dir: bool = False) -> bool:
        """Whether git ignores ``path`` (absolute, under the root): the deepest matching
        rule decides, as in git."""
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        if rel.startswith("..") or rel == ".":
            return False
        verdict = None
        specs = [(self.root, self._top)]
        parts = rel.split("/")
        d = self.root
        for part in parts[:-1]:
            specs.append((d, self._spec_of(d)))
            d = os.path.join(d, part)
        specs.append((d, self._spec_of(d)))
        for where, spec in specs:
            if spec is None:
                continue
            sub = os.path.relpath(path, where).replace(os.sep, "/") + ("/" if is_dir else "")
            result = spec.check_file(sub)
            if result.include is not None:
                verdict = result.include
        return bool(verdict)


def find_root(paths: list[str]) -> str:
    """The directory results are reported relative to: the git/kernel tree root above
    the paths when there is one, else their common directory."""
    absdirs = [os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".")
               for p in paths]
    common = os.path.commonpath(absdirs) if absdirs else os.getcwd()
    probe = Path(common)
    for cand in (probe, *probe.parents):
        if (cand / ".git").exists() or ((cand / "Kbuild").exists() and (cand / "mm").is_dir()):
            return str(cand)
    return common


def discover(paths: list[str], excluder: Excluder | None = None,
             gitignore: bool = True) -> Discovery:
    out = Discovery()
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise DiscoveryError(f"no such file or directory: {', '.join(missing)}")
    out.root = find_root(paths)
    ignores = _GitIgnores.above(out.root) if gitignore else None
    seen: set[str] = set()
    for p in paths:
        if os.path.isdir(p):
            _walk(p, out, seen, ignores)
        elif os.path.isfile(p):
            _add(os.path.abspath(p), out, seen)
        else:
            out.notifications.append(Notification(
                _why_unusable(p), os.path.abspath(p), 0, "error", "unreadable"))
    out.files.sort()
    if excluder:
        before = len(out.files)
        out.files = [f for f in out.files if not excluder.excluded(f)]
        out.excluded = before - len(out.files)
    return out


def _why_unusable(p: str) -> str:
    try:
        st = os.stat(p)
    except OSError as exc:
        if os.path.islink(p):
            if exc.errno == 40:  # ELOOP
                return "symlink loop, not analyzed"
            return f"dangling symlink, not analyzed ({exc.strerror})"
        return f"cannot stat: {exc.strerror}, not analyzed"
    return f"not a regular file or directory ({_kind(st.st_mode)}), not analyzed"


def _add(path: str, out: Discovery, seen: set[str]) -> None:
    real = os.path.realpath(path)
    if real in seen:
        return
    seen.add(real)
    out.files.append(path)


def _walk(top: str, out: Discovery, seen: set[str], ignores: _GitIgnores | None) -> None:
    visited_dirs: set[str] = set()
    stack = [(os.path.abspath(top), "")]
    while stack:
        d, parent_real = stack.pop()
        real = os.path.realpath(d)
        if real in visited_dirs:
            if parent_real == real or parent_real.startswith(real.rstrip(os.sep) + os.sep):
                out.notifications.append(Notification(
                    f"symlink loop: a link to its own enclosing directory {real}, not "
                    "followed", d, 0, "warning", "symlink-loop"))
            else:
                out.notifications.append(Notification(
                    f"{real}: directory already walked under another path (through a "
                    "symlink): its files are analyzed once", d, 0, "note",
                    "duplicate-directory"))
            continue
        visited_dirs.add(real)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            out.notifications.append(Notification(
                f"cannot read directory: {exc.strerror}", d, 0, "error", "unreadable"))
            continue
        subdirs = []
        for e in entries:
            try:
                if e.is_dir():                       # follows symlinks
                    if e.name == ".git" or (ignores and ignores.ignored(e.path, True)):
                        continue
                    subdirs.append((e.path, real))
                elif e.is_file():
                    if e.name.endswith(SOURCE_SUFFIXES):
                        if ignores and ignores.ignored(e.path):
                            out.ignored += 1
                            continue
                        _add(e.path, out, seen)
                elif e.name.endswith(SOURCE_SUFFIXES) or e.is_symlink():
                    # found in a tree, not named: the rest of the run is complete
                    why = _why_unusable(e.path)
                    if e.name.endswith(SOURCE_SUFFIXES) or "loop" in why:
                        out.notifications.append(Notification(
                            why, e.path, 0, "warning", "skipped"))
            except OSError as exc:
                if e.is_symlink():                   # a broken link found in a tree
                    out.notifications.append(Notification(
                        _why_unusable(e.path), e.path, 0, "warning", "skipped"))
                else:
                    out.notifications.append(Notification(
                        f"cannot stat: {exc.strerror}", e.path, 0, "error", "unreadable"))
        stack.extend(reversed(subdirs))
