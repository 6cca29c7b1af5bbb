"""The tree-sitter frontend: every C form lowered to the structured IR, iterator macros,
exact spans, and never a crash or a silently lost function on hostile input."""
from __future__ import annotations

import sys
import time
from dataclasses import fields, is_dataclass

import pytest

from analyzer import ir
from analyzer.frontend import treesitter
from analyzer.frontend.treesitter import parse_source
from analyzer.frontend.treesitter import prepare as ts_prepare
from analyzer.ir import (
    AddrOf,
    Assign,
    Binary,
    Break,
    Call,
    Case,
    Compound,
    Cond,
    Continue,
    Decl,
    Deref,
    DoWhile,
    ExprStmt,
    For,
    Goto,
    If,
    Index,
    IterLoop,
    Label,
    Literal,
    Member,
    Name,
    Opaque,
    OpaqueStmt,
    Return,
    StmtExpr,
    Switch,
    Unary,
    While,
)
from analyzer.models import IteratorModel

ITERATORS = {
    "list_for_each_entry": IteratorModel(0, None, ()),
    "list_for_each_entry_safe": IteratorModel(0, None, ()),
    "xas_for_each": IteratorModel(1, "xas_find", (0, 2)),
    "for_each_online_cpu": IteratorModel(0, None, ()),
}


def parse(src: str | bytes, iterators=ITERATORS, path: str = "/src/t.c") -> ir.SourceFile:
    data = src.encode() if isinstance(src, str) else src
    return parse_source(path, data, iterators)


def function(src: str, iterators=ITERATORS) -> ir.Function:
    sf = parse(src, iterators)
    assert len(sf.functions) == 1, [f.name for f in sf.functions]
    return sf.functions[0]


def body(stmts: str, iterators=ITERATORS) -> tuple:
    """The statements of ``void f(void) { <stmts> }``."""
    fn = function("void f(void)\n{\n" + stmts + "\n}\n", iterators)
    assert fn.degraded == 0, fn.body
    return fn.body.stmts


def expr(text: str):
    (stmt,) = body(f"\t{text};")
    assert isinstance(stmt, ExprStmt)
    return stmt.expr


def walk(node):
    """Every IR node under ``node`` (iteratively)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
        elif is_dataclass(n) and not isinstance(n, ir.Span):
            yield n
            stack.extend(getattr(n, f.name) for f in fields(n) if f.name != "span")


def call(name: str, *args) -> Call:
    return Call(name, tuple(Name(a) if isinstance(a, str) else a for a in args))


# ----------------------------------------------------------------------------- functions
def test_function_header_forms():
    sf = parse("""
static struct page *get_it(struct folio *folio, int (*cb)(int), char *argv[], ...)
{
	return &folio->page;
}
int plain(void) { return 0; }
static void __init annotated(unsigned long __user *p) __releases(lock)
{
}
int (*returns_fn(int a))(int)
{
	return 0;
}
""")
    by_name = {f.name: f for f in sf.functions}
    assert list(by_name) == ["get_it", "plain", "annotated", "returns_fn"]
    assert by_name["get_it"].params == ("folio", "cb", "argv")
    assert by_name["get_it"].static and not by_name["plain"].static
    assert by_name["plain"].params == ()
    assert by_name["annotated"].params == ("p",) and by_name["annotated"].static
    assert by_name["returns_fn"].params == ("a",)
    assert all(f.file == "/src/t.c" and f.degraded == 0 for f in sf.functions)
    assert sf.degraded == 0 and sf.errors == ()
    (ret,) = by_name["get_it"].body.stmts
    assert ret == Return(AddrOf(Member(Name("folio"), "page", arrow=True)))


def test_functions_in_every_preprocessor_arm_and_linkage_block():
    sf = parse("""
#ifdef CONFIG_A
int f(void) { return 1; }
#elif defined(CONFIG_B)
int f(void) { return 2; }
#else
int f(void) { return 3; }
#if X
static int nested(void) { return 4; }
#endif
#endif
extern "C" {
int linked(void) { return 5; }
}
""")
    assert [f.name for f in sf.functions] == ["f", "f", "f", "nested", "linked"]
    assert [f.body.stmts[0].value for f in sf.functions] == [
        Literal("1"), Literal("2"), Literal("3"), Literal("4"), Literal("5")]


def test_macro_wrapped_definition_is_a_function():
    sf = parse("""
