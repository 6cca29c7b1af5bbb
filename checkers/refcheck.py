"""racy-refcount-check and spurious-refcount-warn (rule docs below).  States per object
(``Ref``; ``Attached(batch, obj)`` for what a batch collected); summaries on a parameter:
count reads, freezes, exclusive actions, exclusions (also: freezes it on some path)."""
from __future__ import annotations

from enum import Enum
from typing import Any

from analyzer.engine import NONZERO, ZERO, Attached, Checker, Context, Event, Test
from analyzer.engine.effects import COMPARE, count_trip, int_literal, oriented
from analyzer.engine.origins import iterated
from analyzer.ir import Binary, Call, Expr, Return, Span
from analyzer.models.core import Derive, LocklessRead, RefcountRead
from analyzer.models.schema import ArgSection
from analyzer.result import Step
from analyzer.rule import Rule
from rules.refcheck import Collect, Freeze, SetRefcount


class Ref(Enum):
    LOCKLESS = "found locklessly, no reference"
    HELD = "count known to be non-zero"
    DECIDED = "judged exclusive by an unfrozen exact count"
    REPORTED = "racy decision reported"
    FROZEN = "count frozen"
    EXCLUDED = "speculative references excluded"


RACY_REFCOUNT_CHECK = Rule(
    id="racy-refcount-check",
    name="RacyRefcountCheck",
    summary="an action assuming no other reference, decided by an unfrozen exact count check",
    what="""
Finds a branch on an exact reference count (`folio_ref_count(folio) == 1`, `page_count(page)
!= 1`, `> 1` false, `folio_ref_sub_return(...) == 1`, a comparison saved in a variable)
whose "no other reference" edge leads to an action that breaks if another reference
appears after the check: overwriting the count (`set_page_count()`, an "unfreeze" of a
count never frozen), freeing a page whose count is not zero (`free_reserved_page()`, a
batch free of the list or `folio_batch` it was added to), making it a tail page or
splitting it, changing its type or owner (`__folio_set_hugetlb()`, guest_memfd), removing
it from the direct map -- when the count was not frozen first (`folio_ref_freeze()`, an
atomic `*_and_test()` that saw zero, also in a helper) and no modeled exclusion is in
place. A helper of the same file doing such an action counts as the action; one returning
the object it judged (a hugetlb allocator) makes the caller's action the racy one. Also a
blind count write (`set_page_count()`, `folio_set_count()`, `init_page_count()`) on a live
page -- allocated, from the page cache or GUP, or referenced in the function -- whose
count is not frozen; memmap being initialized (a page of unknown origin) is not reported.
""",
    why="""
Whoever found the page without a reference (GUP-fast, compaction and other pfn
scanners, page-cache lookups) may take a speculative reference at any moment; it fails
only on a zero (or frozen) count. An exact count seen a moment ago says nothing about
the next instruction:

    CPU 0 (owner)                          CPU 1 (pfn scanner)
    if (folio_ref_count(folio) == 1) {
                                           folio_try_get(folio)   /* count 1 -> 2 */
        folio_set_count(folio, 1);         /* CPU 1's reference is lost */
        ... folio reused or freed
                                           folio_put(folio)       /* 1 -> 0: freed */
                                                                  /* under CPU 0 */
    }

The same window breaks a type change, a free, a split and "the host holds no reference,
make it private to the guest" (seeds 000, 004). `folio_ref_freeze(folio, 1)` makes check
and exclusion one atomic step: CPU 1's `folio_try_get()` then fails. Registering a put
callback *before* the check (seed 004) also closes the window. Reuse decisions are not
reported: `page_count() == 1` under the page-table lock before reusing an anonymous page
(seed 001) only needs "no other *lasting* reference"; a later speculative reference backs
off without using the page.
""",
    example="""
refcount = folio_ref_sub_return(folio, folio_nr_pages(folio));
if (refcount == 1)
        __folio_set_guestmem(folio);    /* a speculative get may have come in between */
""",
    instead="""
if (folio_ref_freeze(folio, 1)) {       /* atomic: speculative gets now fail */
        __folio_set_guestmem(folio);
        folio_ref_unfreeze(folio, 1);
}                                       /* or register the put callback first (seed 004) */
""",
    limits="""
- A decision returned by a helper (`return folio_ref_count(f) == expected;`) is not
  followed into the caller.
- Page and folio are one object when derived inline, in a variable or after the check.
- Reuse and anon-exclusive decisions are accepted by design (see above).
- Exclusions held by the caller are not seen; a helper that freezes its argument on
  some path counts as excluding on every path.
- A blind write is reported only where the function itself shows the page live; a
  parameter page (boot memory handed to the buddy allocator) is assumed not reachable.
""",
    precision="medium",
    tags=("correctness", "refcount", "race", "mm"),
)

