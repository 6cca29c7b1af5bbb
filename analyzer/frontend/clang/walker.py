"""The walker: lowers the function bodies of one file of a TU (libclang node kinds to
the IR, through :mod:`analyzer.frontend.lower`)."""
from __future__ import annotations

from collections.abc import Mapping
from ctypes import byref, c_uint, c_void_p
from typing import ClassVar

from analyzer.frontend.clang.libclang import (
    _ASM,
    _ASSIGN_OPS,
    _BINARY,
    _BINARY_OPS,
    _BREAK,
    _CALL,
    _CASE,
    _CAST,
    _COMPOUND,
    _COMPOUND_ASSIGN,
    _CONDITIONAL,
    _CONTINUE,
    _DECL_REF,
    _DECL_STMT,
    _DEFAULT,
    _DO,
    _FOR,
    _FUNCTION_DECL,
    _GOTO,
    _IF,
    _INDEX,
    _INDIRECT_GOTO,
    _INT_LIT,
    _LABEL_REF,
    _LABEL_STMT,
    _LITERAL_KINDS,
    _MACRO_BIT,
    _MEMBER_REF,
    _NULL_STMT,
    _PAREN,
    _PARM_DECL,
    _PRUNE,
    _RETURN,
    _SC_STATIC,
    _STMT_EXPR,
    _STRING_LIT,
    _SWITCH,
    _TYPE_POINTER,
    _UNARY,
    _UNARY_OPS,
    _UNEXPOSED_EXPR,
    _UNEXPOSED_STMT,
    _UO_ADDR,
    _UO_DEREF,
    _UO_EXTENSION,
    _VAR_DECL,
    _VISITOR,
    _WHILE,
    _anonymous,
    _Cursor,
    _is_expr,
    _is_stmt,
    _Lib,
    _Loc,
)
from analyzer.frontend.clang.text import (
    _DEFAULT_KW,
    _IDENT,
    _LITERAL_NAMES,
    _MEMBER_PATH,
    _NUMBER,
    _header_parts,
    _Site,
    _Text,
)
from analyzer.frontend.lower import MAX_DEPTH, Lowering
from analyzer.frontend.lower import B as _B
from analyzer.frontend.lower import E as _E
from analyzer.frontend.lower import S as _S
from analyzer.frontend.lower import V as _V
from analyzer.frontend.lower import one as _one
from analyzer.ir import (
    NO_SPAN,
    AddrOf,
    Assign,
    Binary,
    Break,
    Call,
    Compound,
    Continue,
    Deref,
    Expr,
    ExprStmt,
    Function,
    Goto,
    Label,
    Literal,
    Member,
    Name,
    Opaque,
    OpaqueStmt,
    Return,
    Span,
    Unary,
)
from analyzer.models import IteratorModel


# ====================================================================== the tree
class _N:
    """An AST node of a walked body: its cursor, kind, children; its file range is
    computed on demand."""

    __slots__ = ("c", "k", "kids", "r")

    def __init__(self, c: _Cursor, k: int):
        self.c = c
        self.k = k
        self.kids: list[_N] = []
        self.r: tuple | None = None


_IDENT_SITE = object()        # classification: the node is exactly one identifier


