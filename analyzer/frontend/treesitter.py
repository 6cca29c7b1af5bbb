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

import re
from collections.abc import Mapping

import tree_sitter
import tree_sitter_c

from analyzer.frontend.lower import MAX_DEPTH, Lowering, block, iter_loop
from analyzer.frontend.lower import B as _B
from analyzer.frontend.lower import E as _E
from analyzer.frontend.lower import S as _S
from analyzer.frontend.lower import V as _V
from analyzer.frontend.lower import one as _one
from analyzer.ir import (
    AddrOf,
    Assign,
    Binary,
    Break,
    Call,
    Compound,
    Continue,
    Decl,
    Deref,
    ExprStmt,
    Function,
    Goto,
    If,
    Label,
    Literal,
    Member,
    Name,
    Opaque,
    OpaqueStmt,
    Return,
    SourceFile,
    Span,
    Unary,
    While,
)
from analyzer.models import IteratorModel

__all__ = ["MAX_DEPTH", "parse_source"]

_PARSER: tree_sitter.Parser | None = None


def _parser() -> tree_sitter.Parser:
    """One Language/Parser per process (workers are processes, not threads)."""
    global _PARSER
    if _PARSER is None:
        _PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))
    return _PARSER


def parse_source(path: str, data: bytes, iterators: Mapping[str, IteratorModel]) -> SourceFile:
    """Parse one file's bytes and lower every function in it to the IR."""
    prepared, loops = _prepare(data, iterators)
    tree = _parser().parse(prepared)
    return _Lowerer(path, data, iterators, loops, prepared).source_file(tree.root_node)


# ---------------------------------------------------------------------- source prepass
# tree-sitter sees the kernel's macros and preprocessor conditionals unexpanded.  A few
# length-preserving rewrites of the bytes it parses (every offset, hence every span, is
# unchanged; texts still come from the original bytes) remove the common causes of
# damage in mm/ and virt/kvm/:
#
# * annotations that expand to nothing or to an attribute (``__user``, ``__init``,
#   ``__releases(x)``) are blanked;
# * an iterator macro at the start of a statement, ``list_for_each_entry(p, h, m)``, is
#   spelled ``while              (p, h, m)``, so that its body -- a block or a single
#   statement -- is parsed as a loop body whatever it is.  The lowering turns that
#   ``while`` back into an ``IterLoop`` (or, for a ``*for_each*`` macro not in the models,
#   a ``While`` on the macro call; ``scoped_guard(...) body`` is a block: the call, then
#   the body);
# * a conditional (``#if`` ... ``#endif``) that continues an if/else chain or strands a
#   label (``#ifdef X`` then ``else if``; ``else`` or ``out:`` just before ``#endif``)
#   loses its directive lines, so every arm is read; one that sits inside an expression,
#   or whose arms open or close braces on their own, keeps its first arm only;
# * ``static DEFINE_...(x, ...)`` inside a body loses its ``static``; in
#   ``offsetof(struct s, a.b[i])`` the designator after ``a`` is blanked.

