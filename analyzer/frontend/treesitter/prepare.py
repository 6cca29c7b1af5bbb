"""The source prepass: before tree-sitter reads a file, blank what it cannot read (kernel
annotations, attributes, conditional arms that unbalance braces) and spell iterator macro
calls as loops.  Offsets never move: every replacement has the length of what it
replaces."""
from __future__ import annotations

import re
import sys
from bisect import bisect_right
from collections.abc import Mapping
from pathlib import Path

from analyzer.models import IteratorModel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: The kernel annotations and keywords this frontend reads around (data, not code).
KERNEL_TOML = Path(__file__).resolve().parent.parent / "kernel.toml"

# ---------------------------------------------------------------------- source prepass
# tree-sitter sees the kernel's macros and preprocessor conditionals unexpanded.  A few
# length-preserving rewrites of the bytes it parses (every offset, hence every span, is
# unchanged; texts still come from the original bytes) remove the common causes of
# damage in mm/ and virt/kvm/:
#
# * annotations that expand to nothing or to an attribute (``__user``, ``__init``,
#   ``__releases(x)``; listed in ``analyzer/frontend/kernel.toml``) are blanked;
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
# * a macro call on a line of its own at top level with no ``;`` (``module_init(f)``
#   then ``module_exit(g)``), neither the header of a function nor part of an
#   expression, is blanked: tree-sitter would read two of them as one broken declaration;
# * a one-line ``/* comment */`` inside a ``#define`` is blanked (tree-sitter loses the
#   directive's end: ``2 /* offset */ + \``, ``(6 + 1 /* len (0) */)``);
# * ``static DEFINE_...(x, ...)`` inside a body loses its ``static``; in
#   ``offsetof(struct s, a.b[i])`` the designator after ``a`` is blanked;
# * inline assembly keeps ``asm("")`` (the statement is opaque either way, its text the
#   original): templates glued to macros, macros among the operands, ``asm_inline``;
#   an asm label after a declarator is blanked; so is every ``__attribute__((...))``;
# * the assembly arms of ``#ifdef __ASSEMBLY__`` (and a header that ``#error``s unless
#   it is assembled) and GNU as at top level (``.macro`` ... ``.endm``, ``.directive``
#   lines) are blanked;
# * top-level data a macro builds -- ``static DEVICE_ATTR(x, 0444, show, NULL);``,
#   ``EXPORT_SYMBOL(f);``, ``DEFINE_PER_CPU(int, v) = 1;``, ``define_machine(m) { .name
#   = "m", };``, ``X_START(a, "b") .f = v, X_END``, the ``X(a, "b"),`` rows of a header
#   made to be ``#include``d inside a table -- is blanked (the IR holds functions only);
#   a comment spanning lines of a ``#define`` is blanked.
# No rewrite writes into bytes another one blanked.


def _kernel_words() -> dict:
    with open(KERNEL_TOML, "rb") as fh:
        return tomllib.load(fh)


_KERNEL = _kernel_words()
_ANNOTATIONS = frozenset(w.encode() for w in _KERNEL["annotations"]["words"])
_FN_ANNOTATIONS = frozenset(w.encode() for w in _KERNEL["annotations"]["with_args"])
# Candidate words: every ``__word``, and the annotations that do not start with ``__``.
_WORDISH = re.compile(rb"\b(?:__\w+|" + b"|".join(sorted(
    w for w in _ANNOTATIONS | _FN_ANNOTATIONS if not w.startswith(b"__"))) + rb")\b")
_FN_ARGS = re.compile(rb"[ \t]*\((?:[^()\n]|\([^()\n]*\))*\)")
_LOOPLIKE: str = _KERNEL["loops"]["looplike"]    # unknown macros named so are loops
_SCOPED = frozenset(_KERNEL["loops"]["scoped"])   # bodies that run once, in a scope
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


# ``#ifdef __ASSEMBLY__``, ``#if defined(__ASSEMBLER__)``, ``#if __ASSEMBLY__ && X``: the
# first arm is assembly; ``#ifndef __ASSEMBLY__``, ``#if !defined(__ASSEMBLY__)``: the
# other arms are.
_ASM_GUARD = re.compile(rb"[ \t]*(?:ifdef[ \t]+|if[ \t]+(?:defined[ \t]*\(?[ \t]*)?)"
                        rb"__ASSEMBL(?:Y|ER)__\b(?![ \t]*\)?[ \t]*\|\|)")
