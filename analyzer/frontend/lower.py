"""The lowering core shared by both frontends.

A frontend reads its own syntax tree (libclang cursors, tree-sitter nodes) and decides
which IR node each syntax node becomes; everything that does not depend on the syntax
tree lives here, so the two frontends lower alike.
"""
from __future__ import annotations

from analyzer.ir import Call, Expr, IterLoop, Span, Stmt
from analyzer.models import IteratorModel


def iter_loop(model: IteratorModel, macro: str, args: tuple[Expr, ...], body: Stmt,
              span: Span, call_span: Span) -> IterLoop:
    """The ``IterLoop`` for ``macro(args) body``: both frontends build it here, so they
    agree on the cursor and on the call the macro performs."""
    cursor = args[model.cursor] if model.cursor is not None and 0 <= model.cursor < len(
        args) else None
    step = None
    if model.step:
        step = Call(model.step, tuple(args[i] for i in model.step_args if 0 <= i < len(args)),
                    None, call_span)
    return IterLoop(macro, args, cursor, step, body, span)
