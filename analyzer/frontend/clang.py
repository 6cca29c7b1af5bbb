"""libclang frontend: a translation unit, parsed with its real compile flags, to
:mod:`analyzer.ir` -- the same IR, with the same conventions, as
:mod:`analyzer.frontend.treesitter`.

Entry point: :func:`parse_tu`.  One call parses one ``.c`` file (``data`` may replace its
bytes on disk) and returns a :class:`TUResult`: a :class:`~analyzer.ir.SourceFile` for the
file itself and one for every header the ``headers`` predicate accepts whose function
definitions (``static inline`` helpers of ``mm/internal.h``, say) the TU contains -- the
caller dedups those by (file, function name, line) across TUs --, the error count and
messages, and the absolute paths of every file the TU included (for cache keys).

What is walked: only the bodies of functions *spelled* in the file or in an accepted
header (the ``{`` of the body is a token of that file); the thousands of declarations and
inline functions of other headers are never visited.  A function defined through a macro
whose body follows the call (``SYSCALL_DEFINE3(madvise, ...) { ... }``) is named after the
macro, as tree-sitter names it; its parameters are the real ones.

Conventions shared with tree-sitter (see its module doc): ``Case``/``Label`` markers
flattened into the enclosing ``Compound``; casts, parentheses, implicit conversions and
``__extension__`` dropped; ``sizeof``/``alignof``, initializer lists, compound literals
and ``_Generic`` are ``Opaque``; ``NULL``/``true``/``false`` are ``Literal``; ``a ?: b`` is
``Cond(a, a, b)``; ``asm`` is a non-degraded ``OpaqueStmt``.  Spans are 1-based, columns
count characters, ends are exclusive; a node produced by a macro has the span of the
macro call in the file.

Macros -- the crux of parity.  Clang sees expansions; tree-sitter sees the call.  For
every AST node clang gives the *file range* of its first and last token
(``clang_getFileLocation``: a token from a macro argument maps to where the argument is
spelled, a token from a macro body to the macro's name at the call site).  The file's
own text is lexed once into call sites ``NAME(arg, ...)`` with their argument ranges
(balanced parentheses, strings/comments/directives skipped).  A node whose first token
comes from a macro (its raw location is a macro location) is then classified by that
range alone:

* exactly one identifier: an object-like macro (``NULL``, ``PAGE_SIZE``, ``-EAGAIN``'s
  ``EAGAIN``) or a bare identifier argument -> ``Name`` (``Literal`` for NULL/true/false);
* inside one argument range of the innermost call site containing it: spelled code of an
  argument -> lowered normally;
* otherwise it comes from the body of that call site's macro ``M``:
  - ``M`` named in the models (``known_macros``: transparent wrappers, iterators, every
    API the models know, e.g. ``unlikely``, ``READ_ONCE``, ``page_folio``): the outermost
    such node becomes ``Call(M, args)``, each argument being the outermost node of the
    expansion whose file range is exactly that argument's (any of its occurrences: they
    lower alike), or, when the argument does not survive as an expression (a type, a
    member name, a pasted token, an argument the expansion drops), its text: a name, a
    number or a member path as tree-sitter reads them, else ``Opaque``;
  - an iterator macro of the models at the head of a statement whose range runs past the
    call (the loop body follows it) -> ``IterLoop`` whose body is the outermost node
    spelled after the call (so ``for (...) if (skip) ; else BODY`` expansions work);
  - any other macro: clang's expansion, lowered precisely (a statement-expression macro
    becomes a ``StmtExpr``, ``do { } while (0)`` a ``DoWhile``) with the call's span.

Why not the preprocessing record: ``PARSE_DETAILED_PROCESSING_RECORD`` lists every
expansion of every header (hundreds of thousands per kernel TU) and still needs the
argument ranges lexed; the file ranges clang gives each node, plus one lexing pass over the
analyzed file, carry the same information at no parse cost.  Why not re-parse argument
text: the argument nodes already exist, typed and resolved, in the expansion.

Other choices: ``__builtin_expect(a, b)`` (from macros the models do not know) is its
value ``a``; object-like macros read as spelled (``Name``); a ``for`` whose header comes
from a macro has its absent parts found through clang's printer; GNU ``case a ... b:`` is
an ``Opaque`` value; a comma expression is right-nested, as tree-sitter nests it.

Cost: the walk reads, for each AST node of a walked body, its extent; a location in an
analyzed file is decoded from clang's raw encoding (``file start + offset``), so only
macro locations cost a call.  Header functions are lowered once per process (keyed on
the header's size and mtime, the function's extent and the models), not once per TU.
``relevant`` skips definitions that cannot matter (see :func:`parse_tu`).

Known limits: only the preprocessor branch the flags select is seen (tree-sitter reads
every ``#if`` arm); a macro whose body reorders its arguments' operators (unparenthesized
``#define M(a) a * 2`` called as ``M(x + 1)``) makes that argument text, not an
expression; known macros used inside the *body* of another macro are part of that
macro's expansion; an argument split by ``#ifdef`` lines is matched by text only; a
header function is lowered as the first TU of a process that includes it sees it (a TU
that defines a macro differently before including the header is not re-lowered).
"""
from __future__ import annotations