_NOT_ASM_GUARD = re.compile(rb"[ \t]*(?:ifndef[ \t]+|if[ \t]*!(?:[ \t]*defined[ \t]*\(?)?"
                            rb"[ \t]*)__ASSEMBL(?:Y|ER)__\b[ \t)]*(?:/[/*][^\n]*)?$", re.M)
_ERROR_ONLY = re.compile(rb"(?:\s|/\*.*?\*/|//[^\n]*)*#[ \t]*error\b[^\n]*"
                         rb"(?:\s|/\*.*?\*/|//[^\n]*)*", re.S)


def _asm_guard(data: bytes, directive: int) -> int:
    """1: the conditional whose directive (``#``) is at ``directive`` holds assembly in
    its first arm; -1: in its other arms; 0: neither."""
    if _ASM_GUARD.match(data, directive + 1) is not None:
        return 1
    if _NOT_ASM_GUARD.match(data, directive + 1) is not None:
        return -1
    return 0


def _conditionals(data: bytes, buf: bytearray) -> None:
    """Flatten the conditionals tree-sitter cannot read in place (innermost first); blank
    the arms that are assembly (``#ifdef __ASSEMBLY__``)."""
    stack: list = []            # per open conditional: its directive line starts
    asm: list = []              # per open conditional: _asm_guard()
    for m in _DIRECTIVE.finditer(data):
        start = _line_start(data, m.start())
        if data[start:m.start()].strip():
            continue            # not a directive: ``#`` inside a line
        kind = m.group(1)
        if kind.startswith(b"if"):
            stack.append([start])
            asm.append(_asm_guard(data, m.start()) if b"__ASSEMBL" in data[
                m.end():_line_end(data, m.end())] else 0)
        elif stack:
            stack[-1].append(start)
            if kind == b"endif":
                marks, guard = stack.pop(), asm.pop()
                if guard:
                    _assembly_arms(data, buf, marks, guard)
                else:
                    _fix_conditional(data, buf, marks)


def _assembly_arms(data: bytes, buf: bytearray, marks: list, guard: int) -> None:
    """Blank the assembly arms of a ``__ASSEMBLY__`` conditional (``marks``: as for
    :func:`_fix_conditional`).  A header whose C arm is only an ``#error`` (``#ifndef
    __ASSEMBLY__ #error "only for assembly" #endif``) is assembly after it: every line
    after the ``#endif`` that is not a directive is blanked too."""
    ends = [_line_end(data, m) for m in marks]
    if guard > 0:
        _blank(buf, ends[0], marks[1])
        return
    if len(marks) > 2:
        _blank(buf, marks[1], marks[-1])
    if _ERROR_ONLY.fullmatch(data, ends[0], marks[1]) is not None:
        _blank_non_directives(data, buf, ends[-1])


def _blank_non_directives(data: bytes, buf: bytearray, start: int) -> None:
    """Blank every line from ``start`` on but the preprocessor directives (with the lines
    they continue onto)."""
    pos = start
    n = len(data)
    while pos < n:
        end = _line_end(data, pos)
        if data[pos:end].lstrip().startswith(b"#"):
            while end < n and data[pos:end].rstrip(b"\r").endswith(b"\\"):
                pos, end = end + 1, _line_end(data, end + 1)    # continued directive
        else:
            _blank(buf, pos, end)
        pos = end + 1


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


# ``NAME(args)`` alone on a line, from column 0, with no ``;`` (arguments nest twice).
_BARE_CALL = re.compile(
    rb"^([A-Za-z_]\w*)[ \t]*\((?:[^()\n]|\((?:[^()\n]|\([^()\n]*\))*\))*\)[ \t]*$", re.M)
_BRACE = re.compile(rb"[{}]")
_KEYWORDS = frozenset((b"if", b"while", b"for", b"switch", b"return", b"sizeof", b"do",
                       b"case", b"else", b"goto"))
_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


_BRACE_CACHE: dict = {}


def _brace_depths(data: bytes) -> tuple[list[int], list[int]]:
    """Offsets of the braces of the code (comments and literals left out) and the brace
    depth after each, for :func:`bisect` lookups (computed once per file)."""
    hit = _BRACE_CACHE.get("data")
    if hit is data:
        return _BRACE_CACHE["depths"]
    code = _BRACE_CACHE["code"] if _BRACE_CACHE.get("code_of") is data else _code_mask(data)
    offsets: list[int] = []
    depths: list[int] = []
    depth = 0
    for m in _BRACE.finditer(code):
        depth += 1 if m.group() == b"{" else -1
        offsets.append(m.start())
        depths.append(depth)
    _BRACE_CACHE.update(data=data, depths=(offsets, depths))
    return offsets, depths


