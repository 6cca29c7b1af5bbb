"""speculative-get-unvalidated, speculative-ref-leak: the grab-and-revalidate protocol of
lockless walkers (rule docs below).  What a lockless read finds, and what is derived from
it, is ``FOUND`` with the *sources* to re-check (the place read, the pmd a PTE table came
from, a page's folio membership - for the folio of any page, a parameter's too); a
speculative get makes it and its family ``SPEC``; a re-check clears a source on its
unchanged edge (``VALID`` once none is pending) and makes the reference ``MISMATCH`` on
the other.  Reported: a use of a ``SPEC`` object; a ``MISMATCH`` reference lost.
Parameters are families of their own, so helpers get summaries.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from analyzer.engine import Checker, Context, Escape, Event, Key, Origin, Recheck, Source
from analyzer.engine.keys import root_variable
from analyzer.ir import Call, Expr, Return, Span
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
    get: Span | None = None      # where the speculative reference was taken
    api: str = ""
    holder: str = ""                # the variable that got it (messages)
    check: Span | None = None    # MISMATCH: the re-check that failed
    failed: str = ""                # MISMATCH: its source

    @property
    def family(self) -> tuple[Span, int]:
        """Objects of one lockless read (or one parameter) share a family."""
        return self.origin, self.param


REF = (Phase.SPEC, Phase.VALID, Phase.MISMATCH)
# Reads of an object's own state that rely on nothing the re-check proves (a flag test, a
# sleeping lock or trylock: what they find is acted on only after the re-check, or by a
# put): object-neutral, no use.
Inspect = arg_section("inspect", "flag tests and object locks that are no use of a "
                      "speculatively referenced object", event=None, escapes=False)
# Parameters of these types (``pmd_t orig``) are snapshots of an entry the caller read
# locklessly: what they map must be re-checked against the live entry (issue 12 b).
Snapshot = arg_section("snapshot", "page-table entry types: a by-value parameter is a "
                       "lockless snapshot", event=None, required=False)

UNVALIDATED = Rule(
    id="speculative-get-unvalidated",
    name="SpeculativeGetUnvalidated",
    summary="an object found locklessly is used after a speculative get without re-checking "
            "that its source still points at it",
    what="""
Follows objects found without a lock or reference - a PTE read with `ptep_get_lockless()`
or `READ_ONCE(*ptep)`, a pmd read with `pmdp_get_lockless()`, an xarray entry from
`xas_load()`/`xas_find()`/`xas_next_entry()`, and what is derived from them; and the folio
of any page (`page_folio()`, `compound_head()`: of a parameter, of a PFN walk's
`pfn_to_online_page()`) - through a speculative get (`folio_try_get()`,
`try_grab_folio_fast()`, `get_page_unless_zero()`, ...). Every use of the object after
the get - dereferencing, storing, returning it, passing it to a call other than a flag
test or a folio lock - must be preceded, on that path, by an equality re-check of every
source the walk went through, on the edge where they are equal:
`pte_val(pte) == pte_val(ptep_get(ptep))`, `folio == xas_reload(&xas)`,
`pmd_val(pmd) == pmd_val(*pmdp)` for the pmd the PTE table came from, and
`page_folio(page) == folio` when the folio was found through a page (unless a spinlock
held at the get keeps it there).
""",
    why="""