import ctypes
import os
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from ctypes import POINTER, byref, c_char_p, c_int, c_uint, c_void_p, py_object
from dataclasses import dataclass, replace
from typing import ClassVar

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
    SourceFile,
    Span,
    Unary,
)
from analyzer.models import IteratorModel

__all__ = ["MAX_DEPTH", "ClangUnavailable", "TUResult", "available", "parse_tu", "under"]

HeaderFilter = Callable[[str], bool] | Collection[str] | None


class ClangUnavailable(Exception):
    """libclang (the ``libclang`` wheel) cannot be loaded."""


@dataclass(frozen=True)
class TUResult:
    """What :func:`parse_tu` returns for one translation unit."""

    files: tuple[SourceFile, ...]          # the main file first, then walked headers
    errors: int                            # error/fatal diagnostics (flag problems apart)
    diagnostics: tuple[str, ...]           # their messages (the first 20)
    includes: tuple[str, ...]              # absolute paths of every included file
    flag_problems: tuple[str, ...] = ()    # "unknown argument" & co: flags clang ignored
    parse_seconds: float = 0.0             # wall time of libclang's parse
    walk_seconds: float = 0.0              # wall time of the lowering
    parse_cpu: float = 0.0                 # the same in CPU time of this process
    walk_cpu: float = 0.0
    skipped: int = 0                       # definitions left out by ``relevant``


def under(paths: Sequence[str]) -> Callable[[str], bool]:
    """A ``headers`` predicate: headers at or under any of ``paths`` (files or dirs)."""
    roots = [os.path.abspath(p) for p in paths]
    dirs = tuple(r.rstrip(os.sep) + os.sep for r in roots if os.path.isdir(r))
    files = frozenset(r for r in roots if not os.path.isdir(r))
    return lambda p: p in files or p.startswith(dirs)


# ====================================================================== ctypes layer
class _Cursor(ctypes.Structure):
    _fields_ = [("kind", c_int), ("xdata", c_int), ("data", c_void_p * 3)]


class _Loc(ctypes.Structure):
    _fields_ = [("ptr_data", c_void_p * 2), ("int_data", c_uint)]


class _Range(ctypes.Structure):
    _fields_ = [("ptr_data", c_void_p * 2), ("begin", c_uint), ("end", c_uint)]


class _String(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("flags", c_uint)]


class _Type(ctypes.Structure):
    _fields_ = [("kind", c_int), ("data", c_void_p * 2)]


_VISITOR = ctypes.CFUNCTYPE(c_int, _Cursor, _Cursor, py_object)
_INCLUSION_VISITOR = ctypes.CFUNCTYPE(None, c_void_p, POINTER(_Loc), c_uint, py_object)