def _code_mask(data: bytes) -> bytes:
    """``data`` with comments and string/char literals blanked (same offsets)."""
    if _BRACE_CACHE.get("code_of") is not data:
        _BRACE_CACHE.update(code_of=data,
                            code=_NOT_CODE.sub(lambda m: b" " * len(m.group()), data))
    return _BRACE_CACHE["code"]


def _bare_calls(data: bytes, buf: bytearray) -> None:
    """Blank the top-level macro calls that lack their ``;`` (see the prepass notes)."""
    braces: tuple[list[int], list[int]] | None = None
    for m in _BARE_CALL.finditer(data):
        a, b = m.span()
        if a >= 2 and data[a - 2:a] in (b"\\\n", b"\\\r"):
            continue                                  # a line of a ``#define``
        if m.group(1) in _KEYWORDS:
            continue                                  # ``if (x)`` at column 0
        if braces is None:
            braces = _brace_depths(data)
        i = bisect_right(braces[0], a)
        if i and braces[1][i - 1] > 0:
            continue                                  # inside a body or an initializer
        p = _code_before(data, a)
        if p > 0 and data[p - 1] not in b";})":
            continue                                  # continues a declaration/expression
        q = _code_after(data, b)
        if q < len(data) and data[q] not in _IDENT_BYTES and data[q] != 35:   # 35: '#'
            continue                                  # ``{`` (a function header), ``=``, ...
        if q < len(data) and data[q] != 35:
            w = _WORD_END.match(data, q)
            word = data[q:w.end()] if w is not None else b""
            if word in (b"__attribute__", b"__attribute"):
                continue
        _blank(buf, a, b)


# ``asm``/``__asm__``/``asm_inline`` (the kernel's macro for ``asm __inline``), its
# qualifiers, then ``(``.
_ASM = re.compile(rb"\b(?:asm_inline|__asm__|__asm|asm)\b")
_ASM_QUALIFIERS = frozenset((b"volatile", b"__volatile__", b"__volatile", b"inline",
                             b"__inline", b"__inline__", b"goto"))
_WORD = re.compile(rb"[ \t\r\n]*([A-Za-z_]\w*)")
_OPEN = re.compile(rb"[ \t\r\n]*\(")
_NOT_SPLICE = re.compile(rb"[^\n\\]|\\(?!\r?\n)")


def _blank_keeping_splices(buf: bytearray, a: int, b: int) -> None:
    """:func:`_blank`, but a ``\\`` that ends a line stays (a ``#define``'s lines)."""
    buf[a:b] = _NOT_SPLICE.sub(b" ", bytes(buf[a:b]))


def _close_paren(code: bytes, i: int, limit: int = 1 << 16, braces: bool = False) -> int:
    """Offset after the ``)`` matching the ``(`` at ``i`` in ``code`` (comments and
    literals blanked); -1 when a ``;``, a brace (unless ``braces``: balanced ones are
    skipped) or the end comes first."""
    depth = 0
    curly = 0
    n = min(len(code), i + limit)
    j = i
    while j < n:
        ch = code[j]
        if ch == 40:
            depth += 1
        elif ch == 41:
            depth -= 1
            if depth == 0:
                return j + 1 if curly == 0 else -1
        elif ch == 123 and braces:
            curly += 1
        elif ch == 125 and braces and curly:
            curly -= 1
        elif ch == 59 or ch == 123 or ch == 125:
            return -1
        j += 1
    return -1


