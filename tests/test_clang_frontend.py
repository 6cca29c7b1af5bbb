"""The libclang frontend: the IR it produces (statement forms, macro mapping, spans,
header inline functions, diagnostics) and its parity with tree-sitter on the fixtures."""
from __future__ import annotations

import ctypes
import dataclasses
from pathlib import Path

import clang.cindex
import pytest

from analyzer.frontend import clang, treesitter
from analyzer.frontend.clang import libclang
from analyzer.frontend.clang import text as clang_text
from analyzer.ir import (
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
from analyzer.models import load_models
from tests.conftest import FIXTURES

MODELS = load_models()
ITERATORS = MODELS.iterators()
KNOWN = MODELS.identifiers()
ARGS = ["-xc", "-std=gnu11"]

PRELUDE = """\
#define NULL ((void *)0)
#define true 1
#define false 0
#define EAGAIN 11
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WARN_ON(c) ({ int __r = !!(c); if (unlikely(__r)) warn_slowpath(); __r; })
#define VM_BUG_ON(c) do { if (c) __builtin_trap(); } while (0)
#define VM_BUG_ON_PAGE(c, page) ((void)(sizeof((long)(c))))
#define xas_for_each(xas, entry, max) \\
	for (entry = xas_find(xas, max); entry; entry = xas_next_entry(xas, max))
#define list_for_each_entry(pos, head, member) \\
	for (pos = (void *)(head)->next; &pos->member != (head); pos = (void *)pos->member.next)
#define for_each_populated_zone(z) \\
	for (z = first_zone(); z; z = next_zone(z)) if (!populated(z)) ; else
#define for_each_thing(t) for (t = 0; t < 4; t++)
#define my_min(a, b) ({ int _a = (a), _b = (b); _a < _b ? _a : _b; })
#define FOO(y) bar(y)
#define xa_alias xas_load
#define SYSCALL_DEFINE1(name, t1, a1) long sys_##name(t1 a1); long sys_##name(t1 a1)
struct list_head { struct list_head *next, *prev; };
struct page { unsigned long flags; union { struct { struct list_head lru; void *mapping; };
	long x; }; };
struct folio { struct page page; };
struct xa_state { int i; };
struct zone { int n; };
typedef struct { unsigned long pte; } pte_t;
void warn_slowpath(void);
int bar(int);
void *xas_find(struct xa_state *xas, unsigned long max);
void *xas_next_entry(struct xa_state *xas, unsigned long max);
void *xas_load(struct xa_state *xas);
int folio_try_get(struct folio *folio);
void folio_get(struct folio *folio);
void folio_put(struct folio *folio);
struct folio *page_folio(struct page *page);
int folio_ref_count(struct folio *folio);
struct zone *first_zone(void);
struct zone *next_zone(struct zone *z);
int populated(struct zone *z);
"""
PRELUDE_LINES = PRELUDE.count("\n")


def parse(tmp_path: Path, code: str, *, name: str = "t.c", args=(), headers=None,
          data: bytes | None = None) -> clang.TUResult:
    p = tmp_path / name
    p.write_text(PRELUDE + code)
    return clang.parse_tu(str(p), [*ARGS, "-I", str(tmp_path), *args], ITERATORS, KNOWN,
                          headers=headers, data=data)


def body(tmp_path: Path, code: str, fn: str = "f"):
    res = parse(tmp_path, code)
    assert res.errors == 0, res.diagnostics
    got = {f.name: f for f in res.files[0].functions}
    return got[fn].body.stmts


def line(n: int) -> int:
    """The file line of line ``n`` of a snippet (1-based) after the prelude."""
    return PRELUDE_LINES + n


# ---------------------------------------------------------------------- statement forms
def test_statements(tmp_path):
    stmts = body(tmp_path, """
int f(int a, int *p)
{
	int x = 1, y;
	if (a) x = 2; else { y = 3; }
	while (a--) continue;
	do { x++; } while (x < 10);
	for (;;) break;
	for (y = 0; ; ) break;
	for (int i = 0; i < a; i += 2) p[i] = i;
	switch (a) {
	case 1:
	case 2: x = 4; break;
	case 5 ... 7: x = 5;
	default: return - 1;
	}
	goto out;
out:
	return x;
}
""")
    assert stmts[0] == Decl("x", Literal("1"))
    assert stmts[1] == Decl("y", None)
    assert stmts[2] == If(Name("a"), ExprStmt(Assign(Name("x"), "=", Literal("2"))),
                          Compound((ExprStmt(Assign(Name("y"), "=", Literal("3"))),)))
    assert stmts[3] == While(Unary("post--", Name("a")), Continue())
    assert stmts[4] == DoWhile(Compound((ExprStmt(Unary("post++", Name("x"))),)),
                               Binary("<", Name("x"), Literal("10")))
    assert stmts[5] == For((), None, None, Break())
    assert stmts[6] == For((ExprStmt(Assign(Name("y"), "=", Literal("0"))),), None, None,
                           Break())
    assert stmts[7] == For((Decl("i", Literal("0")),), Binary("<", Name("i"), Name("a")),
                           Assign(Name("i"), "+=", Literal("2")),
                           ExprStmt(Assign(Index(Name("p"), Name("i")), "=", Name("i"))))
    sw = stmts[8]
    assert isinstance(sw, Switch) and sw.cond == Name("a")
    assert sw.body.stmts == (
        Case(Literal("1")), Case(Literal("2")), ExprStmt(Assign(Name("x"), "=", Literal("4"))),
        Break(), Case(Opaque("5 ... 7")), ExprStmt(Assign(Name("x"), "=", Literal("5"))),
        Case(None), Return(Unary("-", Literal("1"))))
    assert stmts[9:] == (Goto("out"), Label("out"), Return(Name("x")))


def test_expressions(tmp_path):
    stmts = body(tmp_path, """
long f(struct page *page, struct folio *folio, int a, int b)
{
	a = (int)(long)page->flags;
	b = sizeof(*page) + folio->page.lru.next->prev == 0;
	page->mapping = NULL;
	a = a ?: b;
	a = (a++, b--, a + b);
	a = !a && ~b || -a;
	__asm__ volatile("" ::: "memory");
	a = ({ int t = a; t + 1; });
	a = __extension__ (b);
	return a ? -EAGAIN : true;
}
""")
    assert stmts[0] == ExprStmt(Assign(Name("a"), "=", Member(Name("page"), "flags", True)))
    assert stmts[1].expr.value == Binary("==", Binary(
        "+", Opaque("sizeof(*page)"),
        Member(Member(Member(Member(Name("folio"), "page", True), "lru", False), "next",
                      False), "prev", True)), Literal("0"))
    # members of anonymous unions/structs keep the arrow of the access; NULL is a literal
    assert stmts[2] == ExprStmt(Assign(Member(Name("page"), "mapping", True), "=",
                                       Literal("NULL")))
    assert stmts[3].expr.value == Cond(Name("a"), Name("a"), Name("b"))
    assert stmts[4].expr.value == Binary(",", Unary("post++", Name("a")), Binary(
        ",", Unary("post--", Name("b")), Binary("+", Name("a"), Name("b"))))
    assert stmts[5].expr.value == Binary("||", Binary("&&", Unary("!", Name("a")),
                                                      Unary("~", Name("b"))),
                                         Unary("-", Name("a")))
    assert isinstance(stmts[6], OpaqueStmt) and not stmts[6].degraded
    assert stmts[7].expr.value == StmtExpr(Compound((
        Decl("t", Name("a")), ExprStmt(Binary("+", Name("t"), Literal("1"))))))
    assert stmts[8].expr.value == Name("b")
    assert stmts[9] == Return(Cond(Name("a"), Unary("-", Name("EAGAIN")), Literal("true")))


def test_calls_direct_and_indirect(tmp_path):
    stmts = body(tmp_path, """
int f(int (*fp)(int), int (*g)(int))
{
	bar(1);
	(*fp)(2);
	return g(3);
}
""")
    assert stmts[0] == ExprStmt(Call("bar", (Literal("1"),)))
    assert stmts[1] == ExprStmt(Call(None, (Literal("2"),), Deref(Name("fp"))))
    assert stmts[2] == Return(Call("g", (Literal("3"),)))


# ---------------------------------------------------------------------- macro mapping
def test_known_macros_become_the_call_tree_sitter_sees(tmp_path):
    stmts = body(tmp_path, """
int f(struct folio *folio, pte_t *ptep, int x, int y)
{
	if (unlikely(!folio_try_get(folio)))
		return 0;
	if (likely(READ_ONCE(*ptep).pte == 0 && x))
		return 1;
	if (unlikely(x + FOO(y)))
		return 2;
	WARN_ON(folio_ref_count(folio) != 1);
	VM_BUG_ON(!x);
	VM_BUG_ON_PAGE(!folio_try_get(folio), &folio->page);
	return -1;
}
""")
    assert stmts[0].cond == Call("unlikely", (Unary("!", Call("folio_try_get",
                                                                (Name("folio"),))),))
    assert stmts[1].cond == Call("likely", (Binary("&&", Binary(
        "==", Member(Call("READ_ONCE", (Deref(Name("ptep")),)), "pte", False),
        Literal("0")), Name("x")),))
    # the argument ends inside an unknown macro: still the whole argument
    assert stmts[2].cond == Call("unlikely", (Binary("+", Name("x"), Call(
        "bar", (Name("y"),))),))
    assert stmts[3] == ExprStmt(Call("WARN_ON", (Binary("!=", Call(
        "folio_ref_count", (Name("folio"),)), Literal("1")),)))
    if "VM_BUG_ON" in KNOWN:
        assert stmts[4] == ExprStmt(Call("VM_BUG_ON", (Unary("!", Name("x")),)))
    else:  # not in the models: clang's expansion
        assert isinstance(stmts[4], DoWhile)
    # an argument that survives only inside ``sizeof`` (no CONFIG_DEBUG_VM); one that
    # does not survive at all is its text
    assert stmts[5] == ExprStmt(Call("VM_BUG_ON_PAGE", (
        Unary("!", Call("folio_try_get", (Name("folio"),))), Opaque("&folio->page"))))
    assert stmts[6] == Return(Literal("-1"))               # one number, as tree-sitter


def test_unknown_macros_are_expanded(tmp_path):
    stmts = body(tmp_path, """
int f(int a, int b)
{
	int m = my_min(a, b);
	return FOO(m);
}
""")
    assert isinstance(stmts[0].init, StmtExpr)
    assert stmts[0].init.body.stmts[0] == Decl("_a", Name("a"))
    assert stmts[1] == Return(Call("bar", (Name("m"),)))


def test_macro_arguments_that_are_not_expressions(tmp_path):
    stmts = body(tmp_path, """
void f(struct folio *folio, struct list_head *list)
{
	list_for_each_entry(folio, list, page.lru)
		folio_get(folio);
}
""")
    loop = stmts[0]
    assert isinstance(loop, IterLoop) and loop.macro == "list_for_each_entry"
    assert loop.args == (Name("folio"), Name("list"), Member(Name("page"), "lru", False))
    assert loop.cursor == Name("folio")
    assert loop.body == ExprStmt(Call("folio_get", (Name("folio"),)))


def test_iterator_macros(tmp_path):
    stmts = body(tmp_path, """
int f(struct xa_state *xas, unsigned long max, struct zone *zone)
{
	void *entry;
	int n = 0;

	xas_for_each(xas, entry, max) {
		if (!entry)
			continue;
		n++;
	}
	for_each_populated_zone(zone)
		n += zone->n;
	for_each_thing(n)
		;
	return n;
}
""")
    loop = stmts[2]
    assert isinstance(loop, IterLoop)
    assert loop.args == (Name("xas"), Name("entry"), Name("max"))
    assert loop.cursor == Name("entry")
    assert loop.step == Call("xas_find", (Name("xas"), Name("max")))
    assert loop.body == Compound((If(Unary("!", Name("entry")), Continue(), None),
                                  ExprStmt(Unary("post++", Name("n")))))
    assert loop.span.line == line(7) and loop.span.end_line == line(11)
    zl = stmts[3]
    if "for_each_populated_zone" in ITERATORS:         # ``for () if () ; else BODY``
        assert isinstance(zl, IterLoop) and zl.args == (Name("zone"),)
        assert zl.body == ExprStmt(Assign(Name("n"), "+=", Member(Name("zone"), "n", True)))
    # an iterator the models do not know: clang's own loop
    assert stmts[4] == For((ExprStmt(Assign(Name("n"), "=", Literal("0"))),),
                           Binary("<", Name("n"), Literal("4")),
                           Unary("post++", Name("n")), Compound(()))


def test_object_like_macros_read_as_spelled(tmp_path):
    stmts = body(tmp_path, """
void *f(struct xa_state *xas, int a)
{
	if (a == false)
		return NULL;
	a = -EAGAIN;
	return xa_alias(xas);
}
""")
    assert stmts[0].cond == Binary("==", Name("a"), Literal("false"))
    assert stmts[0].then == Return(Literal("NULL"))
    assert stmts[1] == ExprStmt(Assign(Name("a"), "=", Unary("-", Name("EAGAIN"))))
    assert stmts[2] == Return(Call("xa_alias", (Name("xas"),)))


def test_function_defined_through_a_macro_is_named_after_it(tmp_path):
    res = parse(tmp_path, """
SYSCALL_DEFINE1(madvise, int, behavior)
{
	return behavior;
}
""")
    fns = res.files[0].functions
    assert [(f.name, f.params) for f in fns] == [("SYSCALL_DEFINE1", ("behavior",))]
    assert fns[0].body.stmts == (Return(Name("behavior")),)


# ---------------------------------------------------------------------- spans
def test_spans_are_the_spelled_source(tmp_path):
    res = parse(tmp_path, """
int f(struct folio *folio, int a)
{
	/* é, ü */ if (unlikely(!folio_try_get(folio))) return a;
	a = my_min(a, 3);
	return a;
}
""")
    f = res.files[0].functions[0]
    assert (f.span.line, f.span.col, f.span.end_line) == (line(2), 1, line(7))
    src = (tmp_path / "t.c").read_text().splitlines()[line(4) - 1]

    def cols(text: str) -> tuple[int, int]:     # character columns, 1-based, end exclusive
        at = src.index(text)
        return at + 1, at + 1 + len(text)

    if_ = f.body.stmts[0]
    call = if_.cond
    # character columns: the two accented letters are one column each
    assert (call.span.line, call.span.col, call.span.end_col) == (
        line(4), *cols("unlikely(!folio_try_get(folio))"))
    inner = call.args[0].operand
    assert (inner.span.col, inner.span.end_col) == cols("folio_try_get(folio)")
    assert (if_.span.col, if_.span.end_col) == cols(            # includes the ';'
        "if (unlikely(!folio_try_get(folio))) return a;")
    # a node of an unknown macro's expansion has the span of the macro call
    se = f.body.stmts[1].expr.value
    assert isinstance(se, StmtExpr) and (se.span.col, se.span.end_col) == (6, 18)
    ret = f.body.stmts[2]
    assert (ret.span.line, ret.span.col, ret.span.end_col) == (line(6), 2, 11)


def test_decl_span_starts_at_the_name(tmp_path):
    stmts = body(tmp_path, """
int f(void)
{
	unsigned long x = 3;
	return x;
}
""")
    assert (stmts[0].span.col, stmts[0].span.end_col) == (16, 21)


# ---------------------------------------------------------------------- headers, TU facts
def test_header_inline_functions_walked_once_per_process(tmp_path):
    (tmp_path / "internal.h").write_text("""
static inline int helper(struct folio *folio)
{
	return folio_try_get(folio);
}
""")
    code = '#include "internal.h"\nint f(struct folio *folio) { return helper(folio); }\n'
    res = parse(tmp_path, code, headers=clang.under([str(tmp_path)]))
    assert [sf.path for sf in res.files] == [str(tmp_path / "t.c"), str(tmp_path / "internal.h")]
    (h,) = res.files[1].functions
    assert h.name == "helper" and h.static and h.file == str(tmp_path / "internal.h")
    assert h.body.stmts == (Return(Call("folio_try_get", (Name("folio"),))),)
    assert str(tmp_path / "internal.h") in res.includes
    res2 = parse(tmp_path, code, name="u.c", headers=clang.under([str(tmp_path)]))
    assert res2.files[1].functions[0] is h                     # lowered once
    # not under the analyzed paths: not walked
    res3 = parse(tmp_path, code, name="v.c", headers=None)
    assert len(res3.files) == 1 and [f.name for f in res3.files[0].functions] == ["f"]


def test_data_replaces_the_file_on_disk(tmp_path):
    res = parse(tmp_path, "int f(void) { return 1; }\n",
                data=(PRELUDE + "int g(void) { return 2; }\n").encode())
    assert [f.name for f in res.files[0].functions] == ["g"]


def test_errors_are_counted_and_the_rest_still_read(tmp_path):
    res = parse(tmp_path, """
#include "missing.h"
int f(int a)
{
	a = undeclared_thing + 1;
	return a;
}
int g(void) { return 0; }
""")
    assert res.errors >= 2
    assert any("missing.h" in m for m in res.diagnostics)
    fns = {f.name: f for f in res.files[0].functions}
    assert fns["f"].degraded >= 1 and fns["g"].degraded == 0
    assert res.files[0].errors == res.diagnostics


def test_unknown_flags_are_flag_problems_not_errors(tmp_path):
    res = parse(tmp_path, "int f(void) { return 0; }\n", args=["-fconserve-stack"])
    assert res.errors == 0
    assert any("-fconserve-stack" in p for p in res.flag_problems)


def test_operator_tables_match_libclang():
    lib = libclang._lib().lib
    lib.clang_getBinaryOperatorKindSpelling.restype = libclang._String
    lib.clang_getBinaryOperatorKindSpelling.argtypes = [ctypes.c_int]
    for k, sym in libclang._BINARY_OPS.items():
        assert libclang._lib().string(lib.clang_getBinaryOperatorKindSpelling(k)) == sym


# ---------------------------------------------------------------------- parity
def _fixture_args():
    return [*ARGS, "-I", str(FIXTURES / "include")]


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.c")),
                         ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_ir_matches_tree_sitter(path: Path):
    """Both frontends give the same IR, function by function, except where clang is
    precise on purpose: ``XA_STATE(...)`` (not in the models) is the declaration it
    expands to, where tree-sitter sees a call."""
    res = clang.parse_tu(str(path), _fixture_args(), ITERATORS, KNOWN)
    assert res.errors == 0, res.diagnostics
    ts = {f.name: f for f in treesitter.parse_source(str(path), path.read_bytes(),
                                                     ITERATORS).functions}
    src = path.read_text().splitlines()
    for fn in res.files[0].functions:
        assert fn.name in ts
        text = "\n".join(src[fn.span.line - 1:fn.span.end_line])
        if "XA_STATE(" in text:
            continue
        assert fn.params == ts[fn.name].params
        assert fn.body == ts[fn.name].body, fn.name
        assert _span_differences(fn, ts[fn.name]) == [], fn.name
    assert {f.name for f in res.files[0].functions} == set(ts)


def _span_differences(a, b) -> list:
    """Nodes of two equal IR trees whose spans differ."""
    out = []
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if dataclasses.is_dataclass(x):
            if getattr(x, "span", None) != getattr(y, "span", None):
                out.append((type(x).__name__, x.span, y.span))
            stack.extend((getattr(x, f.name), getattr(y, f.name))
                         for f in dataclasses.fields(x) if f.name != "span")
        elif isinstance(x, tuple):
            stack.extend(zip(x, y))
    return out


def test_relevant_prefilter_keeps_callers_of_relevant_helpers(tmp_path):
    p = tmp_path / "r.c"
    p.write_text(PRELUDE + """
static void helper(struct folio *folio) { folio_get(folio); }
void caller(struct folio *folio) { helper(folio); }
int unrelated(int a) { return a + 1; }
""")
    res = clang.parse_tu(str(p), ARGS, ITERATORS, KNOWN, relevant={"folio_get"})
    assert [f.name for f in res.files[0].functions] == ["helper", "caller"]
    assert res.skipped == 1


def test_call_sites_lexed_around_strings_comments_and_directives():
    src = (b'foo(")", \'(\', /* ) */ a,\n#if X\n  b(c, d)\n#endif\n  , e)\n'
           b'#define BAR(x) (x\nbaz()')
    t = clang_text._Text("x.c", src)
    foo = t.by_start[0]
    assert foo.name == "foo" and src[foo.end - 1:foo.end] == b")"
    assert [src[a:b] for a, b in foo.args] == [b'")"', b"'('", b"a", b"b(c, d)", b"e"]
    inner = t.by_start[src.index(b"b(c")]
    assert inner.parent is foo and [src[a:b] for a, b in inner.args] == [b"c", b"d"]
    assert t.by_start[src.index(b"baz")].args == []
    assert src.index(b"BAR") not in t.by_start               # directives are skipped


def test_function_macro_with_a_single_name_is_named_like_tree_sitter(tmp_path):
    res = parse(tmp_path, """
#define SYSCALL_DEFINE0(name) long sys_##name(void); long sys_##name(void)
SYSCALL_DEFINE0(munlockall)
{
	return 0;
}
""")
    assert [f.name for f in res.files[0].functions] == ["munlockall"]


# ---------------------------------------------------------------------- through Analyzer
def test_analyzer_clang_mode_reports_header_findings_with_their_file(tmp_path):
    from analyzer.pipeline.file import Analyzer
    from analyzer.pipeline.options import Options

    (tmp_path / "internal.h").write_text(
        '#include "kernel.h"\n'
        "static inline struct page *grab(pte_t *ptep)\n{\n"
        "\tstruct page *page = pte_page(ptep_get_lockless(ptep));\n\n"
        "\tget_page(page);\n\treturn page;\n}\n")
    (tmp_path / "user.c").write_text(
        '#include "internal.h"\nstruct page *user(pte_t *ptep) { return grab(ptep); }\n')
    args = ("-xc", "-std=gnu11", "-I", str(FIXTURES / "include"), "-I", str(tmp_path))
    out = Analyzer(Options(frontend="clang", clang_args=args,
                           header_roots=(str(tmp_path),))).analyze_file(str(tmp_path / "user.c"))
    assert [(f.span.file, f.span.line, f.rule_id, f.function, f.snippet) for f in out.findings] == [
        (str(tmp_path / "internal.h"), 6, "try-get-without-ref", "grab", "get_page(page);")]
    assert str(tmp_path / "internal.h") in out.headers
    assert out.stats.functions == 2


def test_analyzer_clang_mode_without_flags_says_why(tmp_path):
    from analyzer.pipeline.file import Analyzer
    from analyzer.pipeline.options import Options
    from analyzer.pipeline.plan import PlanError

    (tmp_path / "x.c").write_text("int f(void) { return 0; }\n")
    with pytest.raises(PlanError, match=r"no compile_commands\.json above the file"):
        Analyzer(Options(frontend="clang")).analyze_file(str(tmp_path / "x.c"))


def test_function_whose_name_is_a_self_referential_macro(tmp_path):
    res = parse(tmp_path, """
#define arch_thing arch_thing
static inline int arch_thing(void)
{
	return 1;
}
""")
    assert [f.name for f in res.files[0].functions] == ["arch_thing"]


def test_enumeration_constants_of_the_file_have_their_value(tmp_path):
    """libclang's own values of the enumerators the file defines (as tree-sitter's, plus
    what only the compiler can evaluate); a header's enumerators stay plain names."""
    (tmp_path / "e.h").write_text("enum hdr { HDR_A = 3 };\n")
    res = parse(tmp_path, '#include "e.h"\n'
                "enum t { A = 0, B, C = sizeof(int) };\n"
                "typedef enum { G = 0x10, H } h_t;\n"
                "int f(void)\n{\n\treturn A + B + C + G + H + HDR_A;\n}\n")
    assert res.errors == 0, res.diagnostics
    (fn,) = [f for f in res.files[0].functions if f.name == "f"]
    from analyzer.ir import walk
    names = {n.id: n.value for n in walk(fn.body) if isinstance(n, Name)}
    assert names == {"A": 0, "B": 1, "C": 4, "G": 16, "H": 17, "HDR_A": None}


def test_both_frontends_record_by_value_parameter_types(tmp_path):
    """A parameter passed by value keeps its type as spelled (``pmd_t orig``: a snapshot
    of a page-table entry for the speculative checker); a pointer's is empty."""
    code = ("typedef struct { unsigned long pmd; } pmd_t;\n"
            "int f(pmd_t orig, pmd_t *pmdp, unsigned long addr) { return 0; }\n")
    res = parse(tmp_path, code)
    fn = next(f for f in res.files[0].functions if f.name == "f")
    assert fn.params == ("orig", "pmdp", "addr")
    assert fn.param_types == ("pmd_t", "", "unsigned long")
    ts = treesitter.parse_source("t.c", code.encode(), ITERATORS).functions[0]
    assert ts.params == fn.params and ts.param_types == fn.param_types