class _Lib:
    """Lean signatures on a private handle of the wheel's libclang (cindex's own function
    objects keep theirs)."""

    def __init__(self):
        try:
            import clang.cindex as ci
            self.ci = ci
            self.index = ci.Index.create()
            lib = ctypes.CDLL(ci.conf.get_filename())
        except Exception as exc:
            raise ClangUnavailable(f"libclang cannot be loaded: {exc}") from None
        sig = [
            ("clang_visitChildren", [_Cursor, _VISITOR, py_object], c_uint),
            ("clang_getCursorExtent", [_Cursor], _Range),
            ("clang_getCursorLocation", [_Cursor], _Loc),
            ("clang_getFileLocation", [_Loc, POINTER(c_void_p), POINTER(c_uint),
                                       POINTER(c_uint), POINTER(c_uint)], None),
            ("clang_getCursorSpelling", [_Cursor], _String),
            ("clang_getCString", [_String], c_char_p),
            ("clang_disposeString", [_String], None),
            ("clang_getFileName", [c_void_p], _String),
            ("clang_getCursorBinaryOperatorKind", [_Cursor], c_int),
            ("clang_getCursorUnaryOperatorKind", [_Cursor], c_int),
            ("clang_Cursor_getVarDeclInitializer", [_Cursor], _Cursor),
            ("clang_getCursorType", [_Cursor], _Type),
            ("clang_getCanonicalType", [_Type], _Type),
            ("clang_Cursor_getStorageClass", [_Cursor], c_int),
            ("clang_isCursorDefinition", [_Cursor], c_uint),
            ("clang_Cursor_Evaluate", [_Cursor], c_void_p),
            ("clang_EvalResult_getKind", [c_void_p], c_int),
            ("clang_EvalResult_getAsLongLong", [c_void_p], ctypes.c_longlong),
            ("clang_EvalResult_dispose", [c_void_p], None),
            ("clang_getCursorPrintingPolicy", [_Cursor], c_void_p),
            ("clang_PrintingPolicy_dispose", [c_void_p], None),
            ("clang_getCursorPrettyPrinted", [_Cursor, c_void_p], _String),
            ("clang_getTranslationUnitCursor", [c_void_p], _Cursor),
            ("clang_getInclusions", [c_void_p, _INCLUSION_VISITOR, py_object], None),
            ("clang_getFile", [c_void_p, c_char_p], c_void_p),
            ("clang_getLocationForOffset", [c_void_p, c_void_p, c_uint], _Loc),
        ]
        for name, args, res in sig:
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = res
        self.lib = lib

    def string(self, s: _String) -> str:
        raw = self.lib.clang_getCString(s)
        self.lib.clang_disposeString(s)
        return raw.decode("utf-8", "replace") if raw else ""

    def spelling(self, c: _Cursor) -> str:
        return self.string(self.lib.clang_getCursorSpelling(c))

    def file_name(self, f: int) -> str:
        return self.string(self.lib.clang_getFileName(f))


_LIB: _Lib | None = None


def _lib() -> _Lib:
    global _LIB
    if _LIB is None:
        _LIB = _Lib()
    return _LIB


def available() -> bool:
    """True when libclang can be loaded in this process."""
    try:
        _lib()
    except ClangUnavailable:
        return False
    return True


# ====================================================================== cursor kinds
_UNEXPOSED_EXPR, _DECL_REF, _MEMBER_REF, _CALL = 100, 101, 102, 103
_INT_LIT, _FLOAT_LIT, _IMAG_LIT, _STRING_LIT, _CHAR_LIT = 106, 107, 108, 109, 110
_PAREN, _UNARY, _INDEX, _BINARY, _COMPOUND_ASSIGN, _CONDITIONAL, _CAST = \
    111, 112, 113, 114, 115, 116, 117
_STMT_EXPR = 121
_UNEXPOSED_STMT, _LABEL_STMT, _COMPOUND, _CASE, _DEFAULT, _IF, _SWITCH, _WHILE, _DO, \
    _FOR, _GOTO, _INDIRECT_GOTO, _CONTINUE, _BREAK, _RETURN, _ASM = range(200, 216)
