"""try-get-without-ref: a plain get on a page/folio the function holds no reference to.

``get_page()``, ``folio_get()``, ``try_get_page()`` and the other gets the models mark
``needs_ref`` only work when the caller already holds a reference: they increment a count
that must not be zero.  On an object found by a lockless read (a PTE read with
``ptep_get_lockless()``, a PFN taken from one, an xarray entry looked up under RCU), the
count may be zero (freed) or frozen to 0, and the get resurrects a freed page.

Tracked: every object found without a reference is ``UNHELD``: by a lockless read, as
the page of a PFN that holds nothing, as a member of an unheld list, or tested under
hugetlb_lock for still being hugetlb (the origin facts of :mod:`analyzer.engine.origins`).
A parameter is ``SPECULATED`` when the function takes a speculative get on it elsewhere,
``PASSED`` (``SNAPSHOT``: a page-table entry) when a caller in the tree passes it unheld.
A successful speculative get on an object, or on one found by the same read, makes the
family ``HELD``.  Reported: a ``needs_ref`` get on a possibly unheld one.  Other
parameters and call results are assumed held (precision first).
A plain get the function re-checks afterwards (``page_folio(page) == folio``, its xarray
slot, a page-table entry against the live one) is reported too: the re-check says the
object may have changed (``Plain``, ``Param``; a parameter's field too: ``vmf->page``).
Summaries: a lockless read (returns an object found locklessly), ``plain_get`` (plain-gets
its parameter's object), ``unheld_calls`` (what it passes callees unheld).  ``owned``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from analyzer.engine import Checker, Context, Event, Origin, Recheck, origins
from analyzer.ir import Binary, Call, Expr, Name, Opaque, Return, Span
from analyzer.models.core import Acquire, Derive, LocklessRead
from analyzer.result import Step
from analyzer.rule import Rule


class Ref(Enum):
    UNHELD = "found locklessly, no reference"
    SPECULATED = "a parameter the function takes a speculative reference on elsewhere"
    PASSED = "a parameter some caller passes without a reference"
    SNAPSHOT = "of a page-table entry some caller read locklessly (not under a spinlock)"
    HELD = "reference held"


NOT_HELD = (Ref.UNHELD, Ref.SPECULATED, Ref.PASSED, Ref.SNAPSHOT)


@dataclass(frozen=True, slots=True)
class Param:
    name: str                   # derived from this parameter (or entry read through it)


@dataclass(frozen=True, slots=True)
class Plain:
    """A plain get on an object the function may not hold (not under a spinlock)."""

    span: Span
    api: str
    key: str
    params: frozenset[Param]


TRY_GET_WITHOUT_REF = Rule(
    id="try-get-without-ref",
    name="TryGetWithoutRef",
    summary="get_page()/folio_get()/try_get_page() on a page the function holds no reference to",
    what="""
Finds a plain reference get (`get_page()`, `folio_get()`, `try_get_page()`,
`folio_ref_inc()`, the pins `try_grab_folio()` (6.10+) and `try_grab_page()`, ...) applied
to a page or folio that the function found without a reference and on which no reference
was established on some path to the get: the object comes from a lockless page-table read
(`ptep_get_lockless()`, `pmdp_get_lockless()`, `READ_ONCE(*ptep)`) through
`pte_page()`/`pfn_to_page()`, or from an xarray/RCU lookup (`xas_load()`, `xas_find()`,
`rcu_dereference()`) inside `rcu_read_lock()`. Also a plain get that the function
re-checks afterwards as if it had been speculative - `page_folio(page) != folio`,
`folio != xas_reload(&xas)`, a page-table entry it was given by value against the live
one (`pmd_val(orig) != pmd_val(*pmdp)`) - outside a spinlock: the re-check says the
object may have changed, so nothing held it.
""",
    why="""