def _asm(data: bytes, buf: bytearray, code: bytes) -> None:
    """Blank what GNU inline assembly holds: tree-sitter cannot read a template glued to
    a macro (``".balign " __stringify(N)``), a macro among the operands (``CC_OUT(cc,
    cc)``), ``asm_inline``, nor an asm label followed by an initializer (``register long
    a0 asm("$16") = 3;``).  A statement or expression keeps ``asm("")`` (it is opaque
    either way, its text the original one); an asm label after a declarator is blanked
    whole."""
    for m in _ASM.finditer(code):
        a, kw_end = m.span()
        if buf[a:kw_end] != data[a:kw_end]:
            continue                    # in an arm blanked by a conditional
        p = kw_end
        while True:
            w = _WORD.match(code, p)
            if w is None or w.group(1) not in _ASM_QUALIFIERS:
                break
            p = w.end()
        o = _OPEN.match(code, p)
        if o is None:
            continue
        close = _close_paren(code, o.end() - 1)
        if close < 0:
            continue
        q = _code_before(data, a)
        label = False
        if q > 0 and data[q - 1] in _WORD_BYTES:
            w0 = q
            while w0 > 0 and data[w0 - 1] in _WORD_BYTES:
                w0 -= 1
            label = data[w0:q] not in (b"else", b"do", b"return")
        if label:
            _blank_keeping_splices(buf, a, close)
            continue
        if data[a:kw_end] == b"asm_inline":
            buf[a + 3:kw_end] = b" " * (kw_end - a - 3)
        _blank_keeping_splices(buf, kw_end, o.end() - 1)      # the qualifiers
        inner = o.end()
        if close - 1 - inner >= 2:
            _blank_keeping_splices(buf, inner, close - 1)
            q = buf.find(b"  ", inner, close - 1)          # not over a ``\`` line end
            if q >= 0:
                buf[q:q + 2] = b'""'


_DEFINE_START = re.compile(rb"^[ \t]*#[ \t]*define\b[^\n]*?/\*[^\n]*$|"
                           rb"^[ \t]*#[ \t]*define\b[^\n]*\\\r?$", re.M)
_DEFINE_COMMENT = re.compile(rb"/\*.*?\*/", re.S)


def _define_comments(data: bytes, buf: bytearray) -> None:
    """Blank the comments of every ``#define`` (and of the lines it continues onto with
    ``\\``; the ``\\`` that end them stay)."""
    for m in _DEFINE_START.finditer(data):
        end = m.end()
        while end < len(data) and data[end - 1:end] in (b"\\", b"\r"):
            end = _line_end(data, end + 1)          # the next line belongs to the directive
        for c in _DEFINE_COMMENT.finditer(data, m.start(), end):
            _blank_keeping_splices(buf, c.start(), c.end())


# A string literal, and an all-caps macro name (``KERN_WARNING``, ``DEVNAME``, ``PRIx64``
# is not: tree-sitter reads one identifier glued to a string) or call before it.
_STRING = re.compile(rb'"(?:\\.|[^"\\\n])*"')
_CAPS_BEFORE = re.compile(rb"(?<![\w.>])([A-Z_][A-Z0-9_]*[A-Z][A-Z0-9_]*)[ \t]*$")
_CAPS_AFTER = re.compile(rb"[ \t]*([A-Z_][A-Z0-9_]*[A-Z][A-Z0-9_]*)\b(?![ \t]*[(\[.=])")


def _glued_strings(data: bytes, buf: bytearray, code: bytes) -> None:
    """Blank the macros glued to string literals that tree-sitter cannot read:
    ``printk(KERN_WARNING DEVNAME ": failed")``, ``"x" __stringify(N) "y"``,
    ``"a" STR(b) "c"``.  Only when two pieces are glued without a string between them
    or a call is glued; ``KERN_INFO "x"`` alone reads fine and is left as it is."""
    for m in _STRING.finditer(data):
        a, b = m.span()
        if code[a:b].strip() or buf[a:b] != data[a:b]:
            continue                                # inside a comment, or blanked
        if _in_directive(data, a):
            continue
        ls = _line_start(data, a)
        before = _CAPS_BEFORE.search(data, ls, a)
        if before is not None:
            prev = _CAPS_BEFORE.search(data, ls, before.start(1))
            if prev is not None:                    # two macro names, then the string
                _blank(buf, prev.start(1), before.end(1))
        p = b
        while p < len(data) and data[p] in b" \t":
            p += 1
        w = _WORD_END.match(data, p)
        end = w.end() if w is not None else p
        if end > p and data[end:end + 1] == b"(" and (
                data[p:end] == b"__stringify" or data[p:end].isupper()):
            close = _close_paren(code, end)
            q = close
            while 0 < q < len(data) and data[q] in b" \t":
                q += 1
            if close > 0 and data[q:q + 1] == b'"':
                _blank(buf, p, close)               # ``"x" MACRO(args) "y"``