_NULL_STMT, _DECL_STMT = 230, 231
_FUNCTION_DECL, _VAR_DECL, _PARM_DECL = 8, 9, 10
_LABEL_REF = 48
_LITERAL_KINDS = frozenset({_INT_LIT, _FLOAT_LIT, _IMAG_LIT, _STRING_LIT, _CHAR_LIT, 149})
# Kinds whose subtree is never needed (pruned from the tree: type references, nested
# declarations of types, attributes).  ``sizeof`` is kept: a macro argument may survive
# only there (``VM_BUG_ON(cond)`` without CONFIG_DEBUG_VM is ``sizeof(cond)``).
_PRUNE = frozenset({43, 2, 3, 5, 6, 20, 47, 45, 46, 400, 401, 402, 403, 404, 405,
                    406, 407, 408, 409, 410, 411, 417, 438, 439, 440, 441})
_TYPE_POINTER = 101
_SC_STATIC = 3
_MACRO_BIT = 0x80000000

_UNARY_OPS = {1: "post++", 2: "post--", 3: "++pre", 4: "--pre", 7: "+", 8: "-", 9: "~",
              10: "!", 11: "__real__", 12: "__imag__"}
_UO_ADDR, _UO_DEREF, _UO_EXTENSION = 5, 6, 13
_BINARY_OPS = {1: ".*", 2: "->*", 3: "*", 4: "/", 5: "%", 6: "+", 7: "-", 8: "<<", 9: ">>",
               10: "<=>", 11: "<", 12: ">", 13: "<=", 14: ">=", 15: "==", 16: "!=",
               17: "&", 18: "^", 19: "|", 20: "&&", 21: "||", 22: "=", 23: "*=", 24: "/=",
               25: "%=", 26: "+=", 27: "-=", 28: "<<=", 29: ">>=", 30: "&=", 31: "^=",
               32: "|=", 33: ","}
_ASSIGN_OPS = frozenset(range(22, 33))


def _anonymous(field: str) -> bool:
    """The implicit member of an anonymous struct/union (clang names it
    ``struct page::(anonymous at ...)``)."""
    return not field or "(anonymous" in field or "(unnamed" in field


def _is_expr(k: int) -> bool:
    return 100 <= k < 200


def _is_stmt(k: int) -> bool:
    return 100 <= k < 300


