"""Small C syntax helpers over tree-sitter-c for the mutation benchmark's site scanner.

Deliberately independent of kref-lint's own frontends (``analyzer/``): the benchmark
measures the analyzer, so the code that decides where the sites are must not share its
parser glue, its models or its mistakes.  Everything works on bytes and byte offsets
of the file as tree-sitter parsed it.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_c.language()))


def parse(data: bytes):
    return _parser().parse(data)


# Wrappers that do not change a condition's meaning.
TRANSPARENT_CALLS = frozenset({"unlikely", "likely", "READ_ONCE_NOCHECK"})
EXITS = frozenset({"return_statement", "goto_statement", "break_statement",
                   "continue_statement"})


@dataclass
class Function:
    name: str
    node: Node                 # function_definition
    body: Node                 # compound_statement
    params: tuple[str, ...]    # parameter names

    @property
    def start(self) -> int:
        return self.node.start_byte

    def signature(self, data: bytes) -> str:
        """The text before the body, including specifiers tree-sitter split off into a
        declaration of their own (``static __maybe_unused struct`` / ``page *f(...)``)."""
        start = self.node.start_byte
        prev = self.node.prev_sibling
        if prev is not None and prev.type in ("declaration", "ERROR") and \
                not data[prev.start_byte:prev.end_byte].rstrip().endswith((b";", b"}")) \
                and data[prev.end_byte:start].strip() == b"":
            start = prev.start_byte
        return data[start:self.body.start_byte].decode("utf-8", "replace")

    @property
    def end(self) -> int:
        return self.node.end_byte


@dataclass
class CFile:
    """One parsed source file."""
    rel: str
    data: bytes
    tree: object
    functions: list[Function] = field(default_factory=list)
    _nodes: dict = field(default_factory=dict, repr=False)
    _calls: dict = field(default_factory=dict, repr=False)

    def nodes(self, node: Node) -> list[Node]:
        """``walk(node)`` as a list, memoized (the scanner walks bodies many times)."""
        key = (node.start_byte, node.end_byte, node.type)
        got = self._nodes.get(key)
        if got is None:
            got = self._nodes[key] = list(walk(node))
        return got

    def calls(self, node: Node) -> list[tuple[str, Node]]:
        key = (node.start_byte, node.end_byte, node.type)
        got = self._calls.get(key)
        if got is None:
            got = self._calls[key] = [(call_name(self, n), n) for n in self.nodes(node)
                                      if n.type == "call_expression" and call_name(self, n)]
        return got

    def text(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def line(self, node_or_byte) -> int:
        b = node_or_byte if isinstance(node_or_byte, int) else node_or_byte.start_byte
        return self.data.count(b"\n", 0, b) + 1

    def function_at(self, byte: int) -> Function | None:
        for fn in self.functions:
            if fn.start <= byte < fn.end:
                return fn
        return None


def load(rel: str, data: bytes) -> CFile:
    tree = parse(data)
    cf = CFile(rel, data, tree)
    cf.functions = list(_functions(cf, tree.root_node))
    return cf


def _functions(cf: CFile, node: Node) -> Iterator[Function]:
    for child in node.named_children:
        if child.type == "function_definition":
            body = child.child_by_field_name("body")
            name, params = _declarator_name(cf, child.child_by_field_name("declarator"))
            if body is not None and name:
                yield Function(name, child, body, params)
        elif child.type in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                            "preproc_elifdef", "linkage_specification", "declaration_list",
                            "ERROR"):
            yield from _functions(cf, child)


def _declarator_name(cf: CFile, decl: Node | None) -> tuple[str, tuple[str, ...]]:
    """The function's name and parameter names from its declarator."""
    while decl is not None and decl.type != "function_declarator":
        inner = decl.child_by_field_name("declarator")
        if inner is None:
            found = [d for d in walk(decl) if d.type == "function_declarator"]
            decl = found[0] if found else None
            break
        decl = inner
    if decl is None:
        return "", ()
    ident = decl.child_by_field_name("declarator")
    while ident is not None and ident.type not in ("identifier", "field_identifier"):
        ident = ident.child_by_field_name("declarator")
    params: list[str] = []
    plist = decl.child_by_field_name("parameters")
    for p in plist.named_children if plist is not None else ():
        names = [n for n in walk(p) if n.type == "identifier"]
        if names:
            params.append(cf.text(names[-1]))
    return (cf.text(ident) if ident is not None else ""), tuple(params)


