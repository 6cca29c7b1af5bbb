"""``kref-lint --diff REV [PATH...]``: the findings a change introduces.

The changed ``.c``/``.h`` files between ``REV`` and the working tree (staged and unstaged
changes, and untracked files git does not ignore) are analyzed twice: as they are now, in
place, and as they were at ``REV``, from blobs read with ``git cat-file`` into a private
temporary directory that mirrors their paths (a renamed file's old text goes under its
new name, so its old findings still match).  The working tree, the index and the
repository are only read.  The analysis at ``REV`` is the baseline of the run (see
:mod:`analyzer.baseline`): only findings it does not have are ``new``.

Git runs with the user's and system configuration ignored (no external diff drivers,
text conversion or pagers) and ``LC_ALL=C``.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import ToolError

GIT_TIMEOUT = 300
APPLY_TIMEOUT = 120
REGULAR_MODES = ("100644", "100755")


class GitError(ToolError):
    """git is missing, the directory is no git tree, or REV is unknown (exit 2)."""


def git_env() -> dict[str, str]:
    env = dict(os.environ, LC_ALL="C", LANG="C", GIT_CONFIG_NOSYSTEM="1",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat",
               GIT_OPTIONAL_LOCKS="0")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_EXTERNAL_DIFF"):
        env.pop(var, None)
    return env


def git(args: Sequence[str], cwd: str, input: bytes | None = None,
        env: dict | None = None) -> bytes:
    """Run ``git ARGS`` in ``cwd``; its stdout, or :class:`GitError` with its stderr."""
    try:
        r = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True,
                           env=env or git_env(), timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise GitError("git is not installed (needed by --diff)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish in {GIT_TIMEOUT} s") from None
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]}: " + (msg[-1] if msg else f"exit {r.returncode}"))
    return r.stdout


def toplevel(cwd: str) -> str:
    try:
        out = git(["rev-parse", "--show-toplevel"], cwd)
    except GitError:
        raise GitError(f"--diff needs a git tree; {cwd} is not in one") from None
    return out.decode("utf-8", "surrogateescape").strip()


@dataclass(frozen=True)
class Change:
    status: str                  # A (added or untracked), M, D, R (renamed), T
    old_path: str | None      # relative to the top level, at REV
    new_path: str | None      # relative to the top level, in the working tree
    old_blob: str | None      # object id at REV


def changes(rev: str, pathspecs: Sequence[str], cwd: str, suffixes: tuple[str, ...]
            ) -> tuple[str, list[Change]]:
    """(the commit REV names, the changed files whose names end with one of ``suffixes``
    between it and the working tree, untracked ones included), ``pathspecs`` being
    relative to ``cwd``."""

    def _is_source(path: str | None) -> bool:
        return path is not None and path.endswith(suffixes)

    try:
        commit = git(["rev-parse", "--verify", "--quiet", "--end-of-options",
                      rev + "^{commit}"], cwd).decode().strip()
    except GitError:
        raise GitError(f"--diff: unknown revision '{rev}'") from None
    spec = ["--", *pathspecs] if pathspecs else []
    raw = git(["diff", "--raw", "-z", "-M", "--no-abbrev", "--no-ext-diff", "--no-textconv",
               "--ignore-submodules", commit, *spec], cwd)
    out: list[Change] = []
    fields = raw.split(b"\0")
    i = 0
    while i < len(fields) - 1:
        meta = fields[i].decode()
        if not meta.startswith(":"):
            i += 1
            continue
        old_mode, new_mode, old_blob, _new_blob, status = meta[1:].split()
        kind = status[0]
        old: str | None
        new: str | None
        if kind in "RC":
            old, new = (fields[i + 1].decode("utf-8", "surrogateescape"),
                        fields[i + 2].decode("utf-8", "surrogateescape"))
            i += 3
        else:
            old = new = fields[i + 1].decode("utf-8", "surrogateescape")
            i += 2
        if kind == "C":
            kind, old = "A", None            # a copy is new code
        if kind == "A":
            old = None
        if kind == "D":
            new = None
        if old is not None and (old_mode not in REGULAR_MODES or not _is_source(old)):
            old = None
        if new is not None and (new_mode not in REGULAR_MODES + ("000000",)
                                or not _is_source(new)):
            new = None
        if kind == "U" or (old is None and new is None):
            continue
        out.append(Change(kind, old, new, old_blob if old is not None else None))
    untracked = git(["ls-files", "-z", "--others", "--exclude-standard", "--full-name",
                     *spec], cwd)
    for name in untracked.split(b"\0"):
        path = name.decode("utf-8", "surrogateescape")
        if _is_source(path):
            out.append(Change("A", None, path, None))
    return commit, out


def read_blobs(root: str, blobs: Sequence[str]) -> dict[str, bytes]:
    """The contents of ``blobs`` (object ids), read in one ``git cat-file --batch``."""
    if not blobs:
        return {}
    data = git(["cat-file", "--batch"], root, input="".join(b + "\n" for b in blobs).encode())
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        header = data[pos:eol].decode().split()
        pos = eol + 1
        if len(header) < 3:                   # "<id> missing"
            raise GitError(f"git cat-file: object {header[0]} is missing")
        size = int(header[2])
        out[header[0]] = data[pos:pos + size]
        pos += size + 1
    return out


def materialize(root: str, todo: Sequence[Change], dest: str) -> list[str]:
    """Write each change's text at REV to ``dest``, under its new name (its old one for
    a deleted file); the paths written."""
    blobs = read_blobs(root, sorted({c.old_blob for c in todo if c.old_blob}))
    written = []
    for c in todo:
        if c.old_blob is None:
            continue
        rel = c.new_path or c.old_path or ""
        target = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(blobs[c.old_blob])
        written.append(target)
    return written


# --------------------------------------------------------------------------- apply
def apply(diff: bytes, work: str, private: str) -> str | None:
    """``git apply`` ``diff`` in ``work`` (a private copy of the files it touches, inside
    the temporary directory ``private``, which no repository is above).  None when it
    applied, else git's complaint in one line."""
    env = git_env()
    env["GIT_CEILING_DIRECTORIES"] = private      # never a repository above the copy
    env["HOME"] = private
    try:
        r = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=work,
                           input=diff, capture_output=True, env=env, timeout=APPLY_TIMEOUT)
    except FileNotFoundError:
        raise GitError("git is not installed (check-patch applies patches with git apply)"
                       ) from None
    except subprocess.TimeoutExpired:
        return f"git apply did not finish in {APPLY_TIMEOUT} s"
    if r.returncode == 0:
        return None
    err = r.stderr.decode("utf-8", "replace")
    errors = [x for x in err.splitlines() if x.startswith(("error:", "fatal:"))] or [err]
    return "; ".join(e.replace("error: ", "").replace("fatal: ", "").strip()
                     for e in errors[:4])