# ====================================================================== the file's text
_TOKEN = re.compile(rb"""
    (?P<skip>//[^\n]*|/\*.*?\*/|^[ \t]*\#(?:\\\r?\n|[^\n])*)
  | (?P<lit>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<id>[A-Za-z_$][\w$]*)
  | (?P<num>\.?[0-9](?:[eEpP][+-]|[\w.])*)
  | (?P<p>[(),])
  | (?P<o>\S)
""", re.X | re.S | re.M)
_IDENT = re.compile(rb"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(rb"\.?[0-9](?:[eEpP][+-]|[\w.])*")
_MEMBER_PATH = re.compile(rb"[A-Za-z_$][\w$]*(?:\s*(?:\.|->)\s*[A-Za-z_$][\w$]*)+")
_IDENT_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_IDENT_CHARS = _IDENT_START | frozenset(b"0123456789")
_BLANK = re.compile(rb"(?:\s|//[^\n]*|/\*.*?\*/)*", re.S)
_NOT_CALLS = frozenset(
    b"if while for switch return sizeof typeof __typeof__ __typeof _Alignof alignof "
    b"__alignof__ __alignof _Generic __attribute__ __attribute asm __asm__ __asm volatile "
    b"__volatile__ defined do else case goto _Static_assert static_assert __extension__ "
    b"void char short int long unsigned signed float double _Bool const static inline "
    b"struct union enum __builtin_offsetof __builtin_types_compatible_p".split())
_LITERAL_NAMES = frozenset({"NULL", "true", "false"})
_FOR_KW = re.compile(rb"for\b")
_DEFAULT_KW = re.compile(rb"default\b")


class _Site:
    """A call ``NAME(args)`` spelled in the file (a function or a function-like macro)."""

    __slots__ = ("args", "end", "name", "parent", "start")

    def __init__(self, name: str, start: int, parent: _Site | None):
        self.name = name
        self.start = start
        self.end = start
        self.args: list[tuple[int, int]] = []
        self.parent = parent


class _Text:
    """One analyzed file: its bytes, line table, call sites."""

    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data
        self.ascii = data.isascii()
        starts = [0]
        find = data.find
        i = find(b"\n")
        while i >= 0:
            starts.append(i + 1)
            i = find(b"\n", i + 1)
        self.line_starts = starts
        self.sites: list[_Site] = []
        self.site_starts: list[int] = []
        self.by_start: dict[int, _Site] = {}
        self._lex()

    def _lex(self) -> None:
        data = self.data
        sites = self.sites
        # open parens: [site or None, open_pos, arg_start, last_end]
        stack: list[list] = []
        prev_ident: tuple[int, int] | None = None
        for m in _TOKEN.finditer(data):
            kind = m.lastgroup
            if kind == "skip":
                continue
            s, e = m.span()
            if kind == "p":
                ch = data[s]
                if ch == 40:                                   # (
                    site = None
                    if prev_ident is not None:
                        a, b = prev_ident
                        parent = None
                        for entry in reversed(stack):
                            if entry[0] is not None:
                                parent = entry[0]
                                break
                        site = _Site(data[a:b].decode("ascii", "replace"), a, parent)
                        sites.append(site)
                    elif stack:
                        top = stack[-1]
                        if top[2] is None:
                            top[2] = s
                    stack.append([site, s, None, None])
                elif ch == 41:                                 # )
                    if stack:
                        top = stack.pop()
                        site = top[0]
                        if site is not None:
                            if top[2] is not None:
                                site.args.append((top[2], top[3]))
                            site.end = e
                        if stack:
                            outer = stack[-1]
                            if outer[2] is None:
                                outer[2] = top[1] if site is None else site.start
                            outer[3] = e
                else:                                          # ,
                    if stack:
                        top = stack[-1]
                        if top[0] is not None:
                            if top[2] is not None:
                                top[0].args.append((top[2], top[3]))
                            top[2] = top[3] = None
                prev_ident = None
                continue
            if stack:
                top = stack[-1]
                if top[2] is None:
                    top[2] = s
                top[3] = e
            if kind == "id" and data[s:e] not in _NOT_CALLS:
                prev_ident = (s, e)
            else:
                prev_ident = None
        for site in sites:
            if site.end == site.start:        # unbalanced: up to the end of the file
                site.end = len(data)
        self.site_starts = [s.start for s in sites]
        self.by_start = {s.start: s for s in sites}

    # -- ranges
    def normalize_end(self, fs: int, fe: int) -> int:
        """The end of a node whose last token comes from a macro body: clang maps it to
        the name of the innermost macro call in the file, whose end it really is."""
        data = self.data
        if fe < len(data) and data[fe] in _IDENT_START and (
                fe == 0 or data[fe - 1] not in _IDENT_CHARS):
            site = self.by_start.get(fe)
            if site is not None:
                fe = site.end
            else:
                m = _IDENT.match(data, fe)
                fe = m.end() if m else fe
        return fe if fe >= fs else fs

    def innermost(self, fs: int, fe: int) -> _Site | None:
        i = bisect_right(self.site_starts, fs) - 1
        site = self.sites[i] if i >= 0 else None
        while site is not None and not (site.start <= fs and fe <= site.end):
            site = site.parent
        return site

    def is_ident(self, fs: int, fe: int) -> bool:
        return fe > fs and _IDENT.fullmatch(self.data, fs, fe) is not None

    def text(self, fs: int, fe: int) -> str:
        return self.data[fs:fe].decode("utf-8", "replace")

    def after_blank(self, pos: int) -> int:
        m = _BLANK.match(self.data, pos)        # matches the empty string: never None
        return m.end() if m is not None else pos

    def extend_semicolon(self, fe: int) -> int:
        p = self.after_blank(fe)
        return p + 1 if self.data[p:p + 1] == b";" else fe

    # -- spans
    def _lc(self, off: int) -> tuple[int, int]:
        row = bisect_right(self.line_starts, off) - 1
        start = self.line_starts[row]
        if self.ascii:
            return row + 1, off - start + 1
        prefix = self.data[start:off]
        if prefix.isascii():
            return row + 1, off - start + 1
        return row + 1, len(prefix.decode("utf-8", "replace")) + 1

    def span(self, fs: int, fe: int) -> Span:
        l1, c1 = self._lc(fs)
        l2, c2 = self._lc(fe)
        return Span(self.path, l1, c1, l2, c2)

    def for_parts(self, fs: int) -> tuple[int, int, int] | None:
        """Offsets of the two ``;`` and the ``)`` of a ``for (...)`` spelled at ``fs``."""
        data = self.data
        m = _FOR_KW.match(data, fs)
        if m is None:
            return None
        p = self.after_blank(m.end())
        if data[p:p + 1] != b"(":
            return None
        return _header_parts(data, p)


def _header_parts(data: bytes, p: int) -> tuple[int, int, int] | None:
    """From the ``(`` at ``p``: the two top-level ``;`` and the matching ``)``."""
    depth = 0
    semis: list[int] = []
    for m in _TOKEN.finditer(data, p):
        if m.lastgroup == "skip":
            continue
        ch = data[m.start()]
        if ch == 40:
            depth += 1
        elif ch == 41:
            depth -= 1
            if depth == 0:
                if len(semis) != 2:
                    return None
                return semis[0], semis[1], m.start()
        elif ch == 59 and depth == 1:
            semis.append(m.start())
    return None


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
                 errors_at: list[int], raw_start: int = -1):
        self.L = lib
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
        return Literal(text, span) if text in _LITERAL_NAMES else Name(text, span)

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
        while True:                    # the declarator, as tree-sitter spans it: ``*page``
            p = off
            while p > fs and data[p - 1] in b" \t\n":
                p -= 1
            if p > fs and data[p - 1] == 42:
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
        params = tuple(p for p in (self.L.spelling(c) for c in kids if c.kind == _PARM_DECL)
                       if p)
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
                        self.degraded + errs, static)


