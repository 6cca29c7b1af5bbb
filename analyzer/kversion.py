"""The kernel version a run analyzes, and which API models hold in it.

The page/folio APIs changed shape across the kernels people run (5.10, 6.1, 6.12, 7.x):
``try_grab_folio()`` returned a speculatively referenced folio up to 6.9 and pins a folio
the caller holds since 6.10; ``page_cache_get_speculative()`` exists only in old trees.  A
model in ``rules/*.toml`` therefore says in which versions it holds, and the loader keeps,
for the analyzed tree's version, the one model of each name that applies.

**The version** (:func:`resolve`): ``--kernel-version X.Y`` (or ``kernel-version`` in
``.kref-lint.toml``), else the ``VERSION``/``PATCHLEVEL`` of the kernel's top-level
``Makefile`` found by walking up from the analyzed paths, else unknown.

**Version ranges** (:func:`select`): a model table may carry ``since = "X.Y"`` (the first
version it holds in, *inclusive*) and ``until = "X.Y"`` (the first version it no longer
holds in, *exclusive*), the way the kernel's history reads: ``try_grab_folio()`` changed
in 6.10, so the old model has ``until = "6.10"`` and the new one ``since = "6.10"``.  An
API whose meaning changed is written as several variants of the same name (a TOML array of
tables, ``[[acquire.try_grab_folio]]``), whose ranges must not overlap.

* Known version: the variant whose range contains it; none: the API is not modeled.
* Unknown version (a lone file, a patch without a tree): the newest models, i.e. of each
  name the variant whose range reaches furthest.  A name whose every model ends (an API
  only older trees have, such as ``page_cache_get_speculative()``) keeps its last model:
  newer trees do not have the name, so its presence identifies older code, and reading it
  with its only meaning costs nothing on newer code.
"""
from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from analyzer.errors import ModelError

Version = tuple[int, int]
#: the keys every model table may carry besides its section's own
KEYS = ("since", "until")
_NEVER: Version = (0, 0)
_FOREVER: Version = (1 << 30, 0)
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+~.][\w.+~-]*)?")


def parse(text: str) -> Version:
    """``"6.10"`` / ``"v6.10.3"`` / ``"6.12-rc1"`` -> ``(6, 10)``; ValueError otherwise."""
    m = _VERSION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"not a kernel version: {text!r} (write X.Y, e.g. 6.12)")
    return int(m.group(1)), int(m.group(2))


def show(version: Version | None) -> str:
    return f"{version[0]}.{version[1]}" if version else "unknown"


def makefile_version(path: str) -> Version | None:
    """The ``VERSION.PATCHLEVEL`` of a kernel's top-level Makefile, None if ``path`` is
    not one (kbuild's other Makefiles set no VERSION/PATCHLEVEL/SUBLEVEL)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    got = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)\s*$", head, re.M)
        if not m:
            return None
        got[key] = int(m.group(1))
    return got["VERSION"], got["PATCHLEVEL"]


def detect(paths: Iterable[str]) -> tuple[Version, str] | None:
    """The version of the kernel tree holding the first of ``paths`` that is in one, and
    that tree's Makefile: walks up from each path to the file-system root."""
    seen: set[str] = set()
    for p in paths:
        here = os.path.abspath(p)
        if not os.path.isdir(here):
            here = os.path.dirname(here)
        while here not in seen:
            seen.add(here)
            makefile = os.path.join(here, "Makefile")
            version = makefile_version(makefile)
            if version is not None:
                return version, makefile
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
    return None


@dataclass(frozen=True)
class KernelVersion:
    """The run's kernel version and where it came from (for reports)."""

    version: Version | None = None
    origin: str = ""            # "--kernel-version", "kernel-version in FILE", a Makefile, ""

    @property
    def text(self) -> str | None:
        """``"X.Y"``, or None when unknown (what the models are selected with)."""
        return show(self.version) if self.version else None

    def describe(self) -> str:
        if self.version is None:
            return "kernel version unknown (no top-level Makefile): newest API models"
        return f"kernel {show(self.version)} ({self.origin})"


def resolve(explicit: str | None, paths: Sequence[str], origin: str = "--kernel-version"
            ) -> KernelVersion:
    """The run's version: ``explicit`` (already checked with :func:`parse`) if given, else
    the tree's Makefile, else unknown."""
    if explicit:
        return KernelVersion(parse(explicit), origin)
    found = detect(paths)
    if found is None:
        return KernelVersion(None, "")
    return KernelVersion(found[0], found[1])