_ALIGN_AFTER = re.compile(rb"\b([A-Za-z_]\w*)[ \t]+([A-Z_][A-Z0-9_]*ALIGN[A-Z0-9_]*[ \t]*"
                          rb"\((?:[^()\n]|\([^()\n]*\))*\))(?=[ \t]*[;,=])")
_ATTRIBUTE = re.compile(rb"\b__attribute(?:__)?[ \t]*(?=\(\()")


def _attributes(buf: bytearray, code: bytes) -> None:
    """Blank every ``__attribute__((...))``: tree-sitter reads it in a few places only
    (``} v __attribute__((common));``, ``int a[4] __attribute__((aligned(8))) = {...}``
    are damage), and no attribute changes what the IR says."""
    for m in _ATTRIBUTE.finditer(code):
        if _in_directive(code, m.start()):
            continue                    # ``#define __aligned(x) __attribute__((...))``
        close = _close_paren(code, m.end())
        if close > 0:
            _blank_keeping_splices(buf, m.start(), close)


# At top level, from column 0: ``static DEVICE_ATTR(x, 0444, show, NULL);``,
# ``EXPORT_SYMBOL_GPL(f);``, ``__setup("opt=", fn);``, ``DEFINE_PER_CPU(int, v) = 1;``,
# ``define_machine(m) { .name = "x", };`` -- a macro that declares or defines data: no
# type before the name, so never a function prototype.
_TOP_MACRO = re.compile(rb"^(?:(?:static|const|extern)[ \t]+)*([A-Za-z_]\w*)[ \t]*\(", re.M)
_TABLE_START = re.compile(rb"^[A-Za-z_]\w*_(?:START|BEGIN)[ \t]*\(", re.M)
_TABLE_END = re.compile(rb"^[A-Za-z_]\w*_END\b[^\n]*", re.M)
# ``= {`` of a top-level initializer: its inside is data (tables built by macros, ``#ifdef``
# between the entries), blanked.
_INITIALIZER = re.compile(rb"=[ \t\r\n]*\{")
_DESIGNATOR = re.compile(rb"\s*(?:\.[A-Za-z_]|\[)")
_NOT_DATA = _KEYWORDS | frozenset((b"typeof", b"__typeof__", b"asm", b"__asm__",
                                   b"__attribute__", b"__attribute"))
# GNU as: ``.macro``/``.irp``/``.rept`` ... ``.endm``/``.endr``; any other ``.directive``
# line at top level (``.syntax unified``, ``.align 4``).
_AS_OPEN = re.compile(rb"[ \t]*\.(?:macro|irpc?|rept)\b")
_AS_CLOSE = re.compile(rb"[ \t]*\.(?:endm|endr)\b")
_AS_ONE_LINE = re.compile(rb";[ \t]*\.(?:endm|endr)\b")
_AS_LINE = re.compile(rb"^[ \t]*\.[A-Za-z_]", re.M)


def _data_end(code: bytes, pos: int) -> int:
    """After ``pos`` (the end of a macro's argument list at top level): the offset after
    the ``;`` (or the ``}``) that ends the data definition, -1 when it is no such
    thing."""
    q = pos
    n = len(code)
    while q < n and code[q] in _BLANKS:
        q += 1
    if q >= n:
        return -1
    if code[q] in b";,":                                # ";", or "," after a table row
        return q + 1
    if code[q] == 123 and _DESIGNATOR.match(code, q + 1):   # "{" then ".field" or "[i]"
        return _past_initializer(code, q)
    if code[q] == 61:                                   # "=": to the ";" at depth 0
        depth = 0
        for j in range(q + 1, min(n, q + (1 << 16))):
            ch = code[j]
            if ch in b"({[":
                depth += 1
            elif ch in b")}]":
                depth -= 1
                if depth < 0:
                    return -1
            elif ch == 59 and depth == 0:
                return j + 1
    return -1


def _past_initializer(code: bytes, q: int) -> int:
    """After the ``}`` matching the ``{`` at ``q`` (and a ``;`` right after it)."""
    depth = 0
    for j in range(q, min(len(code), q + (1 << 18))):
        ch = code[j]
        if ch == 123:
            depth += 1
        elif ch == 125:
            depth -= 1
            if depth == 0:
                k = j + 1
                while k < len(code) and code[k] in b" \t":
                    k += 1
                return k + 1 if k < len(code) and code[k] == 59 else j + 1
    return -1