SYSCALL_DEFINE3(madvise, unsigned long, start, size_t, len_in, int, behavior)
{
	return do_madvise(current->mm, start, len_in, behavior);
}
""")
    (fn,) = sf.functions
    assert fn.name == "SYSCALL_DEFINE3"
    assert {"start", "len_in", "behavior"} <= set(fn.params)
    assert fn.degraded == 0 and fn.span.line == 2 and fn.span.end_line == 5
    (ret,) = fn.body.stmts
    assert ret.value.callee == "do_madvise"


# ----------------------------------------------------------------------------- statements
def test_declarations_one_per_declarator():
    stmts = body("\tstruct page *page = NULL, **pp, *arr[4];\n\tint x = 1, y;\n"
                 "\tstruct s v = { .a = 1 };")
    assert stmts[:5] == (Decl("page", Literal("NULL")), Decl("pp", None), Decl("arr", None),
                         Decl("x", Literal("1")), Decl("y", None))
    assert stmts[5].name == "v" and isinstance(stmts[5].init, Opaque)


def test_expression_statements_and_empty_statement():
    stmts = body("\tfoo(a, b);\n\t;\n\tx = y;")
    assert stmts == (ExprStmt(call("foo", "a", "b")), ExprStmt(Assign(Name("x"), "=", Name("y"))))


def test_if_else_chain():
    (stmt,) = body("\tif (a)\n\t\tx();\n\telse if (!b)\n\t\ty();\n\telse {\n\t\tz();\n\t}")
    assert stmt == If(Name("a"), ExprStmt(call("x")),
                      If(Unary("!", Name("b")), ExprStmt(call("y")),
                         Compound((ExprStmt(call("z")),))))


def test_loops():
    stmts = body("""
	for (int i = 0, j = 1; i < n; i++, j--)
		use(i);
	for (p = head; ; )
		break;
	for (;;) {
		continue;
	}
	while (x--)
		f();
	do {
		g();
	} while (0);
""")
    assert stmts[0] == For((Decl("i", Literal("0")), Decl("j", Literal("1"))),
                           Binary("<", Name("i"), Name("n")),
                           Binary(",", Unary("post++", Name("i")), Unary("post--", Name("j"))),
                           ExprStmt(call("use", "i")))
    assert stmts[1] == For((ExprStmt(Assign(Name("p"), "=", Name("head"))),), None, None,
                           Break())
    assert stmts[2] == For((), None, None, Compound((Continue(),)))
    assert stmts[3] == While(Unary("post--", Name("x")), ExprStmt(call("f")))
    assert stmts[4] == DoWhile(Compound((ExprStmt(call("g")),)), Literal("0"))


def test_switch_cases_flattened_with_fall_through_and_default():
    (sw,) = body("""
	switch (mode) {
	case 1:
		a();
	case 2: {
		b();
	}
		break;
	case 3 ... 5:
	default:
		c();
	}
""")
    assert isinstance(sw, Switch) and sw.cond == Name("mode")
    assert sw.body.stmts == (
        Case(Literal("1")), ExprStmt(call("a")),
        Case(Literal("2")), Compound((ExprStmt(call("b")),)), Break(),
        Case(Opaque("3 ... 5")),
        Case(None), ExprStmt(call("c")),
    )


def test_goto_labels_return():
    stmts = body("""
	if (!folio_try_get(folio))
		goto out;
	return 0;
out:
	folio_put(folio);
unlock:
	return;
