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

import os
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from ctypes import byref, c_uint, c_void_p
from dataclasses import dataclass, replace

from analyzer.frontend.clang.libclang import (
    _ENUM_CONSTANT_DECL,
    _ENUM_DECL,
    _FUNCTION_DECL,
    _INCLUSION_VISITOR,
    _MACRO_BIT,
    _TYPEDEF_DECL,
    _VISITOR,
    ClangUnavailable,
    _Cursor,
    _Lib,
    _lib,
    _Loc,
    available,
)
from analyzer.frontend.clang.text import (
    _IDENT,
    _Text,
)
from analyzer.frontend.clang.walker import (
    _Walker,
)
from analyzer.frontend.lower import MAX_DEPTH
from analyzer.ir import (
    Function,
    SourceFile,
)
from analyzer.models import IteratorModel

__all__ = ["MAX_DEPTH", "ClangUnavailable", "TUResult", "available", "parse_tu", "under"]

HeaderFilter = Callable[[str], bool] | Collection[str] | None


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
    enums: list[_Cursor] = []

    def on_top(c, parent, _data):
        if c.kind == _FUNCTION_DECL:
            tops.append(c)
        elif c.kind in (_ENUM_DECL, _TYPEDEF_DECL):
            enums.append(c)
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
    # -- enumeration constants, by file (a function's names resolve to its own file's)
    constants: dict[int, dict[str, int]] = {}

    def on_enum(c, parent, out):
        if c.kind == _ENUM_CONSTANT_DECL:
            out[L.spelling(c)] = lib.clang_getEnumConstantDeclValue(c)
        elif c.kind == _ENUM_DECL:
            lib.clang_visitChildren(c, _VISITOR(on_enum), out)
        return 1

    for c in enums:
        ext = lib.clang_getCursorExtent(c)
        f = file_of(ext.begin, ext.ptr_data)[0]
        if accepted.get(f):                   # typedef enum { ... }: the enum is a child
            lib.clang_visitChildren(c, _VISITOR(on_enum), constants.setdefault(f, {}))
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
        w = _Walker(L, text, f, iterators, known, errs_here, raw_start.get(f, -1),
                    constants.get(f, {}))
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
