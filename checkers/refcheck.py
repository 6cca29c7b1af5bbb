"""racy-refcount-check and spurious-refcount-warn (rule docs below).  States per object:
``DECIDED`` on the edge where an unfrozen exact count check found no other reference,
``FROZEN``/``EXCLUDED`` once frozen or excluded, ``LOCKLESS`` when found by a lockless
read, ``HELD`` once referenced.  Summaries: count reads, freezes, exclusive actions and
exclusions on a parameter."""
from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

from analyzer.engine import NONZERO, ZERO, Checker, Context, Event, Test
from analyzer.engine.effects import COMPARE, NEGATE, int_literal, oriented
from analyzer.ir import Binary, Call, Expr, Literal, Return
from analyzer.models.core import Acquire, Derive, LocklessRead, RefcountRead
from analyzer.models.schema import ArgSection, arg_section
from analyzer.result import Step
from analyzer.rule import Rule

# ------------------------------------------------------------------ model sections
Warn = arg_section("warn", "WARN_ON()/VM_BUG_ON()-style assertions",
                   arg_doc="argument holding the asserted condition")
Unfreeze = arg_section("unfreeze", "refcount unfreezes")
SetRefcount = arg_section("set_refcount", "calls that overwrite a reference count",
                          "exclusive")
ExclusiveAction = arg_section("exclusive_action", "actions that assume no other reference "
                              "can exist", "exclusive", arg_doc="argument assumed to have "
                              "no other reference")


Freeze = arg_section("freeze", "refcount freezes (ref_freeze: succeeds only at the expected "
                     "count)", conditional=True)
Exclusion = arg_section("exclusion", "calls that exclude speculative references",
                        arg_doc="argument it excludes speculative references on",
                        required=False)
Count = tuple[Call, 'str | None']     # a count read and the object it counts


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
    summary="an action that assumes no other reference, decided by an unfrozen exact "
            "refcount check",
    what="""
Finds a branch on an exact reference count (`folio_ref_count(folio) == 1`,
`page_count(page) != 1`, `folio_ref_count(folio) > 1` false, `folio_ref_sub_return(...) ==
1`, ...) whose "no other reference" edge leads to an action that breaks if another
reference appears after the check: overwriting the count (`set_page_count()`,
`set_page_refcounted()`, `folio_set_count()`), freeing a page whose count is not zero
(`free_reserved_page()`, `free_unref_page()`), changing the folio's type or owner
(`__folio_set_hugetlb()`, a guest_memfd type), removing it from the direct map — when
the count was not frozen first (`folio_ref_freeze()`/`page_ref_freeze()` success, or an
atomic `*_and_test()` that saw zero) and no exclusion the models name is in place. A
helper of the same file that performs such an action on its argument counts as the
action.
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

The same window breaks a type change (CPU 1's `folio_put()` runs the new type's free
path), a free (CPU 1's put frees it again) and "the host holds no reference, make it
private to the guest" (seeds 000, 004). `folio_ref_freeze(folio, 1)` makes the check and
the exclusion one atomic step: CPU 1's `folio_try_get()` then fails. Registering a put
callback *before* the check (seed 004) also closes the window: a reference taken after
the check triggers the callback when it is dropped.

Reuse decisions are not reported: `page_count() == 1` under the page-table lock before
reusing an anonymous page or setting it anon-exclusive (seed 001) only needs "no other
*lasting* reference"; a speculative reference arriving later backs off without using the
page, and a new GUP pin needs the lock the reuser holds.
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
}
/* or register the put callback first, then check (seed 004) */
""",
    limits="""
- A decision returned by a helper (`return folio_ref_count(f) == expected;`) is not
  followed into the caller.
- Page and folio are one object only when derived inline (`page_folio(page)` as the
  argument, `&folio->page`) or derived after the check.
- Reuse and anon-exclusive decisions are accepted by design (see above); a lockless one
  (no page-table lock) is not reported.
- Exclusions held by the caller (a frozen count, a registered callback) are not seen.
""",
    precision="medium",
    tags=("correctness", "refcount", "race", "mm"),
)