""")
    assert stmts[0] == If(Unary("!", call("folio_try_get", "folio")), Goto("out"), None)
    assert stmts[1:] == (Return(Literal("0")), Label("out"), ExprStmt(call("folio_put", "folio")),
                         Label("unlock"), Return(None))


def test_label_outside_a_block_is_wrapped():
    (stmt,) = body("\tif (x)\nagain:\n\t\ty();")
    assert stmt.then == Compound((Label("again"), ExprStmt(call("y"))))


def test_conditional_and_short_circuit_expressions():
    assert expr("r = a ? b : c") == Assign(Name("r"), "=", Cond(Name("a"), Name("b"), Name("c")))
    assert expr("r = a ?: c") == Assign(Name("r"), "=", Cond(Name("a"), Name("a"), Name("c")))
    assert expr("a && (b || !c)") == Binary("&&", Name("a"),
                                            Binary("||", Name("b"), Unary("!", Name("c"))))


def test_statement_expression():
    e = expr("x = ({ int t = f(); t; })")
    assert e == Assign(Name("x"), "=", StmtExpr(Compound((Decl("t", call("f")),
                                                            ExprStmt(Name("t"))))))
    assert expr("y = __extension__ ({ 1; })") == Assign(
        Name("y"), "=", StmtExpr(Compound((ExprStmt(Literal("1")),))))


def test_expression_forms():
    assert expr("x = a[1].b->c") == Assign(
        Name("x"), "=", Member(Member(Index(Name("a"), Literal("1")), "b", arrow=False), "c"))
    assert expr("*p = &q") == Assign(Deref(Name("p")), "=", AddrOf(Name("q")))
    assert expr("++i + i++ - --j + j--") == Binary(
        "+", Binary("-", Binary("+", Unary("++pre", Name("i")), Unary("post++", Name("i"))),
                    Unary("--pre", Name("j"))), Unary("post--", Name("j")))
    assert expr("-a + ~b") == Binary("+", Unary("-", Name("a")), Unary("~", Name("b")))
    assert expr("x |= (unsigned long)((y))") == Assign(Name("x"), "|=", Name("y"))
    assert expr("(*fn)(1)") == Call(None, (Literal("1"),), Deref(Name("fn")))
    assert expr("ops->cb(p)") == Call(None, (Name("p"),), Member(Name("ops"), "cb"))
    assert expr("f(NULL, true, 'c', \"a\" \"b\", 0x10)") == call(
        "f", Literal("NULL"), Literal("true"), Literal("'c'"), Literal('"a" "b"'),
        Literal("0x10"))
    assert expr("x = sizeof(struct page)") == Assign(Name("x"), "=", Opaque("sizeof(struct page)"))
    assert expr("x = (struct s){ .a = 1 }") == Assign(Name("x"), "=",
                                                      Opaque("(struct s){ .a = 1 }"))
    assert expr("p = list_first_entry(&h, struct page, lru)") == Assign(
        Name("p"), "=", call("list_first_entry", AddrOf(Name("h")), Opaque("struct page"), "lru"))
    assert expr("a = b, c = d") == Binary(",", Assign(Name("a"), "=", Name("b")),
                                          Assign(Name("c"), "=", Name("d")))


def test_offsetof_scoped_guard_and_cleanup_attributes():
    stmts = body("\tsize = offsetof(struct range, info[count]) + offsetof(struct a, b.c);\n"
                 "\tscoped_guard(spinlock, &lock)\n\t\tx++;\n"
                 "\tstruct path p __free(path_put) = get_path();")
    assert stmts[0].expr.value == Binary("+", Opaque("offsetof(struct range, info[count])"),
                                         Opaque("offsetof(struct a, b.c)"))
    assert stmts[1] == Compound((ExprStmt(call("scoped_guard", "spinlock", AddrOf(Name("lock")))),
                                 ExprStmt(Unary("post++", Name("x")))))
    assert stmts[2] == Decl("p", call("get_path"))


def test_macro_call_read_as_a_type_is_a_call():
    (stmt,) = body("\tkfree(container_of(kobj, struct damon_region, kobj));")
    assert stmt == ExprStmt(call("kfree", call("container_of", "kobj",
                                               Opaque("struct damon_region"), "kobj")))


def test_asm_and_unknown_statements_are_opaque_but_not_degraded():
    stmts = body('\tasm volatile("nop" ::: "memory");\n\tstruct local { int a; } v;')
    assert stmts[0] == OpaqueStmt('asm volatile("nop" ::: "memory");', degraded=False)
    assert stmts[1] == Decl("v", None)


def test_preprocessor_conditionals_in_a_body_are_branches():
    stmts = body("\ta();\n#ifdef CONFIG_X\n\tb();\n#elif Y\n\tc();\n#else\n\td();\n#endif\n\te();")
    assert stmts[0] == ExprStmt(call("a")) and stmts[2] == ExprStmt(call("e"))
    top = stmts[1]
    assert top.cond == Opaque("#ifdef CONFIG_X")
    assert top.then == Compound((ExprStmt(call("b")),))
    assert top.else_.cond == Opaque("#elif Y")
    assert top.else_.then == Compound((ExprStmt(call("c")),))
    assert top.else_.else_ == Compound((ExprStmt(call("d")),))


def test_conditional_splitting_an_else_chain():
    (stmt,) = body("""
	if (a)
		x();
#ifdef CONFIG_KVM_MMIO
	else if (b)
		y();
