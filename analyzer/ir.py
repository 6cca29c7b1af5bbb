"""The intermediate representation shared by both frontends and every checker.

Two layers:

* a *structured* layer (expressions and statements) that a frontend emits for each
  function body: close to C, casts and parentheses dropped, every node carrying the
  spelled source span (for a macro, the macro call site in the analyzed file);
* a *flow* layer (``Block``/``Edge``/``CFG``) that :mod:`analyzer.cfg` builds from the
  structured layer once, for every frontend alike, so control flow is lowered in one place.

Checkers only ever see these classes: no clang cursor or tree-sitter node leaks past a
frontend.  All nodes are frozen, hashable dataclasses.
"""
from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the spelled source; ``end_*`` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("", 0, 0, 0, 0)


# --------------------------------------------------------------------------- expressions
@dataclass(frozen=True, slots=True)
class Name:
    """A name; ``value`` is the value of an enumeration constant defined in the same file
    (``MC_TARGET_NONE`` -> 0), when the frontend could compute it."""

    id: str
    span: Span = field(default=NO_SPAN, compare=False)
    value: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Member:
    """``base->field`` (arrow) or ``base.field``."""

    base: Expr
    field: str
    arrow: bool = True
    span: Span = dataclasses.field(default=NO_SPAN, compare=False)  # ``field`` is shadowed