# ====================================================================== the TU
_PARSE_OPTIONS = 0x200 | 0x4000        # KeepGoing | IgnoreNonErrorsFromIncludedFiles
_SEVERITY = {0: "ignored", 1: "note", 2: "warning", 3: "error", 4: "fatal error"}
_FLAG_PROBLEM = re.compile(r"unknown argument|unsupported option|argument unused|"
                           r"optimization flag .* is not supported")


def _header_pred(headers: HeaderFilter) -> Callable[[str], bool]:
    if headers is None:
        return lambda p: False
    if callable(headers):
        return headers
    wanted = frozenset(os.path.abspath(h) for h in headers)
    return lambda p: p in wanted


def parse_tu(path: str, args: Sequence[str], iterators: Mapping[str, IteratorModel],
             known_macros: Collection[str] = frozenset(), *, headers: HeaderFilter = None,
             data: bytes | None = None,
             relevant: Collection[str] | None = None) -> TUResult:
    """Parse ``path`` with compile flags ``args`` and lower the functions spelled in it
    (and in the headers ``headers`` accepts: a predicate on absolute paths, or a
    collection of paths; see :func:`under`) to the IR.

    ``iterators`` and ``known_macros`` come from the models (``models.iterators()``,
    ``models.identifiers()``): they decide which macro expansions are mapped back to the
    ``IterLoop``/``Call`` tree-sitter sees.  ``data`` replaces the file's bytes on disk.
    ``relevant`` (optional pre-filter): only definitions whose body text names one of these
    identifiers, or transitively a definition of the TU that does, are lowered; the others
    are counted in ``TUResult.skipped`` (they cannot call a modeled API, nor a helper that
    does, so no checker can find anything in them).
    Raises :class:`ClangUnavailable` without libclang, ``OSError`` when the file cannot be
    read; a TU that fails to parse at all gives an empty main ``SourceFile`` whose
    ``errors`` say why.
    """
    L = _lib()
    ci = L.ci
    given, path = path, os.path.abspath(path)
    if data is None:
        with open(path, "rb") as fh:
            data = fh.read()
    known = frozenset(known_macros) | frozenset(iterators)
    want_header = _header_pred(headers)
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        tu = ci.TranslationUnit.from_source(path, list(args), unsaved_files=[(path, data)],
                                            options=_PARSE_OPTIONS, index=L.index)
    except ci.TranslationUnitLoadError as exc:
        msg = f"{path}: libclang could not parse the file: {exc}"
        return TUResult((SourceFile(given, (), 0, (msg,)),), 1, (msg,), ())
    t1 = time.perf_counter()
    c1 = time.process_time()
    try:
        res = _walk_tu(L, tu, path, given, data, iterators, known, want_header, t1 - t0, t1,
                       relevant)
    finally:
        del tu
    return replace(res, parse_cpu=c1 - c0, walk_cpu=time.process_time() - c1)