# ------------------------------------------------------------------ model selection
def _range(entry: dict, where: str, line: int, source: str, text: str
           ) -> tuple[Version, Version]:
    bounds = []
    for key, default in (("since", _NEVER), ("until", _FOREVER)):
        value = entry.get(key)
        if value is None:
            bounds.append(default)
            continue
        try:
            bounds.append(parse(value) if isinstance(value, str) else parse(""))
        except ValueError:
            kline = _key_line(text, key, line) or line
            raise ModelError(f"{source}:{kline}: '{where}.{key}': expected a kernel version "
                             f"string \"X.Y\", got {value!r}") from None
    if bounds[0] >= bounds[1]:
        raise ModelError(f"{source}:{line}: '{where}': since = {entry['since']!r} is not "
                         f"before until = {entry['until']!r} (since is inclusive, until "
                         "exclusive)")
    return bounds[0], bounds[1]


_HEADER_BEFORE = re.compile(r"[ \t]*\[\[?[ \t]*")
_HEADER_AFTER = re.compile(r"[ \t]*\]")


def _header_lines(text: str, section: str, api: str) -> list[int]:
    """Line of each ``[section.api]`` / ``[[section.api]]`` header, in order (blanks
    allowed around the name and before the bracket), found by ``str.find``: a regular
    expression compiled per model cost most of loading the rules."""
    needle = f"{section}.{api}"
    out: list[int] = []
    at = text.find(needle) if needle else -1
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        if (_HEADER_BEFORE.fullmatch(text, start, at)
                and _HEADER_AFTER.match(text, at + len(needle))):
            out.append(text.count("\n", 0, start) + 1)
        at = text.find(needle, at + 1)
    return out


def _key_line(text: str, key: str, start: int) -> int:
    """Line of ``key =`` at or after line ``start`` (0: not found)."""
    for n, line in enumerate(text.splitlines()[max(start - 1, 0):], max(start, 1)):
        if re.match(rf"[ \t]*{key}[ \t]*=", line):
            return n
    return 0


def variants(entry: Any, text: str, section: str, api: str, line: int
             ) -> list[tuple[Any, int]]:
    """The tables of one model (several for an array of tables), each with its line."""
    got = entry if isinstance(entry, list) else [entry]
    lines = _header_lines(text, section, api) if text else []
    return [(v, lines[i] if i < len(lines) else line) for i, v in enumerate(got)]


def select(data: dict[str, Any], version: Version | None, source: str, text: str = ""
           ) -> dict[tuple[str, str], dict]:
    """For each model ``(section, api)`` of ``data`` (one parsed rule file), the table
    (the variant) that holds in ``version`` -- see the module docstring; a model that holds
    in no version of it is absent.  The tables keep their ``since``/``until``.  Raises
    ModelError for a bad or overlapping range, whatever the version, so that a rule file
    is valid or not independently of the tree."""
    ranged: dict[tuple[str, str], list[tuple[Version, Version, dict]]] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            continue                     # the schema check names the problem
        for api, entry in table.items():
            listed = variants(entry, text, section, api, 0)
            got = []
            where = f"{section}.{api}"
            for i, (variant, line) in enumerate(listed):
                if not isinstance(variant, dict):
                    continue             # the schema check names the problem
                if len(listed) > 1 and "since" not in variant and "until" not in variant:
                    raise ModelError(f"{source}:{line}: '{where}': variant {i + 1} of "
                                     f"{len(listed)} has neither since nor until")
                since, until = _range(variant, where, line, source, text)
                got.append((since, until, variant))
            got.sort(key=lambda g: g[0])
            for (_, until, _), (since, _, _) in itertools.pairwise(got):
                if since < until:
                    raise ModelError(f"{source}:{listed[0][1]}: '{where}': version ranges "
                                     f"overlap at {show(since)}")
            if got:
                ranged[section, api] = got
    current = {api for (_, api), got in ranged.items() if got[-1][1] == _FOREVER}
    chosen = {}
    for key, got in ranged.items():
        table = _choose(got, version, key[1] in current)
        if table is not None:
            chosen[key] = table
    return chosen


def _choose(got: list[tuple[Version, Version, dict]], version: Version | None,
            name_is_current: bool) -> dict | None:
    if version is not None:
        return next((v for since, until, v in got if since <= version < until), None)
    _, until, newest = got[-1]
    if until != _FOREVER and name_is_current:
        return None                      # newer trees read this name another way
    return newest


def range_text(since: str | None, until: str | None) -> str:
    """``"5.18 <= v < 6.10"``, ``"v >= 6.10"``, ``"v < 6.10"`` (for listings); ""
    when the model holds in every version."""
    if since and until:
        return f"{since} <= v < {until}"
    if since:
        return f"v >= {since}"
    if until:
        return f"v < {until}"
    return ""
