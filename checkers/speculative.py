"""speculative-get-unvalidated, speculative-ref-leak: the grab-and-revalidate protocol of
lockless walkers (GUP-fast, the lockless page cache, KVM's pfn lookups).

Tracked: what a lockless read finds (``ptep_get_lockless()``, ``xas_load()`` under no
spinlock, ``READ_ONCE(*p)``) and everything derived from it (``pte_page()``,
``page_folio()``, a PTE table from ``pte_offset_map(&pmd)``) is ``FOUND``, with the
*sources* to re-check: the place read (``ptep``, ``xas``), the places the reader's pointer
came from (the pmd behind a PTE table), and for a folio found through a page, that page's
membership (``page_folio(page)``).  A speculative get (``acquire`` models of kind
speculative, on the edge where it succeeded) turns the object and the objects of the same
read into ``SPEC`` with all sources pending.  An equality re-check (``pte_val(pte) !=
pte_val(ptep_get(ptep))``, ``folio != xas_reload(&xas)``, ``pte_same()``) clears a source
on the edge where they are equal - ``VALID`` once none is pending - and makes the
reference ``MISMATCH`` on the other edge.

Reported: a *use* of a ``SPEC`` object - dereferenced, stored into memory, returned, passed
to a call that is not an API model - (speculative-get-unvalidated); a ``MISMATCH``
reference that leaves the function or is overwritten without a put
(speculative-ref-leak), at the re-check whose failure path keeps it.

Summaries (same file): parameters start as ``FOUND`` of their own, never reported, so a
helper that returns a speculative reference on its argument's object (``acquire``), drops
its argument's reference (``release``) or returns a re-check of a source argument
(``revalidate``) works for its callers like an API model.

Known limits: a source read by a caller (GUP's ``pmd`` passed by value with ``pmdp``) is
invisible, so objects derived from parameters are never reported; an object on a failed
re-check passed to an unknown call is assumed dropped by it; a re-check helper with
several ``return`` statements gets no summary; one finding per path (later uses of the
same reference are its echo); conditions are not correlated across branches.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from analyzer.engine import NONZERO, ZERO, Checker, Context, Test, effect_holds
from analyzer.ir import Binary, Call, Deref, Expr, Span, Unary
from analyzer.result import Step
from analyzer.rule import Rule

NOT_USES = ("acquire", "release", "derive", "reread", "revalidate", "lockless_read",
            "transparent", "refcount_read")


class Phase(Enum):
    FOUND = "found locklessly, no reference"
    SPEC = "speculative reference, not re-checked"
    VALID = "speculative reference, re-checked"
    MISMATCH = "re-check failed, reference still held"


@dataclass(frozen=True, slots=True)
class Saved:
    """A variable holding the outcome of an equality test (``changed = a != b``)."""

    test: Binary               # always ``==``
    equal_if_true: bool


@dataclass(frozen=True, slots=True)
class Source:
    """A place to re-check: ``ptep``, ``xas``; or a page's folio (``page_folio(page)``)."""

    key: str
    membership: bool = False


@dataclass(frozen=True, slots=True)
class Obj:
    phase: Phase
    origin: Span                    # the lockless read (the function, for a parameter)
    param: int = -1                 # >= 0: found through this parameter (summaries only)
    value: bool = False             # a PTE/PFN value, not the object holding the count
    sources: frozenset = frozenset()
    pending: frozenset = frozenset()
    get: Span | None = None      # where the speculative reference was taken
    api: str = ""
    holder: str = ""                # the variable that got it (messages)
    check: Span | None = None    # MISMATCH: the re-check that failed
    failed: str = ""                # MISMATCH: its source


REF = (Phase.SPEC, Phase.VALID, Phase.MISMATCH)