#endif
	else
		z();
""")
    assert stmt == If(Name("a"), ExprStmt(call("x")),
                      If(Name("b"), ExprStmt(call("y")), ExprStmt(call("z"))))


def test_conditional_with_unbalanced_arms_keeps_the_first():
    fn = function("""
static int f(int a)
{
#ifdef X
	if (a) {
#else
	if (!a) {
#endif
		g();
	}
	return 0;
}
""")
    assert fn.degraded == 0
    assert fn.body.stmts == (If(Name("a"), Compound((ExprStmt(call("g")),)), None),
                             Return(Literal("0")))


def test_label_ending_a_conditional_arm():
    fn = function("""
static int f(int a)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	if (a) {
		if (split(a))
			goto regular;
		return 1;
	}
regular:
#endif
	return 0;
}
""")
    assert fn.degraded == 0
    assert fn.body.stmts[1:] == (Label("regular"), Return(Literal("0")))


def test_declaring_macros_in_a_body():
    stmts = body("\tstatic DEFINE_RATELIMIT_STATE(rs, 5 * HZ, 10);\n"
                 "\tDECLARE_BITMAP(map, 64) = { 0 };\n\tXA_STATE(xas, &m->i_pages, 0);")
    assert stmts[0].expr.callee == "DEFINE_RATELIMIT_STATE"
    assert stmts[1] == Decl("map", None)
    assert stmts[2] == ExprStmt(call("XA_STATE", "xas", AddrOf(Member(Name("m"), "i_pages")),
                                     Literal("0")))


# ----------------------------------------------------------------------------- iterators
@pytest.fixture(params=["rewritten", "missing-semicolon"])
def iterator_mode(request, monkeypatch):
    """Iterator macros are read through the prepass rewrite; the fallback (tree-sitter's
    call-with-a-missing-';' followed by the body) must give the same IR."""
    if request.param == "missing-semicolon":
        monkeypatch.setattr(ts_prepare, "_statement_start", lambda data, pos: False)
    return request.param


def test_iterator_with_block_body(iterator_mode):
    (loop,) = body("\tlist_for_each_entry(page, &list, lru) {\n\t\tput_page(page);\n\t}")
    assert loop == IterLoop("list_for_each_entry", (Name("page"), AddrOf(Name("list")),
                                                    Name("lru")),
                            Name("page"), None, Compound((ExprStmt(call("put_page", "page")),)))
    assert (loop.span.line, loop.span.col, loop.span.end_line, loop.span.end_col) == (3, 2, 5, 3)


def test_iterator_with_single_statement_body_and_step(iterator_mode):
    stmts = body("\txas_for_each(&xas, folio, max)\n\t\tfolio_get(folio);\n\tdone();")
    loop = stmts[0]
    assert isinstance(loop, IterLoop) and loop.macro == "xas_for_each"
    assert loop.cursor == Name("folio")
    assert loop.step == call("xas_find", AddrOf(Name("xas")), "max")
    assert loop.step.span.line == 3
    assert loop.body == ExprStmt(call("folio_get", "folio"))
    assert stmts[1] == ExprStmt(call("done"))


def test_nested_iterators_inside_if_body(iterator_mode):
    stmts = body("""
	if (ok)
		list_for_each_entry(a, &x, lru)
			list_for_each_entry_safe(b, n, &a->list, node)
				free(b);
	after();
""")
    assert len(stmts) == 2, stmts
    outer = stmts[0].then
    assert outer.macro == "list_for_each_entry" and outer.cursor == Name("a")
    inner = outer.body
    assert inner.macro == "list_for_each_entry_safe" and inner.cursor == Name("b")
    assert inner.body == ExprStmt(call("free", "b"))
    assert stmts[1] == ExprStmt(call("after"))


def test_iterators_with_else_and_stacked():
    # (shapes tree-sitter cannot read at all without the prepass)
    stmts = body("""
	if (ok)
		list_for_each_entry(a, &x, lru)
			list_for_each_entry_safe(b, n, &a->list, node)
				free(b);
	else
		nothing();
	for_each_online_cpu(cpu)
		list_for_each_entry(a, &y, lru) {
			use(a, cpu);
		}
	after();
