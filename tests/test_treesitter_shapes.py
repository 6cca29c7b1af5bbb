"""Kernel source shapes the tree-sitter frontend reads around (issue 16, parse coverage):
each test is a small fixture of ours modeled on a shape measured on the whole linux-7.2
tree (bench/parsecov.py), and checks both that the file now reads without damage and
that the code around the shape keeps its meaning."""
from __future__ import annotations

from analyzer import ir
from analyzer.frontend.treesitter import parse_source
from analyzer.frontend.treesitter.prepare import _prepare
from analyzer.ir import Call, Decl, ExprStmt, Literal, Name, OpaqueStmt, Return


def parse(src: str, path: str = "/src/t.c") -> ir.SourceFile:
    return parse_source(path, src.encode(), {})


def clean(src: str, path: str = "/src/t.c") -> ir.SourceFile:
    """Parse ``src``; it must read with no parse error and no degraded statement."""
    sf = parse(src, path)
    assert not sf.errors, sf.errors
    assert sf.degraded == 0 and all(f.degraded == 0 for f in sf.functions), sf.functions
    return sf


def names(sf: ir.SourceFile) -> list[str]:
    return [f.name for f in sf.functions]


def call(name: str, *args) -> Call:
    return Call(name, tuple(Name(a) if isinstance(a, str) else a for a in args))


def test_prepass_keeps_every_offset():
    src = ('#ifdef __ASSEMBLY__\n.macro m a\n\tmov \\a, r0\n.endm\n#endif\n'
           'void f(void)\n{\n\tasm_inline volatile("x" FOO(1) : "=r"(v));\n}\n')
    prepared, _ = _prepare(src.encode(), {})
    assert len(prepared) == len(src.encode())
    assert [i for i, c in enumerate(prepared) if c == 10] == \
        [i for i, c in enumerate(src.encode()) if c == 10]


# ----------------------------------------------------------------------------- inline asm
def test_asm_template_glued_to_a_macro_is_one_opaque_statement():
    # ``".balign " __stringify(N)`` and a macro among the operands: tree-sitter reads
    # neither; the statement stays one asm statement, not degraded, with its own text
    fn = clean('void f(struct page *p)\n{\n'
               '\tasm volatile(".balign " STR(N) "\\n\\t" EXTAB(1b, 2b)\n'
               '\t\t     : OUT(cc, cc) : "r"(p) : "memory");\n'
               '\tput_page(p);\n}\n').functions[0]
    asm, put = fn.body.stmts
    assert asm == OpaqueStmt('asm volatile(".balign " STR(N) "\\n\\t" EXTAB(1b, 2b)\n'
                             '\t\t     : OUT(cc, cc) : "r"(p) : "memory");', degraded=False)
    assert (asm.span.line, asm.span.end_line) == (3, 4)
    assert put == ExprStmt(call("put_page", "p"))


def test_asm_goto_asm_inline_and_asm_in_a_statement_expression():
    fn = clean('int f(int v)\n{\n\tasm goto("jmp %l[out]" : : "r"(v) : : out);\n'
               '\tasm_inline volatile("nop" ALT(1));\n'
               '\tv = ({ __asm__ __volatile__("mov" X : "=r"(v)); v; });\n'
               '\treturn v;\nout:\n\treturn 0;\n}\n').functions[0]
    kinds = [type(s).__name__ for s in fn.body.stmts]
    assert kinds == ["OpaqueStmt", "OpaqueStmt", "ExprStmt", "Return", "Label", "Return"]
    assert fn.body.stmts[1].text.startswith("asm_inline volatile(")
    assert not fn.body.stmts[1].degraded


def test_asm_register_label_with_an_initializer_is_a_declaration():
    fn = clean('void f(void)\n{\n\tregister unsigned long a0 __asm__("$16") = 3;\n'
               '\tregister long r asm("r0");\n\tcall_pal(a0, r);\n}\n').functions[0]
    a0, r, c = fn.body.stmts
    assert a0 == Decl("a0", Literal("3")) and r == Decl("r", None)
    assert c == ExprStmt(call("call_pal", "a0", "r"))


def test_asm_inside_a_continued_define_keeps_the_define():
    sf = clean('#define BARRIER(x) asm volatile("" X(1) \\\n\t: : "r"(x))\n'
               'int g(int x)\n{\n\tBARRIER(x);\n\treturn x;\n}\n')
    assert names(sf) == ["g"] and sf.functions[0].span.line == 3


