"""speculative-get-unvalidated, speculative-ref-leak (rule docs below).  A lockless find is
``FOUND`` with *sources* to re-check; a speculative get makes its family ``SPEC``; a re-check
clears a source if unchanged (``VALID``: none pending), else ``MISMATCH``.  Reports: use, loss."""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from analyzer.engine import Checker, Context, Escape, Event, Key, Origin, Recheck, Source
from analyzer.engine import lockless as lw
from analyzer.ir import Expr, Return, Span
from analyzer.models.core import Acquire, Derive, LocklessRead, Release
from analyzer.models.schema import arg_section
from analyzer.result import Step
from analyzer.rule import Rule


class Phase(Enum):
    FOUND = "found locklessly, no reference"
    SPEC = "speculative reference, not re-checked"
    VALID = "speculative reference, re-checked"
    MISMATCH = "re-check failed, reference still held"


@dataclass(frozen=True, slots=True)
class Obj:
    phase: Phase
    origin: Span                    # the lockless read (the function, for a parameter)
    how: str = "lockless read"      # what found it (messages)
    param: int = -1                 # >= 0: found through this parameter (summaries only)
    value: bool = False             # a PTE/PFN value, not the object holding the count
    sources: frozenset[Source] = frozenset()
    pending: frozenset[Source] = frozenset()
    get: Span | None = None         # where the speculative reference was taken
    api: str = ""
    holder: str = ""                # the variable that got it (messages)
    check: Span | None = None       # MISMATCH: the re-check that failed
    failed: str = ""                # MISMATCH: its source

    @property
    def family(self) -> tuple[Span, int]:      # the objects of one read (or parameter)
        return self.origin, self.param

    @property
    def related(self) -> tuple[Step, ...]:     # where the story started
        got = (Step(self.get, f"speculative get by {self.api}()"),) if self.get else ()
        return (Step(self.origin, self.how), *got)


REF = (Phase.SPEC, Phase.VALID, Phase.MISMATCH)
# Flag tests, (try)locks: what they find is acted on after the re-check or by a put.
Inspect = arg_section("inspect", "flag tests and object locks that are no use of a "
                      "speculatively referenced object", event=None, escapes=False)

UNVALIDATED = Rule(
    id="speculative-get-unvalidated",
    name="SpeculativeGetUnvalidated",
    summary="an object found locklessly is used after a speculative get without re-checking "
            "that its source still points at it",
    what="""
Follows objects found without a lock or reference - a PTE or pmd read locklessly
(`ptep_get_lockless()`, `READ_ONCE(*ptep)`, a by-value `pmd_t` parameter), an xarray entry
(`xas_load()`, `xas_find()`), what is derived from them, and the folio of any page
(`page_folio()`, `compound_head()`) - through a speculative get (`folio_try_get()`,
`try_grab_folio_fast()`, `get_page_unless_zero()`, ...). Every use after the get -
dereferencing, storing, returning it, passing it to a call other than a flag test or a
folio lock - or keeping it at the return must follow, on that path, the unchanged edge of
an equality re-check of every source the walk went through: `pte_val(pte) ==
pte_val(ptep_get(ptep))`, `folio == xas_reload(&xas)`, the pmd the PTE table came from, and
`page_folio(page) == folio` (unless a spinlock held at the get keeps the folio there).
""",
    why="""
A speculative get fails only on a zero count, never on a freed object (`struct folio` is
never freed): between the lockless read and the get the folio can be freed and reallocated,
and the get then pins the stranger ("this can grab a reference to a page after it has
already been freed and reallocated", Jann Horn on GUP-fast). Only re-reading the source
after the get proves the reference is on the object found; a folio found through a page
must still contain it (splits), and a PTE table found through a lockless pmd may have been
freed by a THP collapse ("mm: gup: fix the fast GUP race against THP collapse"). Using the
object first hands out, maps or reads memory that belongs to someone else.
""",
    example="""
pmd = pmdp_get_lockless(pmdp);
ptep = pte_offset_map(&pmd, addr);
pte = ptep_get_lockless(ptep);
folio = try_grab_folio_fast(pte_page(pte), 1, flags);
if (!folio)
        goto out;
if (unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
        gup_put_folio(folio, 1, flags);
        goto out;
}
folio_set_referenced(folio);    /* pmd not re-checked: the PTE table may be reused */
""",
    instead="""
if (unlikely(pmd_val(pmd) != pmd_val(*pmdp)) ||
    unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
        gup_put_folio(folio, 1, flags);
        goto out;
}
folio_set_referenced(folio);
""",
    limits="""
- By-value page-table entry parameters are lockless snapshots, `xas_load()`-style lookups
  lockless when the function holds no spinlock: a lock the caller holds is invisible.
- Helpers in another file are followed only through `rules/`; same-file helpers that
  return a speculative reference, drop one, or return one re-check are summarized.
- Re-checks by identity of another field (KSM's `folio->mapping == expected_mapping`)
  are not modeled: their PFN lookups are not lockless reads.
- Flag tests (`folio_test_*()`, `Page*()`) and folio locks are never uses. One finding
  per path; paths are joined without correlating conditions.
""",
    precision="high",
    tags=("correctness", "refcount", "mm", "lockless"),
)

