"""Which files to analyze, and the tree they belong to.

Directories are walked in sorted order for .c and .h files; symlinked directories are
followed once (a loop is a notification, not a hang); nothing is silently skipped: every
path that cannot be used becomes a notification naming it and the reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.result import Notification

SOURCE_SUFFIXES = (".c", ".h")


class UsageError(Exception):
    """A command-line path that does not exist (exit 2)."""


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)        # absolute, sorted, unique
    notifications: list[Notification] = field(default_factory=list)
    root: str = ""                                        # common root for relative URIs


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


def discover(paths: list[str]) -> Discovery:
    out = Discovery()
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    seen: set[str] = set()
    for p in paths:
        if os.path.isdir(p):
            _walk(p, out, seen)
        elif os.path.isfile(p):
            _add(os.path.abspath(p), out, seen)
        else:
            out.notifications.append(Notification(
                _why_unusable(p), os.path.abspath(p), 0, "error", "unreadable"))
    out.files.sort()
    out.root = find_root(paths)
    return out


def _why_unusable(p: str) -> str:
    if os.path.islink(p):
        try:
            os.stat(p)
        except OSError as exc:
            if exc.errno == 40:  # ELOOP
                return "symlink loop, not analyzed"
            return f"dangling symlink, not analyzed ({exc.strerror})"
    return "not a regular file or directory, not analyzed"


def _add(path: str, out: Discovery, seen: set[str]) -> None:
    real = os.path.realpath(path)
    if real in seen:
        return
    seen.add(real)
    out.files.append(path)


def _walk(top: str, out: Discovery, seen: set[str]) -> None:
    visited_dirs: set[str] = set()
    stack = [os.path.abspath(top)]
    while stack:
        d = stack.pop()
        real = os.path.realpath(d)
        if real in visited_dirs:
            out.notifications.append(Notification(
                "symlink loop: directory already visited, not followed again", d, 0,
                "warning", "symlink-loop"))
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
                    subdirs.append(e.path)
                elif e.is_file():
                    if e.name.endswith(SOURCE_SUFFIXES):
                        _add(e.path, out, seen)
                elif e.is_symlink():
                    why = _why_unusable(e.path)
                    if e.name.endswith(SOURCE_SUFFIXES) or "loop" in why:
                        out.notifications.append(Notification(
                            why, e.path, 0, "error", "unreadable"))
            except OSError as exc:
                why = _why_unusable(e.path) if e.is_symlink() else f"cannot stat: {exc.strerror}"
                out.notifications.append(Notification(why, e.path, 0, "error", "unreadable"))
        stack.extend(reversed(subdirs))