# --------------------------------------------------------------------------- state
def head_commit(tree: str) -> str:
    """HEAD of ``tree`` when it is a git work tree, else ``""``."""
    try:
        return git(["rev-parse", "--verify", "--quiet", "HEAD"], tree).decode().strip()
    except (GitError, OSError):
        return ""


@dataclass(frozen=True)
class State:
    """Where a tree's code comes from (SARIF ``versionControlProvenance``)."""

    toplevel: str
    repository_uri: str          # the upstream remote's URL, credentials removed
    revision: str                # HEAD
    branch: str = ""


def state(path: str) -> State | None:
    """The version control state of the git work tree ``path`` is the top of, or None
    (not a git tree, no commit yet, git missing)."""
    if not os.path.isdir(os.path.join(path, ".git")) and \
            not os.path.isfile(os.path.join(path, ".git")):
        return None
    revision = head_commit(path)
    if not revision:
        return None
    try:
        branch = git(["symbolic-ref", "--quiet", "--short", "HEAD"], path).decode().strip()
    except GitError:
        branch = ""                                  # detached HEAD
    remote = _remote_url(path, branch)
    return State(os.path.abspath(path), remote, revision, branch)


def _remote_url(path: str, branch: str) -> str:
    names = []
    if branch:
        try:
            names.append(git(["config", "--get", f"branch.{branch}.remote"], path)
                         .decode().strip())
        except GitError:
            pass
    names.append("origin")
    for name in names:
        try:
            url = git(["config", "--get", f"remote.{name}.url"], path).decode().strip()
        except GitError:
            continue
        if url:
            return public_url(url)
    return ""


def public_url(url: str) -> str:
    """A remote URL as it may be published: a password or token removed (an ssh user
    name kept), and scp-style ``git@host:path`` written as ``ssh://git@host/path``."""
    m = re.match(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>[^:@/]*)(?::[^@/]*)?@)?"
                 r"(?P<rest>.*)$", url, re.I)
    if m:
        scheme = m["scheme"].lower()
        user = f"{m['user']}@" if scheme == "ssh" and m["user"] else ""
        return f"{scheme}://{user}{m['rest']}"
    m = re.match(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>[^/].*)$", url)
    if m:
        return f"ssh://{(m['user'] + '@') if m['user'] else ''}{m['host']}/{m['path']}"
    if os.path.isabs(url):
        return Path(url).as_uri()
    return url