def walk(node: Node) -> Iterator[Node]:
    """Pre-order, document order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def call_name(cf: CFile, call: Node) -> str:
    fn = call.child_by_field_name("function")
    return cf.text(fn) if fn is not None and fn.type == "identifier" else ""


def call_args(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    return [a for a in args.named_children if a.type != "comment"] if args is not None else []


def calls(cf: CFile, node: Node, names=None) -> Iterator[tuple[str, Node]]:
    for name, n in cf.calls(node):
        if names is None or name in names:
            yield name, n


def strip(cf: CFile, node: Node) -> Node:
    """Through parentheses, casts of nothing and likely()/unlikely()."""
    while True:
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_children[0]
        elif node.type == "call_expression" and call_name(cf, node) in TRANSPARENT_CALLS \
                and len(call_args(node)) == 1:
            node = call_args(node)[0]
        else:
            return node


def binary_op(cf: CFile, node: Node) -> str:
    """The operator of a binary expression with both operands, else ''."""
    if node.type != "binary_expression" or node.child_by_field_name("left") is None or \
            node.child_by_field_name("right") is None:
        return ""
    op = node.child_by_field_name("operator")
    return cf.text(op) if op is not None else ""


def operands(node: Node) -> tuple[Node, Node]:
    """Left and right of a binary expression ``binary_op()`` accepted."""
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None:
        raise ValueError("binary expression without operands")
    return left, right


def is_not(cf: CFile, node: Node) -> Node | None:
    """The operand of a logical '!', else None."""
    if node.type == "unary_expression":
        op = node.child_by_field_name("operator")
        if op is not None and cf.text(op) == "!":
            return node.child_by_field_name("argument")
    return None


def arms(cf: CFile, node: Node, op: str) -> list[Node]:
    """The operands of a chain of ``op`` ('||' or '&&'), through parentheses and
    likely()/unlikely()."""
    node = strip(cf, node)
    if binary_op(cf, node) == op:
        left, right = operands(node)
        return arms(cf, left, op) + arms(cf, right, op)
    return [node]


def without(cf: CFile, node: Node, drop: set[tuple[int, int]], op: str) -> str | None:
    """The text of expression ``node`` with the arms ``drop`` (their (start, end) byte
    spans) removed from its ``op`` chains (None when nothing is left); untouched parts
    keep their spelling."""
    if (node.start_byte, node.end_byte) in drop:
        return None
    if node.type == "parenthesized_expression" and node.named_child_count == 1:
        inner = without(cf, node.named_children[0], drop, op)
        return None if inner is None else "(" + inner + ")"
    if _wraps(cf, node):
        arg = call_args(node)[0]
        inner = without(cf, arg, drop, op)
        if inner is None:
            return None
        return cf.data[node.start_byte:arg.start_byte].decode() + inner + \
            cf.data[arg.end_byte:node.end_byte].decode()
    if binary_op(cf, node) == op:
        left, right = operands(node)
        lt, rt = without(cf, left, drop, op), without(cf, right, drop, op)
        if lt is None:
            return rt
        if rt is None:
            return lt
        return lt + cf.data[left.end_byte:right.start_byte].decode() + rt
    return cf.text(node)


def _wraps(cf: CFile, node: Node) -> bool:
    return node.type == "call_expression" and call_name(cf, node) in TRANSPARENT_CALLS \
        and len(call_args(node)) == 1


def statement_of(node: Node) -> Node:
    """The statement that contains ``node`` directly (an expression's statement)."""
    while not node.type.endswith("_statement") and node.type != "declaration":
        parent = node.parent
        if parent is None:
            break
        node = parent
    return node


def block_items(block: Node) -> list[Node]:
    return [c for c in block.named_children if c.type != "comment"]


def body_statements(stmt: Node | None) -> list[Node]:
    """The statements of a branch: a compound statement's items, or the statement."""
    if stmt is None:
        return []
    if stmt.type == "else_clause":
        stmt = stmt.named_children[0] if stmt.named_children else None
        if stmt is None:
            return []
    if stmt.type == "compound_statement":
        return block_items(stmt)
    return [stmt]


def then_else(node: Node) -> tuple[Node | None, Node | None]:
    cons = node.child_by_field_name("consequence")
    alt = node.child_by_field_name("alternative")
    if alt is not None and alt.type == "else_clause":
        alt = alt.named_children[0] if alt.named_children else None
    return cons, alt


def exits(stmts: list[Node]) -> bool:
    """The branch ends by leaving the straight line (return/goto/break/continue)."""
    return bool(stmts) and stmts[-1].type in EXITS


def line_range(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole lines when the statement sits alone on them."""
    ls = data.rfind(b"\n", 0, start) + 1
    le = data.find(b"\n", end)
    le = len(data) if le < 0 else le
    if data[ls:start].strip() == b"" and data[end:le].strip() == b"":
        return ls, le + 1 if le < len(data) else le
    return start, end


def indent_of(data: bytes, byte: int) -> bytes:
    ls = data.rfind(b"\n", 0, byte) + 1
    m = re.match(rb"[ \t]*", data[ls:byte])
    return m.group(0) if m else b""


def labels(cf: CFile, fn: Function) -> dict[str, Node]:
    out = {}
    for n in walk(fn.body):
        if n.type == "labeled_statement":
            lab = n.child_by_field_name("label")
            if lab is not None:
                out[cf.text(lab)] = n
    return out


def goto_label(cf: CFile, stmt: Node) -> str:
    if stmt.type != "goto_statement":
        return ""
    lab = stmt.child_by_field_name("label")
    return cf.text(lab) if lab is not None else ""


def error_nodes(node: Node) -> int:
    return sum(1 for n in walk(node) if n.type == "ERROR" or n.is_missing)


def identifiers(cf: CFile, node: Node) -> set[str]:
    return {cf.text(n) for n in walk(node) if n.type == "identifier"}


def enclosing(node: Node, types: tuple[str, ...]) -> Node | None:
    up = node.parent
    while up is not None:
        if up.type in types:
            return up
        up = up.parent
    return None
