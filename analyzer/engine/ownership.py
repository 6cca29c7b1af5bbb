"""Ownership of references: who holds one after a call, a store, an assignment or a
return - the one hand-over policy of the reference checkers (``checkers/leak.py``).

The engine's :class:`~analyzer.engine.api.Escape` events (policy at the top of
:mod:`analyzer.engine.fixpoint`) say that a tracked object is *used* by a call that may
keep it.  A checker of references also needs to know whether the *reference* went along;
this module decides that, once, for every checker overriding ``on_handover``:

* **Calls** (:func:`handover`, told as a :class:`Handover`): a call takes over the
  references of what its arguments name (the object itself, not what another call
  computes from it: ``f(folio_nr_pages(p))`` keeps ``p``), except a call that puts, gets,
  finds or derives (:func:`effect`: its own event accounts for the object), one modeled
  in a section declared ``HANDS_OVER = False`` (it tests, locks, counts, re-reads, asserts,
  maps the object or hands it over on one result only), and except the arguments a ``ref_borrow`` entry
  names (used, not kept).  An unknown callee or a function pointer takes everything
  over (precision first).  ``HANDS_OVER = False`` is wider than the object-neutral sections of
  ``Escape`` (``ESCAPES = False``): a lock, a test or a carrier *uses* the object.
* **Ends** (:meth:`Owners.end`, :meth:`Owners.drop`): a put of the right count, a
  hand-over; the origins some path ends are the references the function manages.
* **On one result** (:meth:`Owners.hand_over`): a ``ref_handover`` call
  (``filemap_add_folio()``) takes the reference over except on the result it names.
* **Views** (:meth:`Owners.link`): ``folio = grab(page)``, ``page = &folio->page``,
  ``entry = mk_pte(page)`` (a ``CARRIERS`` section) name one object under two names.
* **Local storage** (:meth:`Owners.store`): a store into a local array not assigned as a
  whole (``pages[i] = page``) or into a member of a local struct (``s.page = page``)
  keeps the reference the function's; a store through a pointer or into a global hands
  it over.
* **Parameters that leave** (:meth:`Owners.leave`): a parameter named in what a call
  takes over, or that is the value stored, assigned or returned (also through a local
  view of it, ``addr = page_address(p)``) leaves the function; one that does not, or that
  the function gets a reference of its own on, is borrowed (:meth:`Owners.borrowed`, the
  ``ref_borrow`` summary of the function).

A checker keeps one :class:`Owners` per run (:func:`start` in ``on_entry``, :func:`of`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from analyzer.engine import values
from analyzer.engine.api import Context, Handover
from analyzer.engine.keys import is_computed, root_variable
from analyzer.ir import AddrOf, Call, Expr, Index, Literal, Member, Name, Opaque, walk
from analyzer.models import sections
from analyzer.result import Step

#: What a call does to references, in this order (:func:`effect`): a put, a get, a source
#: (a lookup, an allocation, GUP), a derivation.  Its own event accounts for the object.
PUTS = ("release", "ref_release")
EFFECTS = (*PUTS, "acquire", "ref_source", "derive")
BORROW = "ref_borrow"            # calls that use (some) arguments without keeping them
CARRIERS = ("ref_carrier",)      # values made of an object besides derivations


def effect(ctx: Context, call: Call) -> str | None:
    """The one thing ``call`` does to references, the first of ``EFFECTS`` it has: a put
    (a rule-file ``ref_borrow`` beats a same-file put summary), an unconditional get
    (a try-get is decided on its edges), a source, a derivation; None: none."""
    def get(section: str) -> Any:
        return ctx.models.get(section, call.callee)
    put = get(PUTS[0]) or get(PUTS[1])
    if put is not None and not (put.source == "summary" and get(BORROW)):
        return str(put.section)
    if (m := get("acquire")) is not None and not m.spec.conditional():
        return "acquire"
    return next((s for s in EFFECTS[3:] if get(s) is not None), None)


def handover(ctx: Context, call: Call) -> Handover | None:
    """What ``call`` may take the references of (see the policy); None: nothing."""
    if effect(ctx, call) is not None or any(
            (typ := sections().get(m.section)) is not None and not typ.HANDS_OVER
            for m in ctx.models.of(call.callee)):
        return None
    borrow = ctx.models.get(BORROW, call.callee)
    kept = range(len(call.args)) if borrow is None or borrow.spec.args is None \
        else borrow.spec.args
    given = tuple(a for i, a in enumerate(call.args) if borrow is None or i not in kept)
    return Handover(call, given) if given else None


@dataclass
class Owners:
    """What one run over a function learns about who owns what."""

    locals: frozenset[str]                            # what dies with the function
    params: tuple[str, ...]
    assigned: set[str] = field(default_factory=set)  # locals assigned as a whole
    escaped: set[str] = field(default_factory=set)   # parameters that leave the function
    gets: set[str] = field(default_factory=set)      # parameters it gets a reference on
    derived: dict[str, str] = field(default_factory=dict)  # page = folio_file_page(param)
    alias: dict[str, str] = field(default_factory=dict)    # folio = page_folio(page)
    ended: set[Any] = field(default_factory=set)     # origins some path ends: managed

    # -- queries
    def owned(self, key: str) -> bool:
        """``key`` is a local of the function (no parameter): it dies at the exit."""
        return key in self.locals and key not in self.params

    def local(self, keys: Iterable[Any]) -> bool:
        """Every key (and the object it is a view of) is a local of the function."""
        return all(self.owned(k) and self.owned(self.alias.get(k, k)) for k in keys)

    def callers(self, key: str) -> bool:
        """``key`` is kept in the caller's storage (``pages[i]``, ``vmf->page``)."""
        return key not in self.params and root_variable(key) in self.params

    def is_global(self, target: str) -> bool:
        return target.isidentifier() and target not in self.locals | set(self.params)

    def held(self, ctx: Context, typ: type[Any], exprs: Iterable[Expr],
             parts: bool = False) -> list[tuple[str, Any]]:
        """The ``typ`` states of what ``exprs`` name, views included (``parts``: only the
        sub-expressions that may be the object itself, :func:`parts`)."""
        each: Callable[[Any], Iterable[Any]] = (lambda e: values.parts(ctx, e, CARRIERS)) \
            if parts else walk
        return values.held(ctx, typ, exprs, self.alias, each)

    def managed(self, state: Any) -> bool:
        """The function ends a reference of ``state``'s origin on some path."""
        return state.origin in self.ended

    def sole(self, ctx: Context, typ: type[Any], key: str, state: Any) -> bool:
        """No named place but ``key`` holds ``state`` (a computed path names none)."""
        return not any(k != key and isinstance(k, str) and not is_computed(k)
                       for k in values.holders(ctx, typ, state))

    def borrowed(self) -> tuple[int, ...]:
        """The parameters the function borrows: never let go, or got a reference on."""
        return tuple(i for i, p in enumerate(self.params)
                     if p not in self.escaped or p in self.gets)

    # -- events
    def end(self, ctx: Context, typ: type[Any], state: Any) -> None:
        """``state``'s reference ends here (dropped, handed over), under every name."""
        self.ended.add(state.origin)
        values.forget(ctx, typ, {state})

    def hand_over(self, ctx: Context, typ: type[Any], ev: Any) -> None:
        """A call that takes the reference of ``ev.obj`` over on one result only (the
        ``kept`` of a ``ref_handover`` entry): its states hold from here on only where the
        result (``result``/``when``, see :mod:`analyzer.engine.values`) says it did not."""
        self.leave(ctx, ev.call.args)
        res = ctx.dest.get(id(ev.call)) or ev.result
        got = {r for _, r in self.held(ctx, typ, [ev.obj] if ev.obj is not None else [])}
        ctx.rewrite(typ, lambda _, r: replace(r, result=res, when=ev.m.kept) if r in got
                    else r)

    def drop(self, ctx: Context, typ: type[Any], held: Iterable[tuple[Any, Any]],
             n: int | str, says: Callable[[Any], Step]) -> None:
        """``n`` references dropped from each ``(key, state)`` of ``held`` still there: a
        state counting more keeps the rest (``says(state)``, the step), the others end."""
        for key, r in held:
            if r not in ctx.states_of(key, typ):
                continue
            left = r.count - n if isinstance(r.count, int) and isinstance(n, int) else 0
            if left <= 0:
                self.end(ctx, typ, r)
                continue
            ctx.rewrite(typ, lambda _, s, r=r, left=left: replace(r, count=left) if s == r
                        else s, says(r))

    def got(self, key: str | None) -> None:
        """The function gets a reference of its own on ``key``: what it hands over is
        its own (a parameter, or what the parameter it was derived from)."""
        self.gets.update(k for k in (key, self.derived.get(key or "")) if k in self.params)

    def leave(self, ctx: Context, exprs: Iterable[Expr], direct: bool = False,
              views: bool = True) -> None:
        """Parameters that leave the function: named in a call's arguments (not only
        inside what another call computes from them), or (``direct``) as the value itself
        (``p``, ``&p->f``, ``page_folio(p)``), also through a local holding a view of it
        (``f(addr)`` after ``addr = page_address(p)``).  Without ``views`` (kept in a
        local, returned) a view leaves the reference with the caller, who still holds the
        object itself."""
        for e in exprs:
            names = values.parts(ctx, e, CARRIERS) if not direct else \
                [ctx.made_of(e, CARRIERS if views else ())]
            whole = ctx.strip(e)
            view = self.alias.get(whole.id) if views and isinstance(whole, Name) else None
            self.escaped |= {x.id for x in names if isinstance(x, Name)} | (
                {view} if view is not None else set())

    def assign(self, ctx: Context, target: str, value: Expr) -> None:
        """``target = value`` before the states move: what leaves, what derives."""
        if not (isinstance(value, Opaque) and not value.text):    # not a bare declaration
            self.assigned.add(target)
        self.leave(ctx, [value], direct=True, views=not self.owned(target))
        if isinstance(frm := ctx.derived_from(value), Name):     # not an element: pages[i]
            self.derived[target] = frm.id

    def link(self, ctx: Context, typ: type[Any], target: str, value: Expr) -> None:
        """``folio = grab(page)``, ``page = &folio->page``, ``entry = mk_pte(page)``: one
        object under both names; ``page = pages[i]``: one of the array's ``typ`` states."""
        m = ctx.models.get("acquire", value.callee) if isinstance(value, Call) else None
        grab = isinstance(value, Call) and m is not None and bool(m.spec.returns_object)
        arg = ctx.arg(value, m.spec.arg) if grab and m is not None else value  # type: ignore[arg-type]
        if arg is not None and (grab or (isinstance(arg, (Call, AddrOf)) and ctx.made_of(
                arg, CARRIERS) is not arg)) and (
                src := ctx.key(ctx.made_of(arg, CARRIERS))) not in (None, target):
            self.alias[target] = src
        if isinstance(value, Index):
            base = ctx.designated(value.base, elements=True)
            for r in ctx.states_of(base, typ):
                ctx.add(target, r, ctx.trail(base, r))

    def store(self, ctx: Context, typ: type[Any], target: Expr, value: Expr) -> bool:
        """``target = value`` into memory: into local storage the ``typ`` states of the
        value move to the local (still the function's, its ``holder`` now); False: the
        value leaves for another owner."""
        root = target.base if isinstance(target, (Index, Member)) else None
        if not (isinstance(root, Name) and self.owned(root.id) and (
                root.id not in self.assigned if isinstance(target, Index) else
                isinstance(target, Member) and not target.arrow)):
            self.leave(ctx, [value], direct=True)
            return False
        for k, r in self.held(ctx, typ, [value], parts=True):
            ctx.add(root.id, replace(r, holder=root.id), ctx.trail(k, r))
            values.forget(ctx, typ, {r})
        return True


def receiver(ctx: Context, e: Expr | None) -> str | None:
    """The object a get or a source's argument gives a reference to: tracked, else its
    object (``&folio->page`` is ``folio``).  A constant receives nothing (a call read
    with another version's argument order: ``0`` where the out-parameter was)."""
    if e is None or isinstance(e, Literal):
        return None
    return ctx.designated(e, derive=True) or ctx.object_of(
        e.operand if isinstance(e, AddrOf) and isinstance(e.operand, Name) else e)


def start(ctx: Context) -> Owners:
    own = ctx.scratch["owners"] = Owners(ctx.declared(), tuple(ctx.function.params))
    return own


def of(ctx: Context) -> Owners:
    own: Owners = ctx.scratch["owners"]
    return own