def _top_level_data(data: bytes, buf: bytearray, code: bytes) -> None:
    """Blank what a top-level macro builds that is data, not code (see the prepass
    notes): declaring macros, ``X_START(...)`` ... ``X_END`` tables and GNU as
    directives.  The IR holds functions only, so nothing read is lost."""
    offsets, depths = _brace_depths(data)
    rows: set[int] = set()          # ends of ``X(...),`` rows (of a header #included in a table)

    def top(pos: int) -> bool:
        i = bisect_right(offsets, pos)
        return not i or depths[i - 1] == 0

    def after_item(pos: int) -> bool:
        """Does ``pos`` start an item: nothing but an item's end, or a directive, or
        the start of the file, before it?"""
        if pos >= 2 and data[pos - 2:pos] in (b"\\\n", b"\\\r"):
            return False                                # a line of a ``#define``
        p = _code_before(data, pos)
        return p == 0 or p in rows or data[p - 1] in b";})" or \
            data[_line_start(data, p):p].lstrip().startswith(b"#")

    for m in _TABLE_START.finditer(code):
        a = m.start()
        if not top(a) or not after_item(a):
            continue
        e = _TABLE_END.search(code, m.end(), m.end() + (1 << 16))
        if e is None or code.find(b"\n{", a, e.start()) >= 0:
            continue
        _blank(buf, a, e.end())
    for m in _TOP_MACRO.finditer(code):
        a = m.start()
        if m.group(1) in _NOT_DATA or not top(a) or not after_item(a) or \
                not code[a:a + 1].strip():
            continue
        close = _close_paren(code, m.end() - 1, braces=True)
        if close < 0:
            continue
        end = _data_end(code, close)
        if end > 0:
            _blank(buf, a, end)
            if code[end - 1] == 44:
                rows.add(end)
    if b"." in code:
        _assembler(data, buf, code, top)
    for m in _INITIALIZER.finditer(code):
        q = m.end() - 1
        if not top(m.start()) or _in_directive(data, m.start()):
            continue
        end = _past_initializer(code, q)
        while end > q and code[end - 1] != 125:          # back to the "}"
            end -= 1
        if end <= q:
            continue
        inner = data[q + 1:end - 1]
        directives = [d.group(1) for d in _DIRECTIVE.finditer(inner)]
        opened = sum(1 for d in directives if d.startswith(b"if"))
        if opened != directives.count(b"endif"):
            continue                    # a conditional crosses the initializer's ends
        _blank(buf, q + 1, end - 1)


def _in_directive(data: bytes, pos: int) -> bool:
    """Is ``pos`` on a preprocessor directive's line (or a line it continues onto)?"""
    ls = _line_start(data, pos)
    while ls >= 2 and data[ls - 2:ls] == b"\\\n":
        ls = _line_start(data, ls - 2)
    return data[ls:pos].lstrip().startswith(b"#")


def _assembler(data: bytes, buf: bytearray, code: bytes, top) -> None:
    """GNU as at top level: ``.macro`` ... ``.endm`` (nested ``.rept`` ... ``.endr``)
    regions and ``.directive`` lines are blanked."""
    depth = 0
    start = 0
    for m in _AS_LINE.finditer(code):
        a = m.start()
        if a >= 2 and data[a - 2:a] in (b"\\\n", b"\\\r"):
            continue                                    # a line of a ``#define``
        if _AS_OPEN.match(code, a):
            end = _line_end(data, a)
            if _AS_ONE_LINE.search(code, a, end):
                if depth == 0:
                    _blank(buf, a, end)         # ``.macro m a ; .endm``
                continue
            if depth == 0:
                start = a
            depth += 1
        elif _AS_CLOSE.match(code, a) and depth:
            depth -= 1
            if depth == 0:
                _blank(buf, start, _line_end(data, a))
        elif depth == 0 and top(a):
            _blank(buf, a, _line_end(data, a))


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
        if b"/*" in data:
            _define_comments(data, buf)
    _bare_calls(data, buf)
    code = _code_mask(data)
    if b"asm" in data:
        _asm(data, buf, code)
    if b"__attribute" in data:
        _attributes(buf, code)
    if b'"' in data:
        _glued_strings(data, buf, code)
    if b"ALIGN" in data:
        # ``NvU64 value NV_ALIGN_BYTES(8);``: an alignment macro after a declarator
        for m in _ALIGN_AFTER.finditer(code):
            if m.group(1) not in _KEYWORDS and buf[m.start(2):m.end(2)] == data[m.start(2):m.end(2)]:
                _blank(buf, m.start(2), m.end(2))
    _top_level_data(data, buf, code)
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
        if _statement_start(data, a) and buf[a:b] == data[a:b]:
            buf[a:b] = b"while" + b" " * (b - a - 5)
            loops[a] = name
    if b"{" in data:
        _block_macros(data, buf, code, loops)
    if b"..." in data:
        for m in _CASE_RANGE.finditer(code):
            if buf[m.start(1):m.end(1)] == data[m.start(1):m.end(1)]:
                _blank(buf, m.start(1), m.end(1))
    for m in _PP_NUMBER.finditer(code):
        a = m.start()
        if a and (code[a - 1] in _WORD_BYTES or code[a - 1] == 46):     # 46: "."
            continue
        if _VALID_NUMBER.fullmatch(m.group()) is None and \
                buf[a:m.end()] == data[a:m.end()]:
            buf[m.start()] = 95                 # "_": ``52_BIT`` reads as a name
    return bytes(buf), loops