A speculative get only succeeds if the count is not zero; it never fails on a freed object,
because `struct page`/`struct folio` is never freed: between the lockless read and the get,
the folio can be freed and reallocated to anyone, and the get then pins that stranger
("this can grab a reference to a page after it has already been freed and reallocated",
Jann Horn on GUP-fast). Only re-reading the source after the get proves that the reference
is on the object the walker found: "then we recheck that the page table entry is still the
same, and if it changed in between, we drop the folio reference and bail". A folio found
through a page must also still contain that page (it may have been split), and a PTE
table found through a pmd read locklessly may have been freed by a THP collapse unless the
pmd is re-checked too (the GUP-fast fix "mm: gup: fix the fast GUP race against THP
collapse"). Using the object before that re-check hands out, maps or reads memory that
belongs to someone else.
""",
    example="""
pmd = pmdp_get_lockless(pmdp);
ptep = pte_offset_map(&pmd, addr);
pte = ptep_get_lockless(ptep);
page = pte_page(pte);
folio = try_grab_folio_fast(page, 1, flags);
if (!folio)
        goto out;
if (unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
        gup_put_folio(folio, 1, flags);
        goto out;
}
pages[(*nr)++] = page;  /* pmd not re-checked: the PTE table may be freed and reused */
""",
    instead="""
pmd = pmdp_get_lockless(pmdp);
ptep = pte_offset_map(&pmd, addr);
pte = ptep_get_lockless(ptep);
page = pte_page(pte);
folio = try_grab_folio_fast(page, 1, flags);
if (!folio)
        goto out;
if (unlikely(pmd_val(pmd) != pmd_val(*pmdp)) ||
    unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
        gup_put_folio(folio, 1, flags);
        goto out;
}
pages[(*nr)++] = page;
""",
    limits="""
- A page-table entry passed by value (GUP's `gup_fast_pmd_leaf(pmd_t orig, pmd_t *pmdp,
  ...)`) is not known to be a lockless snapshot: the page it maps is not reported unless
  it goes through `page_folio()`. Only the membership of a parameter's page is known.
- `xas_load()`-style lookups count as lockless when the function holds no spinlock; a lock
  held by the caller is invisible.
- Helpers in another file are followed only through `rules/`. In the same file, helpers
  that return a speculative reference, drop one, or return a re-check
  (`return pte_val(pte) == pte_val(ptep_get(ptep));`) are summarized; a helper that
  re-checks through several `return` statements is not, and its callers' uses are
  reported (an `expect-fp` fixture documents it).
- Re-checks by identity of another field (KSM's `folio->mapping == expected_mapping`)
  are not modeled; such lookups are not tracked (their PFN is not a lockless read).
- Flag tests (`folio_test_*()`, `Page*()`) and folio locks are never uses, even where
  what they find is acted on before the re-check.
- One finding per path: after the first use is reported, later uses stay silent. Paths
  are joined without correlating conditions.
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
On the mismatch path the walker holds a reference on a folio it does not want - often one
that was freed and reallocated to someone else meanwhile. Not dropping it leaks a
reference on that stranger's folio: it can never be freed, split or migrated again
(memory leak, failed compaction, offlining and CMA allocations), and a retry loop leaks
one more reference per lap.
""",
    example="""
if (!folio_try_get(folio))
        goto repeat;
if (unlikely(folio != xas_reload(&xas)))
        goto repeat;            /* the reference is lost */
""",
    instead="""
if (!folio_try_get(folio))
        goto repeat;
if (unlikely(folio != xas_reload(&xas))) {
        folio_put(folio);
        goto repeat;
}
""",
    limits="""
- An object passed to a call that is not an API model on the mismatch path is assumed to
  be dropped by it (e.g. an out-of-file `put_devmap_managed_folio_refs()`).
- A helper given the object that re-checks it (a `revalidate` summary) is assumed to drop
  it when the re-check fails.
""",
    precision="high",
    tags=("correctness", "refcount", "mm", "lockless"),
)


class SpeculativeChecker(Checker):
    rules = (UNVALIDATED, LEAK)
    # No finding without a lockless read or a speculative get (nobody holds its object),
    starter_sections = ("lockless_read", ("acquire", {"kind": "speculative"}))
    precedence = ("lockless_read", "derive", "release", "acquire")

    # ... but helpers that grab, drop or re-check are summarized for their callers.
    summary_sections = ("revalidate", "release", "reread")

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        fn, snapshot = ctx.function, ctx.models.names("snapshot")
        for i, p in enumerate(fn.params):
            ty = fn.param_types[i] if i < len(fn.param_types) else ""
            src = frozenset({Source(p)} if ty in snapshot else ())
            ctx.set(p, Obj(Phase.FOUND, fn.span, f"parameter '{p}'", param=i, sources=src,
                           pending=src), (Step(fn.span, f"'{p}' given by the caller"),))

    def on_lockless_read(self, ctx: Context, ev: Event[LocklessRead]) -> None:
        place = ctx.place(ev.obj)
        if ev.origin is Origin.LOCKED or place is None:
            return            # read under a lock: whatever it designates is stable
        inherited = frozenset().union(*(s.sources for s in ctx.states_of(place, Obj)
                                        if s.phase is Phase.FOUND))
        sources = frozenset({Source(place)}) | inherited
        ctx.set(ev.result, Obj(Phase.FOUND, ev.span, value=bool(ev.m.value), sources=sources,
                               pending=sources),
                (Step(ev.span, f"'{place}' read locklessly by {ev.api}()"),))

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        """A folio found through a page (``page_folio()``, a ``reread`` model) must still
        contain it after a speculative get, whatever found the page - a parameter, a PFN
        walk, anything: nobody holds it, or the get would not be speculative."""
        value, src = bool(ev.m.value), ctx.place(ev.obj)
        membership = ev.result if ctx.spec("reread", ev.api) and not value else None
        if membership and src and not ctx.states_of(src, Obj):     # vmf->page: vmf's
            params = ctx.function.params
            root = root_variable(src)
            ctx.set(src, Obj(Phase.FOUND, ev.span, f"{ev.api}()",
                             param=params.index(root) if root in params else -1),
                    (Step(ev.span, f"'{src}' held by no reference known here"),))

        def derived(s: Obj) -> Obj | None:
            if not isinstance(s, Obj) or (value and s.phase is not Phase.FOUND):
                return None
            if s.phase is not Phase.FOUND:
                return s
            sources = s.sources | ({Source(membership, True)} if membership else set())
            return replace(s, value=value, sources=sources, pending=sources)

        ctx.derive_states(ev, src, derived)

    def on_release(self, ctx: Context, ev: Event[Release]) -> None:
        for s in ctx.states_of(ctx.designated(ev.obj), Obj):
            if s.param >= 0:
                ctx.summarize("release", arg=s.param)
            if s.phase in REF:
                _drop(ctx, s)

    def on_acquire(self, ctx: Context, ev: Event[Acquire]) -> None:
        if ev.m.kind == "speculative" and ev.done:
            self._get(ctx, ev)

    def on_recheck(self, ctx: Context, ev: Recheck) -> None:
        if ev.first is None or any(s.param >= 0 or ev.source in s.sources
                                   for s in ctx.states_of(ev.first, Obj)):
            self._checked(ctx, ev)

    def on_escape(self, ctx: Context, ev: Escape) -> None:
        """Passed to a call that is no API model: a use; on a failed re-check, the callee
        is assumed to drop the reference (precision first)."""
        for s in ctx.states_of(ev.key, Obj):
            if s.phase is Phase.MISMATCH:
                _drop(ctx, s)
        self._use(ctx, ev.key, ev.call.span,
                  f"passed to {ev.call.callee or 'a function pointer'}()", mismatch=False)

    def on_deref(self, ctx: Context, key: str, expr: Expr) -> None:
        self._use(ctx, key, expr.span, "dereferenced")

    def on_store(self, ctx: Context, target: Expr, value: Expr, span: Span) -> None:
        self._use(ctx, ctx.designated(value), span, "stored")

    def on_lost(self, ctx: Context, key: Key, s: object, span: Span | None) -> None:
        if not isinstance(s, Obj):
            return
        if span is None and s.phase is Phase.SPEC and s.param >= 0 and s.pending and s.get:
            ctx.report(UNVALIDATED, s.get,      # the caller gets it through its page
                       f"the reference {s.api}() takes on '{s.holder or key}' is kept when "
                       f"the function returns, without re-checking "
                       f"{_missing(s)} ({s.how} at line {s.origin.line})",
                       ctx.trail(key, s), _related(s))
        if s.phase is Phase.MISMATCH and s.check and s.get:
            ctx.report(LEAK, s.check,
                       f"'{s.holder or key}' keeps the reference from {s.api}() (line "
                       f"{s.get.line}) when the re-check of '{s.failed}' fails",
                       ctx.trail(key, s), _related(s))

    def on_return(self, ctx: Context, ret: Return) -> None:
        if ret.value is None:
            return
        value = ctx.strip(ret.value)
        self._summarize_return(ctx, value)
        key = ctx.designated(value)
        self._use(ctx, key, ret.span, "returned")
        for s in ctx.states_of(key, Obj):          # the caller has the reference now
            if s.phase in REF:
                _drop(ctx, s)

    # ------------------------------------------------------------------ states
    def _get(self, ctx: Context, ev: Event[Acquire]) -> None:
        """A speculative reference on the object: and on every object of the same read."""
        arg = ctx.designated(ev.obj)
        step = Step(ev.span, f"speculative reference taken by {ev.api}()")
        holder = ev.result if ev.m.returns_object and ev.result else arg
        # A spinlock held pins the folio's membership, and the entries of the page
        # tables (a snapshot the function was given is re-checked under it, or stable).
        pinned = set(ctx.function.params) if ctx.holds("spin") else None
        for s in [s for s in ctx.states_of(arg, Obj) if s.phase is Phase.FOUND]:
            pending = frozenset(p for p in s.pending if pinned is None or not (
                p.membership or p.key in pinned))
            got = replace(s, phase=Phase.SPEC, value=False, get=ev.span, api=ev.api,
                          holder=holder or "", pending=pending)

            def grab(k: Key, t: Obj, s: Obj = s, got: Obj = got) -> Obj:
                same = t.phase is Phase.FOUND and t.family == s.family
                return got if same and (k == arg or not t.value) else t

            ctx.rewrite(Obj, grab, step)
            if ev.m.returns_object and ev.result is not None:
                ctx.add(ev.result, got, ctx.trail(arg, got))

    def _checked(self, ctx: Context, ev: Recheck) -> None:
        """On this edge the source was re-read and found (un)changed."""
        src, equal = ev.source, ev.equal      # a snapshot compared is re-checked too
        srcs = {src} | {p for s in ctx.states_of(ev.first, Obj) if s.param >= 0
                        for p in s.sources if not p.membership}
        handed = {s.family for k in ev.handed for s in ctx.states_of(k, Obj) if s.phase in REF}
        compared = {s.family for s in ctx.states_of(ev.first, Obj)} if ev.first else None

        def check(_: Key, s: Obj) -> Obj | None:
            # A parameter's object has no known source: any re-check of its own family
            # (or through a helper) counts, as does one of the sources it was derived by.
            mine = bool(srcs & s.sources)
            if s.phase not in (Phase.SPEC, Phase.VALID) or not (mine or (
                    s.param >= 0 and (compared is None or s.family in compared))):
                return s
            if equal and s.phase is not Phase.SPEC:
                return s
            if equal and mine:          # (a parameter's stays SPEC: its caller re-checks)
                pending = s.pending - srcs
                return replace(s, pending=pending, phase=Phase.SPEC if pending or s.param >= 0
                               else Phase.VALID)
            if equal:
                return replace(s, phase=Phase.VALID) if not src.membership else s
            if s.family in handed:
                return None
            return replace(s, phase=Phase.MISMATCH, check=ev.span, failed=src.key)

        ctx.rewrite(Obj, check, Step(ev.span, f"'{src.key}' re-checked: "
                                              + ("unchanged" if equal else "changed")))

    # ------------------------------------------------------------------ summaries
    def _summarize_return(self, ctx: Context, value: Expr) -> None:
        if (rc := ctx.returned_recheck(value)) is not None:
            ctx.summarize_returned("revalidate", rc[1], rc[2], arg=rc[0])
            return
        if isinstance(value, Call) and (acq := ctx.spec("acquire", value.callee)):
            if acq.kind == "speculative":
                for s in ctx.states_of(ctx.designated(ctx.arg(value, acq.arg)), Obj):
                    if s.param >= 0:
                        ctx.summarize_returned("acquire", True, acq, arg=s.param,
                                               kind="speculative",
                                               returns_object=bool(acq.returns_object))
                return
        for s in ctx.states_of(ctx.designated(value), Obj):
            if s.param >= 0 and s.phase is Phase.SPEC:
                ctx.summarize_returned("acquire", True, arg=s.param, kind="speculative",
                                       returns_object=True)

    # ------------------------------------------------------------------ reports
    def _use(self, ctx: Context, key: str | None, span: Span, how: str,
             mismatch: bool = True) -> None:
        phases = (Phase.SPEC, Phase.MISMATCH) if mismatch else (Phase.SPEC,)
        for s in ctx.states_of(key, Obj):
            if s.get is None or s.phase not in phases or (s.param >= 0 and s.phase is
                                                          Phase.MISMATCH) or not (
                    s.pending or s.phase is Phase.MISMATCH):
                continue
            if s.phase is Phase.SPEC:
                why = f"without re-checking {_missing(s)}"
            else:
                why = f"after the re-check of '{s.failed}' failed"
            ctx.report(UNVALIDATED, span,
                       f"'{key}' from {s.api}() (line {s.get.line}) is {how} {why} "
                       f"({s.how} at line {s.origin.line})", ctx.trail(key, s),
                       _related(s))
            if s.phase is Phase.SPEC:       # one finding per path: later uses are its echo
                echo = replace(s, phase=Phase.VALID)
                ctx.rewrite(Obj, lambda _, t, s=s, echo=echo: echo if t == s else t,
                            Step(span, f"'{key}' {how} (reported)"))
            return


def _drop(ctx: Context, s: Obj) -> None:
    """The references of ``s``'s family are gone (a failed re-check's only with it: on
    a joined path the other one may still hold it)."""
    ctx.rewrite(Obj, lambda _, t: None if t.phase in REF and t.family == s.family and (
        t.phase is not Phase.MISMATCH or s.phase is Phase.MISMATCH) else t)


def _missing(s: Obj) -> str:
    return ", ".join(f"'{p.key}'" for p in sorted(s.pending, key=lambda p: (p.membership,
                                                                           p.key)))


def _related(s: Obj) -> tuple[Step, ...]:
    got = (Step(s.get, f"speculative get by {s.api}()"),) if s.get is not None else ()
    return (Step(s.origin, s.how), *got)