LEAK = Rule(
    id="speculative-ref-leak",
    name="SpeculativeRefLeak",
    summary="a failed re-check after a speculative get keeps the reference",
    what="""
Finds a re-check of a lockless source after a speculative get (`folio != xas_reload(&xas)`,
`pte_val(pte) != pte_val(ptep_get(ptep))`, ...) whose mismatch path leaves the function,
retries (`goto repeat`) or overwrites the variable without dropping the reference
(`folio_put()`, `put_page()`, `gup_put_folio()`). Reported at the re-check.
""",
    why="""
The walker keeps a reference on a folio it does not want, often a stranger's by now: it can
never be freed, split or migrated again; a retry loop leaks one more per lap.
""",
    example="""
if (!folio_try_get(folio))
        goto repeat;
if (unlikely(folio != xas_reload(&xas)))
        goto repeat;            /* the reference is lost */
""",
    instead="""
if (unlikely(folio != xas_reload(&xas))) {
        folio_put(folio);
        goto repeat;
}
""",
    limits="""
- An object passed on the mismatch path to a call that is no API model is assumed to be
  dropped by it (an out-of-file `put_devmap_managed_folio_refs()`), as is one given to a
  helper that re-checks it (a `revalidate` summary).
""",
    precision="high",
    tags=("correctness", "refcount", "mm", "lockless"),
)


