"""The lowering core shared by both frontends.

A frontend reads its own syntax tree (libclang cursors, tree-sitter nodes) and decides
which IR node each syntax node becomes: its node-kind dispatch, its spans and its lexing.
Everything that does not depend on the syntax tree lives here, so the two frontends
lower alike:

* the explicit-stack machine (:meth:`Lowering.run`): no recursion, so a deeply nested
  expression cannot overflow Python's stack; nesting beyond :data:`MAX_DEPTH` is read as
  opaque by the frontend's dispatch;
* the statement and expression builders (``b_*``) that turn the values of a node's
  children into the node's IR;
* iterator-loop lowering (:func:`iter_loop`), from the models.

The machine runs *tasks*, tuples whose first item is the kind:

``(E, node, depth)``
    lower ``node`` as an expression: the frontend's ``_expr(node, depth, push, out)``
    appends one value to ``out`` or pushes further tasks;
``(S, node, depth, tail)``
    lower ``node`` as a statement: ``_stmt(node, depth, tail, push, out)`` appends a
    *list* of statements (labels and cases flatten into the enclosing block); ``tail``
    is the frontend's own context (tree-sitter: the statement an iterator macro call
    still needs as its body);
``(B, node, builder, n, ctx)``
    pop the last ``n`` values and append ``builder(node, values, ctx)``; a build step
    is pushed before the children it consumes, so it runs after them;
``(V, value)``
    append a ready value.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from analyzer.ir import (
    Call,
    Case,
    Compound,
    Cond,
    Decl,
    DoWhile,
    Expr,
    ExprStmt,
    For,
    If,
    Index,
    IterLoop,
    Label,
    Return,
    Span,
    Stmt,
    StmtExpr,
    Switch,
    While,
    single,
)
from analyzer.models import IteratorModel

E, S, B, V = 0, 1, 2, 3            # task kinds of the explicit-stack machine

#: Nesting (expressions and statements together) beyond which a frontend stops lowering
#: and reads the rest as opaque, counted as degraded.
MAX_DEPTH = 200

one = single                        # a statement list in a single-statement position


def block(stmts: list, span: Span) -> Compound:
    """A statement list where a ``Compound`` is required."""
    if len(stmts) == 1 and isinstance(stmts[0], Compound):
        return stmts[0]
    return Compound(tuple(stmts), span)


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


class Lowering:
    """What a frontend's walker shares: the machine and the builders.

    A subclass provides ``_expr``/``_stmt`` (its node-kind dispatch) and ``span``; it
    may override ``stmt_span`` (the span of a statement, default ``span``) and
    ``decl_span`` (of one declarator)."""

    iterators: Mapping[str, IteratorModel]
    span: Callable[[Any], Span]

    def stmt_span(self, node: Any) -> Span:
        return self.span(node)

    def decl_span(self, node: Any) -> Span:
        return self.span(node)

    def _expr(self, node: Any, depth: int, push: Callable, out: list) -> None:
        raise NotImplementedError

    def _stmt(self, node: Any, depth: int, tail: Any, push: Callable, out: list) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ the machine
    def run(self, kind: int, node: Any, depth: int = 0, tail: Any = None) -> Any:
        """Lower ``node`` as ``kind`` (``E`` or ``S``): its value (a statement list)."""
        stack: list = [(kind, node, depth) if kind == E else (kind, node, depth, tail)]
        out: list = []
        push, pop = stack.append, stack.pop
        expr, stmt = self._expr, self._stmt
        while stack:
            t = pop()
            k = t[0]
            if k == E:
                expr(t[1], t[2], push, out)
            elif k == B:
                n = t[3]
                if n:
                    vals = out[-n:]
                    del out[-n:]
                else:
                    vals = []
                out.append(t[2](t[1], vals, t[4]))
            elif k == S:
                stmt(t[1], t[2], t[3], push, out)
            else:
                out.append(t[1])
        return out[0]

    # ------------------------------------------------------------------ expressions
    def b_index(self, n: Any, vals: list, ctx: Any) -> Expr:
        return Index(vals[0], vals[1], self.span(n))

    def b_cond(self, n: Any, vals: list, ctx: Any) -> Expr:
        """``c ? a : b``, or from two values GNU ``c ?: b`` (``c`` is both)."""
        if len(vals) == 2:
            return Cond(vals[0], vals[0], vals[1], self.span(n))
        return Cond(vals[0], vals[1], vals[2], self.span(n))

    def b_call(self, n: Any, vals: list, callee: str | None) -> Expr:
        """``callee(vals...)``; with ``callee`` None the first value is the called
        expression."""
        if callee is not None:
            return Call(callee, tuple(vals), None, self.span(n))
        return Call(None, tuple(vals[1:]), vals[0], self.span(n))

    def b_stmtexpr(self, n: Any, vals: list, ctx: Any) -> Expr:
        sp = self.span(n)
        return StmtExpr(block(vals[0], sp), sp)

    # ------------------------------------------------------------------ statements
    def b_exprstmt(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        return [ExprStmt(vals[0], self.stmt_span(n))]

    def b_init(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        """The expression initializing a ``for``: spanned as the expression."""
        return [ExprStmt(vals[0], self.span(n))]

    def b_block(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        return [Compound(tuple(s for lst in vals for s in lst), self.span(n))]

    def b_decl(self, n: Any, vals: list, items: list) -> list[Stmt]:
        """``items``: (name, initializer node or None, declarator node) per declarator;
        ``vals`` the values of the initializers present."""
        out: list[Stmt] = []
        i = 0
        for name, init, d in items:
            value = None
            if init is not None:
                value = vals[i]
                i += 1
            out.append(Decl(name, value, self.decl_span(d)))
        return out

    def b_if(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        """``vals``: condition, then-list, else-list or None."""
        sp = self.stmt_span(n)
        else_ = one(vals[2], sp) if vals[2] is not None else None
        return [If(vals[0], one(vals[1], sp), else_, sp)]

    def b_while(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        sp = self.stmt_span(n)
        return [While(vals[0], one(vals[1], sp), sp)]

    def b_do(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        sp = self.stmt_span(n)
        return [DoWhile(one(vals[0], sp), vals[1], sp)]

    def b_for(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        """``vals``: init list, condition or None, step or None, body list."""
        sp = self.stmt_span(n)
        return [For(tuple(vals[0]), vals[1], vals[2], one(vals[3], sp), sp)]

    def b_switch(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        sp = self.stmt_span(n)
        return [Switch(vals[0], one(vals[1], sp), sp)]

    def b_case(self, n: Any, vals: list, ctx: tuple[bool, Span]) -> list[Stmt]:
        """``ctx``: (has a value, the label's span); ``vals``: the value if any, then
        the statement lists the label is followed by (flattened after the label)."""
        has_value, sp = ctx
        value = vals[0] if has_value else None
        flat: list[Stmt] = [Case(value, sp)]
        for lst in vals[1 if has_value else 0:]:
            flat.extend(lst)
        return flat

    def b_label(self, n: Any, vals: list, label: Label | None) -> list[Stmt]:
        return vals[0] if label is None else [label, *vals[0]]

    def b_return(self, n: Any, vals: list, ctx: Any) -> list[Stmt]:
        return [Return(vals[0], self.stmt_span(n))]

    def b_iterloop(self, n: Any, vals: list, ctx: tuple[str, Span, Span]) -> list[Stmt]:
        """An iterator macro named in the models; ``ctx``: (macro, the loop's span,
        the macro call's span); ``vals``: the arguments, then the body list."""
        name, span, call_span = ctx
        body = one(vals[-1], span)
        return [iter_loop(self.iterators[name], name, tuple(vals[:-1]), body, span,
                          call_span)]
