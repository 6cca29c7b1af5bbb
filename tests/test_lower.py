"""The lowering core shared by both frontends (analyzer/frontend/lower.py), the IR's one
child enumeration (ir.children/walk/with_children) and the kernel word list (kernel.toml).

The frontends' own tests check what each reads from C; here the shared parts are driven
directly, through a toy frontend whose "syntax tree" is nested tuples."""
from __future__ import annotations

import sys

import pytest

from analyzer import ir
from analyzer.frontend import lower
from analyzer.frontend.lower import B, E, Lowering, S, V, iter_loop
from analyzer.frontend.treesitter import parse_source
from analyzer.frontend.treesitter import prepare as ts_prepare
from analyzer.ir import (
    AddrOf,
    Assign,
    Binary,
    Call,
    Case,
    Compound,
    Cond,
    Decl,
    Deref,
    DoWhile,
    ExprStmt,
    For,
    If,
    Index,
    IterLoop,
    Label,
    Literal,
    Member,
    Name,
    Return,
    Span,
    StmtExpr,
    Switch,
    Unary,
    While,
)
from analyzer.models import IteratorModel

SP = Span("t.c", 1, 1, 1, 2)


class Toy(Lowering):
    """Syntax: ("name", id) | ("call", callee, args...) | ("+", a, b) | ("?:", c, b)
    | statements ("expr", e) | ("if", c, then, else|None) | ("block", stmts...)
    | ("decl", name, init|None) | ("case", value|None, stmts...) | ("label", name, stmt)
    | ("loop", macro, body, args...)."""

    def __init__(self, iterators=None):
        self.iterators = iterators or {}
        self.spans_asked: list = []

    def span(self, node):
        return SP

    def stmt_span(self, node):
        return Span("t.c", 2, 1, 2, 9)

    def decl_span(self, node):
        self.spans_asked.append(node)
        return Span("t.c", 3, 5, 3, 6)

    def _expr(self, node, depth, push, out):
        k = node[0]
        if k == "name":
            out.append(Name(node[1], SP))
        elif k == "call":
            push((B, node, self.b_call, len(node) - 2, node[1]))
            for a in reversed(node[2:]):
                push((E, a, depth + 1))
        elif k == "+":
            push((B, node, lambda n, vals, ctx: Binary("+", vals[0], vals[1], SP), 2, None))
            push((E, node[2], depth + 1))
            push((E, node[1], depth + 1))
        elif k == "?:":
            push((B, node, self.b_cond, 2, None))
            push((E, node[2], depth + 1))
            push((E, node[1], depth + 1))
        else:
            raise AssertionError(node)

    def _stmt(self, node, depth, tail, push, out):
        k = node[0]
        if k == "expr":
            push((B, node, self.b_exprstmt, 1, None))
            push((E, node[1], depth + 1))
        elif k == "if":
            push((B, node, self.b_if, 3, None))
            push((S, node[3], depth + 1, None) if node[3] is not None else (V, None))
            push((S, node[2], depth + 1, None))
            push((E, node[1], depth + 1))
        elif k == "block":
            push((B, node, self.b_block, len(node) - 1, None))
            for c in reversed(node[1:]):
                push((S, c, depth + 1, None))
        elif k == "decl":
            items = [(node[1], node[2], node)]
            push((B, node, self.b_decl, 1 if node[2] is not None else 0, items))
            if node[2] is not None:
                push((E, node[2], depth + 1))
        elif k == "case":
            has = node[1] is not None
            push((B, node, self.b_case, len(node) - 2 + has, (has, SP)))
            for c in reversed(node[2:]):
                push((S, c, depth, None))
            if has:
                push((E, node[1], depth + 1))
        elif k == "label":
            push((B, node, self.b_label, 1, Label(node[1], SP)))
            push((S, node[2], depth, None))
        elif k == "loop":
            push((B, node, self.b_iterloop, len(node) - 2, (node[1], SP, SP)))
            push((S, node[2], depth + 1, None))
            for a in reversed(node[3:]):
                push((E, a, depth + 1))
        else:
            raise AssertionError(node)


def n(x):
    return ("name", x)