def test_a_word_asm_that_is_not_assembly_is_left_alone():
    fn = clean('int f(int asm_len)\n{\n\tint n = asm_len;\n\treturn n;\n}\n').functions[0]
    assert fn.body.stmts[1] == Return(Name("n"))


# ----------------------------------------------------------------------------- __ASSEMBLY__
def test_assembly_arms_of_a_header_are_not_read_as_c():
    sf = clean('#ifndef _X_H\n#define _X_H\n#ifdef __ASSEMBLY__\n.macro ldx r, p\n'
               '\tldr \\r, [\\p]\n.endm\n#else\n'
               'static inline int f(int a)\n{\n\treturn a;\n}\n#endif\n'
               '#if !defined(__ASSEMBLY__)\nint g(void);\n#else\n\tldr r0, [r1]\n#endif\n'
               '#if defined(__ASSEMBLER__) && defined(CONFIG_X)\n\tmov r0, #1\n#endif\n'
               '#endif\n', "/src/x.h")
    assert names(sf) == ["f"]


def test_c_arms_of_an_assembly_conditional_are_read():
    # ``#ifndef __ASSEMBLY__``: the first arm is C, and stays; ``|| X`` is not only asm
    sf = clean('#ifndef __ASSEMBLY__\nint f(void)\n{\n\treturn 1;\n}\n#endif\n'
               '#if defined(__ASSEMBLY__) || defined(CONFIG_Y)\n'
               'int g(void)\n{\n\treturn 2;\n}\n#endif\n', "/src/x.h")
    assert names(sf) == ["f", "g"]


def test_assembly_only_header_is_blank_after_its_error_guard():
    sf = clean('/* for .S files only */\n#ifndef __ASSEMBLY__\n'
               '#error "Only include this from assembly code"\n#endif\n'
               '#include <asm/x.h>\n#define SAVE(r) \\\n\tstr r, [sp]\n'
               '\t.macro save_regs\n\tSAVE(r0)\n\t.endm\n'
               '#ifdef CONFIG_X\n\tmov r0, r1\t@ comment\n#endif\n', "/src/a.h")
    assert names(sf) == []


def test_asm_in_an_arm_a_conditional_blanked_is_left_blank():
    # the ``#else`` arm below is dropped (its arms close braces on their own); the asm in
    # it must not be written back as ``asm("")`` into the blank, which would be damage
    src = ('#ifdef CONFIG_SMP\nint f(int x)\n{\n\tif (x) {\n#else\nint f(int x)\n{\n'
           '\tasm volatile("nop" X(1));\n\tif (x) {\n#endif\n\t\tx++;\n\t}\n\treturn x;\n}\n'
           'static inline int\ng(int *p)\n{\n\treturn *p;\n}\n')
    sf = clean(src)
    assert names(sf) == ["f", "g"]


# ----------------------------------------------------------------------------- attributes
def test_gnu_attributes_are_read_around_wherever_they_are():
    sf = clean('static struct\n{\n\tunsigned long base;\n} saved __attribute((common));\n'
               'static const char msg[32] __attribute__((aligned(32))) = "x";\n'
               'void f(int v)\n{\n\tstatic int page[4]\n\t\t__attribute__((aligned(8)));\n'
               '\tswitch (v) {\n\tcase 1:\n\t\tv++;\n\t\t__attribute__((fallthrough));\n'
               '\tdefault:\n\t\tbreak;\n\t}\n}\n')
    (fn,) = sf.functions
    assert fn.body.stmts[0] == Decl("page", None)


# ----------------------------------------------------------------------------- top-level data
def test_top_level_declaring_macros_are_data_not_code():
    # a macro that declares data (no type before its name: never a prototype), with
    # literal arguments tree-sitter cannot read as parameters
    sf = clean('static DEVICE_ATTR(mode, 0444, mode_show, NULL);\n'
               'static CCU_GATE(bus_clk, "bus", "ahb", 0x60, BIT(5), 0);\n'
               'static const CLK_DIV(div_clk, "div", { 0 }, 4,\n\t\tDIV_HW(0x10, 2, 0));\n'
               '__setup("opt=", opt_setup);\nEXPORT_SYMBOL_GPL(opt_setup);\n'
               'DEFINE_PER_CPU(int, counter) = { 1 };\n'
               'int f(struct page *p)\n{\n\tget_page(p);\n\treturn 0;\n}\n'
               'late_initcall(f);\n')
    assert names(sf) == ["f"] and sf.functions[0].span.line == 8


