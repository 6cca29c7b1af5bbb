"""What pass 1 needs of a file before it analyzes anything: every function it defines
(name, ``static``, the names it calls: tree-sitter's call expressions, the iterator
macros and the functions they step with), read without lowering any body; and the IR of
only the functions pass 1 must analyze.

Lowering bodies is most of a tree-sitter frontend's cost; a skeleton costs the prepass
and the parse.  Both readers walk the file exactly as :func:`analyzer.frontend.treesitter.
parse_source` does (every ``#if`` arm, damaged code, macro-defined functions), so the
functions are the same ones in the same order.
"""
from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import tree_sitter
import tree_sitter_c

from analyzer.frontend.treesitter.prepare import _prepare
from analyzer.frontend.treesitter.toplevel import _FileLowerer, _parser
from analyzer.ir import Compound, Function, fast_init, fast_pickle
from analyzer.models import IteratorModel

_QUERY: tree_sitter.Query | None = None


def _calls_query() -> tree_sitter.Query:
    global _QUERY
    if _QUERY is None:
        _QUERY = tree_sitter.Query(tree_sitter.Language(tree_sitter_c.language()),
                                   "(call_expression function: (identifier) @f)")
    return _QUERY


@fast_pickle
@fast_init
@dataclass(frozen=True, slots=True)
class FnSkeleton:
    """One function definition and the names it calls (a superset of the lowered
    function's calls: also those in code the lowering drops, such as ``sizeof``), each
    once, in the order of their first call: a tuple, a quarter of a frozenset's size
    (pass 1 holds the skeletons of every file that matters: a whole tree's)."""

    name: str
    static: bool
    tokens: tuple[str, ...]


class _Reader(_FileLowerer):
    """Records each function's skeleton; lowers the bodies of ``lower`` only."""

    def __init__(self, *args, lower: Collection[str] = (),
                 calls: list[tuple[int, str]] | None = None, **kw):
        super().__init__(*args, **kw)
        self.lower = lower
        self.skeletons: list[FnSkeleton] = []
        self.calls = calls or []                 # (start byte, callee), sorted
        self.starts = [c[0] for c in self.calls]

    def _function(self, node, name=None, params=None, body=None, span=None,
                  static=None, loose=None, damaged=0) -> Function:
        if name is None:
            name, params = self._signature(node.child_by_field_name("declarator"))
            body = node.child_by_field_name("body")
        if static is None:
            static = any(c.type == "storage_class_specifier" and self.text(c) == "static"
                         for c in node.children)
        start, end = node.start_byte, node.end_byte
        for part in (body, *(loose or ())):
            if part is not None:
                start, end = min(start, part.start_byte), max(end, part.end_byte)
        lo, hi = bisect_left(self.starts, start), bisect_left(self.starts, end)
        self.skeletons.append(FnSkeleton(
            name, static, tuple(dict.fromkeys(c[1] for c in self.calls[lo:hi]))))
        if name in self.lower:
            return super()._function(node, name, params, body, span, static, loose, damaged)
        sp = span or self.span(node)
        return Function(name, tuple(params or ()), self.path, sp, Compound((), sp), 0, static)


def _read(path: str, data: bytes, iterators: Mapping[str, IteratorModel],
          lower: Collection[str]) -> tuple[list[FnSkeleton], list[Function]]:
    return _walk(_parse(path, data, iterators), lower)


#: A file prepared and parsed once, walked as often as needed (each walk by a fresh
#: reader: the same functions as a fresh parse gives).
_Parsed = tuple


def _parse(path: str, data: bytes, iterators: Mapping[str, IteratorModel]) -> _Parsed:
    prepared, loops = _prepare(data, iterators)
    tree = _parser().parse(prepared)
    nodes = tree_sitter.QueryCursor(_calls_query()).captures(tree.root_node).get("f", [])
    calls = [(n.start_byte, sys.intern(data[n.start_byte:n.end_byte].decode("utf-8", "replace")))
             for n in nodes]
    for at, name in loops.items():               # iterator macros, and what they step with
        calls.append((at, sys.intern(name)))
        step = iterators[name].step if name in iterators else None
        if step:
            calls.append((at, sys.intern(step)))
    calls.sort()
    return path, data, iterators, loops, prepared, tree, calls


def _walk(parsed: _Parsed, lower: Collection[str]) -> tuple[list[FnSkeleton], list[Function]]:
    path, data, iterators, loops, prepared, tree, calls = parsed
    reader = _Reader(path, data, iterators, loops, prepared, lower=lower, calls=calls)
    functions = reader.source_file(tree.root_node).functions
    return reader.skeletons, list(functions)


def skeleton(path: str, data: bytes,
             iterators: Mapping[str, IteratorModel]) -> tuple[FnSkeleton, ...]:
    """Every function ``data`` defines, in file order; no body lowered."""
    return tuple(_read(path, data, iterators, ())[0])


def skeleton_and_seeds(path: str, data: bytes, iterators: Mapping[str, IteratorModel],
                       starters: frozenset[str] | None
                       ) -> tuple[tuple[FnSkeleton, ...], frozenset[int],
                                  list[tuple[int, Function]] | None]:
    """:func:`skeleton`; the indexes of its functions naming a starter (every function:
    ``starters`` None), the *seeds*; and what :func:`lower_only` gives for the seeds'
    names (None: it raised) -- from one parse (pass 1 lowers the seeds first).  Raises
    what :func:`skeleton` raises."""
    parsed = _parse(path, data, iterators)
    skels = tuple(_walk(parsed, ())[0])
    seeds = frozenset(i for i, s in enumerate(skels)
                      if starters is None or not starters.isdisjoint(s.tokens))
    if not seeds:
        return skels, seeds, []
    names = frozenset(skels[i].name for i in seeds)
    try:
        functions = _walk(parsed, names)[1]
    except Exception:
        return skels, seeds, None
    return skels, seeds, [(i, fn) for i, fn in enumerate(functions) if fn.name in names]


def lower_only(path: str, data: bytes, iterators: Mapping[str, IteratorModel],
               names: Collection[str]) -> list[tuple[int, Function]]:
    """The functions named in ``names``, lowered, each with its index in the file's
    skeleton (two ``#if`` arms defining one name are two functions)."""
    _skels, functions = _read(path, data, iterators, frozenset(names))
    return [(i, fn) for i, fn in enumerate(functions) if fn.name in names]
