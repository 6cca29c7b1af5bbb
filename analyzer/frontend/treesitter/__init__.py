"""tree-sitter-c frontend: raw kernel source to :mod:`analyzer.ir`, no compile flags.

Reads every ``function_definition`` of a file (in every arm of ``#if``/``#else``, so a
function defined in two arms yields two ``Function``s) and lowers its body to the
structured IR.  Conventions the rest of the analyzer relies on:

* ``case X:``/``default:`` become a ``Case`` marker followed, in the switch body's
  ``Compound``, by the statements it labels (``case 1 ... 3:`` has an ``Opaque`` value);
  ``out: stmt`` becomes ``Label("out")`` followed by ``stmt`` in the enclosing
  ``Compound`` (both wrapped in a ``Compound`` when the parent is not one).  Fall-through
  and ``goto`` targets are therefore plain sequence order.
* An iterator macro named in the models (``list_for_each_entry(pos, head, m) body``) is an
  ``IterLoop`` whose ``body`` is the statement after the macro call, a block or a single
  statement, at any nesting.  A ``*for_each*`` macro that is *not* in the models but has a
  body is a ``While`` whose condition is the macro call (the clang frontend sees the
  expanded ``for``); called with a ``;`` (``idr_for_each(&idr, fn, p);``) it is a call.
  Any other call missing its ``;`` is an ``ExprStmt``.  ``scoped_guard(...) body`` is a
  ``Compound`` of the call then the body.
* ``#if``/``#ifdef`` inside a body is an ``If`` on ``Opaque("#ifdef X")``: every arm is a
  possible path.  ``#define``/``#include``/... inside a body are dropped.  Conditionals
  tree-sitter cannot read in place are flattened by the prepass (see below).
* A function-like macro wrapping a whole definition (``SYSCALL_DEFINE3(madvise, ...)
  { ... }``), which tree-sitter reads as a call followed by a block, is a ``Function``
  named after the macro, with the macro's plain identifier arguments as ``params``.
* Casts, parentheses and ``__extension__`` are dropped; ``sizeof``, ``offsetof``,
  initializer lists and compound literals are ``Opaque``; a type used as a macro argument
  (``list_first_entry(h, struct page, lru)``) is an ``Opaque`` argument.  ``a ?: b`` is
  ``Cond(a, a, b)``.  Statement-level ``DEFINE_X(name, ...)`` that tree-sitter cannot read
  is ``Decl(name, None)``.  ``__free(fn)`` cleanup attributes are dropped.
* Broken source never loses a function: the smallest statement holding an ``ERROR`` node
  becomes ``OpaqueStmt(degraded=True)`` and is counted in ``Function.degraded``.  A missing
  ``;`` (after a macro call, say) is not damage.  A function tree-sitter could not close
  is rebuilt from the pieces of the ERROR node (``degraded`` >= 1, noted in
  ``SourceFile.errors``); functions swallowed by a damaged declaration are re-parsed on
  their own.  Expressions or statements nested deeper than :data:`MAX_DEPTH` become
  ``Opaque``/``OpaqueStmt`` (counted) so that no consumer ever recurses that deep; the
  walkers here are iterative.

Spans are 1-based; columns count characters (the line prefix decoded as UTF-8 with
replacement), ``end_*`` exclusive.  Texts are always the original source.

Known limits: macros taking statements as arguments (``KUNIT_EXPECT_..(t, f(); g();)``),
a string literal glued to a macro (``"a" FMT "b"``) and ``typeof(expr) v;`` are damage; a
conditional whose arms differ inside an expression keeps its first arm only.
"""
from __future__ import annotations

from collections.abc import Mapping

from analyzer.frontend.lower import MAX_DEPTH
from analyzer.frontend.treesitter.prepare import (
    _prepare,
)
from analyzer.frontend.treesitter.toplevel import _FileLowerer, _parser
from analyzer.ir import (
    SourceFile,
)
from analyzer.models import IteratorModel

__all__ = ["MAX_DEPTH", "parse_source"]

def parse_source(path: str, data: bytes, iterators: Mapping[str, IteratorModel]) -> SourceFile:
    """Parse one file's bytes and lower every function in it to the IR."""
    prepared, loops = _prepare(data, iterators)
    tree = _parser().parse(prepared)
    return _FileLowerer(path, data, iterators, loops, prepared).source_file(tree.root_node)
