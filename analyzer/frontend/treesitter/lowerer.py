"""Statements and expressions: tree-sitter node types to the IR, through
:mod:`analyzer.frontend.lower`."""
from __future__ import annotations

import re
from collections.abc import Mapping

from analyzer.frontend.lower import MAX_DEPTH, Lowering, block, iter_loop
from analyzer.frontend.lower import B as _B
from analyzer.frontend.lower import E as _E
from analyzer.frontend.lower import S as _S
from analyzer.frontend.lower import V as _V
from analyzer.frontend.lower import one as _one
from analyzer.frontend.treesitter.prepare import (
    _SCOPED,
)
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
    Goto,
    If,
    Label,
    Literal,
    Member,
    Name,
    Opaque,
    OpaqueStmt,
    Return,
    Span,
    Unary,
    While,
)
from analyzer.models import IteratorModel

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
        self.constants: dict[str, int] = {}   # the file's enumeration constants
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
            text = self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")
            out.append(Name(text, self.span(node), self.constants.get(text)))
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
        text = self.text(node)
        out.append(Name(text, self.span(node), self.constants.get(text)))

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
        if colon is not None and not ranged and \
                b"..." in self.data[node.start_byte:colon.start_byte]:
            ranged = True                       # the prepass blanked ``... A(3)``
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