# A statement that is a macro call followed by a block, ``with_intel_runtime_pm(rpm, wf)
# { ... }``, ``drm_exec_until_all_locked(exec) { ... }``: no C statement has that shape,
# so the macro expands to a loop (or scope) header -- read as one, like an unknown
# ``*for_each*`` macro.
_CLOSE_THEN_BLOCK = re.compile(rb"\)[ \t\r\n]*\{")
_NAME_BEFORE = re.compile(rb"(?<!\w)([A-Za-z_]\w*)[ \t]*$")


def _open_paren(code: bytes, close: int, limit: int = 1 << 14) -> int:
    """Offset of the ``(`` matching the ``)`` at ``close`` in ``code``; -1 when a ``;``,
    a brace or ``limit`` bytes come first."""
    depth = 0
    for j in range(close, max(-1, close - limit), -1):
        ch = code[j]
        if ch == 41:
            depth += 1
        elif ch == 40:
            depth -= 1
            if depth == 0:
                return j
        elif ch == 59 or ch == 123 or ch == 125:
            return -1
    return -1
# GNU case ranges: ``case A(-1) ... A(3):`` -- the ``... A(3)`` is blanked; the lowering
# reads the range from the source (an Opaque value), as for ``case 1 ... 3:``.
_CASE_RANGE = re.compile(rb"\bcase\b[^:;{}\n]*?(\.\.\.[^:;{}\n]*?)(?=:)")
# pp-numbers that are no C number: ``kvm_has_feat(kvm, REG, TGRAN4, 52_BIT)``,
# ``phylink_set(m, 10000baseKR_Full)``, ``FN(1_1, X)`` -- macro arguments pasted into
# names.  Their first digit becomes ``_``.
_PP_NUMBER = re.compile(rb"\d[0-9]*[A-Za-z_]\w*")     # a word before it: checked apart
_VALID_NUMBER = re.compile(rb"0[xX][0-9a-fA-F]*(?:[uU]?[lL]{0,2}|[lL]{0,2}[uU]?)|0[bB][01]+[uUlL]*|"
                           rb"\d+(?:[uU]?[lL]{0,2}|[lL]{0,2}[uU]?)|\d+[eE][+-]?\d*[fFlL]?|\d+[fF]")


def _block_macros(data: bytes, buf: bytearray, code: bytes, loops: dict) -> None:
    """Spell ``MACRO(args) {`` at the start of a statement as a loop (see above)."""
    offsets: list[int] | None = None
    depths: list[int] = []
    for c in _CLOSE_THEN_BLOCK.finditer(code):
        o = _open_paren(code, c.start())
        if o < 0:
            continue
        m = _NAME_BEFORE.search(code, max(0, o - 256), o)
        if m is None:
            continue
        a, b = m.span(1)
        name = m.group(1)
        if a in loops or b - a < 5 or name in _KEYWORDS or name in _NOT_DATA or \
                name in (b"while", b"sizeof", b"_Static_assert", b"static_assert") or \
                (a > 0 and code[a - 1] in b".>"):
            continue
        if offsets is None:
            offsets, depths = _brace_depths(data)
        i = bisect_right(offsets, a)
        if not i or depths[i - 1] == 0:
            continue                            # top level: a function header
        if _statement_start(data, a) and buf[a:b] == data[a:b]:
            buf[a:b] = b"while" + b" " * (b - a - 5)
            loops[a] = name.decode("ascii")

