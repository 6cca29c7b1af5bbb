"""tree-sitter-c frontend: raw kernel source to :mod:`analyzer.ir`, no compile flags.

Reads every ``function_definition`` of a file (in every arm of ``#if``/``#else``, so a
function defined in two arms yields two ``Function``s) and lowers its body to the
structured IR.  Conventions the rest of the analyzer relies on:

* ``case X:``/``default:`` become a ``Case`` marker followed, in the switch body's
  ``Compound``, by the statements it labels; ``out: stmt`` becomes ``Label("out")``
  followed by ``stmt`` in the enclosing ``Compound`` (wrapped in a ``Compound`` when the
  parent is not one).  Fall-through and ``goto`` are therefore plain sequence order.
* An iterator macro named in the models (``list_for_each_entry(pos, head, m) body``) is an
  ``IterLoop`` whose ``body`` is the statement after the macro call, wherever tree-sitter
  put it (it parses the call as a statement with a missing ``;``).
* ``#if``/``#ifdef`` inside a body is an ``If`` on ``Opaque("#ifdef X")``: both arms are
  possible paths.  ``#define``/``#include``/... inside a body are dropped.
* A function-like macro wrapping a whole definition (``SYSCALL_DEFINE3(madvise, ...)
  { ... }``), which tree-sitter reads as a call followed by a block, is a ``Function``
  named after the macro, with the macro's plain identifier arguments as ``params``.
* Casts, parentheses and ``__extension__`` are dropped; ``sizeof``, ``offsetof``,
  initializer lists and compound literals are ``Opaque``; a type used as a macro argument
  (``list_first_entry(h, struct page, lru)``) is an ``Opaque`` argument.
* Broken source never loses a function: the smallest statement holding an ``ERROR`` node
  becomes ``OpaqueStmt(degraded=True)`` and is counted in ``Function.degraded``.  A missing
  ``;`` (after a macro call, say) is not damage.  Expressions or statements nested deeper
  than :data:`MAX_DEPTH` become ``Opaque``/``OpaqueStmt`` (counted) so that no consumer
  ever recurses that deep; the walkers here are iterative.

Spans are 1-based; columns count characters (the line prefix decoded as UTF-8 with
replacement), ``end_*`` exclusive.

Known limits: a preprocessor conditional that splits a statement or a function header
(``#ifdef`` between ``if (...)`` and its ``else``) is damage as tree-sitter reads it; a
non-iterator macro followed by a block (``for_each_foo(x) { ... }`` not in the models) is
a call statement followed by an ordinary block, not a loop.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional

import tree_sitter
import tree_sitter_c

from analyzer.ir import (AddrOf, Assign, Binary, Break, Call, Case, Compound, Cond,
                         Continue, Decl, Deref, DoWhile, ExprStmt, For, Function, Goto, If,
                         Index, IterLoop, Label, Literal, Member, Name, Opaque, OpaqueStmt,
                         Return, SourceFile, Span, StmtExpr, Switch, Unary, While)
from analyzer.models import IteratorModel

__all__ = ["parse_source", "MAX_DEPTH"]

#: IR nesting (statements and expressions, from the function body) beyond which a node
#: is replaced by an opaque one, so that recursive consumers (dataclass ``==``/``hash``
#: included) stay far from Python's recursion limit.
MAX_DEPTH = 200

_PARSER: Optional[tree_sitter.Parser] = None


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
    return _Lowerer(path, data, iterators, loops).source_file(tree.root_node)


# ---------------------------------------------------------------------- source prepass
# tree-sitter sees the kernel's macros unexpanded.  Two length-preserving rewrites of the
# bytes it parses (spans and texts still come from the original bytes) remove the two
# most common causes of damage:
#
# * annotations that expand to nothing or to an attribute (``__user``, ``__init``,
#   ``__releases(x)``) are blanked;
# * an iterator macro at the start of a statement, ``list_for_each_entry(p, h, m)``, is
#   spelled ``while              (p, h, m)``, so that its body -- a block or a single
#   statement -- is parsed as a loop body whatever it is.  The lowering turns that
#   ``while`` back into an ``IterLoop`` (or, for a ``*for_each*`` macro not in the models,
#   a ``While`` on the macro call).

_ANNOTATIONS = frozenset((
    "__init __exit __user __kernel __iomem __percpu __rcu __force __nocast __bitwise "
    "__safe __private __must_check __maybe_unused __always_unused __initdata __initconst "
    "__exitdata __meminit __meminitdata __init_memblock __initdata_memblock __ref __refdata "
    "__read_mostly __ro_after_init __always_inline __fastpath_inline noinline __noinline "
    "__cold __hot __weak __pure __used __visible __noreturn __packed __latent_entropy "
    "__randomize_layout __cacheline_aligned __cacheline_aligned_in_smp "
    "____cacheline_aligned ____cacheline_aligned_in_smp __sched notrace noinstr __flatten "
    "__malloc __nocfi __data_racy __attribute_const__ __init_or_module "
    "__no_sanitize_address __no_kmsan_checks __noclone __naked __designated_init "
    "__kprobes __lockfunc __irq_entry __mustcheck"
).split())
_FN_ANNOTATIONS = frozenset((
    "__releases __acquires __must_hold __cond_acquires __cond_releases __aligned __printf "
    "__scanf __section __counted_by __alloc_size __realloc_size __assume_aligned __access "
    "__nonstring __diagnose_as"
).split())
_ANNO_BYTES = frozenset(a.encode() for a in _ANNOTATIONS)
_FN_ANNO_BYTES = frozenset(a.encode() for a in _FN_ANNOTATIONS)
_WORDISH = re.compile(rb"\b(?:__\w+|noinline|notrace|noinstr)\b")
_FN_ARGS = re.compile(rb"[ \t]*\((?:[^()\n]|\([^()\n]*\))*\)")
_LOOPLIKE = b"for_each"            # unknown macros with this in their name are loops
_WORD_END = re.compile(rb"\w*")
_NOT_NL = re.compile(rb"[^\n]")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# ``#ifdef X`` whose arm continues an if/else chain: ``if (a) ...; #ifdef X else if (b)
# ...; #endif else ...``.  Its directive lines are blanked (every arm becomes a branch).
_ELSE_ARM = re.compile(rb"#[ \t]*if(?:n?def)?\b[^\n]*\n(?:[ \t]*(?://[^\n]*)?\n)*[ \t]*else\b")
# ``else`` ending an arm: ``if (a) x(); else\n#endif\n\ty();``.
_DANGLING_ELSE = re.compile(rb"else[ \t]*(?://[^\n]*)?\n([ \t]*#[ \t]*(?:endif|else|elif))\b")
_DIRECTIVE = re.compile(rb"[ \t]*#[ \t]*(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b")
# ``static DEFINE_RATELIMIT_STATE(rs, ...);`` inside a body: the ``static`` is blanked so
# that the macro reads as a call.
_STATIC_DEFINE = re.compile(rb"(static[ \t]+)(?:const[ \t]+)?(?:DEFINE|DECLARE)_\w+\(")


def _line_start(data: bytes, pos: int) -> int:
    return data.rfind(b"\n", 0, pos) + 1


def _at_line_start(data: bytes, pos: int) -> bool:
    """Only blanks between the start of its line and ``pos``."""
    return not data[_line_start(data, pos):pos].strip()


def _in_directive(data: bytes, pos: int) -> bool:
    return data[_line_start(data, pos):pos].lstrip().startswith(b"#")


def _statement_start(data: bytes, pos: int) -> bool:
    """Heuristic: does a statement start at ``pos`` (a macro call that is not part of an
    expression, a declaration or a ``#define``)?"""
    line_start = _line_start(data, pos)
    if data[line_start:pos].lstrip().startswith(b"#"):
        return False
    p = pos
    while True:
        while p > 0 and data[p - 1] in b" \t\r\n\f\v":
            p -= 1
        if p == 0:
            return False
        if data[p - 2:p] == b"*/":
            q = data.rfind(b"/*", 0, p - 2)
            if q < 0:
                return False
            p = q
            continue
        ls = _line_start(data, p)
        c = data.find(b"//", ls, p)
        if c >= 0:
            p = c
            continue
        break
    ch = data[p - 1]
    directive = data[ls:p].lstrip().startswith(b"#")
    if ch in b";{}):":
        return ls < line_start or not directive
    if directive:                       # after ``#endif``: not a ``#define`` continuation
        return ls < line_start and not data[ls:p].rstrip().endswith(b"\\")
    w = p
    while w > 0 and data[w - 1] in _WORD_BYTES:
        w -= 1
    return data[w:p] in (b"else", b"do")


def _blank(data: bytes, buf: bytearray, a: int, b: int) -> None:
    buf[a:b] = _NOT_NL.sub(b" ", data[a:b])


def _blank_conditional(data: bytes, buf: bytearray, start: int) -> None:
    """Blank the ``#if`` line at ``start`` and its ``#elif``/``#else``/``#endif`` lines."""
    depth = 0
    pos = start
    n = len(data)
    while pos < n:
        end = data.find(b"\n", pos)
        if end < 0:
            end = n
        m = _DIRECTIVE.match(data, pos, end)
        if m is not None:
            kind = m.group(1)
            if kind.startswith(b"if"):
                depth += 1
            if depth == 1:
                buf[pos:end] = b" " * (end - pos)
            if kind == b"endif":
                depth -= 1
                if depth == 0:
                    return
        pos = end + 1


def _opening_if(data: bytes, pos: int) -> Optional[int]:
    """Start of the ``#if`` line opening the conditional whose directive line is the one
    starting at ``pos``."""
    depth = 0
    end = pos
    while end > 0:
        start = data.rfind(b"\n", 0, end - 1) + 1
        m = _DIRECTIVE.match(data, start, end)
        if m is not None:
            kind = m.group(1)
            if kind == b"endif":
                depth += 1
            elif kind.startswith(b"if"):
                if depth == 0:
                    return start
                depth -= 1
        if start == 0:
            break
        end = start
    return None


def _iterator_sites(data: bytes, iterators: Mapping[str, IteratorModel]):
    """(start, end, name) of every ``for_each``-like or model iterator macro name that is
    called."""
    n = len(data)
    seen = set()
    starts = [m.start() for m in re.finditer(_LOOPLIKE, data)]
    extra = [name for name in iterators if _LOOPLIKE.decode() not in name]
    for name in extra:
        starts.extend(m.start() for m in re.finditer(re.escape(name.encode()), data))
    for s in sorted(starts):
        a = s
        while a > 0 and data[a - 1] in _WORD_BYTES:
            a -= 1
        if a in seen or (a < n and data[a] in b"0123456789"):
            continue
        seen.add(a)
        b = _WORD_END.match(data, s).end()
        name = data[a:b].decode("ascii", "replace")
        if _LOOPLIKE.decode() not in name and name not in iterators:
            continue
        c = b
        while c < n and data[c] in b" \t":
            c += 1
        if c < n and data[c] == 40 and b - a >= 5:     # "("
            yield a, b, name


def _prepare(data: bytes, iterators: Mapping[str, IteratorModel]) -> tuple[bytes, dict]:
    """The bytes to parse, and the iterator sites: start byte -> macro name."""
    buf = bytearray(data)
    for m in _WORDISH.finditer(data):
        word = m.group()
        a, b = m.span()
        if word in _ANNO_BYTES:
            if not _in_directive(data, a):     # not ``#define __fastpath_inline ...``
                buf[a:b] = b" " * (b - a)
        elif word in _FN_ANNO_BYTES:
            args = _FN_ARGS.match(data, b)
            if args is not None and not _in_directive(data, a):
                _blank(data, buf, a, args.end())
    if b"#" in data and b"else" in data:
        for m in _ELSE_ARM.finditer(data):
            if _at_line_start(data, m.start()):
                _blank_conditional(data, buf, _line_start(data, m.start()))
        for m in _DANGLING_ELSE.finditer(data):
            if m.start() == 0 or data[m.start() - 1] not in _WORD_BYTES:
                start = _opening_if(data, m.start(1))
                if start is not None:
                    _blank_conditional(data, buf, start)
    if b"DEFINE_" in data or b"DECLARE_" in data:
        for m in _STATIC_DEFINE.finditer(data):
            a, b = m.span(1)
            if _at_line_start(data, a) and a > _line_start(data, a):   # indented: in a body
                _blank(data, buf, a, b)
    loops: dict[int, str] = {}
    for a, b, name in _iterator_sites(data, iterators):
        if _statement_start(data, a):
            buf[a:b] = b"while" + b" " * (b - a - 5)
            loops[a] = name
    return bytes(buf), loops


# Task kinds of the explicit-stack walker.
_E, _S, _B, _V = 0, 1, 2, 3

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
_OPAQUE_EXPRS = frozenset({
    "sizeof_expression", "alignof_expression", "offsetof_expression",
    "compound_literal_expression", "initializer_list", "generic_expression",
    "gnu_asm_expression", "type_descriptor",
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


def _one(stmts: list, span: Span):
    """A statement list in a single-statement position."""
    if len(stmts) == 1:
        return stmts[0]
    return Compound(tuple(stmts), span)


def _named(node) -> list:
    return [c for c in node.named_children if c.type != "comment"]


class _Lowerer:
    """Lowers one parsed file.  Every walk uses an explicit stack: a task is visited,
    pushes a build step and its children, and the build step pops the children's values
    (statements yield lists, so labels and cases flatten into the enclosing block)."""

    def __init__(self, path: str, data: bytes, iterators: Mapping[str, IteratorModel],
                 loops: Optional[dict] = None):
        self.path = path
        self.loops = loops or {}
        self.data = data
        self.iterators = iterators
        self.ascii = data.isascii()
        self._line_starts: Optional[list[int]] = None
        self.degraded = 0          # in the current function
        self._xerr = 0             # damage seen in the current statement's own parts
        self.errors: list[str] = []
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
        if self.ascii:
            return Span(self.path, sr + 1, sc + 1, er + 1, ec + 1)
        return Span(self.path, sr + 1, self._col(sr, sc), er + 1, self._col(er, ec))

    def span2(self, first, last) -> Span:
        """From the start of ``first`` to the end of ``last``."""
        a, b = self.span(first), self.span(last)
        return Span(self.path, a.line, a.col, b.end_line, b.end_col)

    # ------------------------------------------------------------------ the machine
    def _run(self, kind: int, node, tail=None):
        stack = [(kind, node, 0, tail)]
        out: list = []
        push, pop = stack.append, stack.pop
        expr, stmt = self._expr, self._stmt
        while stack:
            t = pop()
            k = t[0]
            if k == _B:
                n = t[3]
                if n:
                    vals = out[-n:]
                    del out[-n:]
                else:
                    vals = []
                out.append(t[2](t[1], vals, t[4]))
            elif k == _E:
                expr(t[1], t[2], push, out)
            elif k == _S:
                stmt(t[1], t[2], t[3], push, out)
            else:
                out.append(t[1])
        return out[0]

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
                    push((_B, node, self._b_stmtexpr, 1, None))
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

    def _b_stmtexpr(self, node, vals, ctx):
        return StmtExpr(_one(vals[0], self.span(node)), self.span(node))

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
        push((_B, node, self._b_index, 2, None))
        push((_E, node.child_by_field_name("index"), depth + 1))
        push((_E, node.child_by_field_name("argument"), depth + 1))

    def _b_index(self, node, vals, ctx):
        return Index(vals[0], vals[1], self.span(node))

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
        push((_B, node, self._b_cond, 3 if cons is not None else 2, None))
        push((_E, node.child_by_field_name("alternative"), depth + 1))
        if cons is not None:
            push((_E, cons, depth + 1))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _b_cond(self, node, vals, ctx):
        if len(vals) == 2:                    # GNU ``a ?: b``
            return Cond(vals[0], vals[0], vals[1], self.span(node))
        return Cond(vals[0], vals[1], vals[2], self.span(node))

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
        args = self._arg_nodes(node.child_by_field_name("arguments"))
        direct = fn is not None and fn.type == "identifier"
        push((_B, node, self._b_call, len(args) + (0 if direct else 1),
              self.text(fn) if direct else None))
        for a in reversed(args):
            push((_E, a, depth + 1) if not isinstance(a, Opaque) else (_V, a))
        if not direct:
            push((_E, fn, depth + 1))

    def _b_call(self, node, vals, callee):
        if callee is not None:
            return Call(callee, tuple(vals), None, self.span(node))
        return Call(None, tuple(vals[1:]), vals[0], self.span(node))

    # ------------------------------------------------------------------ statements
    def _stmt(self, node, depth, tail, push, out) -> None:
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
            if t == "macro_type_specifier":
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

    def _iter_name(self, e) -> Optional[str]:
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
                self.errors.append(f"{self.path}:{last.start_point[0] + 1}: "
                                   "unbalanced braces: body read up to the end of file")
        self._push_units(node, _named(node), depth + 1, push, self._b_block)

    def _b_block(self, node, vals, ctx):
        flat = [s for lst in vals for s in lst]
        return [Compound(tuple(flat), self.span(node))]

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
        push((_B, node, self._b_exprstmt, 1, None))
        push((_E, e, depth + 1))

    def _b_exprstmt(self, node, vals, ctx):
        return [ExprStmt(vals[0], self.span(node))]

    def _iterloop(self, node, call, name, depth, tail, push) -> None:
        args = self._arg_nodes(call.child_by_field_name("arguments"))
        last = tail[0] if tail is not None else node
        push((_B, node, self._b_iterloop, len(args) + 1, (name, call, last)))
        self._push_unit(tail, depth + 1, push)
        for a in reversed(args):
            push((_E, a, depth + 1) if not isinstance(a, Opaque) else (_V, a))

    def _b_iterloop(self, node, vals, ctx):
        name, call, last = ctx
        args = tuple(vals[:-1])
        span = self.span2(node, last)
        body = _one(vals[-1], span)
        m = self.iterators[name]
        cursor = args[m.cursor] if m.cursor is not None and 0 <= m.cursor < len(args) else None
        step = None
        if m.step:
            step = Call(m.step, tuple(args[i] for i in m.step_args if 0 <= i < len(args)),
                        None, self.span(call))
        return [IterLoop(name, args, cursor, step, body, span)]

    def _s_decl(self, node, depth, tail, push, out) -> None:
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
        push((_B, node, self._b_decl, sum(v is not None for _, v, _ in items), items))
        for _, value, _ in reversed(items):
            if value is not None:
                push((_E, value, depth + 1))

    def _b_decl(self, node, vals, items):
        out = []
        i = 0
        for name, value, d in items:
            init = None
            if value is not None:
                init = vals[i]
                i += 1
            out.append(Decl(name, init, self.span(d)))
        return out

    def _decl_name(self, node) -> Optional[str]:
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
        push((_B, node, self._b_if, 3, alt is not None))
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

    def _b_if(self, node, vals, has_else):
        sp = self.span(node)
        else_ = _one(vals[2], sp) if vals[2] is not None else None
        return [If(vals[0], _one(vals[1], sp), else_, sp)]

    def _s_while(self, node, depth, tail, push, out) -> None:
        macro = self.loops.get(node.start_byte)
        if macro is not None:
            self._s_macro_loop(node, macro, depth, tail, push)
            return
        push((_B, node, self._b_while, 2, None))
        body = node.child_by_field_name("body")
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, tail))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _b_while(self, node, vals, ctx):
        sp = self.span(node)
        return [While(vals[0], _one(vals[1], sp), sp)]

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
        if m is None:
            return [While(Call(macro, args, None, call_span), body, span)]
        cursor = args[m.cursor] if m.cursor is not None and 0 <= m.cursor < len(args) else None
        step = None
        if m.step:
            step = Call(m.step, tuple(args[i] for i in m.step_args if 0 <= i < len(args)),
                        None, call_span)
        return [IterLoop(macro, args, cursor, step, body, span)]

    def _s_do(self, node, depth, tail, push, out) -> None:
        push((_B, node, self._b_do, 2, None))
        push((_E, node.child_by_field_name("condition"), depth + 1))
        body = node.child_by_field_name("body")
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, None))

    def _b_do(self, node, vals, ctx):
        sp = self.span(node)
        return [DoWhile(_one(vals[0], sp), vals[1], sp)]

    def _s_for(self, node, depth, tail, push, out) -> None:
        init = node.child_by_field_name("initializer")
        cond = node.child_by_field_name("condition")
        upd = node.child_by_field_name("update")
        body = node.child_by_field_name("body")
        push((_B, node, self._b_for, 4, None))
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
            push((_B, init, self._b_exprstmt, 1, None))
            push((_E, init, depth + 1))

    def _b_for(self, node, vals, ctx):
        sp = self.span(node)
        return [For(tuple(vals[0]), vals[1], vals[2], _one(vals[3], sp), sp)]

    def _s_switch(self, node, depth, tail, push, out) -> None:
        push((_B, node, self._b_switch, 2, None))
        body = node.child_by_field_name("body")
        if body is None:
            push((_V, []))
        else:
            push((_S, body, depth + 1, None))
        push((_E, node.child_by_field_name("condition"), depth + 1))

    def _b_switch(self, node, vals, ctx):
        sp = self.span(node)
        return [Switch(vals[0], _one(vals[1], sp), sp)]

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
        self._push_units(node, stmts, depth, push, self._b_case,
                         (value is not None, colon if colon is not None else node),
                         1 if value is not None else 0)
        if isinstance(value, Opaque):
            push((_V, value))
        elif value is not None:
            push((_E, value, depth + 1))

    def _b_case(self, node, vals, ctx):
        has_value, colon = ctx
        if has_value:
            value, vals = vals[0], vals[1:]
        else:
            value = None
        flat = [Case(value, self.span2(node, colon))]
        for lst in vals:
            flat.extend(lst)
        return flat

    def _s_label(self, node, depth, tail, push, out) -> None:
        label = node.child_by_field_name("label")
        kids = [c for c in _named(node) if c.type != "statement_identifier"]
        push((_B, node, self._b_label, 1, label))
        if kids:
            push((_S, kids[-1], depth, tail))
        else:
            push((_V, []))

    def _b_label(self, node, vals, label):
        if label is None:
            return vals[0]
        return [Label(self.text(label), self.span(label))] + vals[0]

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
        push((_B, node, self._b_return, 1, None))
        push((_E, value, depth + 1))

    def _b_return(self, node, vals, ctx):
        return [Return(vals[0], self.span(node))]

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
        self._push_units(node, stmts, depth + 1, push, self._b_block)

    def _b_preproc(self, node, vals, test):
        sp = self.span(node)
        else_ = _one(vals[1], sp) if vals[1] is not None else None
        return [If(test, vals[0][0], else_, sp)]

    # ------------------------------------------------------------------ functions
    def _function(self, node, name=None, params=None, body=None, span=None) -> Function:
        if name is None:
            name, params = self._signature(node.child_by_field_name("declarator"))
            body = node.child_by_field_name("body")
        static = False
        if node.type == "function_definition":
            for c in node.children:
                if c.type == "storage_class_specifier" and self.text(c) == "static":
                    static = True
                    break
        self.degraded = 0
        self._xerr = 0
        sp = span or self.span(node)
        if body is None:
            compound = Compound((), sp)
        else:
            compound = _one(self._run(_S, body), sp)
            if not isinstance(compound, Compound):
                compound = Compound((compound,), sp)
        return Function(name, tuple(params), self.path, sp, compound, self.degraded, static)

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
        top_degraded = 0
        work = [(root.children, 0)]
        while work:
            kids, i = work.pop()
            if i >= len(kids):
                continue
            c = kids[i]
            work.append((kids, i + 1))
            t = c.type
            if t == "function_definition":
                functions.append(self._function(c))
            elif t in _CONTAINERS:
                work.append((c.children, 0))
            elif t == "expression_statement":
                call = self._macro_call_stmt(c)
                nxt = kids[i + 1] if i + 1 < len(kids) else None
                if call is not None and nxt is not None and nxt.type == "compound_statement":
                    functions.append(self._macro_function(c, call, nxt))
                    work[-1] = (kids, i + 2)
            elif t == "ERROR":
                found = self._recover(c)
                if found:
                    functions.extend(found)
                else:
                    top_degraded += 1
                    self.errors.append(f"{self.path}:{c.start_point[0] + 1}: "
                                       "unparsable top-level code skipped")
            elif t == "compound_statement":
                top_degraded += 1
                self.errors.append(f"{self.path}:{c.start_point[0] + 1}: "
                                   "block outside any function skipped")
        degraded = top_degraded + sum(f.degraded for f in functions)
        return SourceFile(self.path, tuple(functions), degraded, tuple(self.errors))

    def _recover(self, err) -> list[Function]:
        """Functions inside a top-level ERROR node: a declarator-like node followed by a
        block.  Anything else there is lost (and reported by the caller)."""
        out: list[Function] = []
        kids = err.children
        for i, c in enumerate(kids):
            t = c.type
            if t == "function_definition":
                out.append(self._function(c))
            elif t == "compound_statement" and i > 0:
                head = kids[i - 1]
                if head.type == "function_declarator":
                    name, params = self._signature(head)
                elif head.type == "call_expression":
                    name = self.text(head.child_by_field_name("function") or head)
                    al = head.child_by_field_name("arguments")
                    params = [self.text(a) for a in (al.named_children if al else ())
                              if a.type == "identifier"]
                else:
                    continue
                start = kids[i - 2] if i >= 2 and kids[i - 2].type != ";" else head
                out.append(self._function(c, name, params, c, self.span2(start, c)))
                self.errors.append(f"{self.path}:{head.start_point[0] + 1}: "
                                   f"function '{name}' recovered from a parse error")
        return out
