"""The ctypes layer over libclang: the library, its structures and the cursor kinds the
walker dispatches on."""
from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_uint, c_void_p, py_object


class ClangUnavailable(Exception):
    """libclang (the ``libclang`` wheel) cannot be loaded."""


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
            ("clang_getTypeSpelling", [_Type], _String),
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
            ("clang_getEnumConstantDeclValue", [_Cursor], ctypes.c_longlong),
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

    def type_spelling(self, c: _Cursor) -> str:
        return self.string(self.lib.clang_getTypeSpelling(self.lib.clang_getCursorType(c)))

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
_ENUM_DECL, _ENUM_CONSTANT_DECL, _TYPEDEF_DECL = 5, 7, 20
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