def test_machine_builds_children_before_parents_in_order():
    got = Toy().run(S, ("if", ("call", "f", n("a"), ("+", n("b"), n("c"))),
                        ("expr", ("call", "g")), None))
    assert got == [If(Call("f", (Name("a"), Binary("+", Name("b"), Name("c")))),
                      ExprStmt(Call("g", ())), None)]
    assert got[0].span == Span("t.c", 2, 1, 2, 9)            # the statement span hook


def test_machine_is_not_recursive():
    e: tuple = n("x")
    for _ in range(sys.getrecursionlimit() * 3):
        e = ("+", e, n("y"))
    got = Toy().run(E, e)
    depth = 0
    while isinstance(got, Binary):
        got, depth = got.left, depth + 1
    assert depth == sys.getrecursionlimit() * 3 and got == Name("x")


def test_values_and_a_builder_with_no_children():
    t = Toy()
    assert t.run(S, ("block",)) == [Compound(())]
    assert t.run(E, ("call", "f")) == Call("f", ())


def test_indirect_call_takes_the_called_expression_first():
    t = Toy()
    got = t.b_call(None, [Name("fp"), Name("a")], None)
    assert got == Call(None, (Name("a"),), Name("fp"))
    assert t.b_call(None, [Name("a")], "f") == Call("f", (Name("a"),), None)


def test_gnu_elvis_and_ternary():
    t = Toy()
    assert t.run(E, ("?:", n("a"), n("b"))) == Cond(Name("a"), Name("a"), Name("b"))
    assert t.b_cond(None, [Name("c"), Name("a"), Name("b")], None) == Cond(
        Name("c"), Name("a"), Name("b"))


def test_labels_and_cases_flatten_into_the_enclosing_block():
    got = Toy().run(S, ("block", ("case", ("name", "ONE"), ("expr", n("a")), ("expr", n("b"))),
                        ("case", None, ("label", "out", ("expr", n("c"))))))
    assert got == [Compound((Case(Name("ONE")), ExprStmt(Name("a")), ExprStmt(Name("b")),
                             Case(None), Label("out"), ExprStmt(Name("c"))))]


def test_declarations_use_the_declarator_span_hook():
    t = Toy()
    node = ("decl", "page", ("call", "alloc_page"))
    got = t.run(S, node)
    assert got == [Decl("page", Call("alloc_page", ()))]
    assert got[0].span == Span("t.c", 3, 5, 3, 6) and t.spans_asked == [node]
    assert t.run(S, ("decl", "x", None)) == [Decl("x", None)]


def test_single_statement_positions_and_blocks():
    assert lower.one([ExprStmt(Name("a"))], SP) == ExprStmt(Name("a"))
    assert lower.one([], SP) == Compound(())
    c = Compound((ExprStmt(Name("a")),))
    assert lower.block([c], SP) is c
    assert lower.block([ExprStmt(Name("a"))], SP) == c
    t = Toy()
    assert t.b_stmtexpr(None, [[ExprStmt(Name("a"))]], None) == StmtExpr(c)
    assert t.b_for(None, [[], None, None, []], None) == [For((), None, None, Compound(()))]
    assert t.b_do(None, [[ExprStmt(Name("a"))], Name("c")], None) == [
        DoWhile(ExprStmt(Name("a")), Name("c"))]


def test_iterator_loop_takes_cursor_and_step_from_the_model():
    m = IteratorModel(1, "xas_find", (0, 2))
    args = (Name("xas"), Name("entry"), Name("max"))
    got = iter_loop(m, "xas_for_each", args, ExprStmt(Name("b")), SP, SP)
    assert got == IterLoop("xas_for_each", args, Name("entry"),
                           Call("xas_find", (Name("xas"), Name("max"))), ExprStmt(Name("b")))
    # indexes the call does not have are left out, not an IndexError
    short = iter_loop(IteratorModel(5, "f", (0, 7)), "m", (Name("a"),), Compound(()), SP, SP)
    assert short.cursor is None and short.step == Call("f", (Name("a"),))
    none = iter_loop(IteratorModel(None, None, ()), "m", (Name("a"),), Compound(()), SP, SP)
    assert none.cursor is None and none.step is None