SPURIOUS_REFCOUNT_WARN = Rule(
    id="spurious-refcount-warn",
    name="SpuriousRefcountWarn",
    summary="WARN_ON()/VM_BUG_ON() on an exact refcount that a speculative reference can "
            "trip",
    what="""
Finds an assertion (`WARN_ON*()`, `VM_WARN_ON*()`, `VM_BUG_ON*()`, `BUG_ON()`) whose
condition becomes true when the reference count rises: an exact or upper-bounded count
(`folio_ref_count(folio) != 1`, `page_count(page) > 1`, `folio_ref_count(folio) == 2`),
also inside `&&`/`||`/`!`. And one that asserts a non-zero count (`count <= 0`,
`!page_count(page)`) on an object the function found by a lockless read, whose count may
be legitimately frozen to 0. Not reported after a successful freeze.
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
/* assert what speculative references cannot change */
WARN_ON_ONCE(folio_ref_count(folio) < 1);
/* or freeze first: the count is then stable */
if (folio_ref_freeze(folio, 1)) { ... }
""",
    limits="""
- The non-zero assertion (`<= 0`) is reported only for objects found by a lockless
  page-table read in the same function; RCU page-cache lookups are not followed.
- `== N` is reported for a literal N >= 2 only; a non-literal expected value is assumed
  to be an upper bound only with `!=`, `>`, `>=`.
- The rule does not know which pages today's speculative getters skip: an assertion on
  a reserved boot-time page (only memory-failure would take a reference on it) is
  reported like any other.
""",
    precision="high",
    tags=("correctness", "refcount", "warn", "mm"),
)