""")
    assert len(stmts) == 3, stmts
    assert stmts[0].then.body.body == ExprStmt(call("free", "b"))
    assert stmts[0].else_ == ExprStmt(call("nothing"))
    cpu_loop = stmts[1]
    assert cpu_loop.macro == "for_each_online_cpu" and cpu_loop.cursor == Name("cpu")
    assert cpu_loop.body.macro == "list_for_each_entry"
    assert cpu_loop.body.body == Compound((ExprStmt(call("use", "a", "cpu")),))
    assert stmts[2] == ExprStmt(call("after"))


def test_iterator_after_else_and_in_while(iterator_mode):
    stmts = body("\tif (x) y(); else list_for_each_entry(a, b, c) z();\n"
                 "\twhile (1) for_each_online_cpu(cpu) { k(); }\n\tend();")
    assert stmts[0].else_ == IterLoop("list_for_each_entry", (Name("a"), Name("b"), Name("c")),
                                      Name("a"), None, ExprStmt(call("z")))
    assert stmts[1].body.macro == "for_each_online_cpu"
    assert stmts[1].body.body == Compound((ExprStmt(call("k")),))
    assert stmts[2] == ExprStmt(call("end"))


def test_iterator_after_comments_directives_and_in_defines():
    sf = parse("""
#define for_each_thing(x) \\
	list_for_each_entry(x, &things, lru)
