"""Engine facts for checkers of lockless walkers (the grab-and-revalidate protocol): what a
parameter brings (a by-value page-table entry is a lockless snapshot), which parameter
an access path starts from, what a held spinlock pins, what a derivation re-reads, and
what a returned value tells the callers.  Mechanics only: no checker state here, the
checker passes the states it keeps (any type) and reads the answers.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from analyzer.engine.api import Context, Event, Recheck, Source
from analyzer.engine.keys import Key, root_variable
from analyzer.ir import Binary, Call, Expr
from analyzer.models.core import Acquire, Derive
from analyzer.models.schema import arg_section

S = TypeVar("S")
T = TypeVar("T")
W = TypeVar("W", bound="Walked")

# Parameters of these types (``pmd_t orig``) are snapshots of an entry the caller read
# locklessly: what they map must be re-checked against the live entry (issue 12 b).
Snapshot = arg_section("snapshot", "page-table entry types: a by-value parameter is a "
                       "lockless snapshot", event=None, required=False)


def param_sources(ctx: Context) -> Iterator[tuple[int, str, frozenset[Source]]]:
    """Each parameter ``(index, name, the sources it brings)``: a by-value page-table
    entry (a ``snapshot`` type) is its own source to re-check; anything else brings none."""
    fn, snapshot = ctx.function, ctx.models.names("snapshot")
    for i, p in enumerate(fn.params):
        ty = fn.param_types[i] if i < len(fn.param_types) else ""
        yield i, p, frozenset({Source(p)} if ty in snapshot else ())


def param_index(ctx: Context, key: str | None) -> int:
    """The index of the parameter the access path ``key`` starts from (``vmf->page``:
    ``vmf``'s), else -1."""
    params = ctx.function.params
    root = root_variable(key) if key else None
    return params.index(root) if root in params else -1


def unpinned(ctx: Context, sources: frozenset[Source]) -> frozenset[Source]:
    """The ``sources`` a spinlock held on every path here does not pin: it pins the
    membership of every folio and the page-table entries the function was given (its
    parameters)."""
    if not ctx.holds("spin"):
        return sources
    params = ctx.function.params
    return frozenset(p for p in sources if not (p.membership or p.key in params))


def listed(sources: Iterable[Source]) -> str:
    """Sources for a message: ``'ptep', 'pmdp', 'page_folio(page)'`` (memberships last)."""
    return ", ".join(f"'{p.key}'" for p in sorted(sources, key=lambda p: (p.membership,
                                                                          p.key)))


def membership(ctx: Context, ev: Event[Derive]) -> str | None:
    """The result of a derivation that re-reads a page's folio membership (a ``reread``
    model deriving an object, ``page_folio(page)``): the key holding that folio."""
    return ev.result if ctx.spec("reread", ev.api) and not ev.m.value else None


def summarize_return(ctx: Context, value: Expr, kind: str,
                     params: Callable[[str | None, bool], Iterable[int]]) -> None:
    """What a returned ``value`` tells the callers (for their summaries): a re-check of a
    parameter's source (``revalidate``); a get of ``kind`` on an object of a parameter
    (``params(key, False)``: the parameters whose objects ``key`` holds), as the model
    returned says (``acquire``); else an object of a parameter holding such a get not
    re-checked (``params(key, True)``)."""
    if (rc := ctx.returned_recheck(value)) is not None:
        ctx.summarize_returned("revalidate", rc[1], rc[2], arg=rc[0])
        return
    acq = ctx.spec("acquire", value.callee) if isinstance(value, Call) else None
    if isinstance(acq, Acquire) and acq.kind == kind and isinstance(value, Call):
        for i in params(ctx.designated(ctx.arg(value, acq.arg)), False):
            ctx.summarize_returned("acquire", True, acq, arg=i, kind=kind,
                                   returns_object=bool(acq.returns_object))
        return
    for i in params(ctx.designated(value), True):
        ctx.summarize_returned("acquire", True, arg=i, kind=kind, returns_object=True)


def gather(ctx: Context, keys: Iterable[Key | None], typ: type[S],
           fn: Callable[[S], Iterable[T]]) -> frozenset[T]:
    """The union of ``fn(state)`` over the ``typ`` states of ``keys``."""
    return frozenset(x for k in keys for s in ctx.states_of(k, typ) for x in fn(s))


def rewrite_where(ctx: Context, typ: type[S], keep: Callable[[S], bool],
                  fn: Callable[[Key, S], Any], step: Any = None) -> None:
    """:meth:`Context.rewrite` the ``typ`` states for which ``keep`` is true only."""
    ctx.rewrite(typ, lambda k, s: fn(k, s) if keep(s) else s, step)


class Walked(Protocol):
    """A state of an object found by a lockless walk: the parameter it came through
    (-1: none), the sources to re-check, and the family of objects found by one read."""

    @property
    def param(self) -> int: ...
    @property
    def sources(self) -> frozenset[Source]: ...
    @property
    def family(self) -> Hashable: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """What one re-check is about: the sources it clears (the one re-read, and a snapshot
    parameter compared with it), and the families it concerns."""

    cleared: frozenset[Source]
    compared: frozenset[Hashable] | None     # None: a helper's re-check (any family)

    def mine(self, s: Walked) -> bool:
        """Whether ``s`` has a source the re-check clears."""
        return bool(self.cleared & s.sources)

    def about(self, s: Walked) -> bool:
        """``mine``, or a parameter's object (no known source) of a family re-checked."""
        return self.mine(s) or (s.param >= 0 and (self.compared is None
                                                  or s.family in self.compared))


def recheck_scope(ctx: Context, ev: Recheck, typ: type[W]) -> Scope | None:
    """The :class:`Scope` of a re-check; None when it compares a value that was not found
    through that source (nor through a parameter)."""
    first = ctx.states_of(ev.first, typ)
    if ev.first is not None and not any(s.param >= 0 or ev.source in s.sources
                                        for s in first):
        return None
    cleared = {ev.source} | {p for s in first if s.param >= 0 for p in s.sources
                             if not p.membership}
    return Scope(frozenset(cleared), frozenset(s.family for s in first) if ev.first else None)


def may_drop(ctx: Context, call: Call, drops: tuple[str, ...] = ("release", "ref_release")
             ) -> bool:
    """Whether a callee given an object may drop its reference: an unknown one (or a
    function pointer) may, as may an API with a model in a ``drops`` section
    (``put_devmap_managed_page_refs()``); an API modeled otherwise (``page_to_pfn()``)
    does not."""
    models = ctx.models.of(call.callee)
    return not models or any(m.section in drops for m in models)


def offset_base(ctx: Context, e: Expr) -> str | None:
    """The pointer that ``p + n`` / ``p - n`` moves within its object (``pmd_page(orig) +
    idx``: the call's result), else None."""
    e = ctx.strip(e)
    if not (isinstance(e, Binary) and e.op in ("+", "-")):
        return None
    base = ctx.strip(e.left)
    return ctx.result_key(base) if isinstance(base, Call) else ctx.key(base)


def keep_until_decided(ctx: Context, ev: Event[Any], key: str | None) -> None:
    """At the call of a conditional effect whose result is assigned back to the variable
    of its object (``head = try_grab_compound_head(head, ...)``), the result keeps that
    object's states until a branch edge decides the effect."""
    if ev.at_call and key is not None and ctx.dest.get(id(ev.call)) == key:
        ctx.inherit(ev.result, key)


def inherit_offset(ctx: Context, target: str, value: Expr) -> None:
    """An untracked ``target`` assigned ``p + n`` takes the states of ``p`` (one object)."""
    if not ctx.states(target):
        ctx.inherit(target, offset_base(ctx, value))