_ANNOTATIONS = frozenset((
    b"__init __exit __user __kernel __iomem __percpu __rcu __force __nocast __bitwise "
    b"__safe __private __must_check __maybe_unused __always_unused __initdata __initconst "
    b"__exitdata __meminit __meminitdata __init_memblock __initdata_memblock __ref __refdata "
    b"__read_mostly __ro_after_init __always_inline __fastpath_inline noinline __noinline "
    b"__cold __hot __weak __pure __used __visible __noreturn __packed __latent_entropy "
    b"__randomize_layout __cacheline_aligned __cacheline_aligned_in_smp "
    b"____cacheline_aligned ____cacheline_aligned_in_smp __sched notrace noinstr __flatten "
    b"__malloc __nocfi __data_racy __attribute_const__ __init_or_module "
    b"__no_sanitize_address __no_kmsan_checks __noclone __naked __designated_init "
    b"__kprobes __lockfunc __irq_entry __mustcheck"
).split())
_FN_ANNOTATIONS = frozenset((
    b"__releases __acquires __must_hold __cond_acquires __cond_releases __aligned __printf "
    b"__scanf __section __counted_by __alloc_size __realloc_size __assume_aligned __access "
    b"__nonstring __diagnose_as __free __cleanup"
).split())
_WORDISH = re.compile(rb"\b(?:__\w+|noinline|notrace|noinstr)\b")
_FN_ARGS = re.compile(rb"[ \t]*\((?:[^()\n]|\([^()\n]*\))*\)")
_LOOPLIKE = "for_each"             # unknown macros with this in their name are loops
# Macros whose body runs once, in a scope: ``scoped_guard(spinlock, &l) { ... }``.
_SCOPED = frozenset({"scoped_guard", "scoped_cond_guard"})
_OFFSETOF = re.compile(rb"\boffsetof(?=[ \t]*\()")
_MEMBER = re.compile(rb"\s*[A-Za-z_]\w*")
_WORD_END = re.compile(rb"\w*")
_NOT_NL = re.compile(rb"[^\n]")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_BLANKS = b" \t\r\n\f\v"
_DIRECTIVE = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b")
_LABEL_LINE = re.compile(rb"[ \t]*[A-Za-z_]\w*[ \t]*:[ \t]*")
_ELSE_START = re.compile(rb"[ \t]*else\b")
_NOT_CODE = re.compile(rb'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
# ``static DEFINE_RATELIMIT_STATE(rs, ...);`` inside a body: the ``static`` is blanked so
# that the macro reads as a call.
_STATIC_DEFINE = re.compile(rb"(static[ \t]+)(?:const[ \t]+)?(?:DEFINE|DECLARE)_\w+\(")


def _line_start(data: bytes, pos: int) -> int:
    return data.rfind(b"\n", 0, pos) + 1


def _line_end(data: bytes | bytearray, pos: int) -> int:
    end = data.find(b"\n", pos)
    return len(data) if end < 0 else end


def _blank(buf: bytearray, a: int, b: int) -> None:
    buf[a:b] = _NOT_NL.sub(b" ", bytes(buf[a:b]))


def _code_before(data: bytes, pos: int) -> int:
    """End of the code before ``pos``: blanks, comments and directive lines skipped
    (0 when there is none)."""
    p = pos
    for _ in range(256):
        while p > 0 and data[p - 1] in _BLANKS:
            p -= 1
        if p == 0:
            return 0
        if data[p - 2:p] == b"*/":
            q = data.rfind(b"/*", 0, p - 2)
            if q < 0:
                return 0
            p = q
            continue
        ls = _line_start(data, p)
        if data[ls:p].lstrip().startswith(b"#"):
            p = ls
            continue
        c = data.find(b"//", ls, p)
        if c < 0:
            return p
        p = c
    return 0


def _code_after(data: bytes | bytearray, pos: int) -> int:
    """Start of the code at or after ``pos``: blanks and comments skipped."""
    n = len(data)
    p = pos
    while p < n:
        if data[p] in _BLANKS:
            p += 1
        elif data.startswith(b"/*", p):
            q = data.find(b"*/", p + 2)
            p = n if q < 0 else q + 2
        elif data.startswith(b"//", p):
            p = _line_end(data, p)
        else:
            break
    return p


def _statement_start(data: bytes, pos: int) -> bool:
    """Heuristic: does a statement start at ``pos`` (a macro call that is not part of an
    expression, a declaration or a ``#define``)?"""
    if data[_line_start(data, pos):pos].lstrip().startswith(b"#"):
        return False
    p = _code_before(data, pos)
    if p == 0:
        return False
    if data[p - 1] in b";{}):":
        return True
    w = p
    while w > 0 and data[w - 1] in _WORD_BYTES:
        w -= 1
    return data[w:p] in (b"else", b"do")


def _iterator_sites(data: bytes, iterators: Mapping[str, IteratorModel]):
    """(start, end, name) of every ``*for_each*`` or model iterator name followed by
    ``(``."""
    n = len(data)
    seen = set()
    starts = [m.start() for m in re.finditer(_LOOPLIKE.encode(), data)]
    for name in list(iterators) + list(_SCOPED):
        if _LOOPLIKE not in name:
            starts.extend(m.start() for m in re.finditer(re.escape(name.encode()), data))
    for s in sorted(starts):
        a = s
        while a > 0 and data[a - 1] in _WORD_BYTES:
            a -= 1
        if a in seen or data[a] in b"0123456789":
            continue
        seen.add(a)
        w = _WORD_END.match(data, s)           # matches the empty string: never None
        b = w.end() if w is not None else s
        name = data[a:b].decode("ascii", "replace")
        if _LOOPLIKE not in name and name not in iterators and name not in _SCOPED:
            continue
        c = b
        while c < n and data[c] in b" \t":
            c += 1
        if c < n and data[c] == 40 and b - a >= 5:     # "("
            yield a, b, name


def _called_as_function(data: bytes, pos: int) -> bool:
    """Is the argument list after ``pos`` followed by ``;`` -- a plain call rather than
    a loop header?"""
    i = data.find(b"(", pos)
    depth = 0
    n = len(data)
    while 0 <= i < n:
        ch = data[i]
        if ch == 40:
            depth += 1
        elif ch == 41:
            depth -= 1
            if depth == 0:
                return data[i + 1:i + 200].lstrip().startswith(b";")
        elif ch == 123 or ch == 125 or ch == 59:      # "{", "}", ";": unbalanced
            return False
        i += 1
    return False


def _offsetof_member(data: bytes, buf: bytearray, pos: int) -> None:
    """Blank the designator after the member name in the ``offsetof(`` at ``pos``."""
    i = data.find(b"(", pos)
    depth = 0
    comma = name_end = -1
    for j in range(i, min(len(data), i + 400)):
        ch = data[j]
        if ch == 40 or ch == 91:                      # "(" "["
            depth += 1
        elif ch == 41 or ch == 93:                    # ")" "]"
            depth -= 1
            if depth == 0:
                if name_end > 0:
                    _blank(buf, name_end, j)
                return
        elif ch == 44 and depth == 1 and comma < 0:   # ","
            comma = j
            m = _MEMBER.match(data, j + 1)
            name_end = m.end() if m is not None else -1
        elif ch == 59 or ch == 123 or ch == 125:      # ";" "{" "}"
            return


def _brace_balance(text: bytes) -> int:
    if b"{" not in text and b"}" not in text:
        return 0
    text = _NOT_CODE.sub(b"", text)
    return text.count(b"{") - text.count(b"}")


def _conditionals(data: bytes, buf: bytearray) -> None:
    """Flatten the conditionals tree-sitter cannot read in place (innermost first)."""
    stack: list = []            # per open conditional: its directive line starts
    for m in _DIRECTIVE.finditer(data):
        start = _line_start(data, m.start())
        if data[start:m.start()].strip():
            continue            # not a directive: ``#`` inside a line
        kind = m.group(1)
        if kind.startswith(b"if"):
            stack.append([start])
        elif stack:
            stack[-1].append(start)
            if kind == b"endif":
                _fix_conditional(data, buf, stack.pop())


def _fix_conditional(data: bytes, buf: bytearray, marks: list) -> None:
    """``marks``: start of the ``#if`` line, of each ``#elif``/``#else`` line, of ``#endif``."""
    ends = [_line_end(data, m) for m in marks]
    every_arm = False
    for i, m in enumerate(marks):
        if i < len(marks) - 1 and _ELSE_START.match(buf, _code_after(buf, ends[i])):
            every_arm = True                      # ``#ifdef X`` then ``else if (...)``
        if i > 0:
            p = _code_before(data, m)
            if (data[p - 4:p] == b"else" and (p < 5 or data[p - 5] not in _WORD_BYTES)) or \
                    _LABEL_LINE.fullmatch(data, _line_start(data, p), p) is not None:
                every_arm = True                  # ``else`` or ``out:`` then ``#endif``
    if every_arm:
        for m, e in zip(marks, ends):
            _blank(buf, m, e)
        return
    p = _code_before(data, marks[0])
    in_expression = p > 0 and data[p - 1] in b',|&+-(=?<>"!~^%'
    if not in_expression and all(_brace_balance(bytes(buf[e:m])) == 0
                                 for e, m in zip(ends, marks[1:])):
        return
    # keep the first arm only
    _blank(buf, marks[0], ends[0])
    _blank(buf, marks[1], ends[-1])


def _prepare(data: bytes, iterators: Mapping[str, IteratorModel]) -> tuple[bytes, dict]:
    """The bytes to parse, and the iterator sites: start byte -> macro name."""
    buf = bytearray(data)
    for m in _WORDISH.finditer(data):
        word = m.group()
        a, b = m.span()
        if word in _ANNOTATIONS or word in _FN_ANNOTATIONS:
            if data[_line_start(data, a):a].lstrip().startswith(b"#"):
                continue                        # ``#define __fastpath_inline ...``
            if word in _FN_ANNOTATIONS:
                args = _FN_ARGS.match(data, b)
                if args is None:
                    continue
                b = args.end()
            _blank(buf, a, b)
    if b"#" in data:
        _conditionals(data, buf)
    if b"offsetof" in data:
        # tree-sitter's offsetof takes a plain member only: ``offsetof(struct s, a.b[i])``
        # is read as ``offsetof(struct s, a      )`` (an Opaque of the original text)
        for m in _OFFSETOF.finditer(data):
            _offsetof_member(data, buf, m.end())
    if b"DEFINE_" in data or b"DECLARE_" in data:
        for m in _STATIC_DEFINE.finditer(data):
            a, b = m.span(1)
            ls = _line_start(data, a)
            if ls < a and not data[ls:a].strip():          # indented: inside a body
                _blank(buf, a, b)
    loops: dict[int, str] = {}
    for a, b, name in _iterator_sites(data, iterators):
        if name not in iterators and _called_as_function(data, b):
            continue                            # ``idr_for_each(&idr, fn, data);``
        if _statement_start(data, a):
            buf[a:b] = b"while" + b" " * (b - a - 5)
            loops[a] = name
    return bytes(buf), loops


# Top-level nodes whose children are top-level items again.
_CONTAINERS = frozenset({
    "translation_unit", "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
    "preproc_elifdef", "linkage_specification", "declaration_list",
})
# Statement-level nodes that are not code.
_SKIP_STMTS = frozenset({
    "preproc_def", "preproc_function_def", "preproc_call", "preproc_include", "comment",
    "preproc_directive",
})
# Statements whose ERROR children are statements of their own.
_NO_SCAN = frozenset({
    "case_statement", "labeled_statement", "preproc_if", "preproc_ifdef", "preproc_elif",
    "preproc_elifdef", "preproc_else",
})
_LITERALS = frozenset({
    "number_literal", "string_literal", "char_literal", "concatenated_string", "true",
    "false", "null", "system_lib_string",
})
_DECLARATOR_TYPES = frozenset({
    "pointer_declarator", "array_declarator", "function_declarator",
    "parenthesized_declarator", "attributed_declarator", "init_declarator",
})
_NAME_TYPES = frozenset({"identifier", "field_identifier", "type_identifier"})
# A macro argument that is a type: ``struct page``, ``unsigned long``, ``pte_t *``.
_TYPE_ARG = re.compile(rb"\s*[A-Za-z_]\w*(?:\s+[A-Za-z_]\w*|\s*\*)+\s*")
# A statement-level macro that declares its first argument.
_DECL_MACRO = re.compile(rb"(?:(?:static|const)\s+)*(?:DEFINE|DECLARE)_\w+\s*\(\s*([A-Za-z_]\w*)")
# Tokens whose MISSING insertion is not damage: a macro call used as a statement, and
# the end of a truncated body (reported once per function instead).
_BENIGN_MISSING = frozenset({";", "}"})


def _named(node) -> list:
    return [c for c in node.named_children if c.type != "comment"]


class _Lowerer(Lowering):
    """Lowers one parsed file.  Every walk uses an explicit stack: a task is visited,
    pushes a build step and its children, and the build step pops the children's values
    (statements yield lists, so labels and cases flatten into the enclosing block)."""

    def __init__(self, path: str, data: bytes, iterators: Mapping[str, IteratorModel],
                 loops: dict | None = None, prepared: bytes | None = None):
        self.path = path
        self.prepared = data if prepared is None else prepared
        self.loops = loops or {}
        self.data = data
        self.iterators = iterators
        self.ascii = data.isascii()
        if self.ascii:
            self.span = self._span_ascii  # type: ignore[method-assign]
        # tree-sitter spans statements and declarators as any node
        self.stmt_span = self.decl_span = self.span  # type: ignore[method-assign]
        self._line_starts: list[int] | None = None
        self.degraded = 0          # in the current function
        self._xerr = 0             # damage seen in the current statement's own parts
        self.errors: list[str] = []
        self._nested: list = []        # function_definitions found inside bodies
        self._handlers_e = {
            "identifier": self._e_name,
            "field_expression": self._e_member,
            "pointer_expression": self._e_pointer,
            "subscript_expression": self._e_index,
            "unary_expression": self._e_unary,
            "update_expression": self._e_update,
            "binary_expression": self._e_binary,
            "comma_expression": self._e_binary,
            "assignment_expression": self._e_assign,
            "call_expression": self._e_call,
            "conditional_expression": self._e_cond,
        }
        self._handlers_s = {
            "expression_statement": self._s_expr,
            "declaration": self._s_decl,
            "if_statement": self._s_if,
            "while_statement": self._s_while,
            "do_statement": self._s_do,
            "for_statement": self._s_for,
            "switch_statement": self._s_switch,
            "case_statement": self._s_case,
            "labeled_statement": self._s_label,
            "goto_statement": self._s_goto,
            "break_statement": self._s_break,
            "continue_statement": self._s_continue,
            "return_statement": self._s_return,
            "preproc_if": self._s_preproc,
            "preproc_ifdef": self._s_preproc,
            "preproc_elif": self._s_preproc,
            "preproc_elifdef": self._s_preproc,
            "preproc_else": self._s_block,
            "attributed_statement": self._s_attributed,
        }

    # ------------------------------------------------------------------ text and spans
    def text(self, node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def _col(self, row: int, bytecol: int) -> int:
        if self.ascii or bytecol == 0:
            return bytecol + 1
        starts = self._line_starts
        if starts is None:
            starts = [0]
            find = self.data.find
            i = find(b"\n")
            while i >= 0:
                starts.append(i + 1)
                i = find(b"\n", i + 1)
            self._line_starts = starts
        start = starts[row] if row < len(starts) else len(self.data)
        prefix = self.data[start:start + bytecol]
        if prefix.isascii():
            return bytecol + 1
        return len(prefix.decode("utf-8", "replace")) + 1

    def span(self, node) -> Span:
        sr, sc = node.start_point
        er, ec = node.end_point
        return Span(self.path, sr + 1, self._col(sr, sc), er + 1, self._col(er, ec))

    def _span_ascii(self, node) -> Span:
        sr, sc = node.start_point
        er, ec = node.end_point
        return Span(self.path, sr + 1, sc + 1, er + 1, ec + 1)

    def span2(self, first, last) -> Span:
        """From the start of ``first`` to the end of ``last``."""
        a, b = self.span(first), self.span(last)
        return Span(self.path, a.line, a.col, b.end_line, b.end_col)

    # ------------------------------------------------------------------ the machine
    def _scan(self, node) -> None:
        """Damage among ``node``'s direct children (nested nodes scan their own)."""
        for c in node.children:
            if c.is_missing:
                if c.type not in _BENIGN_MISSING:
                    self._xerr += 1
            elif c.type == "ERROR":
                self._xerr += 1

    # ------------------------------------------------------------------ expressions
    def _expr(self, node, depth, push, out) -> None:
        if node is not None and node.type == "identifier":         # the common leaf
            out.append(Name(self.data[node.start_byte:node.end_byte].decode(
                "utf-8", "replace"), self.span(node)))
            return
        while True:
            if node is None:
                self._xerr += 1
                out.append(Opaque(""))
                return
            t = node.type
            if node.has_error:
                self._scan(node)
            if t == "parenthesized_expression" or t == "extension_expression":
                inner = None
                for c in node.named_children:
                    if c.type != "comment":
                        inner = c
                        break
                if inner is not None and inner.type == "compound_statement":
                    if depth > MAX_DEPTH:
                        break
                    push((_B, node, self.b_stmtexpr, 1, None))
                    push((_S, inner, depth + 1, None))
                    return
                node = inner
            elif t == "cast_expression":
                node = node.child_by_field_name("value")
            else:
                break
        if depth > MAX_DEPTH:
            self.degraded += 1
            out.append(Opaque(self.text(node), self.span(node)))
            return
        h = self._handlers_e.get(t)
        if h is not None:
            h(node, depth, push, out)
        elif t in _LITERALS:
            out.append(Literal(self.text(node), self.span(node)))
        else:
            if t == "ERROR" or node.is_missing:
                self._xerr += 1
            out.append(Opaque(self.text(node), self.span(node)))

    def _e_name(self, node, depth, push, out) -> None:
        out.append(Name(self.text(node), self.span(node)))

    def _e_member(self, node, depth, push, out) -> None:
        push((_B, node, self._b_member, 1, None))
        push((_E, node.child_by_field_name("argument"), depth + 1))

    def _b_member(self, node, vals, ctx):
        f = node.child_by_field_name("field")
        op = node.child_by_field_name("operator")
        return Member(vals[0], self.text(f) if f is not None else "",
                      op is not None and op.type == "->", self.span(node))

    def _e_pointer(self, node, depth, push, out) -> None:
        push((_B, node, self._b_pointer, 1, None))
        push((_E, node.child_by_field_name("argument"), depth + 1))

    def _b_pointer(self, node, vals, ctx):
        op = node.child_by_field_name("operator")
        if op is not None and op.type == "&":
            return AddrOf(vals[0], self.span(node))
        return Deref(vals[0], self.span(node))

    def _e_index(self, node, depth, push, out) -> None:
        push((_B, node, self.b_index, 2, None))
        push((_E, node.child_by_field_name("index"), depth + 1))
        push((_E, node.child_by_field_name("argument"), depth + 1))

    def _e_unary(self, node, depth, push, out) -> None:
        push((_B, node, self._b_unary, 1, None))
        push((_E, node.child_by_field_name("argument"), depth + 1))

    def _b_unary(self, node, vals, ctx):
        op = node.child_by_field_name("operator")
        return Unary(op.type if op is not None else "?", vals[0], self.span(node))

    def _e_update(self, node, depth, push, out) -> None:
        push((_B, node, self._b_update, 1, None))
        push((_E, node.child_by_field_name("argument"), depth + 1))

    def _b_update(self, node, vals, ctx):
        op = node.child_by_field_name("operator")
        sym = op.type if op is not None else "++"
        pre = op is not None and op.start_byte == node.start_byte
        return Unary(sym + "pre" if pre else "post" + sym, vals[0], self.span(node))

    def _e_binary(self, node, depth, push, out) -> None:
        push((_B, node, self._b_binary, 2, None))
        push((_E, node.child_by_field_name("right"), depth + 1))
        push((_E, node.child_by_field_name("left"), depth + 1))

    def _b_binary(self, node, vals, ctx):
        if node.type == "comma_expression":
            op = ","
        else:
            o = node.child_by_field_name("operator")
            op = o.type if o is not None else "?"
        return Binary(op, vals[0], vals[1], self.span(node))

    def _e_assign(self, node, depth, push, out) -> None:
        push((_B, node, self._b_assign, 2, None))
        push((_E, node.child_by_field_name("right"), depth + 1))
        push((_E, node.child_by_field_name("left"), depth + 1))

    def _b_assign(self, node, vals, ctx):
        o = node.child_by_field_name("operator")
        return Assign(vals[0], o.type if o is not None else "=", vals[1], self.span(node))

    def _e_cond(self, node, depth, push, out) -> None:
        cons = node.child_by_field_name("consequence")
        push((_B, node, self.b_cond, 3 if cons is not None else 2, None))
        push((_E, node.child_by_field_name("alternative"), depth + 1))
        if cons is not None:
            push((_E, cons, depth + 1))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _arg_nodes(self, al) -> list:
        """The arguments of an argument_list: nodes to lower, or ready ``Opaque``s for
        type arguments of macros (which tree-sitter reads as damage)."""
        if al is None:
            return []
        if not al.has_error:
            return [c for c in al.named_children if c.type != "comment"]
        args: list = []
        group: list = []
        for c in al.children:
            t = c.type
            if c.is_missing:
                if t not in _BENIGN_MISSING:
                    self._xerr += 1
                continue
            if t == "," or t == ")":
                if group:
                    args.append(self._arg_group(group))
                    group = []
            elif t != "(" and t != "comment":
                group.append(c)
        if group:
            args.append(self._arg_group(group))
        return args

    def _arg_group(self, group: list):
        first, last = group[0], group[-1]
        if len(group) == 1 and first.type != "ERROR" and not first.is_missing:
            return first
        raw = self.data[first.start_byte:last.end_byte]
        if _TYPE_ARG.fullmatch(raw) is None:
            self._xerr += 1
        return Opaque(raw.decode("utf-8", "replace"), self.span2(first, last))

    def _e_call(self, node, depth, push, out) -> None:
        fn = node.child_by_field_name("function")
        direct = fn is not None and fn.type == "identifier"
        args = self._arg_nodes(node.child_by_field_name("arguments"))
        push((_B, node, self.b_call, len(args) + (0 if direct else 1),
              self.text(fn) if direct else None))
        for a in reversed(args):
            push((_E, a, depth + 1) if not isinstance(a, Opaque) else (_V, a))
        if not direct:
            push((_E, fn, depth + 1))

    # ------------------------------------------------------------------ statements
    def _stmt(self, node, depth, tail, push, out) -> None:
        if tail is not None and tail[0] == "loose":
            push((_B, node, self._b_loose, 1, tail[2]))
            self._push_units(node, tail[1], depth + 1, push, self.b_block)
            return
        t = node.type
        if depth > MAX_DEPTH:
            self.degraded += 1
            out.append([OpaqueStmt(self.text(node), True, self.span(node))])
            return
        if t == "compound_statement":
            self._s_block(node, depth, None, push, out)
            return
        h = self._handlers_s.get(t)
        if h is None:
            if t == "function_definition":
                # a function inside a body: unbalanced braces above it (or a GNU nested
                # function); it is read as a function of its own
                self._nested.append(node)
                self.degraded += 1
                out.append([OpaqueStmt(self.text(node).split("{", 1)[0].strip(), True,
                                       self.span(node))])
            elif t == "macro_type_specifier":
                # ``kfree(container_of(p, struct x, m));`` read as a type
                out.append([ExprStmt(self._type_as_expr(node, depth), self.span(node))])
            elif t in _SKIP_STMTS:
                out.append([])
            elif t == "ERROR" or node.is_missing:
                self.degraded += 1
                out.append([OpaqueStmt(self.text(node), True, self.span(node))])
            else:
                out.append([OpaqueStmt(self.text(node), False, self.span(node))])
            return
        # Guard: damage in this statement's own parts degrades it as a whole.
        push((_B, node, self._b_guard, 1, (self._xerr, self.degraded)))
        if node.has_error and t not in _NO_SCAN:
            self._scan(node)
        h(node, depth, tail, push, out)

    def _type_as_expr(self, node, depth: int):
        """A call that tree-sitter read as a type (``f(g(a, struct x, b))``)."""
        t = node.type
        if depth > MAX_DEPTH:
            self.degraded += 1
        elif t == "macro_type_specifier":
            name = node.child_by_field_name("name")
            arg = node.child_by_field_name("type")
            if name is not None:
                args = (self._type_as_expr(arg, depth + 1),) if arg is not None else ()
                return Call(self.text(name), args, None, self.span(node))
        elif t == "type_identifier" or t == "identifier":
            return Name(self.text(node), self.span(node))
        elif t == "type_descriptor" or t == "parameter_declaration":
            ty = node.child_by_field_name("type")
            decl = node.child_by_field_name("declarator")
            if ty is not None and decl is None:
                return self._type_as_expr(ty, depth)
            if ty is not None and decl is not None and decl.type == "abstract_function_declarator":
                plist = decl.child_by_field_name("parameters")
                args = tuple(self._type_as_expr(p, depth + 1) for p in _named(plist)) \
                    if plist is not None else ()
                return Call(self.text(ty), args, None, self.span(node))
        return Opaque(self.text(node), self.span(node))

    def _b_guard(self, node, vals, ctx):
        xerr, degraded = ctx
        if self._xerr > xerr:
            self._xerr = xerr
            m = _DECL_MACRO.match(self.data, node.start_byte, node.end_byte)
            if m is not None:
                # ``static DEFINE_RATELIMIT_STATE(rs, ...);``, ``DECLARE_BITMAP(m, n) = {0};``
                self.degraded = degraded
                return [Decl(m.group(1).decode("ascii"), None, self.span(node))]
            self.degraded = degraded + 1
            return [OpaqueStmt(self.text(node), True, self.span(node))]
        return vals[0]

    def _units(self, stmts: list) -> list:
        """Pair each statement that still needs a body (an iterator macro call with its
        ``;`` missing, possibly at the tail of an ``if``/loop/label) with the statement
        that follows it."""
        res: list = []
        for c in reversed(stmts):
            if res and self._wants_body(c):
                res.append((c, res.pop()))
            else:
                res.append((c, None))
        res.reverse()
        return res

    def _wants_body(self, node) -> bool:
        while node is not None:
            t = node.type
            if t == "expression_statement":
                if not node.has_error:
                    return False
                last = node.child(node.child_count - 1)
                if last is None or not (last.is_missing and last.type == ";"):
                    return False
                e = node.named_child(0) if node.named_child_count else None
                if e is None or e.is_missing:          # ``if (x)`` then ``#ifdef``
                    return True
                return self._iter_name(e) is not None
            if t == "if_statement":
                alt = node.child_by_field_name("alternative")
                if alt is not None:
                    kids = _named(alt)
                    node = kids[0] if kids else None
                else:
                    node = node.child_by_field_name("consequence")
            elif t == "while_statement" or t == "for_statement":
                node = node.child_by_field_name("body")
            elif t == "labeled_statement":
                kids = _named(node)
                node = kids[-1] if len(kids) > 1 else None
            else:
                return False
        return False

    def _iter_name(self, e) -> str | None:
        if e.type != "call_expression":
            return None
        fn = e.child_by_field_name("function")
        if fn is None or fn.type != "identifier":
            return None
        name = self.text(fn)
        return name if name in self.iterators else None

    def _push_unit(self, unit, depth, push) -> None:
        if unit is None:
            push((_V, []))
        else:
            push((_S, unit[0], depth, unit[1]))

    def _push_units(self, node, stmts, depth, push, builder, ctx=None, extra=0) -> None:
        """Push the build of a statement list (after ``extra`` values pushed next)."""
        units = self._units(stmts)
        push((_B, node, builder, len(units) + extra, ctx))
        for u in reversed(units):
            push((_S, u[0], depth, u[1]))

    def _s_block(self, node, depth, tail, push, out) -> None:
        """compound_statement, and ``#else`` arms (a block of statements)."""
        if node.has_error and node.type == "compound_statement":
            last = node.child(node.child_count - 1)
            if last is not None and last.is_missing and last.type == "}":
                self.errors.append(f"line {last.start_point[0] + 1}: "
                                   "unbalanced braces: body read up to the end of file")
        self._push_units(node, _named(node), depth + 1, push, self.b_block)

    def _b_loose(self, node, vals, span):
        return [Compound(block(vals[0], span).stmts, span)]

    def _s_attributed(self, node, depth, tail, push, out) -> None:
        kids = _named(node)
        last = kids[-1] if kids else None
        if last is None or last.type == "attribute_declaration":
            out.append([])
        else:
            push((_S, last, depth, tail))

    def _s_expr(self, node, depth, tail, push, out) -> None:
        e = None
        for c in node.named_children:
            if c.type != "comment":
                e = c
                break
        if e is None or e.is_missing:
            if tail is not None:                      # ``if (x)`` then ``#ifdef``
                push((_S, tail[0], depth, tail[1]))
            else:
                out.append([])
            return
        t = e.type
        if t == "gnu_asm_expression":
            out.append([OpaqueStmt(self.text(node), False, self.span(node))])
            return
        if t == "call_expression":
            name = self._iter_name(e)
            if name is not None:
                self._iterloop(node, e, name, depth, tail, push)
                return
        push((_B, node, self.b_exprstmt, 1, None))
        push((_E, e, depth + 1))

    def _iterloop(self, node, call, name, depth, tail, push) -> None:
        args = self._arg_nodes(call.child_by_field_name("arguments"))
        last = tail[0] if tail is not None else node
        push((_B, node, self.b_iterloop, len(args) + 1,
              (name, self.span2(node, last), self.span(call))))
        self._push_unit(tail, depth + 1, push)
        for a in reversed(args):
            push((_E, a, depth + 1) if not isinstance(a, Opaque) else (_V, a))

    def _s_decl(self, node, depth, tail, push, out) -> None:
        ty = node.child_by_field_name("type")
        if node.has_error and ty is not None and ty.has_error:
            self._xerr += 1                     # damage in a type swallows statements
        if ty is not None and ty.type == "macro_type_specifier":
            calls = self._macro_then_call(node, ty, depth)
            if calls is not None:
                out.append(calls)
                return
        items = []
        for d in node.children_by_field_name("declarator"):
            value = None
            if d.type == "init_declarator":
                value = d.child_by_field_name("value")
                target = d.child_by_field_name("declarator")
            else:
                target = d
            if target is not None and target.type == "function_declarator":
                continue                           # a prototype, not a variable
            name = self._decl_name(target)
            if name is None:
                continue
            items.append((name, value, d))
        push((_B, node, self.b_decl, sum(v is not None for _, v, _ in items), items))
        for _, value, _ in reversed(items):
            if value is not None:
                push((_E, value, depth + 1))

    def _macro_then_call(self, node, ty, depth):
        """``MACRO(x)\n\tf(y);`` -- a macro call whose ``;`` is missing, then a call --
        reads as the declaration of a function ``f`` of type ``MACRO(x)``."""
        decls = node.children_by_field_name("declarator")
        if not decls or any(d.type != "function_declarator" for d in decls):
            return None
        out = [ExprStmt(self._type_as_expr(ty, depth + 1), self.span(ty))]
        for d in decls:
            fn = d.child_by_field_name("declarator")
            plist = d.child_by_field_name("parameters")
            if fn is None or fn.type != "identifier":
                return None
            args = tuple(self._type_as_expr(p, depth + 2) for p in _named(plist)) \
                if plist is not None else ()
            out.append(ExprStmt(Call(self.text(fn), args, None, self.span(d)), self.span(d)))
        return out

    def _decl_name(self, node) -> str | None:
        """The identifier a declarator declares (through pointers, arrays, parens)."""
        while node is not None:
            t = node.type
            if t in _NAME_TYPES:
                return self.text(node)
            nxt = node.child_by_field_name("declarator")
            if nxt is None:
                for c in node.named_children:
                    if c.type in _NAME_TYPES or c.type in _DECLARATOR_TYPES:
                        nxt = c
                        break
            node = nxt
        return None

    def _s_if(self, node, depth, tail, push, out) -> None:
        cons = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        alt_stmt = None
        if alt is not None:
            kids = _named(alt)
            alt_stmt = kids[0] if kids else None
            if alt.has_error:
                self._scan(alt)
        push((_B, node, self.b_if, 3, None))
        if alt is not None:
            if alt_stmt is None:
                push((_V, []))
            else:
                push((_S, alt_stmt, depth + 1, tail))
            tail = None
        else:
            push((_V, None))
        if cons is None:
            push((_V, []))
        else:
            push((_S, cons, depth + 1, tail))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _s_while(self, node, depth, tail, push, out) -> None:
        macro = self.loops.get(node.start_byte)
        if macro is not None:
            self._s_macro_loop(node, macro, depth, tail, push)
            return
        push((_B, node, self.b_while, 2, None))
        body = node.child_by_field_name("body")
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, tail))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _s_macro_loop(self, node, macro, depth, tail, push) -> None:
        """A ``while`` the prepass spelled for an iterator macro call."""
        cond = node.child_by_field_name("condition")
        args = []
        inner = None
        if cond is not None:
            for c in cond.named_children:
                if c.type != "comment":
                    inner = c
                    break
        if cond is not None and cond.has_error:
            args = self._arg_nodes(cond)
        else:
            while inner is not None and inner.type == "comma_expression":
                args.append(inner.child_by_field_name("left"))
                inner = inner.child_by_field_name("right")
            if inner is not None:
                args.append(inner)
        body = node.child_by_field_name("body")
        push((_B, node, self._b_macro_loop, len(args) + 1, (macro, cond)))
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, tail))
        for a in reversed(args):
            push((_E, a, depth + 1) if not isinstance(a, Opaque) else (_V, a))

    def _b_macro_loop(self, node, vals, ctx):
        macro, cond = ctx
        args = tuple(vals[:-1])
        span = self.span(node)
        body = _one(vals[-1], span)
        call_span = self.span2(node, cond) if cond is not None else span
        m = self.iterators.get(macro)
        if macro in _SCOPED and m is None:
            return [Compound((ExprStmt(Call(macro, args, None, call_span), call_span), body),
                             span)]
        if m is None:
            return [While(Call(macro, args, None, call_span), body, span)]
        return [iter_loop(m, macro, args, body, span, call_span)]

    def _s_do(self, node, depth, tail, push, out) -> None:
        push((_B, node, self.b_do, 2, None))
        push((_E, node.child_by_field_name("condition"), depth + 1))
        body = node.child_by_field_name("body")
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, None))

    def _s_for(self, node, depth, tail, push, out) -> None:
        init = node.child_by_field_name("initializer")
        cond = node.child_by_field_name("condition")
        upd = node.child_by_field_name("update")
        body = node.child_by_field_name("body")
        push((_B, node, self.b_for, 4, None))
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, tail))
        push((_E, upd, depth + 1) if upd is not None else (_V, None))
        push((_E, cond, depth + 1) if cond is not None else (_V, None))
        if init is None:
            push((_V, []))
        elif init.type == "declaration":
            push((_S, init, depth + 1, None))
        else:
            push((_B, init, self.b_exprstmt, 1, None))
            push((_E, init, depth + 1))

    def _s_switch(self, node, depth, tail, push, out) -> None:
        push((_B, node, self.b_switch, 2, None))
        body = node.child_by_field_name("body")
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, None))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _s_case(self, node, depth, tail, push, out) -> None:
        value = node.child_by_field_name("value")
        stmts = []
        colon = None
        ranged = False
        for c in node.children:
            if colon is None:
                if c.type == ":":
                    colon = c
                elif c.type == "ERROR" and b"..." in self.data[c.start_byte:c.end_byte]:
                    ranged = True                       # GNU ``case 0 ... 7:``
                elif c.type == "ERROR" or (c.is_missing and c.type not in _BENIGN_MISSING):
                    self._xerr += 1
            elif c.is_named and c.type != "comment":
                stmts.append(c)
        if ranged and colon is not None:
            first = node.child(1)
            value = Opaque(self.data[first.start_byte:colon.start_byte].decode(
                "utf-8", "replace").strip(), self.span2(first, first))
        self._push_units(node, stmts, depth, push, self.b_case,
                         (value is not None,
                          self.span2(node, colon if colon is not None else node)),
                         1 if value is not None else 0)
        if isinstance(value, Opaque):
            push((_V, value))
        elif value is not None:
            push((_E, value, depth + 1))

    def _s_label(self, node, depth, tail, push, out) -> None:
        label = node.child_by_field_name("label")
        kids = [c for c in _named(node) if c.type != "statement_identifier"]
        push((_B, node, self.b_label, 1,
              Label(self.text(label), self.span(label)) if label is not None else None))
        if kids:
            push((_S, kids[-1], depth, tail))
        else:
            push((_V, []))

    def _s_goto(self, node, depth, tail, push, out) -> None:
        label = node.child_by_field_name("label")
        out.append([Goto(self.text(label) if label is not None else "", self.span(node))])

    def _s_break(self, node, depth, tail, push, out) -> None:
        out.append([Break(self.span(node))])

    def _s_continue(self, node, depth, tail, push, out) -> None:
        out.append([Continue(self.span(node))])

    def _s_return(self, node, depth, tail, push, out) -> None:
        value = None
        for c in node.named_children:
            if c.type != "comment":
                value = c
                break
        if value is None:
            out.append([Return(None, self.span(node))])
            return
        push((_B, node, self.b_return, 1, None))
        push((_E, value, depth + 1))

    def _s_preproc(self, node, depth, tail, push, out) -> None:
        """``#if X`` arms inside a body: an ``If`` on an opaque condition."""
        cond = node.child_by_field_name("condition") or node.child_by_field_name("name")
        alt = node.child_by_field_name("alternative")
        skip = {c.id for c in (cond, alt) if c is not None}
        stmts = [c for c in _named(node) if c.id not in skip]
        directive = node.child(0)
        text = self.text(directive) if directive is not None else "#if"
        if cond is not None:
            text += " " + self.text(cond)
        test = Opaque(text, self.span(cond if cond is not None else node))
        push((_B, node, self._b_preproc, 2, test))
        push((_S, alt, depth + 1, None) if alt is not None else (_V, None))
        self._push_units(node, stmts, depth + 1, push, self.b_block)

    def _b_preproc(self, node, vals, test):
        sp = self.span(node)
        else_ = _one(vals[1], sp) if vals[1] is not None else None
        return [If(test, vals[0][0], else_, sp)]

    # ------------------------------------------------------------------ functions
    def _function(self, node, name=None, params=None, body=None, span=None,
                  static=None, loose=None, damaged=0) -> Function:
        """Lower one function.  ``loose`` is a list of statement nodes standing for a
        body tree-sitter could not close (read from an ERROR node)."""
        if name is None:
            name, params = self._signature(node.child_by_field_name("declarator"))
            body = node.child_by_field_name("body")
        if static is None:
            static = False
            for c in node.children:
                if c.type == "storage_class_specifier" and self.text(c) == "static":
                    static = True
                    break
        self.degraded = 0
        self._xerr = 0
        sp = span or self.span(node)
        if loose is not None:
            compound = self.run(_S, node, 0, ("loose", loose, sp))[0]
        elif body is None:
            compound = Compound((), sp)
        else:
            compound = block(self.run(_S, body), sp)
        return Function(name, tuple(params), self.path, sp, compound,
                        self.degraded + damaged, static)

    def _signature(self, decl) -> tuple[str, list[str]]:
        fdecl = None
        node = decl
        name = None
        while node is not None:
            t = node.type
            if t in _NAME_TYPES:
                name = self.text(node)
                break
            if t == "function_declarator":
                fdecl = node
            nxt = node.child_by_field_name("declarator")
            if nxt is None:
                for c in node.named_children:
                    if c.type in _NAME_TYPES or c.type in _DECLARATOR_TYPES:
                        nxt = c
                        break
            node = nxt
        if name is None:
            name = self.text(decl).split("(")[0].strip() if decl is not None else ""
            name = name or "<anonymous>"
        params: list[str] = []
        plist = fdecl.child_by_field_name("parameters") if fdecl is not None else None
        if plist is not None:
            for p in plist.named_children:
                if p.type != "parameter_declaration":
                    continue
                pn = self._decl_name(p.child_by_field_name("declarator"))
                if pn is not None:
                    params.append(pn)
        return name, params

    def _macro_function(self, stmt, call, body) -> Function:
        """``SYSCALL_DEFINE3(madvise, ...) { ... }`` read as a call then a block."""
        fn = call.child_by_field_name("function")
        al = call.child_by_field_name("arguments")
        params = []
        if al is not None:
            params = [self.text(c) for c in al.named_children if c.type == "identifier"]
        return self._function(stmt, self.text(fn), params, body, self.span2(stmt, body))

    def _macro_call_stmt(self, node):
        """The call of a top-level ``MACRO(...)`` statement missing its ``;``."""
        if node.type != "expression_statement" or not node.has_error:
            return None
        last = node.child(node.child_count - 1)
        if last is None or not (last.is_missing and last.type == ";"):
            return None
        e = node.named_child(0)
        if e is None or e.type != "call_expression":
            return None
        fn = e.child_by_field_name("function")
        return e if fn is not None and fn.type == "identifier" else None

    def source_file(self, root) -> SourceFile:
        functions: list[Function] = []
        degraded = self._items(root.children, functions, reparse=True)
        degraded += sum(f.degraded for f in functions)
        return SourceFile(self.path, tuple(functions), degraded, tuple(self.errors))

    def _error(self, node, message: str) -> None:
        self.errors.append(f"line {node.start_point[0] + 1}: {message}")

    def _items(self, kids, functions: list, reparse: bool) -> int:
        """Read the functions among top-level items (descending into ``#if`` arms and
        ERROR nodes); return the number of damaged top-level items."""
        damaged_items = 0
        work = [(kids, 0, False)]
        while work:
            kids, i, in_error = work.pop()
            if i >= len(kids):
                continue
            c = kids[i]
            t = c.type
            nxt = i + 1
            if t == "function_definition":
                functions.append(self._function(c))
            elif t in _CONTAINERS or t == "ERROR":
                if t == "ERROR":
                    damaged_items += 1
                    self._error(c, "parse error: top-level code read on a best-effort basis")
                work.append((kids, nxt, in_error))
                work.append((c.children, 0, in_error or t == "ERROR"))
                continue
            elif t == "expression_statement":
                call = self._macro_call_stmt(c)
                body = kids[i + 1] if i + 1 < len(kids) else None
                if call is not None and body is not None and body.type == "compound_statement":
                    functions.append(self._macro_function(c, call, body))
                    nxt = i + 2
            elif t == "compound_statement":
                head = self._header_before(kids, i)
                if head is not None:
                    # ``#ifdef X  void f(int a)  #else  void f(int a, int b)  #endif  {``,
                    # or a header swallowed by an ERROR node
                    name, params = self._signature(head)
                    functions.append(self._function(c, name, params, c, self.span2(head, c),
                                                    False))
                    self._error(head, f"function '{name}' read with a damaged or #if'd header")
                else:
                    damaged_items += 1
                    self._error(c, "block outside any function skipped")
            elif in_error and (t == "function_declarator" or t == "call_expression"):
                nxt = self._loose_function(kids, i, functions)
            elif reparse and c.has_error and self.data.find(b"\n{", c.start_byte,
                                                              c.end_byte) >= 0:
                damaged_items += 1
                self._error(c, "parse error: functions inside damaged code re-read")
                self._reparse(c.start_byte, c.end_byte, functions)
            while self._nested:
                functions.append(self._function(self._nested.pop(0)))
            work.append((kids, nxt, in_error))
        return damaged_items

    def _header_before(self, kids, i: int):
        """The function declarator just before a stray top-level block: the previous
        item, its last piece when it is damaged, or the end of the first arm of a
        preprocessor conditional."""
        if i == 0:
            return None
        prev = kids[i - 1]
        for _ in range(32):
            t = prev.type
            if t == "function_declarator":
                return prev
            if t in ("preproc_if", "preproc_ifdef"):
                alt = prev.child_by_field_name("alternative")
                cond = prev.child_by_field_name("condition") or prev.child_by_field_name("name")
                skip = {n.id for n in (alt, cond) if n is not None}
                arm = [k for k in _named(prev) if k.id not in skip]
            elif t in ("declaration", "parameter_declaration"):
                decl = prev.child_by_field_name("declarator")
                node = decl
                while node is not None and node.type != "function_declarator":
                    node = node.child_by_field_name("declarator")
                return decl if node is not None else None
            elif t == "ERROR":
                arm = _named(prev)
            else:
                return None
            if not arm:
                return None
            prev = arm[-1]
        return None

    def _loose_function(self, kids, i: int, functions: list) -> int:
        """Inside an ERROR node: ``head {`` then statements (up to ``}``) or ``head``
        then a block.  Returns the index of the next item to read."""
        head = kids[i]
        if i + 1 >= len(kids):
            return i + 1
        opener = kids[i + 1]
        if head.type == "function_declarator":
            name, params = self._signature(head)
        else:
            fn = head.child_by_field_name("function")
            if fn is None or fn.type != "identifier":
                return i + 1
            name = self.text(fn)
            al = head.child_by_field_name("arguments")
            params = [self.text(a) for a in (al.named_children if al else ())
                      if a.type == "identifier"]
        first = head
        static = False
        for j in range(i - 1, max(i - 4, -1), -1):
            k = kids[j]
            if k.type in ("storage_class_specifier", "primitive_type", "type_identifier",
                          "struct_specifier", "sized_type_specifier", "type_qualifier",
                          "union_specifier", "enum_specifier"):
                first = k
                static = static or self.text(k) == "static"
            else:
                break
        if opener.type == "compound_statement":
            functions.append(self._function(opener, name, params, opener,
                                            self.span2(first, opener), static))
            self._error(head, f"function '{name}' recovered from a parse error")
            return i + 2
        if opener.type != "{":
            return i + 1
        stmts = []
        j = i + 2
        last = opener
        while j < len(kids):
            k = kids[j]
            kt = k.type
            if kt == "}" or (kt == "ERROR" and self.data[k.start_byte:k.end_byte].strip()
                             .startswith(b"}")):
                last = k
                j += 1
                break
            if kt == "function_definition" or (k.start_point[1] == 0 and kt in (
                    "declaration", "function_declarator")):
                break
            if k.is_named and kt not in ("identifier", "comment"):
                stmts.append(k)
            last = k
            j += 1
        sp = self.span2(first, last)
        functions.append(self._function(opener, name, params, None, sp, static,
                                        loose=stmts, damaged=1))
        self._error(head, f"function '{name}' read from damaged source")
        return j

    def _reparse(self, start: int, end: int, functions: list) -> None:
        """Re-read the kernel-style functions (``{`` and ``}`` alone at column 0) inside a
        damaged top-level item, each parsed on its own at its own offsets."""
        data = self.data
        pos = start
        while True:
            brace = data.find(b"\n{", pos, end)
            if brace < 0:
                return
            brace += 1
            close = data.find(b"\n}", brace, len(data))
            if close < 0:
                return
            close += 2
            # the header: back to the end of the previous item
            hstart = data.rfind(b"\n", start, brace - 1) + 1
            while hstart > start:
                prev_end = hstart - 1
                prev_start = data.rfind(b"\n", start, prev_end) + 1
                line = data[prev_start:prev_end].strip()
                if not line or line.endswith((b";", b"}", b"*/")) or line.startswith(b"#"):
                    break
                hstart = prev_start
            if hstart <= start:
                hstart = data.rfind(b"\n", 0, brace - 1) + 1
            region = (_NOT_NL.sub(b" ", self.prepared[:hstart]) + self.prepared[hstart:close]
                      + _NOT_NL.sub(b" ", self.prepared[close:]))
            tree = _parser().parse(region)
            self._items(tree.root_node.children, functions, reparse=False)
            pos = close