UNVALIDATED = Rule(
    id="speculative-get-unvalidated",
    name="SpeculativeGetUnvalidated",
    summary="an object found locklessly is used after a speculative get without re-checking "
            "that its source still points at it",
    what="""
Follows objects found without a lock or reference - a PTE read with `ptep_get_lockless()`
or `READ_ONCE(*ptep)`, a pmd read with `pmdp_get_lockless()`, an xarray entry from
`xas_load()`/`xas_find()`/`xas_next()`, and the pages and folios derived from them - through a
speculative get (`folio_try_get()`, `try_grab_folio_fast()`, `get_page_unless_zero()`,
`folio_ref_try_add()`, ...). Every use of the object after the get - dereferencing it, storing
it, returning it, passing it to a call - must be preceded, on that path, by an equality
re-check of every source the walk went through, on the edge where they are equal:
`pte_val(pte) == pte_val(ptep_get(ptep))`, `folio == xas_reload(&xas)`,
`pmd_val(pmd) == pmd_val(*pmdp)` for the pmd the PTE table came from, and
`page_folio(page) == folio` when the folio was found through a page.
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
- Only sources read in the same function are known: an object derived from a parameter
  (GUP's `gup_fast_pmd_leaf(pmd_t orig, pmd_t *pmdp, ...)`) is never reported, and a pmd
  that the caller read locklessly and passed by value is not known to need a re-check.
- `xas_load()`-style lookups count as lockless when the function holds no spinlock; a lock
  held by the caller is invisible.
- Helpers in another file are followed only through `rules/`. In the same file, helpers
  that return a speculative reference, drop one, or return a re-check
  (`return pte_val(pte) == pte_val(ptep_get(ptep));`) are summarized; a helper that
  re-checks through several `return` statements is not, and its callers' uses are
  reported (an `expect-fp` fixture documents it).
- Re-checks by identity of another field (KSM's `folio->mapping == expected_mapping`)
  are not modeled; such lookups are not tracked (their PFN is not a lockless read).
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

    # No finding without a lockless read in the file...
    starter_sections = ("lockless_read",)

    def wants(self, names, models):
        # ... but helpers that grab, drop or re-check are summarized for their callers.
        spec = {n for n, m in models.by_section.get("acquire", {}).items()
                if m.get("kind") == "speculative"}
        return bool(names & (spec | models.names("revalidate") | models.names("release")
                             | models.names("reread") | models.names("lockless_read")))

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        fn = ctx.function
        for i, p in enumerate(fn.params):
            ctx.set(p, Obj(Phase.FOUND, fn.span, param=i))

    def on_call(self, ctx: Context, call: Call, result: str | None) -> None:
        models, name = ctx.models, call.callee
        if (m := models.get("lockless_read", name)) is not None:
            self._read(ctx, call, m, result)
        elif (m := models.get("derive", name)) is not None:
            self._derive(ctx, call, m, result)
        elif (m := models.get("release", name)) is not None:
            self._release(ctx, ctx.designated(ctx.arg(call, m.get("arg"))))
        elif (m := models.get("acquire", name)) is not None and m.get("when") == "always":
            if m.get("kind") == "speculative":
                self._get(ctx, call, m, result)
        if name is None or not any(models.get(s, name) for s in NOT_USES):
            for a in call.args:
                self._passed(ctx, ctx.designated(a), call)

    def on_assign(self, ctx: Context, target: str, value: Expr, span) -> None:
        equal = True
        while isinstance(value, Unary) and value.op == "!":
            value, equal = ctx.strip(value.operand), not equal
        if isinstance(value, Binary) and value.op in ("==", "!="):
            if value.op == "!=":
                value, equal = Binary("==", value.left, value.right, value.span), not equal
            ctx.set(target, Saved(value, equal))

    def on_branch(self, ctx: Context, test: Test) -> None:
        s = test.subject
        if isinstance(s, Binary) and s.op == "==" and test.outcome in (NONZERO, ZERO):
            self._compare(ctx, s, test.outcome == NONZERO)
        if test.outcome in (NONZERO, ZERO):
            for saved in ctx.states(ctx.key(s)):
                if isinstance(saved, Saved):
                    self._compare(ctx, saved.test,
                                  (test.outcome == NONZERO) == saved.equal_if_true)
        if not isinstance(s, Call):
            return
        if (m := ctx.models.get("revalidate", s.callee)) is not None:
            src = self._revalidate_source(ctx, s, m.get("arg"))
            passed = {ctx.designated(a) for a in s.args} - {None}
            if src is not None:
                self._checked(ctx, src, effect_holds(m.get("when"), test.outcome), None,
                              s.span, passed)
        m = ctx.models.get("acquire", s.callee)
        if (m is not None and m.get("kind") == "speculative" and m.get("when") != "always"
                and effect_holds(m.get("when"), test.outcome)):
            self._get(ctx, s, m, test.via or ctx.key(s))

    def on_deref(self, ctx: Context, key: str, expr: Expr) -> None:
        self._use(ctx, key, expr.span, "dereferenced")

    def on_store(self, ctx: Context, target: Expr, value: Expr, span) -> None:
        self._use(ctx, ctx.designated(value), span, "stored")

    def on_overwrite(self, ctx: Context, key: str, span) -> None:
        for s in ctx.states(key):
            if isinstance(s, Obj) and s.phase is Phase.MISMATCH and not any(
                    k != key and s in st for k, st in ctx.tracked()):
                self._leak(ctx, key, s)

    def on_return(self, ctx: Context, ret) -> None:
        if ret.value is None:
            return
        value = ctx.strip(ret.value)
        self._summarize_return(ctx, value)
        key = ctx.designated(value)
        self._use(ctx, key, ret.span, "returned")
        for s in ctx.states(key):          # the caller has the reference now
            if isinstance(s, Obj) and s.phase in REF:
                self._drop_family(ctx, s)

    def on_exit(self, ctx: Context) -> None:
        for key, states in ctx.tracked():
            for s in states:
                if isinstance(s, Obj) and s.phase is Phase.MISMATCH:
                    self._leak(ctx, key, s)

    # ------------------------------------------------------------------ policy
    def _read(self, ctx: Context, call: Call, m, result: str | None) -> None:
        src = ctx.arg(call, m.get("arg", 0))
        if m.get("deref_only") and not isinstance(src, Deref):
            return
        if ctx.holds("spin"):
            return            # read under a lock: whatever it designates is stable
        place = ctx.place(src)
        if place is None:
            return
        inherited = frozenset().union(*(s.sources for s in ctx.states(place)
                                        if isinstance(s, Obj) and s.phase is Phase.FOUND))
        sources = frozenset({Source(place)}) | inherited
        ctx.set(result, Obj(Phase.FOUND, call.span, value=bool(m.get("value")),
                            sources=sources, pending=sources),
                (Step(call.span, f"'{place}' read locklessly by {call.callee}()"),))

    def _derive(self, ctx: Context, call: Call, m, result: str | None) -> None:
        src = ctx.place(ctx.arg(call, m.get("from")))
        value = bool(m.get("value"))
        what = ctx.name_of(call, result)
        for s in ctx.states(src):
            if not isinstance(s, Obj) or (value and s.phase is not Phase.FOUND):
                continue
            trail = ctx.trail(src, s)
            if s.phase is Phase.FOUND:
                sources = s.sources
                if not value and ctx.models.get("reread", call.callee) and result:
                    sources = sources | {Source(result, membership=True)}
                s = replace(s, value=value, sources=sources, pending=sources)
            step = Step(call.span, f"'{what}' derived from '{src}' by {call.callee}()")
            ctx.add(result, s, trail + (step,))

    def _get(self, ctx: Context, call: Call, m, result: str | None) -> None:
        """A speculative reference on the object: and on every object of the same read."""
        arg = ctx.designated(ctx.arg(call, m.get("arg")))
        step = Step(call.span, f"speculative reference taken by {call.callee}()")
        found = [s for s in ctx.states(arg) if isinstance(s, Obj) and s.phase is Phase.FOUND]
        for s in found:
            holder = result if m.get("returns_object") and result else arg
            got = replace(s, phase=Phase.SPEC, value=False, get=call.span, api=call.callee,
                          holder=holder)
            for k, states in ctx.tracked():
                for t in list(states):
                    if (isinstance(t, Obj) and t.phase is Phase.FOUND and
                            t.origin == s.origin and t.param == s.param and
                            (k == arg or not t.value)):
                        ctx.replace(k, t, got, step)
            if m.get("returns_object") and result is not None:
                ctx.add(result, got, ctx.trail(arg, got))

    def _release(self, ctx: Context, key: str | None) -> None:
        for s in ctx.states(key):
            if isinstance(s, Obj) and s.param >= 0:
                ctx.summarize("release", arg=s.param)
            if isinstance(s, Obj) and s.phase in REF:
                self._drop_family(ctx, s)

    def _drop_family(self, ctx: Context, s: Obj) -> None:
        for k, states in ctx.tracked():
            ctx.discard(k, *[t for t in states if isinstance(t, Obj) and t.phase in REF
                             and t.origin == s.origin and t.param == s.param])

    def _passed(self, ctx: Context, key: str | None, call: Call) -> None:
        """Passed to a call that is not an API model: a use; on a failed re-check, the
        callee is assumed to drop the reference (precision first)."""
        for s in ctx.states(key):
            if isinstance(s, Obj) and s.phase is Phase.MISMATCH:
                self._drop_family(ctx, s)
        self._use(ctx, key, call.span, f"passed to {call.callee or 'a function pointer'}()",
                  mismatch=False)

    def _use(self, ctx: Context, key: str | None, span: Span, how: str,
             mismatch: bool = True) -> None:
        phases = (Phase.SPEC, Phase.MISMATCH) if mismatch else (Phase.SPEC,)
        for s in ctx.states(key):
            if not isinstance(s, Obj) or s.param >= 0 or s.phase not in phases:
                continue
            trail = ctx.trail(key, s)
            if s.phase is Phase.SPEC:
                missing = ", ".join(f"'{p.key}'" for p in sorted(s.pending, key=_order))
                why = f"without re-checking {missing}"
            else:
                why = f"after the re-check of '{s.failed}' failed"
            ctx.report(UNVALIDATED, span,
                       f"'{key}' from {s.api}() (line {s.get.line}) is {how} {why} "
                       f"(lockless read at line {s.origin.line})", trail,
                       _related(s))
            if s.phase is Phase.SPEC:       # one finding per path: later uses are its echo
                step = Step(span, f"'{key}' {how} (reported)")
                for k, states in ctx.tracked():
                    if s in states:
                        ctx.replace(k, s, replace(s, phase=Phase.VALID), step)
            return

    def _leak(self, ctx: Context, key: str, s: Obj) -> None:
        key = s.holder or key
        ctx.report(LEAK, s.check,
                   f"'{key}' keeps the reference from {s.api}() (line {s.get.line}) when "
                   f"the re-check of '{s.failed}' fails", ctx.trail(key, s), _related(s))

    # ------------------------------------------------------------------ re-checks
    def _compare(self, ctx: Context, cmp: Binary, equal: bool) -> None:
        for a, b in ((cmp.left, cmp.right), (cmp.right, cmp.left)):
            src = self._reread_source(ctx, b)
            first = self._first_value(ctx, a)
            if src is None or first is None:
                continue
            if any(isinstance(s, Obj) and (s.param >= 0 or src in s.sources)
                   for s in ctx.states(first)):
                self._checked(ctx, src, equal, first, cmp.span, set())
                return

    def _checked(self, ctx: Context, src: Source, equal: bool, first: str | None,
                 span: Span, handed: set) -> None:
        """On this edge the source ``src`` was re-read and found (un)changed."""
        step = Step(span, f"'{src.key}' re-checked: " + ("unchanged" if equal else "changed"))
        handed_families = _families(ctx, handed, REF)
        compared = _families(ctx, {first}) if first is not None else None
        for k, states in ctx.tracked():
            for s in list(states):
                if not isinstance(s, Obj) or s.phase not in (Phase.SPEC, Phase.VALID):
                    continue
                # A parameter's object has no known source: any re-check of its own
                # family (or through a helper) counts.
                mine = src in s.sources or (s.param >= 0 and (
                    compared is None or (s.origin, s.param) in compared))
                if not mine:
                    continue
                if equal:
                    if s.phase is not Phase.SPEC:
                        continue
                    if s.param >= 0:
                        new = replace(s, phase=Phase.VALID) if not src.membership else s
                    else:
                        pending = s.pending - {src}
                        new = replace(s, pending=pending,
                                      phase=Phase.SPEC if pending else Phase.VALID)
                elif (s.origin, s.param) in handed_families:
                    ctx.discard(k, s)
                    continue
                else:
                    new = replace(s, phase=Phase.MISMATCH, check=span, failed=src.key)
                if new != s:
                    ctx.replace(k, s, new, step)

    def _reread_source(self, ctx: Context, e: Expr) -> Source | None:
        """The source that ``e`` re-reads: a place (``ptep_get(ptep)``, ``*pmdp``,
        ``xas_reload(&xas)``), also through derivations (``pte_val()``, ``pte_page()``);
        else a page's folio membership (``page_folio(page)``)."""
        models, top = ctx.models, ctx.strip(e)
        for _ in range(8):
            e = ctx.strip(e)
            if isinstance(e, Deref):
                key = ctx.key(e.operand)
                return Source(key) if key else None
            if not isinstance(e, Call):
                break
            derive = models.get("derive", e.callee)
            m = models.get("reread", e.callee) or models.get("lockless_read", e.callee)
            if m is not None and derive is None:
                arg = ctx.arg(e, m.get("arg", 0))
                if m.get("deref_only") and not isinstance(arg, Deref):
                    return None
                key = ctx.place(arg)
                return Source(key) if key else None
            if derive is None or (e := ctx.arg(e, derive.get("from"))) is None:
                break
        if isinstance(top, Call) and models.get("reread", top.callee) is not None:
            key = ctx.key(top)
            return Source(key, membership=True) if key else None
        return None

    def _revalidate_source(self, ctx: Context, call: Call, index: int) -> Source | None:
        arg = ctx.arg(call, index)
        for a in [arg] + [ctx.arg(call, i) for i in range(len(call.args)) if i != index]:
            if a is not None and (src := self._reread_source(ctx, a)) is not None:
                return src
        key = ctx.place(arg)
        return Source(key) if key else None

    def _first_value(self, ctx: Context, e: Expr) -> str | None:
        """The tracked key ``e`` stands for, through value conversions (``pte_val(pte)``)."""
        for _ in range(8):
            e = ctx.strip(e)
            key = ctx.designated(e)
            if key is not None:
                return key
            m = ctx.models.get("derive", e.callee) if isinstance(e, Call) else None
            if m is None:
                return None
            e = ctx.arg(e, m.get("from"))
            if e is None:
                return None
        return None

    # ------------------------------------------------------------------ summaries
    def _summarize_return(self, ctx: Context, value: Expr) -> None:
        params = ctx.function.params
        equal = True
        test = value
        while isinstance(test, Unary) and test.op == "!":
            test, equal = ctx.strip(test.operand), not equal
        if isinstance(test, Call) and (m := ctx.models.get("revalidate", test.callee)):
            src = self._revalidate_source(ctx, test, m.get("arg"))
            if src is not None and not src.membership and src.key in params:
                holds = m.get("when") if equal else {"nonzero": "zero"}.get(m.get("when"),
                                                                            "nonzero")
                ctx.summarize("revalidate", arg=params.index(src.key), when=holds)
            return
        if isinstance(test, Binary) and test.op in ("==", "!="):
            if test.op == "!=":
                equal = not equal
            for b in (test.left, test.right):
                src = self._reread_source(ctx, b)
                if src is not None and not src.membership and src.key in params:
                    ctx.summarize("revalidate", arg=params.index(src.key),
                                  when="nonzero" if equal else "zero")
                    return
        if isinstance(value, Call):
            m = ctx.models.get("acquire", value.callee)
            if m is not None and m.get("kind") == "speculative":
                arg = ctx.designated(ctx.arg(value, m.get("arg")))
                for s in ctx.states(arg):
                    if isinstance(s, Obj) and s.param >= 0:
                        ctx.summarize("acquire", arg=s.param, kind="speculative",
                                      when=m.get("when"),
                                      returns_object=bool(m.get("returns_object")))
                return
        for s in ctx.states(ctx.designated(value)):
            if isinstance(s, Obj) and s.param >= 0 and s.phase is Phase.SPEC:
                ctx.summarize("acquire", arg=s.param, kind="speculative", when="nonzero",
                              returns_object=True)



def _families(ctx: Context, keys, phases=tuple(Phase)) -> set:
    return {(s.origin, s.param) for k in keys for s in ctx.states(k)
            if isinstance(s, Obj) and s.phase in phases}


def _order(s: Source):
    return (s.membership, s.key)


def _related(s: Obj) -> tuple[Step, ...]:
    out = (Step(s.origin, "lockless read"),)
    if s.get is not None:
        out += (Step(s.get, f"speculative get by {s.api}()"),)
    return out