#: Lowered header functions and lexed header texts, per process: a static inline helper of
#: ``mm/internal.h`` is lowered once, from the first TU that includes it, not once per TU.
#: Keyed on the header's path, size and mtime (and the function's extent).
_HEADER_FUNCTIONS: dict[tuple, Function | None] = {}
_HEADER_TEXTS: dict[tuple, _Text] = {}
_HEADER_CACHE_MAX = 50_000


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _file_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_size, st.st_mtime_ns)


def _walk_tu(L: _Lib, tu, path: str, given: str, data: bytes, iterators, known, want_header,
             parse_seconds: float, t1: float, relevant=None) -> TUResult:
    lib = L.lib
    norm = os.path.normpath
    main_ptr = lib.clang_getFile(tu.obj, path.encode()) or 0
    # -- diagnostics
    errors = 0
    messages: list[str] = []
    flag_problems: list[str] = []
    error_locs: list[tuple[str, int]] = []
    for d in tu.diagnostics:
        sev = d.severity
        loc = d.location
        if loc.file is None and _FLAG_PROBLEM.search(d.spelling):
            flag_problems.append(d.spelling)
            continue
        if sev < 3:
            continue
        where = ""
        if loc.file is not None:
            where = f"{loc.file.name}:{loc.line}:{loc.column}: "
            error_locs.append((norm(os.path.abspath(loc.file.name)), loc.offset))
        errors += 1
        if len(messages) < 20:
            messages.append(f"{where}{_SEVERITY.get(sev, 'error')}: {d.spelling}")
    # -- included files
    includes: set[int] = set()

    def on_inclusion(f, stack, n, _data):
        if f:
            includes.add(f)

    lib.clang_getInclusions(tu.obj, _INCLUSION_VISITOR(on_inclusion), None)
    names: dict[int, str] = {main_ptr: path} if main_ptr else {}
    for f in includes:
        if f not in names:
            names[f] = norm(os.path.abspath(L.file_name(f)))
    # -- function definitions, by file
    tops: list[_Cursor] = []

    def on_top(c, parent, _data):
        if c.kind == _FUNCTION_DECL:
            tops.append(c)
        return 1

    lib.clang_visitChildren(lib.clang_getTranslationUnitCursor(tu.obj), _VISITOR(on_top), None)
    f_ = c_void_p()
    off_ = c_uint()
    fref, oref = byref(f_), byref(off_)
    loc = _Loc()
    by_file: dict[int, list[tuple[_Cursor, int, int]]] = {}
    accepted: dict[int, bool] = {main_ptr: True} if main_ptr else {}
    # Which file a declaration is in, from the raw encoding of its location: each file
    # (main file, accepted headers) occupies [start, start + size] of clang's location
    # space; macro locations and the rest ask libclang.
    raw_start: dict[int, int] = {}
    spans: list[tuple[int, int, int]] = []
    for f in [main_ptr] + [f for f in includes if f != main_ptr]:
        if not f or not (f == main_ptr or want_header(names[f])):
            continue
        accepted[f] = True
        lo = lib.clang_getLocationForOffset(tu.obj, f, 0).int_data
        size = len(data) if f == main_ptr else _size(names[f])
        if lo and not lo & _MACRO_BIT and size is not None:
            raw_start[f] = lo
            spans.append((lo, lo + size, f))
    spans.sort()
    starts = [x[0] for x in spans]

    def file_of(raw: int, ptr_data) -> tuple[int, int]:
        if not raw & _MACRO_BIT:
            i = bisect_right(starts, raw) - 1
            if i >= 0 and raw <= spans[i][1]:
                return spans[i][2], raw - spans[i][0]
        loc.ptr_data = ptr_data
        loc.int_data = raw
        lib.clang_getFileLocation(loc, fref, None, None, oref)
        return f_.value or 0, off_.value

    for c in tops:
        ext = lib.clang_getCursorExtent(c)
        f, end = file_of(ext.end, ext.ptr_data)
        ok = accepted.get(f)
        if ok is None:
            if f not in names:
                names[f] = norm(os.path.abspath(L.file_name(f))) if f else ""
            ok = accepted[f] = bool(f) and want_header(names[f])
        if ok and lib.clang_isCursorDefinition(c):
            by_file.setdefault(f, []).append((c, file_of(ext.begin, ext.ptr_data)[1], end))
    # -- lower
    files: list[SourceFile] = []
    order = ([main_ptr] if main_ptr else []) + sorted(
        (f for f in by_file if f != main_ptr), key=lambda f: names[f])
    if len(_HEADER_FUNCTIONS) > _HEADER_CACHE_MAX:
        _HEADER_FUNCTIONS.clear()
        _HEADER_TEXTS.clear()
    texts: dict[int, _Text] = {}
    for f in order:
        fpath = names[f]
        if f == main_ptr:
            texts[f] = _Text(given, data)
            continue
        fkey = _file_key(fpath)
        text = _HEADER_TEXTS.get(fkey) if fkey else None
        if text is None:
            try:
                with open(fpath, "rb") as fh:
                    text = _Text(fpath, fh.read())
            except OSError as exc:
                files.append(SourceFile(fpath, (), 0, (f"{fpath}: cannot read: {exc}",)))
                continue
            if fkey:
                _HEADER_TEXTS[fkey] = text
        texts[f] = text
    keep = _relevant(L, by_file, texts, relevant) if relevant is not None else None
    models_key = hash((known, frozenset(iterators.items())))
    skipped = 0
    for f in order:
        text = texts.get(f)
        if text is None:
            continue
        fkey = _file_key(text.path) if f != main_ptr else None
        errs_here = sorted(off for p, off in error_locs if p == names[f])
        w = _Walker(L, text, f, iterators, known, errs_here, raw_start.get(f, -1))
        functions = []
        for c, start, end in by_file.get(f, ()):
            if keep is not None and (f, start) not in keep:
                skipped += 1
                continue
            key = (fkey, start, end, models_key) if fkey and not errs_here else None
            if key is not None and key in _HEADER_FUNCTIONS:
                fn = _HEADER_FUNCTIONS[key]
            else:
                fn = w.function(c)
                if key is not None:
                    _HEADER_FUNCTIONS[key] = fn
            if fn is not None:
                functions.append(fn)
        problems = tuple(messages) if f == main_ptr else ()
        files.append(SourceFile(text.path, tuple(functions),
                                sum(x.degraded for x in functions), problems))
    if not main_ptr:
        files.insert(0, SourceFile(given, (), 0, tuple(messages)))
    inc = tuple(sorted(names[f] for f in includes if f != main_ptr and names.get(f)))
    return TUResult(tuple(files), errors, tuple(messages), inc, tuple(flag_problems),
                    parse_seconds, time.perf_counter() - t1, skipped=skipped)


def _relevant(L: _Lib, by_file, texts, relevant: Collection[str]) -> set[tuple[int, int]]:
    """(file, start) of the definitions whose body names one of ``relevant`` or,
    transitively, another such definition of the TU."""
    wanted = {r.encode() for r in relevant}
    bodies: dict[tuple[int, int], set[bytes]] = {}
    name_of: dict[tuple[int, int], bytes] = {}
    for f, defs in by_file.items():
        text = texts.get(f)
        if text is None:
            continue
        for c, start, end in defs:
            bodies[(f, start)] = set(_IDENT.findall(text.data, start, end))
            name_of[(f, start)] = L.spelling(c).encode()
    keep = {k for k, ids in bodies.items() if ids & wanted}
    names = {name_of[k] for k in keep}
    while True:
        more = {k for k, ids in bodies.items() if k not in keep and ids & names}
        if not more:
            return keep
        keep |= more
        names |= {name_of[k] for k in more}
