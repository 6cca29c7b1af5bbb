"""The pass-1 result: every function definition of the tree that a caller in another
file may see, with the facts its analysis summarized (in the rules' own vocabulary),
and how a caller's file resolves a name to them.

Resolution, for a call of ``name`` in file F (F's own functions are F's business: its
pass-2 analysis summarizes them bottom-up, as it always did):

* the definitions F can see: inline functions of headers, and the non-``static``
  functions of other ``.c`` files; a ``static`` function of another file is not F's;
* one definition: its facts; several (``#if`` arms, a header stub and the real
  function, ``__weak`` defaults): only the facts every one of them has -- the summary
  is conclusive where the tree agrees with itself, else it says nothing;
* a name a rule file models is never resolved here: rules/ win (they keep the
  primitives and the facts no summary derives);
* only facts about an argument the caller passes cross a file (:func:`crosses`): a
  reference taken or dropped, I/O started, a count set or frozen, a re-check.  Facts
  about a *kind* of object (``teardown``/``unpublish``/``sync``: "frees a page table",
  matched by kind, not object) and about where a *result* comes from
  (``lockless_read``, ``guest_source``: whether the caller holds the object -- a folio
  lock, a page-cache reference -- is outside the helper) stay in their file: across
  files they chain through unrelated objects (``pte_free()`` of a page table that was
  never installed is a "teardown").

The table is also the artifact ``kref-lint summarize -o FILE`` writes and
``--summaries FILE`` reads (JSON; paths relative to the tree, so that machines holding the
tree elsewhere share it).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analyzer.ir import Span, fast_init, fast_pickle
from analyzer.models import Model, Models
from analyzer.result import Step

FORMAT = "kref-lint-summaries-1"


class SummaryFileError(ValueError):
    """An artifact that cannot be read or is not one of ours (a tool error upstream)."""


@fast_pickle
@fast_init
@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    file: str                         # relative to the tree's root
    static: bool
    header: bool
    facts: tuple[Model, ...]


def _facts_key(m: Model) -> tuple[str, str]:
    return m.section, repr(m.values)


class SummaryTable:
    """Definitions by name, and the resolution for a caller's file (see the module doc)."""

    def __init__(self, definitions: Iterable[Definition], root: str = "",
                 meta: dict[str, Any] | None = None):
        self.root = root
        self.meta = dict(meta or {})
        self.by_name: dict[str, list[Definition]] = {}
        for d in definitions:
            self.by_name.setdefault(d.name, []).append(d)
        self._memo: dict[tuple[str, str], tuple[Model, ...]] = {}
        self._passed: dict[str, list[tuple[str, tuple]]] | None = None

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_name.values())

    def definitions(self) -> list[Definition]:
        return [d for name in sorted(self.by_name) for d in self.by_name[name]]

    def names(self) -> frozenset[str]:
        """Every name some definition has facts for."""
        return frozenset(n for n, ds in self.by_name.items() if any(d.facts for d in ds))

    def rel(self, path: str) -> str:
        if not self.root:
            return path
        try:
            return os.path.relpath(os.path.realpath(path), os.path.realpath(self.root))
        except ValueError:
            return path

    def resolve(self, name: str, caller: str) -> tuple[Model, ...]:
        """The facts a call of ``name`` in the file ``caller`` (relative) may rely on."""
        key = (name, caller)
        got = self._memo.get(key)
        if got is not None:
            return got
        defs = [d for d in self.by_name.get(name, ())
                if d.file != caller and (d.header or not d.static)]
        out: tuple[Model, ...] = ()
        if defs:
            common = set(map(_facts_key, defs[0].facts))
            for d in defs[1:]:
                common &= set(map(_facts_key, d.facts))
            out = tuple(m for m in defs[0].facts if _facts_key(m) in common
                        and m.section not in CALLER_SECTIONS)
        self._memo[key] = out
        return out

    def passed_unheld(self, name: str, callee_path: str) -> list[tuple]:
        """What callers in other files pass ``name`` (a visible function of
        ``callee_path``) unheld, from their ``unheld_calls`` summaries: (index, why,
        snapshot, line, column, the caller's path) each.  A caller whose own file defines
        ``name`` calls that definition, not this one."""
        if self._passed is None:
            self._passed = {}
            for d in self.definitions():
                for m in d.facts:
                    for callee, i, why, *rest in m.get("calls", ()) \
                            if m.section == "unheld_calls" else ():
                        self._passed.setdefault(callee, []).append(
                            (d.file, (i, f"in {d.file}, {why}", *rest)))
        here = self.rel(callee_path)
        own = {d.file for d in self.by_name.get(name, ())}
        return [(*rest, os.path.join(self.root, f) if self.root else f)
                for f, rest in self._passed.get(name, ()) if f != here and f not in own]

    def passed_digest(self, name: str, callee_path: str) -> str:
        """A digest of :meth:`passed_unheld` ("" for nothing passed)."""
        got = self.passed_unheld(name, callee_path)
        return hashlib.sha256(repr(sorted(got)).encode()).hexdigest()[:16] if got else ""

    def digest(self, name: str, caller: str) -> str:
        facts = self.resolve(name, caller)
        if not facts:
            return ""
        return hashlib.sha256(repr(sorted(map(_facts_key, facts))).encode()).hexdigest()[:16]

    def apply(self, models: Models, base: Models, names: Iterable[str],
              caller_path: str) -> tuple[tuple[str, str], ...]:
        """Add to ``models`` (a file's overlay) the facts of every name in ``names`` (the
        file's calls of functions it does not define) that no rule file models
        (``base``); return what the result depends on: (name, digest) for each of them,
        the names without facts too (they may gain some)."""
        caller = self.rel(caller_path)
        used = []
        for name in sorted(set(names)):
            if modeled(base, name):
                continue
            for m in self.resolve(name, caller):
                models.add_summary(m)
            used.append((name, self.digest(name, caller)))
        return tuple(used)

    def still_valid(self, used: Iterable[tuple[str, str]], caller_path: str) -> bool:
        """Whether every summary a cached result used is still the same: a name's facts,
        and under :data:`PASSED` what the callers elsewhere pass a function of the file."""
        caller = self.rel(caller_path)
        return all((self.passed_digest(n[len(PASSED):], caller_path) if n.startswith(PASSED)
                    else self.digest(n, caller)) == d for n, d in used)

    # -- the artifact
    def dump(self) -> str:
        rows = []
        for d in self.definitions():
            rows.append([d.name, d.file, d.static, d.header,
                         [[m.section, {k: self._enc(v) for k, v in m.values}]
                          for m in d.facts]])
        return json.dumps({"format": FORMAT, **self.meta, "definitions": rows},
                          separators=(",", ":"), sort_keys=True) + "\n"

    def _enc(self, v: Any) -> Any:
        if isinstance(v, Step):
            s = v.span
            return {"$step": [self.rel(s.file) if s.file else "", s.line, s.col, s.end_line,
                              s.end_col, v.message]}
        if isinstance(v, (tuple, list)):
            return [self._enc(x) for x in v]
        return v

    @classmethod
    def load(cls, text: str, root: str, source: str = "") -> SummaryTable:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise SummaryFileError(f"{source}: not a kref-lint summaries file "
                                       f"(want format {FORMAT})")
            meta = {k: v for k, v in data.items() if k not in ("format", "definitions")}
            defs = []
            for name, file, static, header, facts in data["definitions"]:
                models = tuple(Model.make(section, name, {k: _dec(v, root)
                                                          for k, v in values.items()},
                                          "summary") for section, values in facts)
                defs.append(Definition(str(name), str(file), bool(static), bool(header),
                                       models))
        except SummaryFileError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SummaryFileError(f"{source}: damaged summaries file: "
                                   f"{type(exc).__name__}: {exc}") from None
        return cls(defs, root, meta)