def test_b_iterloop_through_the_machine():
    t = Toy({"list_for_each_entry": IteratorModel(0, None, ())})
    got = t.run(S, ("loop", "list_for_each_entry", ("expr", ("call", "put_page", n("p"))),
                    n("p"), n("head")))
    assert got == [IterLoop("list_for_each_entry", (Name("p"), Name("head")), Name("p"), None,
                            ExprStmt(Call("put_page", (Name("p"),))))]


# --------------------------------------------------------------------------- ir.children
A, B_, C = Name("a"), Name("b"), Name("c")
EXPRS = [
    (Member(A, "f"), (A,)),
    (Deref(A), (A,)),
    (AddrOf(A), (A,)),
    (Unary("!", A), (A,)),
    (Binary("+", A, B_), (A, B_)),
    (Index(A, B_), (A, B_)),
    (Assign(A, "=", B_), (A, B_)),
    (Call("f", (A, B_)), (A, B_)),
    (Call(None, (A,), C), (A, C)),
    (Cond(A, B_, C), (A, B_, C)),
    (Literal("1"), ()),
    (A, ()),
]


@pytest.mark.parametrize(("e", "kids"), EXPRS, ids=lambda x: type(x).__name__)
def test_children_of_expressions_and_rebuilding_them(e, kids):
    assert ir.children(e) == kids
    new = tuple(Name(f"n{i}") for i in range(len(kids)))
    rebuilt = ir.with_children(e, new)
    assert ir.children(rebuilt) == new
    assert type(rebuilt) is type(e)


def test_children_of_statements():
    body = ExprStmt(C)
    assert ir.children(If(A, body, None)) == (A, body)
    assert ir.children(If(A, body, body)) == (A, body, body)
    assert ir.children(While(A, body)) == (A, body)
    assert ir.children(DoWhile(body, A)) == (body, A)
    assert ir.children(For((body,), None, B_, body)) == (body, B_, body)
    assert ir.children(Switch(A, body)) == (A, body)
    assert ir.children(Decl("x", None)) == () and ir.children(Decl("x", A)) == (A,)
    assert ir.children(Return(None)) == () and ir.children(Return(A)) == (A,)
    assert ir.children(Case(None)) == () and ir.children(Label("out")) == ()
    step = Call("xas_find", (A,))
    assert ir.children(IterLoop("m", (A, B_), B_, step, body)) == (A, B_, step, body)
    assert ir.children(StmtExpr(Compound((body,)))) == (Compound((body,)),)


def test_walk_is_preorder_and_iterative():
    e = Assign(Index(A, B_), "=", Call("f", (C,)))
    assert list(ir.walk(Return(e))) == [Return(e), e, Index(A, B_), A, B_, Call("f", (C,)), C]
    deep: ir.Expr = A
    for _ in range(sys.getrecursionlimit() * 2):
        deep = Unary("-", deep)
    assert sum(1 for _ in ir.walk(deep)) == sys.getrecursionlimit() * 2 + 1


def test_every_ir_class_with_node_fields_is_enumerated():
    """A node type added to the IR must be added to ir.children (the one enumerator)."""
    import dataclasses

    node_types = set(ir.Expr.__args__) | set(ir.Stmt.__args__)       # type: ignore[attr-defined]
    for cls in node_types:
        fields = {f.name for f in dataclasses.fields(cls)} - {"span"}
        scalar = {"id", "field", "arrow", "op", "callee", "text", "name", "label", "macro",
                  "degraded", "value"}
        if fields - scalar:
            assert cls in ir._CHILDREN, cls.__name__


# --------------------------------------------------------------------------- kernel.toml
def test_kernel_toml_words_are_read_around():
    words = ts_prepare._KERNEL["annotations"]["words"]
    with_args = ts_prepare._KERNEL["annotations"]["with_args"]
    assert "__init" in words and "__releases" in with_args
    for w in words:
        src = f"static int {w} f(struct page *p)\n{{\n\tget_page(p);\n\treturn 0;\n}}\n"
        sf = parse_source("k.c", src.encode(), {})
        assert [f.name for f in sf.functions] == ["f"], w
        assert not sf.errors and not sf.degraded, w
    for w in with_args:
        src = f"static int f(struct page *p) {w}(x)\n{{\n\tget_page(p);\n\treturn 0;\n}}\n"
        sf = parse_source("k.c", src.encode(), {})
        assert [f.name for f in sf.functions] == ["f"], w
        assert not sf.errors and not sf.degraded, w
