"""The analyzed file's own text: lexed once for the macro call sites (name, arguments,
extent) that map a macro expansion back to the call spelled in the file."""
from __future__ import annotations

import re
from bisect import bisect_right

from analyzer.ir import (
    Span,
)

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