class SpeculativeChecker(Checker):
    rules = (UNVALIDATED, LEAK)
    # No finding without a lockless read or a speculative get (nobody holds its object),
    # but helpers that grab, drop or re-check are summarized for their callers.
    starter_sections = ("lockless_read", ("acquire", {"kind": "speculative"}))
    precedence = ("lockless_read", "derive", "release", "acquire")
    summary_sections = ("revalidate", "release", "reread")

    def on_entry(self, ctx: Context) -> None:
        for i, p, src in lw.param_sources(ctx):       # parameters are families of their own
            step = Step(ctx.function.span, f"'{p}' given by the caller")
            ctx.set(p, Obj(Phase.FOUND, step.span, f"parameter '{p}'", i, sources=src,
                           pending=src), (step,))

    def on_lockless_read(self, ctx: Context, ev: Event[LocklessRead]) -> None:
        place = ctx.place(ev.obj)
        if ev.origin is Origin.LOCKED or place is None:
            return            # read under a lock: whatever it designates is stable
        sources = frozenset({Source(place)}) | lw.gather(
            ctx, [place], Obj, lambda s: s.sources if s.phase is Phase.FOUND else ())
        ctx.set(ev.result, Obj(Phase.FOUND, ev.span, value=bool(ev.m.value), sources=sources,
                               pending=sources), (Step(ev.span, f"'{place}' read locklessly "
                                                                f"by {ev.api}()"),))

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        """A folio found through any page must still contain it (nobody holds the page)."""
        value, src, folio = bool(ev.m.value), ctx.place(ev.obj), lw.membership(ctx, ev)
        if folio and src and not ctx.states_of(src, Obj):     # vmf->page: vmf's
            ctx.set(src, Obj(Phase.FOUND, ev.span, f"{ev.api}()", param=lw.param_index(ctx, src)),
                    (Step(ev.span, f"'{src}' held by no reference known here"),))

        def derived(s: Obj) -> Obj | None:       # a value (pte_val()) of what was found only
            if not isinstance(s, Obj) or s.phase is not Phase.FOUND:
                return None if value or not isinstance(s, Obj) else s
            sources = s.sources | ({Source(folio, True)} if folio else set())
            return replace(s, value=value, sources=sources, pending=sources)

        ctx.derive_states(ev, src, derived)

    def on_release(self, ctx: Context, ev: Event[Release]) -> None:
        for i in {s.param for s in ctx.states_of(ctx.designated(ev.obj), Obj)
                  if s.param >= 0 and s.phase is Phase.FOUND}:   # the caller's, not its own
            ctx.summarize("release", arg=i)
        _drop(ctx, ctx.designated(ev.obj), REF)

    def on_acquire(self, ctx: Context, ev: Event[Acquire]) -> None:
        """A speculative reference on the object, and on every object of the same read."""
        if ev.m.kind != "speculative":
            return
        arg = ctx.designated(ev.obj)
        if not ev.done:     # head = try_grab_compound_head(head, ..): found until decided
            return lw.keep_until_decided(ctx, ev, arg)
        holder = ev.result if ev.m.returns_object and ev.result else arg
        for s in [s for s in ctx.states_of(arg, Obj) if s.phase is Phase.FOUND]:
            got = replace(s, phase=Phase.SPEC, value=False, get=ev.span, api=ev.api,
                          holder=holder or "", pending=lw.unpinned(ctx, s.pending))
            lw.rewrite_where(ctx, Obj, lambda t: t.phase is Phase.FOUND and t.family == s.family,  # noqa: B023
                          lambda k, t: got if k == arg or not t.value else t,  # noqa: B023
                          Step(ev.span, f"speculative reference taken by {ev.api}()"))
            if ev.m.returns_object and ev.result is not None:
                ctx.add(ev.result, got, ctx.trail(arg, got))

    def on_recheck(self, ctx: Context, ev: Recheck) -> None:
        """The source re-read on this edge is unchanged: what it is about is cleared (a
        parameter's stays SPEC: its caller re-checks); changed: a reference is MISMATCH."""
        if (scope := lw.recheck_scope(ctx, ev, Obj)) is None:
            return
        src, equal = ev.source, ev.equal
        handed = lw.gather(ctx, ev.handed, Obj, lambda s: [s.family] if s.phase in REF else ())

        def check(_: Key, s: Obj) -> Obj | None:
            if not scope.about(s) or (equal and s.phase is not Phase.SPEC):
                return s
            if equal and scope.mine(s):
                pending = s.pending - scope.cleared
                return replace(s, pending=pending, phase=Phase.SPEC if pending or s.param >= 0
                               else Phase.VALID)
            if equal:
                return replace(s, phase=Phase.VALID) if not src.membership else s
            return None if s.family in handed else replace(
                s, phase=Phase.MISMATCH, check=ev.span, failed=src.key)

        lw.rewrite_where(ctx, Obj, lambda s: s.phase in (Phase.SPEC, Phase.VALID), check,
                         Step(ev.span, f"'{src.key}' re-checked: "
                                       + ("unchanged" if equal else "changed")))

    def on_escape(self, ctx: Context, ev: Escape) -> None:
        """A use; on a failed re-check the callee is assumed to drop it (precision first)."""
        if lw.may_drop(ctx, ev.call):
            _drop(ctx, ev.key, (Phase.MISMATCH,))
        self._use(ctx, ev.key, ev.call.span,
                  f"passed to {ev.call.callee or 'a function pointer'}()", mismatch=False)

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        lw.inherit_offset(ctx, target, value)    # page = pmd_page(orig) + idx: one folio

    def on_deref(self, ctx: Context, key: str, expr: Expr) -> None:
        self._use(ctx, key, expr.span, "dereferenced")

    def on_store(self, ctx: Context, target: Expr, value: Expr, span: Span) -> None:
        self._use(ctx, ctx.designated(value), span, "stored")

    def on_return(self, ctx: Context, ret: Return) -> None:
        if ret.value is None:
            return
        value = ctx.strip(ret.value)
        lw.summarize_return(ctx, value, "speculative", lambda k, unchecked: [
            s.param for s in ctx.states_of(k, Obj) if s.param >= 0 and (
                not unchecked or s.phase is Phase.SPEC)])
        key = ctx.designated(value)
        self._use(ctx, key, ret.span, "returned")
        _drop(ctx, key, REF)                       # the caller has the reference now

    def on_lost(self, ctx: Context, key: Key, s: object, span: Span | None) -> None:
        if isinstance(s, Obj) and span is None and s.phase is Phase.SPEC and s.pending and s.get:
            ctx.report(UNVALIDATED, s.get, f"the reference {s.api}() takes on '{s.holder or key}'"
                       f" is kept when the function returns, without re-checking "   # the caller
                       f"{lw.listed(s.pending)} ({s.how} at line {s.origin.line})",  # gets it
                       ctx.trail(key, s), s.related)
        if isinstance(s, Obj) and s.phase is Phase.MISMATCH and s.check and s.get:
            ctx.report(LEAK, s.check,
                       f"'{s.holder or key}' keeps the reference from {s.api}() (line "
                       f"{s.get.line}) when the re-check of '{s.failed}' fails",
                       ctx.trail(key, s), s.related)

    def _use(self, ctx: Context, key: str | None, span: Span, how: str, mismatch: bool = True
             ) -> None:
        """A use of ``SPEC`` (or ``MISMATCH``): one finding per path, later uses are echoes."""
        for s in ctx.states_of(key, Obj):
            if s.get is None or not ((s.phase is Phase.SPEC and s.pending) or (
                    mismatch and s.phase is Phase.MISMATCH and s.param < 0)):
                continue
            why = (f"without re-checking {lw.listed(s.pending)}" if s.phase is Phase.SPEC
                   else f"after the re-check of '{s.failed}' failed")
            ctx.report(UNVALIDATED, span,
                       f"'{key}' from {s.api}() (line {s.get.line}) is {how} {why} "
                       f"({s.how} at line {s.origin.line})", ctx.trail(key, s), s.related)
            if s.phase is Phase.SPEC:
                lw.rewrite_where(ctx, Obj, s.__eq__, lambda _, t: replace(t, phase=Phase.VALID),
                                 Step(span, f"'{key}' {how} (reported)"))
            return


def _drop(ctx: Context, key: Key | None, phases: tuple[Phase, ...]) -> None:
    """Their families' references are gone (a failed re-check's only with one: joined)."""
    for s in [s for s in ctx.states_of(key, Obj) if s.phase in phases]:
        ctx.rewrite(Obj, lambda _, t: None if t.phase in REF and t.family == s.family and (  # noqa: B023
            t.phase is not Phase.MISMATCH or s.phase is Phase.MISMATCH) else t)  # noqa: B023