class _Walker(Lowering):
    """Lowers the function bodies of one file of a TU."""

    def __init__(self, lib: _Lib, text: _Text, file_ptr: int,
                 iterators: Mapping[str, IteratorModel], known: frozenset[str],
                 errors_at: list[int], raw_start: int = -1,
                 constants: Mapping[str, int] | None = None):
        self.L = lib
        self.constants = constants or {}      # the file's enumeration constants
        self.lib = lib.lib
        self.t = text
        self.fp = file_ptr
        # a file location of this file is encoded as ``raw_start + offset`` (clang's
        # SourceLocation encoding): no call into libclang to read it
        self.raw_lo = raw_start
        self.raw_hi = raw_start + len(text.data) if raw_start >= 0 else -1
        self.iterators = iterators
        self.known = known
        self.errors_at = errors_at
        self._f = c_void_p()
        self._off = c_uint()
        self._fref = byref(self._f)
        self._oref = byref(self._off)
        self._loc = _Loc()
        self._getloc = self.lib.clang_getFileLocation
        self.degraded = 0
        self.emitted: set[int] = set()

    # ------------------------------------------------------------------ tree building
    def tree(self, cursor: _Cursor) -> _N:
        root = _N(cursor, cursor.kind)
        stack: list[tuple[bytes, _N]] = [(bytes(cursor), root)]
        prune = _PRUNE

        def visit(c, parent, _data):
            pk = bytes(parent)
            while len(stack) > 1 and stack[-1][0] != pk:
                stack.pop()
            k = c.kind
            n = _N(c, k)
            stack[-1][1].kids.append(n)
            if k in prune:
                return 1                      # CXChildVisit_Continue
            stack.append((bytes(c), n))
            return 2                          # CXChildVisit_Recurse

        cb = _VISITOR(visit)
        self.lib.clang_visitChildren(cursor, cb, None)
        return root

    def children(self, cursor: _Cursor) -> list[_Cursor]:
        out: list[_Cursor] = []

        def visit(c, parent, _data):
            out.append(c)
            return 1

        self.lib.clang_visitChildren(cursor, _VISITOR(visit), None)
        return out

    # ------------------------------------------------------------------ ranges
    def _floc(self, ptr_data, raw: int) -> tuple[int, int]:
        if self.raw_lo <= raw <= self.raw_hi:
            return self.fp, raw - self.raw_lo
        loc = self._loc
        loc.ptr_data = ptr_data
        loc.int_data = raw
        self._getloc(loc, self._fref, None, None, self._oref)
        return self._f.value or 0, self._off.value

    def rng(self, n: _N) -> tuple:
        """(fs, fe, from_macro, in_file) of ``n``: its file range (normalized)."""
        r = n.r
        if r is None:
            ext = self.lib.clang_getCursorExtent(n.c)
            f1, fs = self._floc(ext.ptr_data, ext.begin)
            f2, fe = self._floc(ext.ptr_data, ext.end)
            macro = bool(ext.begin & _MACRO_BIT)
            if ext.end & _MACRO_BIT:
                fe = self.t.normalize_end(fs, fe)
            ok = f1 == self.fp and f2 == self.fp
            if fe < fs:
                fe = fs
            n.r = r = (fs, fe, macro, ok)
        return r

    def site(self, n: _N):
        """None (spelled in the file or an argument), ``_IDENT_SITE``, or the
        :class:`_Site` whose macro body ``n`` comes from."""
        fs, fe, macro, ok = self.rng(n)
        if not macro or not ok:
            return None
        t = self.t
        if t.is_ident(fs, fe):
            return _IDENT_SITE
        s = t.innermost(fs, fe)
        if s is None:
            return None
        for a, b in s.args:
            if a <= fs and fe <= b:
                return None
        return s

    def span(self, n: _N) -> Span:
        fs, fe, macro, ok = self.rng(n)
        if not ok:
            return NO_SPAN
        if macro:
            s = self.site(n)
            if isinstance(s, _Site):
                return self.t.span(s.start, s.end)
        return self.t.span(fs, fe)

    def stmt_span(self, n: _N) -> Span:
        fs, fe, macro, ok = self.rng(n)
        if not ok:
            return NO_SPAN
        if macro:
            s = self.site(n)
            if isinstance(s, _Site):
                fs, fe = s.start, s.end
        return self.t.span(fs, self.t.extend_semicolon(fe))

    def text(self, n: _N) -> str:
        fs, fe, macro, ok = self.rng(n)
        if not ok:
            return ""
        if macro:
            s = self.site(n)
            if isinstance(s, _Site):
                return self.t.text(s.start, s.end)
        return self.t.text(fs, fe)

    # ------------------------------------------------------------------ the machine
    # ------------------------------------------------------------------ expressions
    @staticmethod
    def _expr_kids(n: _N) -> list[_N]:
        return [c for c in n.kids if _is_stmt(c.k)]

    def _callee_name(self, n: _N) -> str | None:
        """The called name of a CALL_EXPR when it is a plain identifier."""
        if not n.kids:
            return None
        c = n.kids[0]
        while c.k == _UNEXPOSED_EXPR and len(c.kids) == 1:
            c = c.kids[0]
        if c.k == _DECL_REF:
            fs, fe, macro, ok = self.rng(c)
            if macro and ok and self.t.is_ident(fs, fe):
                return self.t.text(fs, fe)          # ``alias(x)``: as spelled
            return self.L.spelling(c.c)
        return None

    def _name(self, text: str, span: Span):
        return Literal(text, span) if text in _LITERAL_NAMES else Name(
            text, span, self.constants.get(text))

    def _expr(self, n: _N, depth: int, push, out) -> None:
        while True:
            if depth > MAX_DEPTH:
                self.degraded += 1
                out.append(Opaque(self.text(n), self.span(n)))
                return
            k = n.k
            fs, fe, macro, ok = self.rng(n)
            if macro and ok:
                s = self.site(n)
                if s is _IDENT_SITE:
                    out.append(self._name(self.t.text(fs, fe), self.t.span(fs, fe)))
                    return
                if s is not None and s.name in self.known and not (
                        k == _CALL and self._callee_name(n) == s.name):
                    self._macro_call(n, s, depth, push)
                    return
            if k in (_PAREN, _CAST):
                kids = self._expr_kids(n)
                if not kids:
                    break
                n = kids[-1]
                continue
            if k == _UNEXPOSED_EXPR:
                kids = self._expr_kids(n)
                if len(kids) == 1 and kids[0].k != _COMPOUND:
                    n = kids[0]
                    continue
                break
            if k == _UNARY and self.lib.clang_getCursorUnaryOperatorKind(n.c) == _UO_EXTENSION:
                kids = self._expr_kids(n)
                if kids:
                    n = kids[0]
                    continue
            if k == _CALL and len(n.kids) >= 2 and self._callee_name(n) == "__builtin_expect":
                n = n.kids[1]                  # its value is its first argument's
                continue
            break
        k = n.k
        if k == _DECL_REF:
            out.append(self._name(self.L.spelling(n.c), self.span(n)))
        elif k == _CALL:
            self._call(n, depth, push)
        elif k == _MEMBER_REF:
            self._member(n, depth, push, out)
        elif k == _UNARY:
            kids = self._expr_kids(n)
            op = self.lib.clang_getCursorUnaryOperatorKind(n.c)
            if not kids:
                out.append(Opaque(self.text(n), self.span(n)))
                return
            push((_B, n, self._b_unary, 1, op))
            push((_E, kids[0], depth + 1))
        elif k in (_BINARY, _COMPOUND_ASSIGN):
            kids = self._expr_kids(n)
            if len(kids) != 2:
                out.append(Opaque(self.text(n), self.span(n)))
                return
            op = self.lib.clang_getCursorBinaryOperatorKind(n.c)
            push((_B, n, self._b_binary, 2, op))
            push((_E, kids[1], depth + 1))
            push((_E, kids[0], depth + 1))
        elif k == _CONDITIONAL:
            kids = self._expr_kids(n)
            if len(kids) != 3:
                out.append(Opaque(self.text(n), self.span(n)))
                return
            push((_B, n, self.b_cond, 3, None))
            for c in reversed(kids):
                push((_E, c, depth + 1))
        elif k == _INDEX:
            kids = self._expr_kids(n)
            if len(kids) != 2:
                out.append(Opaque(self.text(n), self.span(n)))
                return
            push((_B, n, self.b_index, 2, None))
            push((_E, kids[1], depth + 1))
            push((_E, kids[0], depth + 1))
        elif k in _LITERAL_KINDS:
            out.append(self._literal(n))
        elif k == _STMT_EXPR or (k == _UNEXPOSED_EXPR and len(n.kids) == 1
                                 and n.kids[0].k == _COMPOUND):
            push((_B, n, self.b_stmtexpr, 1, None))
            push((_S, n.kids[0], depth + 1, None))
        elif k == _UNEXPOSED_EXPR and self._is_elvis(n):
            kids = self._expr_kids(n)
            push((_B, n, self.b_cond, 2, None))
            push((_E, kids[3], depth + 1))
            push((_E, kids[0], depth + 1))
        else:
            out.append(Opaque(self.text(n), self.span(n)))

    def _is_elvis(self, n: _N) -> bool:
        """GNU ``a ?: b`` (BinaryConditionalOperator): common, cond, true, false."""
        kids = self._expr_kids(n)
        if len(kids) != 4:
            return False
        r0 = self.rng(kids[0])[:2]
        return self.rng(kids[1])[:2] == r0 and self.rng(kids[2])[:2] == r0

    def _b_unary(self, n, vals, op):
        sp = self.span(n)
        if op == _UO_ADDR:
            return AddrOf(vals[0], sp)
        if op == _UO_DEREF:
            return Deref(vals[0], sp)
        sym = _UNARY_OPS.get(op, "?")
        v = vals[0]
        if (sym in ("-", "+") and isinstance(v, Literal) and v.text[:1].isdigit()
                and self.text(n) == sym + v.text):
            return Literal(sym + v.text, sp)         # ``-1`` is one number, as tree-sitter
        return Unary(sym, v, sp)

    def _b_binary(self, n, vals, op):
        sp = self.span(n)
        sym = _BINARY_OPS.get(op, "?")
        if op in _ASSIGN_OPS:
            return Assign(vals[0], sym, vals[1], sp)
        left, right = vals
        if sym == ",":                       # right-nested, as tree-sitter builds it
            items = [right]
            while isinstance(left, Binary) and left.op == ",":
                items.append(left.right)
                left = left.left
            acc = items[0]
            for item in items[1:]:
                acc = Binary(",", item, acc, Span(sp.file, item.span.line, item.span.col,
                                                  acc.span.end_line, acc.span.end_col))
            return Binary(",", left, acc, sp)
        return Binary(sym, left, right, sp)

    def _literal(self, n: _N):
        s = self.site(n)
        if not isinstance(s, _Site):
            return Literal(self.text(n), self.span(n))
        # a literal of a macro body: its value (the file only has the macro call)
        text = "?"
        if n.k == _INT_LIT:
            res = self.lib.clang_Cursor_Evaluate(n.c)
            if res:
                if self.lib.clang_EvalResult_getKind(res) == 1:
                    text = str(self.lib.clang_EvalResult_getAsLongLong(res))
                self.lib.clang_EvalResult_dispose(res)
        elif n.k == _STRING_LIT:
            text = self.L.spelling(n.c)
        return Literal(text, self.span(n))

    def _member(self, n: _N, depth: int, push, out) -> None:
        field = self.L.spelling(n.c)
        kids = self._expr_kids(n)
        if not kids:
            out.append(Name(field, self.span(n)))
            return
        base = kids[0]
        arrow = self._is_pointer(base)
        while True:                      # members of anonymous structs/unions: skipped
            b = base
            while b.k == _UNEXPOSED_EXPR and len(b.kids) == 1:
                b = b.kids[0]
            if b.k != _MEMBER_REF or not _anonymous(self.L.spelling(b.c)):
                break
            inner = self._expr_kids(b)
            if not inner:
                break
            arrow = self._is_pointer(inner[0])
            base = inner[0]
        push((_B, n, self._b_member, 1, (field, arrow)))
        push((_E, base, depth + 1))

    def _b_member(self, n, vals, ctx):
        field, arrow = ctx
        return Member(vals[0], field, arrow, self.span(n))

    def _is_pointer(self, n: _N) -> bool:
        ty = self.lib.clang_getCanonicalType(self.lib.clang_getCursorType(n.c))
        return ty.kind == _TYPE_POINTER

    def _call(self, n: _N, depth: int, push) -> None:
        callee = self._callee_name(n)
        args = [c for c in n.kids[1:] if _is_stmt(c.k)]
        push((_B, n, self.b_call, len(args) + (0 if callee is not None else 1), callee))
        for a in reversed(args):
            push((_E, a, depth + 1))
        if callee is None:
            push((_E, n.kids[0], depth + 1) if n.kids else (_V, Opaque("")))

    # -- a macro named in the models: back to the call tree-sitter sees
    def _find_args(self, root: _N, ranges: list[tuple[int, int]],
                   skip: _N | None = None) -> list[_N | None]:
        want = {r: i for i, r in reversed(list(enumerate(ranges)))}
        found: list[_N | None] = [None] * len(ranges)
        left = len(want)
        stack = list(reversed(root.kids))
        while stack and left:
            x = stack.pop()
            if x is skip:
                continue
            fs, fe, _macro, ok = self.rng(x)
            if ok:
                i = want.get((fs, fe))
                if i is not None and found[i] is None:
                    found[i] = x
                    left -= 1
                    continue
            stack.extend(reversed(x.kids))
        return found

    def _arg_text(self, a: int, b: int):
        """A macro argument that is no expression of the expansion, read from its text
        as tree-sitter reads it: a name, a number, a member path (``page.lru``)."""
        t = self.t
        sp = t.span(a, b)
        if t.is_ident(a, b):
            return self._name(t.text(a, b), sp)
        if _NUMBER.fullmatch(t.data, a, b):
            return Literal(t.text(a, b), sp)
        if _MEMBER_PATH.fullmatch(t.data, a, b) is not None:
            expr: Expr | None = None
            arrow = False
            for m in _IDENT.finditer(t.data, a, b):
                if expr is None:
                    expr = Name(m.group().decode(), t.span(m.start(), m.end()))
                else:
                    expr = Member(expr, m.group().decode(), arrow, t.span(a, m.end()))
                arrow = t.data[m.end():b].lstrip().startswith(b"->")
            return expr
        return Opaque(t.text(a, b), sp)

    def _push_args(self, nodes, ranges, depth, push) -> None:
        for node, (a, b) in reversed(list(zip(nodes, ranges))):
            push((_E, node, depth + 1) if node is not None else (_V, self._arg_text(a, b)))

    def _macro_call(self, n: _N, s: _Site, depth: int, push) -> None:
        nodes = self._find_args(n, s.args)
        push((_B, n, self._b_macro_call, len(s.args), s))
        self._push_args(nodes, s.args, depth, push)

    def _b_macro_call(self, n, vals, s):
        return Call(s.name, tuple(vals), None, self.t.span(s.start, s.end))

    # ------------------------------------------------------------------ statements
    def _stmt(self, n: _N, depth: int, tail, push, out) -> None:
        k = n.k
        if depth > MAX_DEPTH:
            self.degraded += 1
            out.append([OpaqueStmt(self.text(n), True, self.span(n))])
            return
        fs, fe, macro, ok = self.rng(n)
        if macro and ok:
            head = self.t.by_start.get(fs)
            if head is not None and head.name in self.iterators and fe > head.end:
                self._iterloop(n, head, depth, push)
                return
            s = self.site(n)
            if s is _IDENT_SITE:
                out.append([ExprStmt(self._name(self.t.text(fs, fe), self.t.span(fs, fe)),
                                     self.stmt_span(n))])
                return
            if isinstance(s, _Site) and s.name in self.known and not (
                    k == _CALL and self._callee_name(n) == s.name):
                if s.start in self.emitted:          # one macro, several statements
                    out.append([])
                    return
                self.emitted.add(s.start)
                push((_B, n, self._b_exprstmt_site, 1, s))
                push((_E, n, depth + 1))
                return
        h = self._stmt_handlers.get(k)
        if h is not None:
            h(self, n, depth, push, out)
        elif _is_expr(k):
            push((_B, n, self.b_exprstmt, 1, None))
            push((_E, n, depth + 1))
        else:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])

    def _b_exprstmt_site(self, n, vals, s):
        t = self.t
        return [ExprStmt(vals[0], t.span(s.start, t.extend_semicolon(s.end)))]

    def _stmts(self, n: _N, kids: list[_N], depth: int, push, builder, ctx=None,
               extra: int = 0) -> None:
        push((_B, n, builder, len(kids) + extra, ctx))
        for c in reversed(kids):
            push((_S, c, depth, None))

    def _s_compound(self, n, depth, push, out) -> None:
        self._stmts(n, [c for c in n.kids if _is_stmt(c.k)], depth + 1, push, self.b_block)

    def _s_decl(self, n, depth, push, out) -> None:
        items = []
        for v in n.kids:
            if v.k != _VAR_DECL:
                continue
            name = self.L.spelling(v.c)
            if not name:
                continue
            init = None
            if self.lib.clang_Cursor_getVarDeclInitializer(v.c).kind not in (0, 70, 71):
                exprs = [c for c in v.kids if _is_stmt(c.k)]
                init = exprs[-1] if exprs else None
            items.append((name, init, v))
        push((_B, n, self.b_decl, sum(i is not None for _, i, _ in items), items))
        for _, init, _ in reversed(items):
            if init is not None:
                push((_E, init, depth + 1))

    def decl_span(self, v: _N) -> Span:
        fs, fe, macro, ok = self.rng(v)
        if not ok:
            return NO_SPAN
        loc = self.lib.clang_getCursorLocation(v.c)
        f, off = self._floc(loc.ptr_data, loc.int_data)
        if macro or f != self.fp or not (fs <= off <= fe):
            return self.span(v)
        data = self.t.data
        # The declarator, as tree-sitter spans it: ``*page``.  libclang's extent of a
        # declarator after a comma (``*page, *tmp``) starts at its name, so the stars are
        # looked for before the extent too (in a declaration only a type, ``,`` or ``(``
        # precedes them: a ``*`` there is the declarator's).
        while True:
            p = off
            while p > 0 and data[p - 1] in b" \t\n":
                p -= 1
            if p > 0 and data[p - 1] == 42:
                off = p - 1
                continue
            break
        return self.t.span(off, fe)

    def _s_if(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if len(kids) < 2:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])
            return
        push((_B, n, self.b_if, 3, None))
        push((_S, kids[2], depth + 1, None) if len(kids) > 2 else (_V, None))
        push((_S, kids[1], depth + 1, None))
        push((_E, kids[0], depth + 1))

    def _s_while(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if len(kids) != 2:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])
            return
        push((_B, n, self.b_while, 2, None))
        push((_S, kids[1], depth + 1, None))
        push((_E, kids[0], depth + 1))

    def _s_do(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if len(kids) != 2:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])
            return
        push((_B, n, self.b_do, 2, None))
        push((_E, kids[1], depth + 1))
        push((_S, kids[0], depth + 1, None))

    def _for_layout(self, n: _N, kids: list[_N]) -> tuple:
        """(init, cond, inc) among the header children (clang omits absent parts)."""
        header = kids[:-1]
        if len(header) == 3:
            return tuple(header)
        if not header:
            return None, None, None
        fs, _fe, macro, ok = self.rng(n)
        parts = self.t.for_parts(fs) if ok and not macro else None
        if parts is not None:
            s1, s2, _rp = parts
            slots: list = [None, None, None]
            for c in header:
                cs = self.rng(c)[0]
                slots[0 if cs < s1 else 1 if cs < s2 else 2] = c
            return tuple(slots)
        return self._for_layout_printed(n, header)

    def _for_layout_printed(self, n: _N, header: list[_N]) -> tuple:
        """A ``for`` produced by a macro: clang's own printing says which parts exist."""
        lib = self.lib
        policy = lib.clang_getCursorPrintingPolicy(n.c)
        text = self.L.string(lib.clang_getCursorPrettyPrinted(n.c, policy)).encode()
        lib.clang_PrintingPolicy_dispose(policy)
        p = text.find(b"(")
        parts = _header_parts(text, p) if p >= 0 else None
        present = [True, True, True]
        if parts is not None:
            s1, s2, rp = parts
            present = [bool(text[p + 1:s1].strip()), bool(text[s1 + 1:s2].strip()),
                       bool(text[s2 + 1:rp].strip())]
        slots: list = [None, None, None]
        it = iter(header)
        for i in range(3):
            if present[i]:
                slots[i] = next(it, None)
        return tuple(slots)

    def _s_for(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if not kids:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])
            return
        init, cond, inc = self._for_layout(n, kids)
        push((_B, n, self.b_for, 4, None))
        push((_S, kids[-1], depth + 1, None))
        push((_E, inc, depth + 1) if inc is not None else (_V, None))
        push((_E, cond, depth + 1) if cond is not None else (_V, None))
        if init is None:
            push((_V, []))
        elif init.k == _DECL_STMT:
            push((_S, init, depth + 1, None))
        else:
            push((_B, init, self.b_init, 1, None))
            push((_E, init, depth + 1))

    def _iterloop(self, n: _N, s: _Site, depth: int, push) -> None:
        body = None
        stack = list(reversed(n.kids))
        while stack:                         # the outermost node spelled after the call
            x = stack.pop()
            if _is_stmt(x.k):
                fs, _fe, _macro, ok = self.rng(x)
                if ok and fs >= s.end:
                    body = x
                    break
            stack.extend(reversed(x.kids))
        nodes = self._find_args(n, s.args, skip=body)
        _fs, fe, _macro, _ok = self.rng(n)
        t = self.t
        ctx = (s.name, t.span(s.start, t.extend_semicolon(fe)), t.span(s.start, s.end))
        push((_B, n, self.b_iterloop, len(s.args) + 1, ctx))
        push((_S, body, depth + 1, None) if body is not None else (_V, []))
        self._push_args(nodes, s.args, depth, push)

    def _s_switch(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if len(kids) != 2:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])
            return
        push((_B, n, self.b_switch, 2, None))
        push((_S, kids[1], depth + 1, None))
        push((_E, kids[0], depth + 1))

    def _case_span(self, n: _N, value_end: int | None) -> Span:
        fs, fe, macro, ok = self.rng(n)
        if not ok or macro:
            return self.span(n)
        p = self.t.after_blank(value_end if value_end is not None else fs)
        colon = self.t.data.find(b":", p)
        end = colon + 1 if 0 <= colon < fe else fe
        return self.t.span(fs, end)

    def _s_case(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if n.k == _DEFAULT:
            fs = self.rng(n)[0]
            m = _DEFAULT_KW.match(self.t.data, fs)
            sp = self._case_span(n, m.end() if m else None)
            push((_B, n, self.b_case, 1, (False, sp)))
            push((_S, kids[-1], depth, None) if kids else (_V, []))
            return
        if len(kids) < 2:
            out.append([OpaqueStmt(self.text(n), False, self.span(n))])
            return
        value_end = self.rng(kids[-2])[1]
        sp = self._case_span(n, value_end)
        push((_B, n, self.b_case, 2, (True, sp)))
        push((_S, kids[-1], depth, None))
        if len(kids) == 3:                      # GNU ``case 0 ... 7:``
            a = self.rng(kids[0])[0]
            push((_V, Opaque(self.t.text(a, value_end), self.t.span(a, value_end))))
        else:
            push((_E, kids[0], depth + 1))

    def _s_label(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        name = self.L.spelling(n.c)
        loc = self.lib.clang_getCursorLocation(n.c)
        f, off = self._floc(loc.ptr_data, loc.int_data)
        sp = self.t.span(off, off + len(name.encode())) if f == self.fp else self.span(n)
        push((_B, n, self.b_label, 1, Label(name, sp)))
        push((_S, kids[-1], depth, None) if kids else (_V, []))

    def _s_goto(self, n, depth, push, out) -> None:
        ref = next((c for c in n.kids if c.k == _LABEL_REF), None)
        label = self.L.spelling(ref.c) if ref is not None else ""
        out.append([Goto(label, self.stmt_span(n))])

    def _s_break(self, n, depth, push, out) -> None:
        out.append([Break(self.stmt_span(n))])

    def _s_continue(self, n, depth, push, out) -> None:
        out.append([Continue(self.stmt_span(n))])

    def _s_return(self, n, depth, push, out) -> None:
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if not kids:
            out.append([Return(None, self.stmt_span(n))])
            return
        push((_B, n, self.b_return, 1, None))
        push((_E, kids[0], depth + 1))

    def _s_null(self, n, depth, push, out) -> None:
        out.append([])

    def _s_asm(self, n, depth, push, out) -> None:
        out.append([OpaqueStmt(self.text(n), False, self.stmt_span(n))])

    def _s_unexposed(self, n, depth, push, out) -> None:
        """Attributed statements (``fallthrough;``): the statement they carry."""
        kids = [c for c in n.kids if _is_stmt(c.k)]
        if kids:
            push((_S, kids[-1], depth, None))
        else:
            out.append([])

    _stmt_handlers: ClassVar[dict] = {
        _COMPOUND: _s_compound, _DECL_STMT: _s_decl, _IF: _s_if, _WHILE: _s_while,
        _DO: _s_do, _FOR: _s_for, _SWITCH: _s_switch, _CASE: _s_case, _DEFAULT: _s_case,
        _LABEL_STMT: _s_label, _GOTO: _s_goto, _INDIRECT_GOTO: _s_asm, _BREAK: _s_break,
        _CONTINUE: _s_continue, _RETURN: _s_return, _NULL_STMT: _s_null, _ASM: _s_asm,
        _UNEXPOSED_STMT: _s_unexposed,
    }

    # ------------------------------------------------------------------ functions
    def function(self, fn: _Cursor) -> Function | None:
        kids = self.children(fn)
        body = next((c for c in reversed(kids) if c.kind == _COMPOUND), None)
        if body is None:
            return None
        ext = self.lib.clang_getCursorExtent(body)
        if ext.begin & _MACRO_BIT:
            return None                      # a body produced by a macro: not spelled here
        f, _ = self._floc(ext.ptr_data, ext.begin)
        if f != self.fp:
            return None
        named = [(p, c) for p, c in ((self.L.spelling(c), c) for c in kids
                                     if c.kind == _PARM_DECL) if p]
        params = tuple(p for p, _ in named)
        # by value: a typedef of a struct, not a pointer (``pmd_t orig``, not ``pmd_t *``)
        types = tuple("" if self._is_pointer(_N(c, _PARM_DECL)) else
                      self.L.type_spelling(c) for _, c in named)
        fnode = _N(fn, _FUNCTION_DECL)
        fs, fe, _macro, _ok = self.rng(fnode)
        name = self.L.spelling(fn)
        loc = self.lib.clang_getCursorLocation(fn)
        if loc.int_data & _MACRO_BIT:        # SYSCALL_DEFINE3(madvise, ...) { ... }
            lf, off = self._floc(loc.ptr_data, loc.int_data)
            site = self.t.by_start.get(off) if lf == self.fp else None
            if site is not None and site.name != name:   # not ``#define f f``
                name = site.name
                if len(site.args) == 1 and self.t.is_ident(*site.args[0]):
                    # ``SYSCALL_DEFINE0(munlockall) {``: tree-sitter reads a function
                    # ``munlockall`` (type SYSCALL_DEFINE0); so does this frontend
                    name = self.t.text(*site.args[0])
        static = self.lib.clang_Cursor_getStorageClass(fn) == _SC_STATIC
        self.degraded = 0
        self.emitted = set()
        root = self.tree(body)
        compound = _one(self.run(_S, root), self.t.span(fs, fe))
        if not isinstance(compound, Compound):
            compound = Compound((compound,), self.t.span(fs, fe))
        errs = sum(1 for off in self.errors_at if fs <= off < fe)
        return Function(name, params, self.t.path, self.t.span(fs, fe), compound,
                        self.degraded + errs, static, types)