A plain get increments a count that the caller promises is not zero, because the caller
already holds a reference ("you can't use this function unless you already had a
reference to the page", commit 88b1a17dfc3e). An object found locklessly gives no such
promise: it may have been freed, its count may be 0, or frozen to 0 by
`folio_ref_freeze()` while it is split, migrated or made secure. `get_page()` then
resurrects a free page (use-after-free, refcount corruption); `try_get_page()` fails
with a WARN on a frozen count. Lockless walkers must use a speculative get
(`folio_try_get()`, `try_grab_folio_fast()`, `get_page_unless_zero()`), which refuses a
zero count, and then re-check the source.
""",
    example="""
local_irq_save(flags);
pte = ptep_get_lockless(ptep);
page = pte_page(pte);
if (!try_get_page(page))        /* no reference held: count may be 0 or frozen */
        goto out;
""",
    instead="""
pte = ptep_get_lockless(ptep);
page = pte_page(pte);
folio = try_grab_folio_fast(page, 1, flags);   /* speculative: fails on 0 */
if (!folio)
        goto out;
if (unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
        gup_put_folio(folio, 1, flags);
        goto out;
}
""",
    limits="""
- A helper that returns a page found locklessly is followed within its file only; a
  lock held by the caller is not seen (a `READ_ONCE(*ptep)` in a function called under
  the page-table lock looks lockless).
- RCU-style lookups count as lockless only inside an `rcu_read_lock()` section opened in
  the same function; outside one, only a re-check after the get gives the lookup away.
- A PFN is unheld only as a loop's induction variable over a range, a `READ_ONCE()` of
  a struct field, a PFNMAP PFN or through `pfn_to_online_page()`; a parameter is assumed
  held unless a caller passes it unheld (in another file: directly only), the function
  re-checks it (or, for `vmf->page`, another field of its struct) after the get, or takes
  a speculative get on it elsewhere.
- List members are unheld only for the list heads `unheld_list` names.
- Paths are joined without correlating conditions: a get guarded by the same condition
  as an earlier speculative get may be reported.
""",
    precision="high",
    tags=("correctness", "refcount", "mm"),
)


class TryGetChecker(Checker):
    rules = (TRY_GET_WITHOUT_REF,)      # needed: a lockless read, or a re-check after a get
    starter_sections = ("lockless_read", "reread", "revalidate", "pfn_page", "unheld_test",
                        "list_member", ("lock", {"kind": "spin"}))
    summary_starters = ("lockless_read", "pfn_page", "unheld_test", "list_member", "acquire",
                        "plain_get", ("iterator", {"over": "unheld_list"}))
    fact_sections = ("unheld_args",)          # origins.unheld_args: callers pass it unheld
    precedence = ("lockless_read", "derive", "acquire")

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        params = ctx.function.params
        for p in params:
            ctx.set(p, Param(p))
        fact = ctx.models.fact("unheld_args", ctx.function.name)
        for i, why, snap, line, col, *caller in fact.get("args", ()) if fact else ():
            span = Span(caller[0] if caller else ctx.function.span.file, line, col, line, col)
            ctx.add(params[i], Ref.SNAPSHOT if snap else Ref.PASSED, (Step(span, why),))
        mods = ctx.models
        spec = {n: m.spec.arg for n in mods.names("acquire", kind="speculative")
                if (m := mods.get("acquire", n)) is not None and isinstance(m.spec, Acquire)
                and m.spec.arg is not None}
        for p, call in origins.speculated_params(ctx.function, spec, mods.names("derive")).items():
            ctx.add(p, Ref.SPECULATED, (Step(call.span, f"{call.callee}() takes a speculative "
                                        f"reference on '{p}': its caller holds none"),))

    def on_lockless_read(self, ctx: Context, ev: Event[LocklessRead]) -> None:
        if ev.origin is not Origin.LOCKLESS:    # under a lock, maybe the caller's:
            if ev.m.value and ev.key:           # only a re-check after a get tells
                ctx.add(ev.result, Param(f"*{ev.key}"))
            return
        ctx.set(ev.result, Ref.UNHELD,
                (Step(ev.span, f"'{ev.key or 'its argument'}' read locklessly by {ev.api}()"),))

    def on_pfn_page(self, ctx: Context, ev: Event[origins.PfnPage]) -> None:
        """The page of a PFN whose origin holds no reference (an origin fact, the engine's)."""
        pfn = ev.obj.id if isinstance(ev.obj, Name) else None
        why = ("pfn_to_online_page() serves any PFN: it is needed only where nothing holds "
               "the page" if ev.m.online else ev.m.always or origins.unreferenced_pfns(
                   ctx.function, origins.pfnmap_calls(ctx.models)).get(pfn or ""))
        if not why and pfn is not None:     # as unheld as the PFN (passed so by a caller)
            self.on_derive(ctx, ev)  # type: ignore[arg-type]
        elif why and ev.result is not None:
            ctx.add(ev.result, Ref.UNHELD,
                    (Step(ev.span, f"'{ctx.name_of(ev.call, ev.result)}' = {ev.api}"
                                   f"({pfn or '...'}): {why}"),))

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        """An iterator's cursor over an unheld list (its lock pins membership, not the
        count); a part of an object: a subpage (``pmd_page(orig) + i``), the container
        of an embedded node (``container_of()``)."""
        lists = ctx.models.names("unheld_list")
        if isinstance(value, Opaque):
            if why := origins.unreferenced_member(ctx.function, span, lists):
                ctx.set(target, Ref.UNHELD, (Step(span, f"'{target}' is {why}"),))
            return
        whole = value.left if isinstance(value, Binary) and value.op in ("+", "-") else \
            value.args[0] if isinstance(value, Call) and value.args and \
            value.callee in ctx.models.names("container") else None
        base = ctx.key(whole)
        for state in ctx.states(base) if base != target else ():
            if state in NOT_HELD or isinstance(state, Param):
                ctx.add(target, state, ctx.trail(base, state)
                        + (Step(span, f"'{target}' is a part of '{base}'"),))

    def on_list_member(self, ctx: Context, ev: Event[Any]) -> None:
        head = ctx.arg(ev.call, ev.m.arg)
        lists = ctx.models.names("unheld_list")
        why = head and origins.unreferenced_head(ctx.function, head, lists)
        what = ctx.name_of(ev.call, ev.result)
        if why and ev.result is not None:
            ctx.add(ev.result, Ref.UNHELD, (Step(ev.span, f"'{what}' from {ev.api}() is {why}"),))
        for state in () if why else NOT_HELD:          # the entry of an unheld list node
            if ctx.may_be(ev.key, state):
                ctx.add(ev.result, state, ctx.trail(ev.key, state)
                        + (Step(ev.span, f"'{what}' is the entry of '{ev.key}'"),))

    def on_owned(self, ctx: Context, ev: Event[Any]) -> None:
        for state in NOT_HELD if ev.done else ():
            ctx.replace(ev.key, state, Ref.HELD, Step(ev.span, f"owned after {ev.api}()"))

    def on_unheld_test(self, ctx: Context, ev: Event[origins.UnheldTest]) -> None:
        """Tested under its lock for a state only a freed object loses: not held."""
        spin = ctx.models.names("lock", kind="spin")
        if ev.key and ctx.holds("spin") and ev.m.lock in origins.locks_taken(ctx.function, spin):
            ctx.add(ev.key, Ref.UNHELD, (Step(ev.span, f"{ev.api}('{ev.key}') under "
                                         f"{ev.m.lock}: the object may be freed meanwhile, "
                                         f"so nothing holds it"),))

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        field = (Param(ev.key),) if ev.key and origins.param_field(ctx.function, ev.key) else ()
        for state in ctx.states(ev.key) or field:       # vmf->page: a parameter's field
            what = ctx.name_of(ev.call, ev.result)
            step = Step(ev.span, f"'{what}' derived from '{ev.key}' by {ev.api}()")
            ctx.add(ev.result, state, ctx.trail(ev.key, state) + (step,))

    def on_acquire(self, ctx: Context, ev: Event[Acquire]) -> None:
        spin = ctx.holds("spin")        # the entry re-checked under its lock pins the page
        params = frozenset(ctx.states_of(ev.key, Param))
        if ev.at_call and ev.m.needs_ref and not spin and not ctx.may_be(ev.key, Ref.HELD):
            for p in params:                # callers: a plain get of their object
                ctx.summarize_param("plain_get", p.name)
        if ev.at_call and ev.m.needs_ref and ctx.may_be(ev.key, *NOT_HELD[:3 if spin else 4]):
            self._report(ctx, ev)
        elif ev.at_call and ev.m.needs_ref and ev.key and not spin:
            ctx.add(ev.key, Plain(ev.span, ev.api, ev.key, params))
        if ev.done:
            self._hold(ctx, ev)

    def on_plain_get(self, ctx: Context, ev: Event[Any]) -> None:
        """A call of a function that plain-gets what it is given (a static one reports it)."""
        fact = ctx.models.fact("unheld_args", ev.api)
        if (fact is not None and fact.get("static")) or not ev.key:
            return
        why = origins.unreferenced_pfns(ctx.function, origins.pfnmap_calls(ctx.models))
        if ev.key in why:                   # a PFN that holds nothing
            ctx.add(ev.key, Ref.UNHELD, (Step(ev.span, f"'{ev.key}' is {why[ev.key]}"),))
        if ev.at_call and ctx.may_be(ev.key, *NOT_HELD[:3 if ctx.holds("spin") else 4]):
            self._report(ctx, ev)

    def on_recheck(self, ctx: Context, ev: Recheck) -> None:
        """Re-checked where it was found (or a parameter's field): no reference before."""
        fn, first = ctx.function, ev.first or ""
        mine, params = ctx.states_of(first, Plain), set(ctx.states_of(first, Param))
        base = not first and origins.param_field(fn, ev.source.key)     # vmf->pte: vmf->page
        if (params or base) and not ev.source.membership:   # a snapshot against the live entry
            mine += [p for _, p in ctx.each(Plain) if p.params & params or (base and any(
                origins.param_field(fn, q.name) == base for q in p.params))]
        for p in mine:
            ctx.report(TRY_GET_WITHOUT_REF, p.span,
                       f"{p.api}() on '{p.key}' that holds no reference: the function "
                       f"re-checks '{ev.source.key}' afterwards (line {ev.span.line}), so "
                       f"the object may have changed, and its count may be zero",
                       ctx.trail(p.key, p), (Step(p.span, f"plain get by {p.api}()"),
                                             Step(ev.span, "the re-check after it")))

    def on_return(self, ctx: Context, ret: Return) -> None:
        if ret.value is not None and ctx.may_be(ctx.key(ret.value), Ref.UNHELD):
            ctx.summarize("lockless_read", arg=0)     # callers: a lockless read

    def on_exit(self, ctx: Context) -> None:    # pass 1 takes it to the callees' files
        if calls := origins.unheld_calls(ctx.function, ctx.models):
            ctx.summarize("unheld_calls", calls=calls)

    # ------------------------------------------------------------------ states
    def _hold(self, ctx: Context, ev: Event[Acquire]) -> None:
        """A reference is held on the object: and on everything found by the same read."""
        keys = [ev.key] + ([ev.via or ctx.key(ev.call)] if ev.m.returns_object else [])
        origins = {ctx.trail(k, Ref.UNHELD)[:1] for k in keys if ctx.may_be(k, Ref.UNHELD)}
        step = Step(ev.span, f"reference taken by {ev.api}()")
        for k, states in ctx.tracked():
            if k in keys or (Ref.UNHELD in states and states[Ref.UNHELD][:1] in origins):
                ctx.replace(k, Ref.UNHELD, Ref.HELD, step)
                ctx.replace(k, Ref.SPECULATED, Ref.HELD, step)
        for held in keys:
            if held is not None and not ctx.states(held):
                ctx.set(held, Ref.HELD, (step,))

    # ------------------------------------------------------------------ reports
    def _report(self, ctx: Context, ev: Event[Acquire]) -> None:
        if ev.key in origins.asserted_counted(ctx.function, ctx.models.names("warn"),
                                              ctx.models.names("refcount_read")):
            return              # a count the function asserts nonzero is held (its word)
        state = next(s for s in NOT_HELD if ctx.may_be(ev.key, s))
        trail = ctx.trail(ev.key, state)
        origin = trail[0]
        frozen = "; its count may be zero or frozen" if ev.conditional else ""
        lockless = "read locklessly" in origin.message
        why = (f"found by the lockless read at line {origin.span.line}" if lockless else
               f"line {origin.span.line}: {origin.message}")
        ctx.report(TRY_GET_WITHOUT_REF, ev.span,
                   f"{ev.api}() on '{ev.key}' that holds no reference ({why}){frozen}", trail,
                   (Step(origin.span, ("lockless read: " if lockless else "") + origin.message),))