def test_a_prototype_split_over_two_lines_is_not_a_macro():
    sf = clean('static inline int\nfoo(int a);\nstatic int\nbar(int a)\n{\n\treturn foo(a);\n}\n')
    assert names(sf) == ["bar"]
    assert sf.functions[0].body.stmts == (Return(call("foo", "a")),)


def test_macro_built_initializers_and_tables_are_not_functions():
    # ``define_machine(x) { .name = ... };`` is a struct initializer, and
    # ``X_START(...) .field = v, X_END`` a table: neither is a function
    sf = clean('define_machine(board) {\n\t.name = "Board",\n\t.probe = board_probe,\n'
               '#ifdef CONFIG_PCI\n\t.pci = 1,\n#endif\n};\n'
               'DT_MACHINE_START(BOARD_DT, "Some Board (DT)")\n\t.dt_compat = board_dt,\n'
               '\t.init = board_init,\nMACHINE_END\n'
               'static int board_probe(void)\n{\n\treturn 1;\n}\n')
    assert names(sf) == ["board_probe"]


def test_rows_of_a_header_included_inside_a_table_are_data():
    # a header made to be ``#include``d between the braces of a device table: nothing but
    # ``X(...),`` rows, some of them under a conditional; the function after it is read
    rows = ('/* quirks */\n#if defined(CONFIG_BRIDGE)\n'
            'BRIDGE_DEV(0x1234, 0x0001, 0x0000, 0x9999,\n\t"Vendor",\n\t"Model A",\n'
            '\tSC_SCSI, PR_BULK, NULL, 0),\n\n/* B */\n'
            'BRIDGE_DEV(0x1234, 0x0002, 0x0100, 0x0100, "Vendor", "Model B",\n'
            '\tSC_SCSI, PR_BULK, bridge_init, FL_FIX),\n#endif\n')
    assert names(clean(rows, "/src/bridge_devs.h")) == []
    sf = clean(rows + 'static int bridge_init(struct dev *d)\n{\n\treturn probe(d);\n}\n')
    assert names(sf) == ["bridge_init"]
    # a row is only a row at top level: the same call in a body is a call
    body = clean('void f(void)\n{\n\tg(BRIDGE_DEV(1, 2), 3);\n}\n').functions[0]
    assert [n.callee for n in ir.walk(body.body) if isinstance(n, Call)] == ["g", "BRIDGE_DEV"]


def test_a_macro_defined_function_is_still_a_function():
    sf = clean('SYSCALL_DEFINE2(pin, unsigned long, start, size_t, len)\n{\n\treturn 0;\n}\n'
               'static DEFINE_MUTEX(lock);\n')
    assert names(sf) == ["SYSCALL_DEFINE2"]


# ----------------------------------------------------------------------------- GNU as
def test_assembler_macros_and_directives_at_top_level_are_blanked():
    sf = clean('#include <asm/x.h>\n.macro save_fp base, tmp\n\tfst.d $f0, \\base, 0\n'
               '\t.rept 4\n\tnop\n\t.endr\n.endm\n.syntax unified\n'
               '\t.macro m2 ; .endm\n#define R0 0\n', "/src/asm.h")
    assert names(sf) == []


# ----------------------------------------------------------------------------- #define
def test_comments_spanning_lines_of_a_define():
    sf = clean('#define OP(name, op)\t\t\t\\\nstatic int name##_ret(int i)\t\\\n{\t\t\t\t\\\n'
               '\t/*\t\t\t\t\\\n\t * spans lines\t\t\\\n\t */\t\t\t\t\\\n'
               '\treturn i op 1;\t\t\t\\\n}\nOP(inc, +)\n'
               'int f(int i)\n{\n\treturn inc_ret(i);\n}\n')
    assert names(sf) == ["f"] and sf.functions[0].span.line == 10


def test_top_level_initializers_with_conditionals_and_macro_rows():
    sf = clean('static struct marker markers[] = {\n#ifdef CONFIG_KASAN\n\t{ KASAN_START, "k" },\n'
               '#endif\n\tROW(MODULES, "m"),\n#define VEC(b) &b,\n\tVEC(board)\n\t{ -1, NULL },\n};\n'
               '#define INIT { 1, 2 }\n'
               'int f(int i)\n{\n\tint a[2] = { 1,\n#ifdef X\n\t\t2\n#endif\n\t};\n'
               '\treturn markers[i].v + a[0];\n}\n')
    assert names(sf) == ["f"]
    # an initializer inside a function is code: it is not blanked
    prepared, _ = _prepare(b'int g(void)\n{\n\tint a[1] = { h() };\n\treturn a[0];\n}\n', {})
    assert b"h()" in prepared