class RefcheckChecker(Checker):
    rules = (RACY_REFCOUNT_CHECK, SPURIOUS_REFCOUNT_WARN)

    starter_sections = ("refcount_read", "set_refcount", "exclusive_action")

    # ------------------------------------------------------------------ hooks
    def on_warn(self, ctx: Context, ev: Event[ArgSection]) -> None:
        for (count, key), op, other, zero in self._trips(ctx, ev.obj):
            if key is None or ctx.may_be(key, Ref.FROZEN):
                continue
            if not zero:
                ctx.report(SPURIOUS_REFCOUNT_WARN, ev.span,
                           f"{ev.api}() on '{key}' fires when {count.callee}() {op} "
                           f"{ctx.key(other) or 'an expected value'}, which a speculative "
                           "reference can make true for a moment")
                return                               # one finding per assertion
            if ctx.may_be(key, Ref.LOCKLESS):
                trail = ctx.trail(key, Ref.LOCKLESS)
                ctx.report(SPURIOUS_REFCOUNT_WARN, ev.span,
                           f"{ev.api}() on '{key}' fires on a zero count, but '{key}' was "
                           "found locklessly and its count may be frozen to 0", trail,
                           trail[:1])
                return

    def on_exclusive(self, ctx: Context, ev: Event[ArgSection]) -> None:
        key = ctx.object_of(ev.obj)
        if key is not None and ctx.may_be(key, Ref.DECIDED):
            self._report_racy(ctx, ev, key)
            ctx.replace(key, Ref.DECIDED, Ref.REPORTED)
        elif key is not None and not ctx.states(key):
            ctx.summarize_param(ev.m.NAME, key)

    def on_exclusion(self, ctx: Context, ev: Event[ArgSection]) -> None:
        if ev.m.arg is not None:
            key = ctx.object_of(ev.obj)
            ctx.set(key, Ref.EXCLUDED, (Step(ev.span, f"{ev.api}() excludes references"),))
            ctx.summarize_param("exclusion", key)

    def on_unfreeze(self, ctx: Context, ev: Event[ArgSection]) -> None:
        ctx.replace(ctx.object_of(ev.obj), Ref.FROZEN, Ref.HELD)

    def on_lockless_read(self, ctx: Context, ev: Event[LocklessRead]) -> None:
        if not ev.m.rcu:
            ctx.set(ev.result, Ref.LOCKLESS, (Step(ev.span, f"read locklessly by {ev.api}()"),))

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        for state in ctx.states(ev.key):
            ctx.add(ev.result, state, ctx.trail(ev.key, state))

    def on_acquire(self, ctx: Context, ev: Event[Acquire]) -> None:
        key = ctx.object_of(ev.obj)
        if ev.done and key is not None and not ctx.may_be(key, Ref.FROZEN, Ref.DECIDED,
                                                          Ref.EXCLUDED):
            ctx.set(key, Ref.HELD)

    def on_freeze(self, ctx: Context, ev: Event[ArgSection]) -> None:
        if ev.done:
            ctx.set(ctx.object_of(ev.obj), Ref.FROZEN,
                    (Step(ev.span, f"count frozen by {ev.api}()"),))

    def on_branch(self, ctx: Context, test: Test) -> None:
        e, outcome = test.subject, test.outcome
        while isinstance(e, Call) and (m := ctx.models.get("warn", e.callee)) is not None:
            inner = ctx.arg(e, m.get("arg"))          # WARN_ON(c) is !!c
            if inner is None:
                return
            e, outcome = ctx.normal(inner, outcome, zero=False)
        if isinstance(e, Binary) and e.op in COMPARE and outcome in (NONZERO, ZERO):
            self._decide(ctx, e, outcome == NONZERO)

    def on_return(self, ctx: Context, ret: Return) -> None:
        value = ctx.strip(ret.value) if ret.value is not None else None
        call = ctx.bound(value) or value
        if not isinstance(call, Call):
            return
        for m in ctx.models.of(call.callee):
            if isinstance(m.spec, (RefcountRead, Freeze)):
                extra = {"when": m.spec.when} if isinstance(m.spec, Freeze) else {}  # type: ignore[attr-defined]
                ctx.summarize_param(m.section, ctx.key(ctx.arg(call, m.spec.arg)), **extra)

    # ------------------------------------------------------------------ states
    def _decide(self, ctx: Context, e: Binary, true: bool) -> None:
        """On this edge the comparison ``e`` is ``true``: an exclusive decision?"""
        found = oriented(e, ctx.count_read)
        if found is None:
            return
        (count, key), op, other = found
        if int_literal(other) == 0 or (op in ("<", ">=") and int_literal(other) == 1):
            return                      # a zero test: a free count is not an exclusive one
        if (op in ("==", "<", "<=")) != true:
            return                      # the edge where other references exist
        if key is None or ctx.may_be(key, Ref.FROZEN, Ref.EXCLUDED):
            return
        shown = ctx.key(other) or "its expected value"
        ctx.set(key, Ref.DECIDED, (Step(e.span, f"'{key}' judged to have no other reference "
                                                f"by {count.callee}() {op} {shown}, count "
                                                "not frozen"),))

    def _trips(self, ctx: Context, cond: Expr | None) -> Iterator[tuple[Count, str, Expr, bool]]:
        """Count comparisons in ``cond`` that can make it true: (count, op, other, zero),
        ``zero``: a zero count trips it, else a higher count does."""
        for e, positive in ctx.atoms(cond) if cond is not None else ():
            found: tuple[Count, str, Expr] | None = None
            if isinstance(e, Binary) and e.op in (*COMPARE, "!="):
                found = oriented(e, ctx.count_read)
            elif (c := ctx.count_read(e)) is not None:
                found = (c, "!=", Literal("0"))                  # truth of a count
            if found is None:
                continue
            count, op, other = found
            op = op if positive else NEGATE[op]
            v = int_literal(other)
            higher = ((op in ("!=", ">") and (v is None or v >= 1))
                      or (op == ">=" and (v is None or v >= 2))
                      or (op == "==" and v is not None and v >= 2))
            zero = (op == "==" and v == 0) or (op == "<=" and v == 0) or (op == "<" and v == 1)
            if higher or zero:
                yield count, op, other, zero

    # ------------------------------------------------------------------ reports
    def _report_racy(self, ctx: Context, ev: Event[ArgSection], key: str) -> None:
        trail = ctx.trail(key, Ref.DECIDED)
        line = trail[0].span.line if trail else ev.span.line
        effect, race = ((f"overwrites the count of '{key}'", "taken since is lost")
                        if isinstance(ev.m, SetRefcount) else
                        (f"assumes no other reference to '{key}'", "can appear since"))
        ctx.report(RACY_REFCOUNT_CHECK, ev.span,
                   f"{ev.api}() {effect} after an unfrozen count check (line {line}): a "
                   f"speculative reference {race}", trail, trail[:1])