SPURIOUS_REFCOUNT_WARN = Rule(
    id="spurious-refcount-warn",
    name="SpuriousRefcountWarn",
    summary="WARN_ON()/VM_BUG_ON() on an exact refcount a speculative reference can trip",
    what="""
Finds an assertion (`WARN_ON*()`, `VM_WARN_ON*()`, `VM_BUG_ON*()`, `BUG_ON()`) whose
condition becomes true when the reference count rises: an exact or upper-bounded count
(`folio_ref_count(folio) != 1`, `page_count(page) > 1`, `== 2`), also inside `&&`/`||`/`!`
and through variables (`ret = count == 1; VM_BUG_ON(!ret)`, `n += page_count(p) != 1;
WARN(n != 0)`). And one asserting a non-zero count (`count <= 0`) on an object found by a
lockless read, whose count may be frozen to 0. Not reported after a successful freeze.
""",
    why="""
A speculative reference raises any non-zero count for a moment, on a page the asserting
code owns just as on any other:

    CPU 0 (owner, holds the only reference)  CPU 1 (pfn scanner)
                                             folio_try_get(folio)   /* 1 -> 2 */
    WARN_ON(folio_ref_count(folio) != 1);    /* fires: a false alarm */
                                             /* not interesting: back off */
                                             folio_put(folio)       /* 2 -> 1 */

The warning is spurious (seed 004: "there might be a speculative refcount increase ...
the warning would be spurious"): it reports a bug that does not exist, panics a
`panic_on_warn` machine, and a `VM_BUG_ON` crashes it. Conversely a count of 0 is
legitimate while someone holds it frozen (split, migration): `WARN_ON(count <= 0)` on a
page found locklessly fires on a frozen page (seed 003).
""",
    example="""
WARN_ON_ONCE(!folio_test_locked(folio) && folio_ref_count(folio) > 1);
""",
    instead="""
WARN_ON_ONCE(folio_ref_count(folio) < 1);   /* what speculative references cannot change */
if (folio_ref_freeze(folio, 1)) { ... }     /* or freeze first: the count is then stable */
""",
    limits="""
- The non-zero assertion (`<= 0`) is reported only for objects found by a lockless
  page-table read in the same function; RCU page-cache lookups are not followed.
- `== N` is reported for a literal N >= 2 only; a non-literal expected value is assumed
  to be an upper bound only with `!=`, `>`, `>=`.
- Which pages today's speculative getters skip is not known: an assertion on a reserved
  boot-time page is reported like any other.
""",
    precision="high",
    tags=("correctness", "refcount", "warn", "mm"),
)


