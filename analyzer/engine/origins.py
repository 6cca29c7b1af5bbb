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
to the PFN of an object (``page_to_pfn(page)``: walking that object's pages) other than
to skip ahead inside the loop's body; it is a
stored PFN when it is assigned ``READ_ONCE(p->field)``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer.engine.effects import is_zero
from analyzer.engine.keys import Attached
from analyzer.ir import (
    AddrOf,
    Assign,
    Binary,
    Call,
    Decl,
    Deref,
    Expr,
    For,
    Function,
    Index,
    IterLoop,
    Literal,
    Member,
    Name,
    Opaque,
    Span,
    Unary,
    walk,
)
from analyzer.models import Model, Models
from analyzer.models.schema import ArgSection, Section, arg_section, option, register


# ------------------------------------------------------------------ their sections
# (try-get-without-ref's, rules/tryget.toml): origin-only, none makes a call known.
@register
@dataclass(frozen=True, slots=True)
class PfnPage(ArgSection):
    """calls that map a PFN to its page or folio (pfn_to_page): the page is unheld when
    the PFN's origin holds nothing (a PFN walk, a stored PFN)"""
    NAME, ARG_DOC, KNOWS = "pfn_page", "argument that is the PFN", False
    online: bool | None = option(bool, doc="maps any PFN, online or not: only needed when "
                                           "nothing holds the page (pfn_to_online_page)")
    always: str | None = option(str, doc="why the page is unheld whatever the PFN's origin "
                                         "(a migration entry's page: migration freezes its "
                                         "count)")


@register
@dataclass(frozen=True, slots=True)
class UnheldList(Section):
    """lists whose membership holds no reference, by the field that is their head
    (a deferred-split queue, hugetlb's lists): their members' count may be zero"""
    NAME, EVENT, OBJ, KNOWS = "unheld_list", None, None, False
    struct: str | None = option(str, doc="the struct the head is a field of")

Owned = arg_section("owned", "calls after which the function owns the page, taken off the "
                    "free lists (take_page_off_buddy()): its count is the owner's to set",
                    knows=False, conditional=True)
PfnMap = arg_section("pfnmap", "calls that find a PFN which carries no reference: of a "
                     "PFNMAP/IO mapping (follow_pte()), or returned in an entry read without "
                     "a lock (swap_table_get())", knows=False, required=False,
                     arg_doc="argument the PFN's source is stored through (none: returned)")


@register
@dataclass(frozen=True, slots=True)
class UnheldCalls(Section):
    """what a function passes unheld to the functions it calls (:func:`unheld_calls`): a
    summary pass 1 carries to the callees' files, never a fact about the function itself"""
    NAME, EVENT, OBJ, KNOWS = "unheld_calls", None, None, False
    calls: tuple | None = option(tuple, list, doc="(callee, argument index, why, snapshot, "
                                                  "line, column), one per argument passed")


PlainGet = arg_section("plain_get", "functions that take a plain get (needs_ref) on the "
                       "object of an argument without a reference of their own: a summary",
                       knows=False)
ListWalk = arg_section("list_walk", "walks of a list that call back a function with each "
                       "item as its first argument (list_lru_walk()): the callback is handed "
                       "an unheld item when the list (the first argument) is an unheld_list",
                       knows=False, arg_doc="argument that is the callback")
ListMember = arg_section("list_member", "calls that yield a member of a list (lru_to_folio): "
                         "unheld when the list is an unheld_list", knows=False,
                         arg_doc="argument that is the list's head")


@register
@dataclass(frozen=True, slots=True)
class UnheldTest(ArgSection):
    """tests that, made under the lock that guards what they test, say the object may be
    freed under the function (folio_test_hugetlb() under hugetlb_lock): nothing holds it"""
    NAME, ARG_DOC, KNOWS = "unheld_test", "argument whose object is tested", False
    lock: str | None = option(str, required=True, doc="the spinlock, by name")


if TYPE_CHECKING:
    from analyzer.engine.api import Context

#: Calls whose value is the PFN of an object (held or not, it is that object's).
OBJECT_PFNS = frozenset({"page_to_pfn", "folio_pfn", "pte_pfn", "pmd_pfn", "pud_pfn"})
#: Calls whose value is the first page of an object the caller has (its own memory):
#: a pointer stepped from one walks that object's pages.
OBJECT_PAGES = frozenset({"virt_to_page", "virt_to_head_page"})

WALKED = "the induction variable of a loop over a PFN range: a PFN walk holds no reference"
STORED = "a PFN read with READ_ONCE() from a struct field: a stored PFN holds no reference"
PFNMAP = ("the PFN of a PFNMAP/IO mapping found by {api}(): such a PFN carries no reference "
          "even under the page-table lock")

RETURNED = ("an entry {api}() read without a lock: the PFN it encodes carries no "
            "reference")

_last: tuple[Function | None, object, dict[str, str]] = (None, None, {})


def pfnmap_calls(models: Models) -> dict[str, int | None]:
    """The ``pfnmap`` entries: API -> the argument it fills in (``&ptep``, ``&args``), None
    for an entry it returns."""
    return {n: m.get("arg") for n in models.names("pfnmap")
            if (m := models.get("pfnmap", n)) is not None}


def unreferenced_pfns(fn: Function, pfnmap: dict[str, int | None] | None = None
                      ) -> dict[str, str]:
    """The variables of ``fn`` that hold a PFN carrying no reference, each with why;
    ``pfnmap`` (:func:`pfnmap_calls`) names the calls that find a PFNMAP/IO mapping's PFN:
    ``pfn = pte_pfn(*ptep)`` after ``follow_pte(.., &ptep, ..)``, ``pfn = args.pfn``
    after ``follow_pfnmap_start(&args)``."""
    global _last
    if _last[0] is fn and _last[1] == pfnmap:
        return _last[2]
    out: dict[str, str] = {}
    stepped: set[str] = set()
    of_object: set[str] = set()
    filled = _filled(fn, pfnmap or {})
    # a skip ahead in a walk's body (past a compound page: pfn = page_to_pfn(head) + n - 1)
    # does not make the walk one over that object's pages
    skips = {(id(n), v) for loop in walk(fn.body) if isinstance(loop, For)
             for v in _stepped(loop) for n in walk(loop.body)}
    for node in walk(fn.body):
        if isinstance(node, For):
            stepped |= _stepped(node)
        elif isinstance(node, (Assign, Decl)):
            target = node.target if isinstance(node, Assign) else Name(node.name)
            value = node.value if isinstance(node, Assign) else node.init
            if isinstance(target, Name) and value is not None and _object_pfn(value) \
                    and (id(node), target.id) not in skips:
                of_object.add(target.id)
            if (isinstance(target, Name) and isinstance(value, Call)
                    and value.callee == "READ_ONCE" and value.args
                    and isinstance(value.args[0], Member)):
                out.setdefault(target.id, STORED)
            if isinstance(target, Name) and value is not None and (
                    api := _of_filled(value, filled)):
                out.setdefault(target.id, PFNMAP.format(api=api))
            if isinstance(target, Name) and isinstance(value, Call) and pfnmap \
                    and value.callee in pfnmap and pfnmap[value.callee] is None:
                out.setdefault(target.id, RETURNED.format(api=value.callee))
    for name in stepped - of_object:
        out[name] = WALKED
    _last = (fn, pfnmap, out)
    return out


def _filled(fn: Function, pfnmap: dict[str, int | None]) -> dict[str, str]:
    """The variables ``fn`` passes by address to a ``pfnmap`` call: variable -> the call."""
    out: dict[str, str] = {}
    for node in walk(fn.body) if pfnmap else ():
        index = pfnmap.get(node.callee or "") if isinstance(node, Call) else None
        if isinstance(node, Call) and index is not None and index < len(node.args):
            arg = node.args[index]
            if isinstance(arg, AddrOf) and isinstance(arg.operand, Name):
                out[arg.operand.id] = node.callee or ""
    return out


def _of_filled(value: Expr, filled: dict[str, str]) -> str | None:
    """The pfnmap call whose result ``value`` reads: ``args.pfn``, ``pte_pfn(*ptep)``."""
    if isinstance(value, Member) and value.field == "pfn" and isinstance(value.base, Name):
        return filled.get(value.base.id)
    if isinstance(value, Call) and value.callee == "pte_pfn" and value.args:
        inner = value.args[0]
        if isinstance(inner, Call) and inner.callee == "ptep_get" and inner.args:
            inner = inner.args[0]
        inner = inner.operand if isinstance(inner, Deref) else inner
        return filled.get(inner.id) if isinstance(inner, Name) else None
    return None


def _stepped(loop: For) -> set[str]:
    out: set[str] = set()
    for e in walk(loop.step) if loop.step is not None else ():
        if isinstance(e, Unary) and "++" in e.op and isinstance(e.operand, Name):
            out.add(e.operand.id)
        elif isinstance(e, Assign) and e.op == "+=" and isinstance(e.target, Name):
            out.add(e.target.id)
    return out


def _object_pfn(init: object) -> bool:
    """The loop starts from the PFN (or page) of an object: it walks that object's pages."""
    return any(isinstance(e, Call) and e.callee in OBJECT_PFNS | OBJECT_PAGES
               for e in walk(init))  # type: ignore[arg-type]


# ------------------------------------------------------------------ asserted counts
def asserted_counted(fn: Function, warns: frozenset[str],
                     reads: frozenset[str]) -> frozenset[str]:
    """The variables whose count ``fn`` asserts is not zero (``VM_BUG_ON_PAGE(
    !page_count(page), page)``: ``warns`` the assertions, ``reads`` the count reads): the
    function states that a reference is held on them, whatever their origin."""
    out: set[str] = set()
    for node in walk(fn.body):
        if isinstance(node, Call) and node.callee in warns and node.args:
            cond = node.args[0]
            if isinstance(cond, Unary) and cond.op == "!":
                cond = cond.operand
            elif isinstance(cond, Binary) and cond.op in ("==", "<=") and \
                    isinstance(cond.right, Literal) and cond.right.text == "0":
                cond = cond.left
            else:
                continue
            if isinstance(cond, Call) and cond.callee in reads and cond.args \
                    and isinstance(cond.args[0], Name):
                out.add(cond.args[0].id)
    return frozenset(out)


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
    """The field (or global: ``&deferred_split_lru``) whose address ``e`` is."""
    inner = e.operand if isinstance(e, AddrOf) else None
    while isinstance(inner, Index):
        inner = inner.base
    return inner.field if isinstance(inner, Member) else \
        inner.id if isinstance(inner, Name) else None


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


def param_field(fn: Function, key: str | None) -> str | None:
    """The parameter whose struct ``key`` is a field of (``vmf->page``: ``vmf``), or None."""
    base = re.match(r"(\w+)(?:->|\.)\w", key or "")
    return base.group(1) if base and base.group(1) in fn.params else None


def _root(e: Expr, derives: frozenset[str]) -> str | None:
    """The variable ``e`` designates, through derivation calls and ``&x->page``."""
    while True:
        if isinstance(e, Call) and e.callee in derives and e.args:
            e = e.args[0]
        elif isinstance(e, AddrOf) and isinstance(e.operand, Member):
            e = e.operand.base
        else:
            return e.id if isinstance(e, Name) else None


# ------------------------------------------------------------------ callers' unheld objects
CALLER = "{caller}() passes '{arg}' here: {why}"
SNAPSHOT = ("a page-table entry read without a lock by {api}(): a snapshot, whose page may be "
            "freed meanwhile")


@dataclass(frozen=True, slots=True)
class _Vocab:
    """The model names the caller-side facts read."""

    derives: frozenset[str]
    gets: frozenset[str]
    pfn_pages: frozenset[str]
    online: frozenset[str]
    members: frozenset[str]
    lists: frozenset[str]
    snapshots: frozenset[str]
    pfnmap: dict[str, int | None]
    owned: frozenset[str]
    walks: dict[str, int]

    @staticmethod
    def of(models: Models) -> _Vocab:
        # the explicitly lockless reads of an entry's value (ptep_get_lockless()): not
        # READ_ONCE() or an RCU lookup, which callers under a lock make too
        plain = frozenset(n for n in models.names("lockless_read", value=True)
                          if (m := models.get("lockless_read", n)) is not None
                          and not m.get("rcu") and not m.get("deref_only"))
        return _Vocab(models.names("derive") | OBJECT_PFNS, models.names("acquire"),
                      models.names("pfn_page"), models.names("pfn_page", online=True),
                      models.names("list_member"), models.names("unheld_list"), plain,
                      pfnmap_calls(models), models.names("owned"),
                      {n: m.get("arg", 0) for n in models.names("list_walk")
                       if (m := models.get("list_walk", n)) is not None})


#: Why a caller's variable is unheld, and whether it is a snapshot of a page-table entry
#: (whose page a callee may pin under the page-table lock after re-checking the entry).
Why = tuple[str, bool]
#: How a caller passes a parameter unheld: (why, snapshot, line, column, the caller's
#: file: "" for the callee's own).
Passed = tuple[str, bool, int, int, str]


def unheld_args(functions: Iterable[Function], models: Models,
                elsewhere: dict[str, list[tuple]] | None = None) -> list[Model]:
    """``[unheld_args.f]`` for each function ``f`` of the file that some caller in the
    file passes, as an argument, an object, PFN or page-table entry the caller holds no
    reference to: ``args`` = ((index, why, snapshot, line, column of the call), ...).  A
    caller-side fact for a bottom-up analysis: ``scan_folios()`` hands ``isolate_folio()``
    a member of an LRU list, ``unpoison_memory()`` hands ``get_hwpoison_page()`` the page
    of any online PFN, GUP-fast hands its leaf handlers the entry it read locklessly.

    Flow-insensitive in the caller, precision first: a variable is unheld when every
    value it is given is unheld (the page of an unheld PFN, a member of an unheld_list,
    an iterator's cursor over one, a lockless snapshot, a derivation of such, a parameter
    some caller passes unheld), and the caller takes no reference on it before the call.
    Transitive over the file's calls (to a fixpoint).  ``elsewhere``: what callers in
    other files pass the file's visible functions (:func:`unheld_calls`, through pass 1's
    table: name -> (index, why, snapshot, line, column, caller's file)); an entry of
    ``args`` from one has that file as a sixth item."""
    fns = [f for f in functions if f.body is not None]
    by_name = {f.name: f for f in fns}
    vocab = _Vocab.of(models)
    owning = _owning(fns, vocab)
    found: dict[str, dict[int, Passed]] = {}
    for name, calls in (elsewhere or {}).items():     # callers in other files (pass 1)
        f = by_name.get(name)
        for i, why, snap, line, col, path in calls if f is not None and not f.static else ():
            if i < len(f.params) and (name, i) not in owning:  # type: ignore[union-attr]
                found.setdefault(name, {}).setdefault(i, (why, snap, line, col, path))
    changed = True
    while changed:
        changed = False
        for caller in fns:
            unheld = _unheld_locals(caller, found.get(caller.name, {}), vocab)
            held = _first_gets(caller, vocab)     # a get before the call holds it
            for node in walk(caller.body):
                if isinstance(node, Call) and node.callee in vocab.walks:
                    changed |= _walk_callback(caller, node, by_name, vocab, found)
                callee = by_name.get(node.callee or "") if isinstance(node, Call) else None
                if callee is None or not isinstance(node, Call):
                    continue
                for i, why, snap in _passed(caller, node, unheld, held, vocab):
                    if i < len(callee.params) and i not in found.get(callee.name, {}) \
                            and (callee.name, i) not in owning:
                        found.setdefault(callee.name, {})[i] = (
                            why, snap, node.span.line, node.span.col, "")
                        changed = True
    return [Model.make("unheld_args", name,
                       {"args": tuple((i, *(v if v[4] else v[:4]))
                                      for i, v in sorted(args.items())),
                        "static": by_name[name].static})
            for name, args in sorted(found.items())]


def caller_origins(models: Models) -> frozenset[str]:
    """The names a body must hold for :func:`unheld_calls` to find something: the origins
    of an unheld object (a PFN's page, a lockless snapshot, an unheld list's head, a
    PFNMAP lookup).  A file that names none passes nothing unheld."""
    v = _Vocab.of(models)
    return v.pfn_pages | v.snapshots | v.lists | frozenset(v.pfnmap)


def unheld_calls(fn: Function, models: Models) -> tuple[tuple, ...]:
    """The caller side of :func:`unheld_args` for callees in other files: (callee, index,
    why, snapshot, line, column) for each argument ``fn`` passes a function no rule file
    models (a primitive's argument is its model's business) that is an object, PFN or
    entry ``fn`` holds no reference to, by the same policy (no get of ``fn``'s before the
    call).  Parameters ``fn``'s own callers pass unheld are not followed (a fact of
    ``fn``'s file, not of ``fn``)."""
    if fn.body is None:
        return ()
    vocab = _Vocab.of(models)
    unheld = _unheld_locals(fn, {}, vocab)
    if not unheld:
        return ()
    held = _first_gets(fn, vocab)
    out: dict[tuple[str, int], tuple] = {}
    for node in walk(fn.body):
        if not isinstance(node, Call) or node.callee is None or any(
                m.source != "summary" for m in models.of(node.callee)):
            continue
        for i, why, snap in _passed(fn, node, unheld, held, vocab):
            out.setdefault((node.callee, i), (node.callee, i, why, snap, node.span.line,
                                              node.span.col))
    return tuple(out[k] for k in sorted(out))


def _passed(caller: Function, call: Call, unheld: dict[str, Why],
            held: dict[str, tuple[int, int]], vocab: _Vocab) -> list[tuple[int, str, bool]]:
    """(index, why, snapshot) of each argument of ``call`` that ``caller`` passes unheld
    (``unheld``) without a get of its own before the call (``held``)."""
    at = (call.span.line, call.span.col)
    out = []
    for i, arg in enumerate(call.args):
        root = _root(arg, vocab.derives)
        if root is not None and root in unheld and held.get(root, at) >= at:
            why, snap = unheld[root]
            out.append((i, CALLER.format(caller=caller.name, arg=root, why=why), snap))
    return out


def _walk_callback(caller: Function, call: Call, by_name: dict[str, Function],
                   vocab: _Vocab, found: dict[str, dict[int, Passed]]) -> bool:
    """A list walk of an unheld list hands its callback (a function of the file) each
    item unheld, as its first argument: record it; whether it is new."""
    index = vocab.walks[call.callee or ""]
    cb = call.args[index] if index < len(call.args) else None
    why = call.args and unreferenced_head(caller, call.args[0], vocab.lists)
    if not why or not isinstance(cb, Name) or cb.id not in by_name or 0 in found.get(cb.id, {}):
        return False
    found.setdefault(cb.id, {})[0] = (f"{caller.name}() has {call.callee}() hand it the items "
                                      f"of the list: each is {why}", False,
                                      call.span.line, call.span.col, "")
    return True


def _owning(fns: list[Function], vocab: _Vocab) -> set[tuple[str, int]]:
    """(function, parameter index) for the parameters a function of the file takes off
    the free lists (take_page_off_buddy()), itself or through a function of the file that
    does: it handles unheld pages itself, their counts are its own to set."""
    out: set[tuple[str, int]] = set()
    index = {f.name: i for i, f in enumerate(fns)}
    changed = True
    while changed:
        changed = False
        for f in fns:
            for n in walk(f.body):
                if not isinstance(n, Call) or n.callee is None:
                    continue
                callee = fns[index[n.callee]] if n.callee in index else None
                for j, a in enumerate(n.args):
                    if n.callee not in vocab.owned and (
                            callee is None or (callee.name, j) not in out):
                        continue
                    root = _root(a, vocab.derives)
                    if root in f.params and (f.name, f.params.index(root)) not in out:
                        out.add((f.name, f.params.index(root)))
                        changed = True
    return out


def _unheld_locals(fn: Function, params: dict[int, Passed], vocab: _Vocab
                   ) -> dict[str, Why]:
    """The variables of ``fn`` that designate, for every value they are given, an object,
    PFN or entry ``fn`` holds no reference to, each with why (see :func:`unheld_args`)."""
    # every value a variable is given: an expression, or why it is unheld (a parameter,
    # an iterator's cursor: "" for a cursor over another list)
    values: dict[str, list[Expr | Why]] = {
        fn.params[i]: [(f"its caller passes it unheld ({f'{path}:' if path else 'line '}{ln}): {w}",
                      snap)]
        for i, (w, snap, ln, _, path) in params.items() if i < len(fn.params)}
    for node in walk(fn.body):
        if isinstance(node, (Assign, Decl)):
            target = node.target if isinstance(node, Assign) else Name(node.name)
            value = node.value if isinstance(node, Assign) else node.init
            if isinstance(target, Name) and value is not None and not is_zero(value):
                values.setdefault(target.id, []).append(value)    # NULL: no object
        elif isinstance(node, IterLoop) and isinstance(node.cursor, Name):
            why = next((w for a in node.args if (w := unreferenced_head(fn, a, vocab.lists))),
                       "")
            values.setdefault(node.cursor.id, []).append((why, False))
    out: dict[str, Why] = {v: (w, False) for v, w in unreferenced_pfns(fn, vocab.pfnmap).items()}
    for _ in range(3):                      # derivations of derivations
        for var, vals in values.items():
            if var in out:
                continue
            whys = [v if isinstance(v, tuple) else _unheld_value(fn, v, out, vocab)
                    for v in vals]
            if whys and all(w is not None and w[0] for w in whys):
                out[var] = whys[0]  # type: ignore[assignment]
    return out


def _first_gets(fn: Function, vocab: _Vocab) -> dict[str, tuple[int, int]]:
    """Where ``fn`` first takes a reference on each variable (a get of any kind on it or
    on a derivation of it), by place in its text."""
    out: dict[str, tuple[int, int]] = {}
    for node in walk(fn.body):
        if isinstance(node, Call) and node.callee in vocab.gets:
            at = (node.span.line, node.span.col)
            for a in node.args:
                r = _root(a, vocab.derives)
                if r is not None and at < out.get(r, (1 << 30, 0)):
                    out[r] = at
    return out


def _unheld_value(fn: Function, value: Expr, unheld: dict[str, Why],
                  vocab: _Vocab) -> Why | None:
    while isinstance(value, Binary) and value.op in ("+", "-"):     # pmd_page(e) + i
        value = value.left
    if not isinstance(value, Call):
        return unheld.get(_root(value, vocab.derives) or "")
    if value.callee in vocab.online:
        return "the page of pfn_to_online_page(), which serves any online PFN", False
    if value.callee in vocab.snapshots:
        return SNAPSHOT.format(api=value.callee), True
    if value.callee in vocab.members and value.args:
        why = unreferenced_head(fn, value.args[0], vocab.lists)
        if why:
            return why, False
    if value.callee in vocab.pfn_pages | vocab.derives and value.args:
        return _unheld_value(fn, value.args[0], unheld, vocab)
    return None
