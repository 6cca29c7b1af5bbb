"""Origin facts about PFNs: which integer PFNs of a function name a page nobody holds.

A PFN is a number: having it pins nothing.  Whether the page it names is held depends
on where the number came from.  The PFN of a PTE read under its page-table lock names a
page the mapping holds, and the PFN of a page the function holds (``page_to_pfn()``,
``folio_pfn()``) names that page or its subpages.  But a PFN that a scanner walks over
a range (compaction, memory-failure, page_idle, DAMON, page_owner, memory hotplug) or
one kept in a struct field and read with ``READ_ONCE()`` (ksm's stable node) names
whatever page is there now: it may be free, its count zero or frozen.

Flow-insensitive on purpose (a fact about the variable, for every use): a variable is a
walked PFN when some ``for`` loop of the function steps it and the function never sets it
to the PFN of an object (``page_to_pfn(page)``: walking that object's pages); it is a
stored PFN when it is assigned ``READ_ONCE(p->field)``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.engine.keys import Attached
from analyzer.ir import (
    AddrOf,
    Assign,
    Call,
    Decl,
    Expr,
    For,
    Function,
    Index,
    IterLoop,
    Member,
    Name,
    Opaque,
    Span,
    Unary,
    walk,
)

if TYPE_CHECKING:
    from analyzer.engine.api import Context

#: Calls whose value is the PFN of an object (held or not, it is that object's).
OBJECT_PFNS = frozenset({"page_to_pfn", "folio_pfn", "pte_pfn", "pmd_pfn", "pud_pfn"})

WALKED = "the induction variable of a loop over a PFN range: a PFN walk holds no reference"
STORED = "a PFN read with READ_ONCE() from a struct field: a stored PFN holds no reference"

_last: tuple[Function | None, dict[str, str]] = (None, {})


def unreferenced_pfns(fn: Function) -> dict[str, str]:
    """The variables of ``fn`` that hold a PFN carrying no reference, each with why."""
    global _last
    if _last[0] is fn:
        return _last[1]
    out: dict[str, str] = {}
    stepped: set[str] = set()
    of_object: set[str] = set()
    for node in walk(fn.body):
        if isinstance(node, For):
            stepped |= _stepped(node)
        elif isinstance(node, (Assign, Decl)):
            target = node.target if isinstance(node, Assign) else Name(node.name)
            value = node.value if isinstance(node, Assign) else node.init
            if isinstance(target, Name) and value is not None and _object_pfn(value):
                of_object.add(target.id)
            if (isinstance(target, Name) and isinstance(value, Call)
                    and value.callee == "READ_ONCE" and value.args
                    and isinstance(value.args[0], Member)):
                out.setdefault(target.id, STORED)
    for name in stepped - of_object:
        out[name] = WALKED
    _last = (fn, out)
    return out


def _stepped(loop: For) -> set[str]:
    out: set[str] = set()
    for e in walk(loop.step) if loop.step is not None else ():
        if isinstance(e, Unary) and "++" in e.op and isinstance(e.operand, Name):
            out.add(e.operand.id)
        elif isinstance(e, Assign) and e.op == "+=" and isinstance(e.target, Name):
            out.add(e.target.id)
    return out


def _object_pfn(init: object) -> bool:
    """The loop starts from the PFN of an object: it walks that object's pages."""
    return any(isinstance(e, Call) and e.callee in OBJECT_PFNS
               for e in walk(init))  # type: ignore[arg-type]


# ------------------------------------------------------------------ list members
MEMBER = ("a member of {head}, a list whose membership holds no reference: the free path "
          "takes an object off it under the lock once its count is zero")

_loops: tuple[Function | None, dict[tuple[int, int], IterLoop]] = (None, {})


def loop_at(fn: Function, span: Span) -> IterLoop | None:
    """The iterator macro of ``fn`` that assigns its cursor at ``span``."""
    global _loops
    if _loops[0] is not fn:
        _loops = (fn, {(n.span.line, n.span.col): n for n in walk(fn.body)
                       if isinstance(n, IterLoop)})
    return _loops[1].get((span.line, span.col))


def iterated(ctx: Context, value: Expr, span: Span) -> list[Attached]:
    """``cursor = value`` at ``span`` is an iterator macro's step over a list: the objects
    attached to that list's head (``Attached(head, obj)``, e.g. collected into it with
    ``list_add_tail(&page->lru, &pagelist)``), one of which the cursor now is."""
    loop = loop_at(ctx.function, span) if isinstance(value, Opaque) else None
    heads = {ctx.place(a) for a in loop.args if a != loop.cursor} if loop else set()
    return [k for k, _ in ctx.tracked() if isinstance(k, Attached) and k.carrier in heads]