class RefcheckChecker(Checker):
    rules = (RACY_REFCOUNT_CHECK, SPURIOUS_REFCOUNT_WARN)
    starter_sections = ("refcount_read", "set_refcount", "exclusive_action", "freeze")
    holds_comparisons = True                  # ``ret = count == 1; VM_BUG_ON(!ret)``

    # ------------------------------------------------------------------ hooks
    def on_warn(self, ctx: Context, ev: Event[ArgSection]) -> None:
        for (count, key), op, other in ctx.count_tests(ev.obj) if ev.obj is not None else ():
            if (trip := count_trip(op, other)) is None or key is None \
                    or ctx.may_be(key, Ref.FROZEN):
                continue
            if trip:
                ctx.report(SPURIOUS_REFCOUNT_WARN, ev.span,
                           f"{ev.api}() on '{key}' fires when {count.callee}() {op} "
                           f"{ctx.key(other) or 'an expected value'}, which a speculative "
                           "reference can make true for a moment")
                return                               # one finding per assertion
            if ctx.may_be(key, Ref.LOCKLESS):
                trail = ctx.trail(key, Ref.LOCKLESS)
                ctx.report(SPURIOUS_REFCOUNT_WARN, ev.span, f"{ev.api}() on '{key}' fires on a "
                           f"zero count, but '{key}' was found locklessly and its count may be "
                           "frozen to 0", trail, trail[:1])
                return

    def on_collect(self, ctx: Context, ev: Event[Collect]) -> None:
        key, batch = ctx.object_of(ev.obj), ctx.place(ctx.arg(ev.call, ev.m.carrier))
        if key is not None and batch is not None and ctx.may_be(key, Ref.DECIDED):
            ctx.set(Attached(batch, key), Ref.DECIDED, ctx.trail(key, Ref.DECIDED))

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        for k in iterated(ctx, value, span):     # a list's cursor: one of what it collected
            ctx.inherit(target, k)

    def on_exclusive(self, ctx: Context, ev: Event[ArgSection]) -> None:
        key, root = ctx.object_of(ev.obj), ctx.object_of(ev.obj, True)
        for k, _ in ctx.tracked():              # a batch free frees what it collected
            if isinstance(k, Attached) and k.carrier == ctx.place(ev.obj) \
                    and ctx.may_be(k, Ref.DECIDED):
                self._report_racy(ctx, ev, k.obj, k)
                ctx.replace(k, Ref.DECIDED, Ref.REPORTED)
        if key is not None and ctx.may_be(key, Ref.DECIDED):
            self._report_racy(ctx, ev, key)
            ctx.replace(key, Ref.DECIDED, Ref.REPORTED)
            ctx.replace(root, Ref.DECIDED, Ref.REPORTED)
        elif isinstance(ev.m, SetRefcount) and ctx.may_be(live := ctx.designated(
                ev.obj, elements=True) or key, Ref.HELD) and not ctx.may_be(
                key, Ref.FROZEN, Ref.EXCLUDED, Ref.REPORTED):
            trail = ctx.trail(live, Ref.HELD)    # a blind write on a live count (pages[i])
            ctx.report(RACY_REFCOUNT_CHECK, ev.span, f"{ev.api}() overwrites the count of "
                       f"'{key}', which is not frozen: a speculative reference taken on it "
                       "is lost", trail, trail[:1])
        elif root is not None and not ctx.states(root) and not ctx.states(key):
            ctx.summarize_param(ev.m.NAME, root)

    def on_exclusion(self, ctx: Context, ev: Event[ArgSection]) -> None:
        if ev.m.arg is not None and (key := ctx.object_of(ev.obj)) is not None:
            ctx.set(key, Ref.EXCLUDED, (Step(ev.span, f"{ev.api}() excludes references"),))
            ctx.summarize_param("exclusion", key)

    def on_unfreeze(self, ctx: Context, ev: Event[ArgSection]) -> None:
        ctx.replace(ctx.object_of(ev.obj), Ref.FROZEN, Ref.HELD)

    def on_lockless_read(self, ctx: Context, ev: Event[LocklessRead]) -> None:
        if not ev.m.rcu:
            ctx.set(ev.result, Ref.LOCKLESS, (Step(ev.span, f"read locklessly by {ev.api}()"),))

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        ctx.inherit(ev.result, ev.key)

    def on_acquire(self, ctx: Context, ev: Event[Any]) -> None:
        key = ev.result if ev.m.NAME == "ref_source" else ctx.object_of(ev.obj)
        if ev.done and key is not None and not ctx.may_be(key, Ref.FROZEN, Ref.DECIDED,
                                                          Ref.EXCLUDED):
            ctx.set(key, Ref.HELD, (Step(ev.span, f"'{key}' referenced by {ev.api}()"),))

    def on_ref_source(self, ctx: Context, ev: Event[Any]) -> None:
        if ev.at_call and ev.m.arg is None:   # allocated, in the page cache, pinned
            self.on_acquire(ctx, ev)
        elif ev.m.arg is not None and ev.done and (key := ctx.place(ev.obj)) is not None:
            ctx.set(key, Ref.HELD, (Step(ev.span, f"'{key}' filled in by {ev.api}()"),))

    def on_freeze(self, ctx: Context, ev: Event[ArgSection]) -> None:
        if ev.done:
            ctx.set(ctx.object_of(ev.obj), Ref.FROZEN,
                    (Step(ev.span, f"count frozen by {ev.api}()"),))
            if ev.edge:                 # a helper that freezes its argument on some path
                ctx.summarize_param("exclusion", ctx.object_of(ev.obj, True))

    def on_branch(self, ctx: Context, test: Test) -> None:
        e, outcome = test.subject, test.outcome
        while isinstance(e, Call) and (m := ctx.models.get("warn", e.callee)) is not None:
            inner = ctx.arg(e, m.get("arg"))          # WARN_ON(c) is !!c
            if inner is None:
                return
            e, outcome = ctx.normal(inner, outcome, zero=False)
        if isinstance(e, Binary) and e.op in COMPARE and outcome in (NONZERO, ZERO):
            self._decide(ctx, e, outcome == NONZERO)

    def on_judged_return(self, ctx: Context, ev: Event[ArgSection]) -> None:
        ctx.set(ev.result, Ref.DECIDED, (Step(ev.span, f"{ev.api}() returns it unfrozen"),))

    def on_return(self, ctx: Context, ret: Return) -> None:
        value = ctx.strip(ret.value) if ret.value is not None else None
        if ctx.may_be(ctx.object_of(value, True), Ref.DECIDED):
            ctx.summarize("judged_return")
        call = ctx.bound(value) or value
        if not isinstance(call, Call):
            return
        for m in ctx.models.of(call.callee):
            if isinstance(m.spec, (RefcountRead, Freeze)):
                ctx.summarize_param(m.section, ctx.key(ctx.arg(call, m.spec.arg)), like=m.spec)

    # ------------------------------------------------------------------ states
    def _decide(self, ctx: Context, e: Binary, true: bool) -> None:
        """On this edge the comparison ``e`` is ``true``: an exclusive decision?"""
        found = oriented(e, ctx.count_read)
        if found is None:
            return
        (count, key), op, other = found
        if int_literal(other) == 0 or (op in ("<", ">=") and int_literal(other) == 1):
            return                      # a zero test: a free count is not an exclusive one
        if (op in ("==", "<", "<=")) != true or key is None \
                or ctx.may_be(key, Ref.FROZEN, Ref.EXCLUDED):
            return                      # the edge where other references exist, or stable
        shown = ctx.key(other) or "its expected value"
        step = Step(e.span, f"'{key}' judged to have no other reference by {count.callee}() "
                            f"{op} {shown}, count not frozen")
        for k in {key, ctx.object_of(count.args[0] if count.args else None, True)} - {None}:
            ctx.set(k, Ref.DECIDED, (step,))   # also the page a folio variable came from

    # ------------------------------------------------------------------ reports
    def _report_racy(self, ctx: Context, ev: Event[ArgSection], key: str,
                     via: Attached | None = None) -> None:
        trail = ctx.trail(via or key, Ref.DECIDED)
        line = trail[0].span.line if trail else ev.span.line
        effect, race = ((f"overwrites the count of '{key}'", "taken since is lost")
                        if isinstance(ev.m, SetRefcount) else
                        (f"assumes no other reference to '{key}'", "can appear since"))
        ctx.report(RACY_REFCOUNT_CHECK, ev.span,
                   f"{ev.api}() {effect} after an unfrozen count check (line {line}): a "
                   f"speculative reference {race}", trail, trail[:1])
