"""Top-level items: functions, macro-defined functions, bodies tree-sitter could not
close, and the file's parse errors."""
from __future__ import annotations

import tree_sitter
import tree_sitter_c

from analyzer.frontend.lower import S as _S
from analyzer.frontend.lower import block
from analyzer.frontend.treesitter.lowerer import (
    _CONTAINERS,
    _DECLARATOR_TYPES,
    _NAME_TYPES,
    _Lowerer,
    _named,
)
from analyzer.frontend.treesitter.prepare import (
    _NOT_NL,
)
from analyzer.ir import (
    Compound,
    Function,
    SourceFile,
)

_PARSER: tree_sitter.Parser | None = None


def _parser() -> tree_sitter.Parser:
    """One Language/Parser per process (workers are processes, not threads)."""
    global _PARSER
    if _PARSER is None:
        _PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))
    return _PARSER


class _FileLowerer(_Lowerer):
    """Lowers one parsed file: its top-level items, functions (also those read from
    damaged source) and the errors seen on the way."""

    _ptypes: tuple[str, ...] = ()       # the last signature's by-value parameter types

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
        types = self._ptypes if len(self._ptypes) == len(params) else ()
        self._ptypes = ()
        return Function(name, tuple(params), self.path, sp, compound,
                        self.degraded + damaged, static, types)

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
        types: list[str] = []
        plist = fdecl.child_by_field_name("parameters") if fdecl is not None else None
        if plist is not None:
            for p in plist.named_children:
                if p.type != "parameter_declaration":
                    continue
                d = p.child_by_field_name("declarator")
                pn = self._decl_name(d)
                if pn is not None:
                    params.append(pn)
                    ty = p.child_by_field_name("type")
                    by_value = d is not None and d.type == "identifier" and ty is not None
                    types.append(self.text(ty) if by_value else "")
        self._ptypes = tuple(types)
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
        self.constants = self._enum_constants(root)
        functions: list[Function] = []
        degraded = self._items(root.children, functions, reparse=True)
        degraded += sum(f.degraded for f in functions)
        return SourceFile(self.path, tuple(functions), degraded, tuple(self.errors))

    def _enum_constants(self, root) -> dict[str, int]:
        """The enumeration constants defined at file scope whose value an integer constant
        expression of literals and earlier constants gives (``A = 0, B, C = 1 << 2``); a
        name two ``#if`` arms define differently has none."""
        values: dict[str, int | None] = {}
        stack = list(reversed(root.children))
        while stack:
            node = stack.pop()
            t = node.type
            if t in _CONTAINERS or t in ("declaration", "type_definition"):
                stack.extend(reversed(node.children))
                continue
            body = node.child_by_field_name("body") if t == "enum_specifier" else None
            nxt: int | None = 0
            for e in body.named_children if body is not None else ():
                name = e.child_by_field_name("name")
                if e.type != "enumerator" or name is None:
                    continue
                value = e.child_by_field_name("value")
                v = nxt if value is None else self._constant(value, values)
                key = self.text(name)
                values[key] = v if values.get(key, v) == v else None
                nxt = v + 1 if v is not None else None
        return {k: v for k, v in values.items() if v is not None}

    def _constant(self, node, known: dict[str, int | None]) -> int | None:
        t = node.type
        if t == "number_literal":
            try:
                return int(self.text(node).rstrip("uUlL"), 0)
            except ValueError:
                return None
        if t == "identifier":
            return known.get(self.text(node))
        kids = [c for c in node.named_children if c.type != "comment"]
        if t == "parenthesized_expression" and len(kids) == 1:
            return self._constant(kids[0], known)
        op = node.child_by_field_name("operator")
        if t == "unary_expression" and op is not None and len(kids) == 1:
            v = self._constant(kids[0], known)
            return None if v is None else {"-": -v, "+": v, "~": ~v}.get(self.text(op))
        if t == "binary_expression" and op is not None and len(kids) == 2:
            a, b = (self._constant(k, known) for k in kids)
            if a is None or b is None:
                return None
            return {"+": a + b, "-": a - b, "*": a * b, "|": a | b, "&": a & b,
                    "<<": a << b if 0 <= b < 64 else None}.get(self.text(op))
        return None

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