#define __fastpath_inline __always_inline
static __fastpath_inline void f(void)
{
	g(); // list_for_each_entry(a, b, c) in a comment
	/* done */ list_for_each_entry(a, &h, lru)
		put(a);
#ifdef X
	h();
#endif
	for_each_thing(t)
		use(t);
}
""")
    (fn,) = sf.functions
    assert fn.name == "f" and fn.degraded == 0 and sf.degraded == 0
    _g, loop, _pre, thing = fn.body.stmts
    assert loop.macro == "list_for_each_entry" and loop.body == ExprStmt(call("put", "a"))
    assert thing == While(call("for_each_thing", "t"), ExprStmt(call("use", "t")))


def test_iterator_with_empty_body():
    (loop,) = body("\tlist_for_each_entry(a, &h, lru);")
    assert isinstance(loop, IterLoop) and loop.body == Compound(())


def test_non_iterator_calls_are_not_loops():
    # a call missing its ';' is a statement; the next statement is its own
    assert body("\tfoo(x)\n\tbar(y);") == (ExprStmt(call("foo", "x")), ExprStmt(call("bar", "y")))
    # a *for_each* function called as a function stays a call
    assert body("\tidr_for_each(&idr, fn, data);") == (
        ExprStmt(call("idr_for_each", AddrOf(Name("idr")), "fn", "data")),)


def test_unknown_for_each_macro_with_a_body_is_a_loop_on_the_call():
    (loop,) = body("\tdamon_for_each_region(r, t)\n\t\tsz += r->sz;")
    assert loop == While(call("damon_for_each_region", "r", "t"),
                         ExprStmt(Assign(Name("sz"), "+=", Member(Name("r"), "sz"))))


def test_iterators_come_from_the_models_only():
    # without models, list_for_each_entry is an unknown *for_each* macro: a While
    (loop,) = body("\tlist_for_each_entry(p, &h, lru)\n\t\tput(p);", iterators={})
    assert isinstance(loop, While) and loop.cond.callee == "list_for_each_entry"


# ----------------------------------------------------------------------------- spans
def test_spans_are_one_based_characters_end_exclusive():
    fn = function("int f(int a)\n{\n\tif (a > 1)\n\t\treturn g(a);\n\treturn 0;\n}\n")
    assert (fn.span.line, fn.span.col, fn.span.end_line, fn.span.end_col) == (1, 1, 6, 2)
    assert fn.span.file == "/src/t.c"
    if_ = fn.body.stmts[0]
    assert (if_.span.line, if_.span.col) == (3, 2)
    cond = if_.cond
    assert (cond.span.line, cond.span.col, cond.span.end_line, cond.span.end_col) == (3, 6, 3, 11)
    call_ = if_.then.value
    assert (call_.span.line, call_.span.col, call_.span.end_col) == (4, 10, 14)
    assert (call_.args[0].span.col, call_.args[0].span.end_col) == (12, 13)


def test_spans_count_characters_after_multibyte_text():
    fn = function('void f(void)\n{\n\t/* é → ü */ folio_put(folio); g("ß", x);\n}\n')
    put, g = fn.body.stmts
    # the comment is 12 characters but 16 bytes: columns count characters
    assert (put.span.line, put.span.col) == (3, 14)
    assert (put.expr.args[0].span.col, put.expr.args[0].span.end_col) == (24, 29)
    assert (g.expr.args[1].span.col, g.expr.args[1].span.end_col) == (39, 40)


def test_spans_with_invalid_utf8():
    sf = parse(b'int f(void)\n{\n\tchar *s = "\xff\xfe"; return g(s);\n}\n')
    (fn,) = sf.functions
    decl, ret = fn.body.stmts
    assert decl.init.text == '"\ufffd\ufffd"'
    # each invalid byte is one replacement character
    assert (ret.span.line, ret.span.col) == (3, 18)
    assert ret.value.args[0].span.col == 27


def test_spans_are_unchanged_by_the_prepass():
    fn = function("static void __init f(unsigned long __user *p)\n{\n"
                  "\tlist_for_each_entry(q, &h, lru) x = (char __user *)q;\n}\n")
    (loop,) = fn.body.stmts
    assert (loop.span.line, loop.span.col) == (3, 2)
    assign = loop.body.expr
    assert assign.value == Name("q") and assign.value.span.col == 53
    assert loop.args[1].span.col == 25 and loop.args[1].operand.span.col == 26


# ----------------------------------------------------------------------------- damage
def test_garbage_statement_degrades_only_itself():
    fn = function("int f(int a)\n{\n\tint x = 1;\n\tx = a ] b;\n\tfoo(x);\n\treturn x;\n}\n")
    assert fn.degraded == 1
    decl, bad, call_, ret = fn.body.stmts
    assert decl == Decl("x", Literal("1"))
    assert bad == OpaqueStmt("x = a ] b;", degraded=True)
    assert (bad.span.line, bad.span.col) == (4, 2)
    assert call_ == ExprStmt(call("foo", "x")) and ret == Return(Name("x"))


def test_damage_inside_a_nested_block_stays_there():
    sf = parse("int f(int a)\n{\n\tif (a) {\n\t\tfoo(x));\n\t\tbar();\n\t}\n\treturn 0;\n}\n")
    (fn,) = sf.functions
    assert fn.degraded == 1 and sf.degraded == 1
    if_, ret = fn.body.stmts
    bad, bar = if_.then.stmts
    assert isinstance(bad, OpaqueStmt) and bad.degraded
    assert bar == ExprStmt(call("bar")) and ret == Return(Literal("0"))


def test_top_level_damage_before_a_function():
    sf = parse("int x = ;\nstatic int foo(int a)\n{\n\treturn a;\n}\n"
               "int )) junk ((;\nint z(void) { return 1; }\n")
    assert [f.name for f in sf.functions] == ["foo", "z"]


def test_function_header_split_by_a_conditional():
    sf = parse("#ifdef X\nvoid f(int a)\n#else\nvoid f(int a, int b)\n#endif\n{\n\tg(a);\n}\n")
    (fn,) = sf.functions
    assert fn.name == "f" and fn.params == ("a",)
    assert fn.body.stmts == (ExprStmt(call("g", "a")),)
    assert any("'f'" in e for e in sf.errors)


def test_function_body_left_open_inside_an_error_is_read(monkeypatch):
    # without the prepass that keeps one arm, tree-sitter gives up on this definition and
    # leaves its pieces in a top-level ERROR node: the function must still come out,
    # marked degraded, with its statements
    monkeypatch.setattr(ts_prepare, "_conditionals", lambda data, buf: None)
    sf = parse("static int f(int a)\n{\n\tint x = 1;\n#ifdef X\n\tif (a) {\n#else\n"
               "\tif (!a) {\n#endif\n\t\tx = 2;\n\t}\n\treturn x;\n}\n\n"
               "int g(void)\n{\n\treturn 2;\n}\n")
    assert [f.name for f in sf.functions] == ["f", "g"]
    f, g = sf.functions
    assert f.static and f.params == ("a",) and f.degraded >= 1
    assert (f.span.line, f.span.end_line) == (1, 12)
    assert f.body.stmts[0] == Decl("x", Literal("1"))
    assert any(isinstance(s, If) for s in f.body.stmts)
    assert g.degraded == 0 and g.body.stmts == (Return(Literal("2")),)
    assert sf.degraded >= 2 and any("'f'" in e for e in sf.errors)


def test_unbalanced_braces_keep_the_functions():
    sf = parse("int a(void) { return 1; }\nint b(void) { if (x) { y(); }\n"
               "int c(void) { return 3; }\n")
    assert [f.name for f in sf.functions] == ["a", "b", "c"]
    assert sf.functions[0].degraded == 0 and sf.functions[0].body.stmts == (Return(Literal("1")),)
    assert sf.functions[1].degraded >= 1
    assert any("unbalanced" in e for e in sf.errors)
    sf = parse("int a(void) { return 1; }\n}}}\nint c(void) { return 3; }\n")
    assert [f.name for f in sf.functions] == ["a", "c"] and sf.degraded == 1


def test_empty_and_binary_input():
    assert parse(b"") == ir.SourceFile("/src/t.c", (), 0, ())
    sf = parse(b"\x00\x00int f(void) { return 0; }\x00\x01\x02 {{{")
    assert [f.name for f in sf.functions] == ["f"]
    assert sf.degraded >= 1 and sf.errors
    sf = parse(bytes(range(256)) * 64)
    assert isinstance(sf, ir.SourceFile)


def test_deeply_nested_parentheses():
    fn = function("int f(void)\n{\n\treturn " + "(" * 5000 + "x" + ")" * 5000 + ";\n}\n")
    assert fn.body.stmts == (Return(Name("x")),)
    assert fn.degraded == 0


@pytest.mark.parametrize("text", [
    "-" * 5000 + "x",
    "x + " * 5000 + "x",
    "f(" * 3000 + "x" + ")" * 3000,
    "*" * 5000 + "p",
])
def test_deep_expressions_are_cut_not_crashed(text):
    fn = function("int f(void)\n{\n\treturn " + text + ";\n}\n")
    assert fn.degraded >= 1
    assert any(isinstance(n, Opaque) for n in walk(fn.body))
    hash(fn)                      # consumers may recurse: the IR stays shallow
    assert fn == fn


@pytest.mark.parametrize("src", [
    "if (x) " * 3000 + "y();",
    "{" * 3000 + "y();" + "}" * 3000,
    "while (x) " * 3000 + ";",
])
def test_deeply_nested_statements(src):
    fn = function("int f(void)\n{\n\t" + src + "\n}\n")
    assert fn.degraded >= 1
    hash(fn)


def test_fifty_thousand_line_file():
    chunk = ("static int f{i}(struct page *p)\n{{\n\tif (!get_page_unless_zero(p))\n"
             "\t\treturn -1;\n\tlist_for_each_entry(p, &l, lru)\n\t\tput_page(p);\n"
             "\treturn {i};\n}}\n\n")
    src = "".join(chunk.format(i=i) for i in range(5556))
    assert src.count("\n") >= 50000
    start = time.process_time()
    sf = parse(src)
    elapsed = time.process_time() - start
    assert len(sf.functions) == 5556 and sf.degraded == 0
    assert sf.functions[-1].name == "f5555"
    assert elapsed < 6, f"{elapsed:.2f}s of CPU for a 50k-line file"


def test_parser_is_cached():
    assert treesitter._parser() is treesitter._parser()


def test_random_bytes_never_crash():
    import hypothesis

    st = hypothesis.strategies

    @hypothesis.settings(max_examples=150, deadline=None)
    @hypothesis.given(st.binary(max_size=400) | st.text(alphabet="{}();,*&|!?:#\n ifelsx=1",
                                                       max_size=300).map(str.encode))
    def check(data):
        sf = parse(b"int f(int a)\n{\n" + data + b"\n}\n" + data)
        assert sf.degraded >= sum(f.degraded for f in sf.functions)
        for f in sf.functions:
            for n in walk(f.body):
                span = getattr(n, "span", None)
                if span is not None and span.line:
                    assert span.line >= 1 and span.col >= 1

    check()


# ----------------------------------------------------------------------------- kernel macro shapes
def test_top_level_macro_calls_without_semicolon_are_read_around():
    # ``module_init(f)`` then ``module_exit(g)``: no ``;`` (the macros supply none)
    src = ("static int __init f(void)\n{\n\treturn 0;\n}\n\nmodule_init(f)\n"
           "module_exit(g)\nMODULE_LICENSE(\"GPL\");\n\n"
           "int h(struct page *p)\n{\n\tget_page(p);\n\treturn 0;\n}\n")
    sf = parse(src)
    assert [(f.name, f.span.line) for f in sf.functions] == [("f", 1), ("h", 10)]
    assert not sf.errors and not sf.degraded
    assert sf.functions[1].body.stmts[0] == ExprStmt(call("get_page", Name("p")))


def test_bare_call_lines_that_are_not_top_level_statements_are_kept():
    # a function header made by a macro (``{`` follows, after a comment) stays a function
    sf = parse("int x;\nSYSCALL_DEFINE1(foo, int, a)\n/* c */\n{\n\treturn a;\n}\n")
    assert [f.name for f in sf.functions] == ["SYSCALL_DEFINE1"] and not sf.errors
    # the second line of a declaration (after ``=``) and a ``#define`` line are not touched
    src = ("static int v =\nFOO(1)\n;\n#define M(x) \\\nBAR(x)\n"
           "int g(void)\n{\n\treturn v;\n}\n")
    sf = parse(src)
    assert [f.name for f in sf.functions] == ["g"] and not sf.errors
    # a body written from column 0: its lines are statements, not top-level calls
    fn = function("int f(struct page *p)\n{\nint r = get(p);\nif (!r)\nreturn 0;\n"
                  "put(p)\n;\nreturn r;\n}\n")
    assert [type(s).__name__ for s in fn.body.stmts] == ["Decl", "If", "ExprStmt", "Return"]
    assert fn.body.stmts[2] == ExprStmt(call("put", Name("p")))


def test_comments_inside_continued_defines_do_not_derail_the_parse():
    src = ("#define SZ (1 + /* a */ \\\n\t2 /* b */ + \\\n\t3)\n"
           "#define Q {\\\n\t1,\t/* x */\\\n\t2,\\\n}\n"
           "#define E (6 + 1 /* len (0) */)\n"
           "int f(struct page *p)\n{\n\tput_page(p); /* kept */\n\treturn SZ;\n}\n")
    sf = parse(src)
    assert [(f.name, f.span.line) for f in sf.functions] == [("f", 9)]
    assert not sf.errors and not sf.degraded
    assert sf.functions[0].body.stmts[0] == ExprStmt(call("put_page", Name("p")))


# ----------------------------------------------------------------------------- real kernel
def test_real_kernel_mm_and_kvm(kernel_tree):
    from analyzer.models import load_models

    tree = kernel_tree
    iterators = load_models().iterators()
    paths = sorted(p for d in ("mm", "virt/kvm") for p in (tree / d).rglob("*")
                   if p.suffix in (".c", ".h"))
    statements = degraded = functions = 0
    start = time.process_time()
    names = set()
    for p in paths:
        sf = parse_source(str(p), p.read_bytes(), iterators)
        functions += len(sf.functions)
        degraded += sf.degraded
        for f in sf.functions:
            names.add(f.name)
            statements += sum(1 for n in walk(f.body)
                              if isinstance(n, (ExprStmt, Decl, If, While, DoWhile, For,
                                                IterLoop, Switch, Goto, Break, Continue,
                                                Return, OpaqueStmt)))
    elapsed = time.process_time() - start
    print(f"\n{len(paths)} files, {functions} functions, {statements} statements, "
          f"{degraded} degraded, {elapsed:.2f}s CPU", file=sys.stderr)
    assert len(paths) >= 190 and functions >= 7000
    assert degraded < statements / 100
    # functions the checkers care about, some behind macros or conditionals
    assert {"madvise_cold_or_pageout_pte_range", "kvm_vcpu_fault", "remove_migration_pte",
            "filemap_get_entry", "__filemap_get_folio", "follow_page_mask",
            "SYSCALL_DEFINE3"} <= names


def test_enumeration_constants_of_the_file_have_their_value():
    """``ret = MC_TARGET_NONE`` is ``ret = 0`` to the engine: a file-scope enumerator
    gets its value (explicit, implicit, through earlier ones and #if arms); a name two
    arms define differently, or a value that is no constant expression, has none."""
    fn = function("enum t { A = 0, B, C = B + 4, D = (1 << 3) | 1, E = -2, F };\n"
                  "typedef enum { G = 0x10, H } h_t;\n"
                  "#ifdef X\nenum { I = 1 };\n#else\nenum { I = 2 };\n#endif\n"
                  "enum { J = sizeof(long), K };\n"
                  "int f(void)\n{\n\treturn A + B + C + D + E + F + G + H + I + J + K + L;\n}\n")
    names = {n.id: n.value for n in walk(fn.body) if isinstance(n, Name)}
    assert names == {"A": 0, "B": 1, "C": 5, "D": 9, "E": -2, "F": -1, "G": 16, "H": 17,
                     "I": None, "J": None, "K": None, "L": None}
