"""The project configuration file, ``.kref-lint.toml``.

Found by walking up from the analyzed paths (the first directory that has one wins; the
walk stops at the repository root, the directory holding ``.git``), or named with
``--config FILE``; ``--no-config`` ignores it.  Every key is optional::

    select   = ["try-get-without-ref"]      # only these rules
    ignore   = ["spurious-refcount-warn"]   # not these rules
    exclude  = ["drivers/staging/", "**/*_test.c"]   # gitignore-style globs
    rules    = ["tools/kref-lint/local.toml"]        # extra API model files
    baseline = "kref-lint-baseline.sarif"   # report only findings not in this SARIF log
    jobs     = 8                            # worker processes

Relative paths and globs are relative to the directory holding the file.  A flag given
on the command line replaces the file's value for that setting.  An unknown key, a value
of the wrong type or a TOML syntax error is an error that names the file and the key
(exit 2): a misspelt ``ignor`` must not silently do nothing.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

FILENAME = ".kref-lint.toml"
KEYS = ("select", "ignore", "exclude", "rules", "baseline", "jobs")


class ConfigError(Exception):
    """A configuration file that cannot be used (exit 2)."""


@dataclass(frozen=True)
class Config:
    path: Optional[str] = None                 # the file, None when there is none
    select: Optional[tuple[str, ...]] = None
    ignore: Optional[tuple[str, ...]] = None
    exclude: tuple[str, ...] = ()
    rules: Optional[tuple[str, ...]] = None    # absolute paths
    baseline: Optional[str] = None             # absolute path
    jobs: Optional[int] = None
    base: str = ""                             # directory globs are relative to

    def excluder(self, cli_exclude: Optional[Iterable[str]] = None) -> "Excluder":
        """The exclusion matcher: ``cli_exclude`` (relative to the working directory)
        replaces the file's patterns when given."""
        if cli_exclude:
            return Excluder(tuple(cli_exclude), os.getcwd())
        return Excluder(self.exclude, self.base or os.getcwd())


def find_config(start_paths: Iterable[str]) -> Optional[str]:
    """The ``.kref-lint.toml`` that applies to ``start_paths``: the nearest one in their
    common directory or above it, not above the repository root."""
    dirs = [os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".")
            for p in start_paths] or [os.getcwd()]
    try:
        here = os.path.commonpath(dirs)
    except ValueError:
        here = os.getcwd()
    while True:
        cand = os.path.join(here, FILENAME)
        if os.path.isfile(cand):
            return cand
        if os.path.exists(os.path.join(here, ".git")):
            return None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def load_config(path: Optional[str]) -> Config:
    """Read and check ``path``; ``Config()`` (all unset) for None."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, KEYS, n=1)
        raise ConfigError(f"{path}: unknown key '{key}'"
                          + (f" (did you mean '{hint[0]}'?)" if hint else "")
                          + f"; known keys: {', '.join(KEYS)}")

    def strings(key: str) -> Optional[tuple[str, ...]]:
        if key not in data:
            return None
        value = data[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: '{key}' must be a list of strings")
        return tuple(value)

    def resolve(p: str) -> str:
        return os.path.normpath(os.path.join(base, os.path.expanduser(p)))

    baseline = data.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline):
        raise ConfigError(f"{path}: 'baseline' must be a file name (a string)")
    jobs = data.get("jobs")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"{path}: 'jobs' must be a positive integer")
    rules = strings("rules")
    return Config(path=os.path.abspath(path), select=strings("select"),
                  ignore=strings("ignore"), exclude=strings("exclude") or (),
                  rules=tuple(resolve(r) for r in rules) if rules is not None else None,
                  baseline=resolve(baseline) if baseline else None, jobs=jobs, base=base)


# --------------------------------------------------------------------------- exclusion
def _glob_regex(pattern: str) -> str:
    """A gitignore-style glob as a regex over ``/``-separated relative paths:
    ``*`` and ``?`` stay within a component, ``**`` crosses them, ``[...]`` is a class."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@dataclass
class Excluder:
    """Which files the ``exclude`` globs remove.  gitignore-like: a pattern without a
    ``/`` (``*.h``, ``staging``) matches a file or directory name at any depth; one with
    a ``/`` (``drivers/staging/``, ``mm/*_test.c``) is anchored at ``base``.  A pattern
    matching a directory excludes everything under it."""

    patterns: tuple[str, ...]
    base: str
    _anchored: list = field(default_factory=list, init=False)
    _names: list = field(default_factory=list, init=False)

    def __post_init__(self):
        for p in self.patterns:
            p = p.strip().replace(os.sep, "/")
            if not p:
                continue
            while p.startswith("./"):
                p = p[2:]
            body = p.strip("/")
            if "/" in p.rstrip("/"):
                self._anchored.append(re.compile(_glob_regex(body) + r"(?:/.*)?\Z"))
            else:
                self._names.append(re.compile(_glob_regex(body) + r"\Z"))

    def __bool__(self) -> bool:
        return bool(self._anchored or self._names)

    def excluded(self, path: str) -> bool:
        if not self:
            return False
        rel = os.path.relpath(os.path.abspath(path), self.base).replace(os.sep, "/")
        if rel.startswith("../") or rel == "..":
            return False
        if any(rx.match(rel) for rx in self._anchored):
            return True
        return any(rx.match(part) for part in rel.split("/") for rx in self._names)