# ----------------------------------------------------------------------------- strings
def test_macros_glued_to_string_literals():
    fn = clean('void f(struct page *p, int n)\n{\n'
               '\tprintk(KERN_WARNING DEVNAME ": failed (%d)\\n", n);\n'
               '\tpr_info("a" __stringify(N) "b" PRIx64 "c", n);\n'
               '\tpr_err("x" STR(n) "y");\n\tput_page(p);\n}\n').functions[0]
    first = fn.body.stmts[0]
    assert first.expr.callee == "printk" and first.expr.args[1] == Name("n")
    assert fn.body.stmts[3] == ExprStmt(call("put_page", "p"))
    # one macro before a string reads as it is, and stays in the literal's text
    (stmt,) = clean('void g(void)\n{\n\tprintk(KERN_INFO "x");\n}\n').functions[0].body.stmts
    assert stmt.expr.args == (Literal('KERN_INFO "x"'),)


# ----------------------------------------------------------------------------- statements
def test_gnu_case_range_with_calls_is_one_opaque_case():
    fn = clean('int f(int x)\n{\n\tswitch (x) {\n\tcase ESR(-1) ... ESR(3):\n\t\treturn 1;\n'
               '\tcase 4 ... 7:\n\t\treturn 2;\n\tdefault:\n\t\treturn 0;\n\t}\n}\n').functions[0]
    (sw,) = fn.body.stmts
    cases = [s for s in sw.body.stmts if isinstance(s, ir.Case)]
    assert [c.value.text for c in cases[:2]] == ["ESR(-1) ... ESR(3)", "4 ... 7"]
    assert isinstance(cases[0].value, ir.Opaque) and cases[2].value is None


def test_macro_call_followed_by_a_block_is_a_loop_on_the_call():
    fn = clean('void f(struct dev *d)\n{\n\twith_runtime_pm(&d->pm, wf) {\n\t\tput_page(d->p);\n'
               '\t}\n\tif (d->x)\n\t\tuntil_all_locked(d->exec) {\n\t\t\tg(d);\n\t\t}\n'
               '\th(d);\n}\n').functions[0]
    loop, cond, last = fn.body.stmts
    assert isinstance(loop, ir.While) and loop.cond.callee == "with_runtime_pm"
    assert loop.body.stmts == (ExprStmt(call("put_page", ir.Member(Name("d"), "p", True))),)
    assert isinstance(cond.then, ir.While) and cond.then.cond.callee == "until_all_locked"
    assert last == ExprStmt(call("h", "d"))


def test_pp_numbers_pasted_into_names_are_names():
    fn = clean('int f(struct kvm *kvm)\n{\n\tif (has_feat(kvm, MMFR0, TGRAN4, 52_BIT))\n'
               '\t\tlink_set(m, 10000baseKR_Full);\n\treturn 0x1fUL + 10ULL + 1e5 + 2u;\n}\n'
               ).functions[0]
    cond, ret = fn.body.stmts
    assert cond.cond.args[3] == Name("52_BIT")
    assert ret.value.right == Literal("2u")


def test_alignment_macro_after_a_declarator():
    sf = clean('typedef struct Pde\n{\n\tu32 type;\n\tNvU64 value NV_ALIGN_BYTES(8);\n} Pde;\n'
               'int f(void)\n{\n\tu64 v CACHE_ALIGNED(64) = 0;\n\treturn ALIGN(v, 8);\n}\n')
    (fn,) = sf.functions
    assert fn.body.stmts[0] == Decl("v", Literal("0"))
    assert fn.body.stmts[1] == Return(call("ALIGN", "v", Literal("8")))


def test_asm_and_attributes_inside_defines_keep_the_define_whole():
    # ``asm volatile( \`` : the ``""`` written into the blanked asm must not replace the
    # ``\`` that continues the ``#define``; an attribute in a ``#define`` stays
    sf = clean('#define FLUSH(level) \\\n\tasm volatile( \\\n\t"bl flush_"__stringify(level)"\\n\\t" \\\n'
               '\t: : "r" (base) \\\n\t: "r0", "memory")\n'
               '#define __my_aligned(a) __attribute__((aligned(a)))\n'
               '#  define __entry __attribute__((naked))\n'
               'extern int lookup(u64 a) __weak __alias(__lookup);\n'
               'int f(void)\n{\n\tFLUSH(1);\n\treturn 0;\n}\n')
    assert names(sf) == ["f"] and sf.functions[0].span.line == 9