def _dec(v: Any, root: str) -> Any:
    if isinstance(v, dict) and "$step" in v:
        file, line, col, end_line, end_col, message = v["$step"]
        path = os.path.join(root, file) if file and root else file
        return Step(Span(path, int(line), int(col), int(end_line), int(end_col)), str(message))
    if isinstance(v, list):
        return tuple(_dec(x, root) for x in v)
    return v


#: Sections whose facts never cross a file (see the module doc).
LOCAL_SECTIONS = frozenset({"teardown", "unpublish", "sync", "lockless_read", "guest_source",
                            "private_alloc"})


#: The ``summaries_used`` entry of what callers in other files pass a function of the
#: analyzed file (:meth:`SummaryTable.passed_unheld`): the function's name after this
#: prefix (no C identifier starts with it).
PASSED = "<-"

#: Sections a function's summary holds about what it does to its callees' arguments
#: (``unheld_calls``: what it passes them unheld), for the callees' files
#: (:meth:`SummaryTable.passed_unheld`), never resolved as facts of the function itself.
CALLER_SECTIONS = frozenset({"unheld_calls"})


def crosses(m: Model) -> bool:
    """Whether a summarized fact may be used by a caller in another file."""
    return m.section not in LOCAL_SECTIONS


def modeled(base: Models, name: str) -> bool:
    """Whether a rule file models what ``name`` does to its arguments (a section that
    ``KNOWS``; then its summary is unused).  An origin-only section of one checker
    (``pfn_page``) leaves the summary to every checker."""
    return base.knows(name)