@dataclass(frozen=True, slots=True)
class Deref:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Index:
    base: Expr
    index: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class AddrOf:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Unary:
    """``op`` is one of ``! - + ~ ++pre --pre post++ post--``."""

    op: str
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, bitwise, comparison, ``&&``/``||`` (only where not lowered to edges), ``,``."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Assign:
    """``target op value`` with ``op`` in ``= += -= |= ...``; an expression, as in C."""

    target: Expr
    op: str
    value: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A call.  ``callee`` is the function's (or function-like macro's) name when the call
    is direct, else ``None`` and ``func`` holds the called expression."""

    callee: str | None
    args: tuple[Expr, ...]
    func: Expr | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Cond:
    """``test ? then : else_`` where it could not be lowered to edges."""

    test: Expr
    then: Expr
    else_: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Literal:
    text: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Opaque:
    """Something the IR does not model (sizeof, initializer lists, unparsable text)."""

    text: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class StmtExpr:
    """GNU statement expression ``({ ...; value; })``; its value is the last expression
    statement of ``body``.  :mod:`analyzer.cfg` lowers it inline."""

    body: Compound
    span: Span = field(default=NO_SPAN, compare=False)


Expr = (Name | Member | Deref | Index | AddrOf | Unary | Binary | Assign | Call | Cond
        | Literal | Opaque | StmtExpr)


# --------------------------------------------------------------------------- statements
@dataclass(frozen=True, slots=True)
class ExprStmt:
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Decl:
    """One declarator: ``type name = init;`` (``init`` None when absent)."""

    name: str
    init: Expr | None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Compound:
    stmts: tuple[Stmt, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: Stmt
    else_: Stmt | None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class While:
    cond: Expr
    body: Stmt
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class DoWhile:
    body: Stmt
    cond: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class For:
    init: tuple[Stmt, ...]
    cond: Expr | None
    step: Expr | None
    body: Stmt
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class IterLoop:
    """An iterator macro named in the models (``list_for_each_entry(pos, head, m) body``).

    ``cursor`` is the argument the macro assigns each iteration (None if the model names
    none); ``step`` is the call the model says the macro performs to produce it."""

    macro: str
    args: tuple[Expr, ...]
    cursor: Expr | None
    step: Call | None
    body: Stmt
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Switch:
    cond: Expr
    body: Stmt
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Case:
    """A ``case value:`` (``value`` None for ``default:``) label; the statement it
    labels follows it in the enclosing compound."""

    value: Expr | None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Goto:
    label: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Break:
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Continue:
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Return:
    value: Expr | None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class OpaqueStmt:
    """A statement the frontend could not read (parse error, asm, ...).  ``degraded`` is
    True when it replaced broken source, so the count of degraded statements is honest."""

    text: str
    degraded: bool = True
    span: Span = field(default=NO_SPAN, compare=False)


Stmt = (ExprStmt | Decl | Compound | If | While | DoWhile | For | IterLoop | Switch | Case
        | Label | Goto | Break | Continue | Return | OpaqueStmt)


def single(stmts: list, span: Span) -> Stmt:
    """A statement list in a single-statement position (a loop body, an if arm)."""
    return stmts[0] if len(stmts) == 1 else Compound(tuple(stmts), span)


# --------------------------------------------------------------------------- children
def _call_kids(e: Call) -> tuple:
    return e.args + ((e.func,) if e.func is not None else ())


def _for_kids(s: For) -> tuple:
    return s.init + tuple(x for x in (s.cond, s.step) if x is not None) + (s.body,)


def _iter_kids(s: IterLoop) -> tuple:
    return s.args + ((s.step,) if s.step is not None else ()) + (s.body,)


_CHILDREN: dict[type, Callable[[Any], tuple]] = {
    Member: lambda e: (e.base,),
    Deref: lambda e: (e.operand,),
    AddrOf: lambda e: (e.operand,),
    Unary: lambda e: (e.operand,),
    Binary: lambda e: (e.left, e.right),
    Index: lambda e: (e.base, e.index),
    Assign: lambda e: (e.target, e.value),
    Call: _call_kids,
    Cond: lambda e: (e.test, e.then, e.else_),
    StmtExpr: lambda e: (e.body,),
    ExprStmt: lambda s: (s.expr,),
    Decl: lambda s: (s.init,) if s.init is not None else (),
    Compound: lambda s: s.stmts,
    If: lambda s: (s.cond, s.then) + ((s.else_,) if s.else_ is not None else ()),
    While: lambda s: (s.cond, s.body),
    DoWhile: lambda s: (s.body, s.cond),
    For: _for_kids,
    IterLoop: _iter_kids,
    Switch: lambda s: (s.cond, s.body),
    Case: lambda s: (s.value,) if s.value is not None else (),
    Return: lambda s: (s.value,) if s.value is not None else (),
}


def children(node: Expr | Stmt) -> tuple[Expr | Stmt, ...]:
    """The direct children of an IR node, in evaluation order: sub-expressions, and for a
    statement its expressions and sub-statements (a call's arguments come before the
    called expression of an indirect call; ``IterLoop``'s cursor is one of its ``args``).
    The one place that knows which fields of a node are nodes: every walk over the IR
    goes through it (or :func:`walk`)."""
    f = _CHILDREN.get(type(node))
    return f(node) if f is not None else ()


def walk(node: Expr | Stmt) -> Iterator[Expr | Stmt]:
    """``node`` and every node below it, pre-order (iterative: no recursion limit)."""
    stack: list[Expr | Stmt] = [node]
    get = _CHILDREN.get
    while stack:
        x = stack.pop()
        yield x
        f = get(type(x))
        if f is not None:
            stack.extend(reversed(f(x)))


def with_children(e: Expr, kids: Sequence[Expr]) -> Expr:
    """``e`` rebuilt with ``kids`` in place of :func:`children` ``(e)`` (an expression
    with no children comes back as is; a ``StmtExpr`` is not rebuilt)."""
    if isinstance(e, Member):
        return replace(e, base=kids[0])
    if isinstance(e, (Deref, AddrOf, Unary)):
        return replace(e, operand=kids[0])
    if isinstance(e, Binary):
        return replace(e, left=kids[0], right=kids[1])
    if isinstance(e, Index):
        return replace(e, base=kids[0], index=kids[1])
    if isinstance(e, Assign):
        return replace(e, target=kids[0], value=kids[1])
    if isinstance(e, Call):
        n = len(e.args)
        return replace(e, args=tuple(kids[:n]), func=kids[n] if e.func is not None else None)
    if isinstance(e, Cond):
        return replace(e, test=kids[0], then=kids[1], else_=kids[2])
    return e


# --------------------------------------------------------------------------- functions
@dataclass(frozen=True, slots=True)
class Function:
    name: str
    params: tuple[str, ...]
    file: str
    span: Span
    body: Compound
    degraded: int = 0          # statements degraded to OpaqueStmt because of parse errors
    static: bool = False
    #: Each parameter's type as spelled when it is passed by value (``pmd_t``), else "".
    param_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceFile:
    """What a frontend returns for one file."""

    path: str                              # as given to the frontend (absolute)
    functions: tuple[Function, ...]
    degraded: int = 0                      # sum over functions, plus top-level damage
    errors: tuple[str, ...] = ()           # "line N: problem" (still partially read)


# --------------------------------------------------------------------------- flow layer
@dataclass(frozen=True, slots=True)
class Edge:
    """``label`` is None (unconditional), True/False (branch outcome), or for a switch
    the case value expression / the string ``"default"``."""

    target: int
    label: object = None


@dataclass(frozen=True, slots=True)
class Block:
    """``events`` are evaluated in order: each is an expression (assignments and calls
    included) or a ``Return``.  ``cond`` is the tested expression when the block ends in a
    branch (two edges labelled True/False) or a switch (edges labelled by case)."""

    id: int
    events: tuple[Expr | Return, ...]
    cond: Expr | None
    succs: tuple[Edge, ...]


@dataclass(frozen=True, slots=True)
class CFG:
    function: Function
    blocks: tuple[Block, ...]
    entry: int
    exit: int

    def preds(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {b.id: [] for b in self.blocks}
        for b in self.blocks:
            for e in b.succs:
                out[e.target].append(b.id)
        return out


_C = TypeVar("_C", bound=type)


def fast_pickle(cls: _C) -> _C:
    """Pickle a frozen slotted dataclass as its constructor called with its fields'
    values (the names read once here): the state methods ``dataclasses`` writes call
    ``fields()`` on every object, which made pickling most of the cost of handing
    lowered functions between processes and of pass 1's cache (its skeletons, its
    facts).  The same objects come back.  A class with a field out of ``__init__`` keeps
    its own."""
    fs = dataclasses.fields(cls)
    if len(fs) < 2 or not all(f.init and not f.kw_only for f in fs):
        return cls
    get = operator.attrgetter(*(f.name for f in fs))

    def reduce(self, _cls=cls, _get=get) -> tuple:
        return _cls, _get(self)

    cls.__reduce__ = reduce  # type: ignore[method-assign,assignment]
    return cls


for _cls in list(globals().values()):     # the IR's own classes
    if isinstance(_cls, type) and _cls.__module__ == __name__ and \
            dataclasses.is_dataclass(_cls) and "__slots__" in vars(_cls):
        fast_pickle(_cls)


def fast_init(cls: _C) -> _C:
    """Give a frozen slotted dataclass an ``__init__`` that sets its slots through their
    descriptors: the one ``dataclasses`` writes goes through ``object.__setattr__`` per
    field (a frozen class's own ``__setattr__`` refuses), most of the cost of making an
    object -- and lowering and unpickling make every node of the IR.  The same
    signature, the same defaults (plain values only: a class with a default factory, a
    field out of ``__init__``, a keyword-only field or ``__post_init__`` keeps its own)."""
    fs = dataclasses.fields(cls)
    if not fs or hasattr(cls, "__post_init__") or any(
            f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only
            for f in fs):
        return cls
    env: dict[str, Any] = {}
    params, body = [], []
    for i, f in enumerate(fs):
        env[f"_set{i}"] = vars(cls)[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(self, {f.name})")
    made: dict[str, Any] = {}
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n", env, made)
    init = made["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc]
    return cls


for _cls in list(globals().values()):
    if isinstance(_cls, type) and _cls.__module__ == __name__ and \
            dataclasses.is_dataclass(_cls) and "__slots__" in vars(_cls) and \
            _cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        fast_init(_cls)

del _cls