def unreferenced_member(fn: Function, span: Span, lists: frozenset[str]) -> str | None:
    """Why the cursor an iterator macro of ``fn`` assigns at ``span`` designates an
    object nobody holds: the macro walks a list whose head is the field ``lists`` names
    (``list_for_each_entry(folio, &queue->split_queue, _deferred_list)``); else None."""
    loop = loop_at(fn, span)
    for arg in loop.args if loop is not None else ():
        why = unreferenced_head(fn, arg, lists)
        if why:
            return why
    return None


def unreferenced_head(fn: Function, head: Expr, lists: frozenset[str]) -> str | None:
    """Why ``head`` is the head of a list whose membership holds no reference: it is the
    address of a field ``lists`` names (``&lruvec->lists[lru]``), or a local variable
    the function sets to one (flow-insensitively); else None."""
    field = _head_field(head)
    if field is None and isinstance(head, Name):
        for node in walk(fn.body):
            target = node.target if isinstance(node, Assign) else \
                Name(node.name) if isinstance(node, Decl) else None
            value = node.value if isinstance(node, Assign) else \
                node.init if isinstance(node, Decl) else None
            if isinstance(target, Name) and target.id == head.id and value is not None:
                field = field or _head_field(value)
    return MEMBER.format(head=f"'{field}'") if field in lists else None


def _head_field(e: Expr) -> str | None:
    inner = e.operand if isinstance(e, AddrOf) else None
    while isinstance(inner, Index):
        inner = inner.base
    return inner.field if isinstance(inner, Member) else None


# ------------------------------------------------------------------ locks by name
def locks_taken(fn: Function, lockers: frozenset[str]) -> frozenset[str]:
    """The locks ``fn`` takes with one of the calls ``lockers``, by name: the variable or
    field of the lock argument (``spin_lock_irq(&hugetlb_lock)`` -> ``hugetlb_lock``)."""
    out: set[str] = set()
    for node in walk(fn.body):
        if isinstance(node, Call) and node.callee in lockers and node.args:
            lock = node.args[0].operand if isinstance(node.args[0], AddrOf) else node.args[0]
            if isinstance(lock, (Name, Member)):
                out.add(lock.id if isinstance(lock, Name) else lock.field)
    return frozenset(out)


# ------------------------------------------------------------------ own speculative gets
def speculated_params(fn: Function, speculative: dict[str, int],
                      derives: frozenset[str]) -> dict[str, Call]:
    """The parameters of ``fn`` that the function itself takes a speculative reference on
    somewhere (``speculative``: API -> the argument it references), directly or through a
    derivation (``derives``: ``page_folio(page)``, or a local set to one): the get says
    nobody is known to hold the object, so its caller does not.  Each with the call."""
    params = set(fn.params)
    roots: dict[str, set[str | None]] = {}
    for node in walk(fn.body):
        target = node.target.id if isinstance(node, Assign) and isinstance(node.target, Name) \
            else node.name if isinstance(node, Decl) else None
        value = node.value if isinstance(node, Assign) else \
            node.init if isinstance(node, Decl) else None
        if target is not None and value is not None and target not in params:
            roots.setdefault(target, set()).add(_root(value, derives))
    # A local stands for a parameter only if every value it is given derives from it.
    local = {v: next(iter(r)) for v, r in roots.items() if len(r) == 1 and r <= params}
    out: dict[str, Call] = {}
    for node in walk(fn.body):
        if isinstance(node, Call) and node.callee in speculative:
            index = speculative[node.callee]
            arg = node.args[index] if index < len(node.args) else None
            root = _root(arg, derives) if arg is not None else None
            root = local.get(root or "", root)
            if root in params:
                out.setdefault(root, node)
    return out


def _root(e: Expr, derives: frozenset[str]) -> str | None:
    """The variable ``e`` designates, through derivation calls and ``&x->page``."""
    while True:
        if isinstance(e, Call) and e.callee in derives and e.args:
            e = e.args[0]
        elif isinstance(e, AddrOf) and isinstance(e.operand, Member):
            e = e.operand.base
        else:
            return e.id if isinstance(e, Name) else None
