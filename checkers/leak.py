"""page-ref-leak (rule docs below).  A ``Ref`` (where, which API, how many) rides on what
got it and what derives from it until a put of the right count, a return or a hand-over
(:mod:`analyzer.engine.ownership`).  Reported: held at an exit or an overwrite, if managed
(ended on another path) or fresh and local; through a parameter or field only at an error
exit.  Summaries: ``ref_source`` (returns a reference), ``ref_borrow`` (keeps arguments)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from analyzer.engine import Checker, Context, Event, Handover, Test, ownership, values
from analyzer.ir import AddrOf, Call, Expr, Literal, Return, Span
from analyzer.models.core import Acquire, Derive, LocklessRead, Release
from analyzer.result import Step
from analyzer.rule import Rule
from rules.leak import RefErrorTest, RefHandover, RefSource

ERRORS = "ref_error_value"       # the section of error values


@dataclass(frozen=True, slots=True)
class Ref:
    origin: Span                 # where the reference was taken
    api: str
    holder: str                  # the variable that got it (messages)
    count: int | str = 1         # how many: a number, or what counts them ("ret", "nr")
    conds: frozenset = frozenset()   # (variable, truth) tested on its paths since
    result: str | None = None    # the variable holding the source's result (also where the
    when: str = "always"         # engine's binding is gone), and on which value it is held
    lost: frozenset = frozenset()    # aliases given an error value on its paths since


LEAK = Rule(
    id="page-ref-leak",
    name="PageRefLeak",
    summary="a page or folio reference taken and not dropped on some path",
    what="""
Follows every reference a function takes on a page or folio - gets and try-gets
(`get_page()`, `folio_try_get()`, `folio_ref_add(folio, n)`), lookups and allocations that
return a referenced object (`filemap_get_folio()`, `find_get_page()`, `folio_alloc()`,
`alloc_pages()`, swap-cache lookups, `gfn_to_page()`, KVM's pfn helpers), GUP filling
`&page` or a local array when it returned a count, flag-carried references
(`follow_page(..., FOLL_GET)`) - to every exit: each `return` (an error path's
`goto out_put` reaches one), the end of the function, and every overwrite of the variable
that holds it. The reference must be dropped with the right count (`folio_put()`,
`put_page()`, `folio_put_refs(folio, n)`, `unpin_user_pages()`, `kvm_release_page_clean()`),
returned, stored where something else owns it, or passed to a function that takes it
over. Reported at the exit or overwrite, naming the object, where the reference was taken
and the exit; the path goes from the acquisition to that exit.
""",
    why="""
A page or folio whose reference is never dropped can never be freed: the memory leaks
until reboot, the folio can no longer be migrated (compaction, CMA and memory offlining
fail on it), split or truncated, and for hugetlb the pool slowly shrinks. The leak hides on
error paths no test takes - a failed copy, a racing truncate, `-ENOMEM` half-way - and
is one of the most frequent fixes in `mm/` and `virt/kvm/` ("fix a page reference leak on
the error path"). Smatch and Coccinelle have no check for page and folio references.
""",
    example="""
folio = filemap_get_folio(mapping, index);
if (IS_ERR(folio))
        return PTR_ERR(folio);
if (!folio_test_uptodate(folio))
        return -EIO;            /* the reference from filemap_get_folio() leaks */
copy_from_folio(dst, folio);
folio_put(folio);
return 0;
""",
    instead="""
folio = filemap_get_folio(mapping, index);
if (IS_ERR(folio))
        return PTR_ERR(folio);
if (!folio_test_uptodate(folio)) {
        folio_put(folio);
        return -EIO;
}
copy_from_folio(dst, folio);
folio_put(folio);
return 0;
""",
    limits="""
- Passed to a call that is neither an API model nor a borrowing helper of the same file,
  the reference is assumed taken over (precision first): a leak after `some_helper(folio)`
  in another file is missed unless `rules/leak.toml` says it borrows (`ref_borrow`).
- A reference kept through a parameter or a field is reported only at an error exit, and
  only when the function drops it on another path; a reference the function never drops
  or hands over anywhere (a getter) is never reported.
- References put on a list (`list_add(&folio->lru, &pagelist)`) count as handed over,
  also when the function frees the list itself on its error path; counts that are not
  literals (`folio_put_refs(folio, refs)`) end the reference whatever they are; a count
  compared with a non-zero bound (`ret < nr`) says nothing.
- Handed to a function pointer (`filler(data, page)`, `mapping->a_ops->read_folio()`)
  or to a same-file helper that installs it without a reference of its own, the
  reference is the callee's; a value computed from the page stored in a longer-lived
  object (`svm->hsave = page_address(page)`) owns it.
- `filemap_add_folio()` and friends (`ref_handover`) take the reference over only on the
  result the model names; when that result is never tested, the reference stays held.
- Conditions are correlated through constants assigned and tested in the function
  (`ret = MC_TARGET_NONE` with an enumerator of the same file, `err = 1`,
  `ret = VM_FAULT_LOCKED` ... `ret != VM_FAULT_LOCKED`, distinct constant names taken as
  distinct values) and through a test repeated on the same variables
  (`if (folio != fault_folio)` around both the get and the put), not through values
  computed elsewhere or tests of different expressions that mean the same; one finding
  per exit.
- Enumerators of headers have no value for the checker (only the analyzed file's own).
""",
    precision="high",
    tags=("correctness", "refcount", "mm", "leak"),
    defers_to=("speculative-ref-leak",),      # a failed re-check that keeps the reference
)


@dataclass
class Run:
    """What one run over a function learns besides the states and who owns what."""
    returns: set[bool] = field(default_factory=set)   # True: a Ref, False: something else
    lockless: bool = False                            # speculative-ref-leak's story


class LeakChecker(Checker):
    rules = (LEAK,)
    starter_sections = ("acquire", "ref_source")

    # Stories start at a get; helpers that only use or drop pages get summaries, which
    summary_sections = ("ref_borrow", "release", "ref_release")   # begin at a get or put
    summary_starters = ("acquire", "ref_source", "release", "ref_release")

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        ctx.scratch["leak"] = Run()
        ownership.start(ctx)

    def on_lockless_read(self, ctx: Context, ev: Event[LocklessRead]) -> None:
        _run(ctx).lockless = True                   # speculative-ref-leak's story

    def on_release(self, ctx: Context, ev: Event[Release]) -> None:
        if ev.at_call and ownership.effect(ctx, ev.call) == ev.m.NAME:
            ownership.of(ctx).leave(ctx, ev.call.args)
            self._drop(ctx, ev.call, ev.obj)

    on_ref_release = on_release

    def on_acquire(self, ctx: Context, ev: Event[Acquire]) -> None:
        if ev.at_call and ev.done and ownership.effect(ctx, ev.call) == "acquire":
            key = ownership.receiver(ctx, ev.obj)   # what it hands over is its own
            ownership.of(ctx).got(key)
            self._take(ctx, key, ev.call)
        elif ev.edge and ev.done:                     # a try-get that succeeded here
            self._take(ctx, ev.result if ev.m.returns_object else
                       ownership.receiver(ctx, ev.obj), ev.call)

    def on_ref_source(self, ctx: Context, ev: Event[RefSource]) -> None:
        if ev.edge:               # decided in on_branch through the variable the Ref keeps
            return
        call, m = ev.call, ev.m
        if ownership.effect(ctx, call) != "ref_source" or not values.flagged(
                ctx, call, m.flag_arg, m.flag):
            return
        if m.arg is None:
            self._take(ctx, ev.result, call)
        elif ctx.place(ev.obj) not in ctx.function.params:
            out = ctx.dest.get(id(call)) or ev.result     # else the caller's array owns it
            self._take(ctx, ownership.receiver(ctx, ev.obj), call, out if m.counted
                       else 1 if isinstance(ev.obj, AddrOf) else "?", out, ev.pending)

    def on_ref_handover(self, ctx: Context, ev: Event[RefHandover]) -> None:
        ownership.of(ctx).hand_over(ctx, Ref, ev)   # held only where the result says so

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        if ownership.effect(ctx, ev.call) != "derive":
            return
        src = ctx.designated(ev.obj, derive=True)
        for r in _refs(ctx, src):
            ctx.add(ev.result, r, ctx.trail(src, r))

    def on_handover(self, ctx: Context, ev: Handover) -> None:
        # An unknown callee takes the reference over (precision first).
        own = ownership.of(ctx)
        own.leave(ctx, ev.args)
        for _, r in own.held(ctx, Ref, ev.args, parts=True):
            own.end(ctx, Ref, r)

    def on_ref_error_test(self, ctx: Context, ev: Event[RefErrorTest]) -> None:
        if not ev.at_call:
            values.error_test(ctx, Ref, ev)           # IS_ERR(folio): no folio here

    def on_branch(self, ctx: Context, test: Test) -> None:
        own = ownership.of(ctx)
        values.branch(ctx, Ref, test, own.alias, lambda es: own.held(ctx, Ref, es), ERRORS,
                      ("acquire", "ref_source"))

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        own = ownership.of(ctx)
        own.assign(ctx, target, value)
        values.assign(ctx, Ref, target, value, own.alias, lambda r, call: (
            r.origin == call.span or ctx.models.get("ref_handover", call.callee) is not None),
            ERRORS)
        own.link(ctx, Ref, target, value)
        if own.is_global(target):
            self._end_all(ctx, [value])   # iopm_base = pa(page)

    def on_store(self, ctx: Context, target: Expr, value: Expr, span: Span) -> None:
        if not ownership.of(ctx).store(ctx, Ref, target, value):
            self._end_all(ctx, [value])            # stored where another owner is

    def on_overwrite(self, ctx: Context, key: str, span: Span) -> None:
        for r in _refs(ctx, key):
            if ownership.of(ctx).sole(ctx, Ref, key, r) and \
                    self._leaky(ctx, r, [key], False, overwrite=True):
                self._report(ctx, key, r, span, f"'{key}' is overwritten at line {span.line}")

    def on_return(self, ctx: Context, ret: Return) -> None:
        value = ctx.strip(ret.value) if ret.value is not None else None
        if value is not None:
            own = ownership.of(ctx)
            got = own.held(ctx, Ref, [value])
            if not (isinstance(value, Literal) or values.error_value(ctx, value, ERRORS)):
                _run(ctx).returns.add(bool(got))
            own.leave(ctx, [value], direct=True, views=False)
            self._end_all(ctx, [value])
        error = value is not None and values.error_value(ctx, value, ERRORS)
        self._leaks(ctx, ret.span, error, f"the function returns at line {ret.span.line}",
                    ctx.key(value) if value is not None else None)

    def on_exit(self, ctx: Context) -> None:
        fn = ctx.function           # at the closing brace
        end = replace(fn.span, line=fn.span.end_line, col=max(fn.span.end_col - 1, 1))
        self._leaks(ctx, end, False, "the function ends")
        if _run(ctx).returns == {True}:
            ctx.summarize("ref_source", when="always")
        if (kept := ownership.of(ctx).borrowed()) and fn.params:
            ctx.summarize("ref_borrow", args=kept)

    # ------------------------------------------------------------------ policy
    def _take(self, ctx: Context, key: str | None, call: Call, count=None,
              result: str | None = None, when: str = "always") -> None:
        if key is None or call.callee is None or ownership.of(ctx).callers(key):
            return          # get_page(pages[i]), vmf->page: kept in the caller's storage
        if ctx.models.get("ref_raw", call.callee) is not None:
            return          # page_ref_inc() after take_page_off_buddy(): kept for good
        if _run(ctx).lockless and getattr(ctx.spec("acquire", call.callee), "kind", "") == \
                "speculative":
            return          # a get on what a lockless read found: speculative-ref-leak's
        n = count or values.count(ctx, call, "ref_count")
        holder = ctx.name_of(call, None) if key == ctx.result_key(call) else key
        ctx.add(key, Ref(call.span, call.callee, holder, n, values.known(ctx, holder, result),
                         result, when),
                (Step(call.span, f"'{holder}' gets a reference from {call.callee}()"),))

    def _drop(self, ctx: Context, call: Call, arg: Expr | None) -> None:
        own, n, keys = ownership.of(ctx), values.count(ctx, call, "ref_count"), {ctx.place(arg)}
        own.drop(ctx, Ref, set(own.held(ctx, Ref, [arg] if arg is not None else [])) | {
            (k, r) for k in keys - {None} for r in _refs(ctx, k)}, n, lambda r: Step(
            call.span, f"{n} of {r.count} references dropped by {call.callee}()"))

    def _end_all(self, ctx: Context, exprs: list[Expr]) -> None:
        own = ownership.of(ctx)
        for _, r in own.held(ctx, Ref, exprs):
            if not any(ctx.key(e) in r.lost for e in exprs):
                own.end(ctx, Ref, r)

    def _leaks(self, ctx: Context, span: Span, error: bool, exit_: str,
               code: str | None = None) -> None:
        seen = set()
        for k, r in ctx.each(Ref):
            keys = values.holders(ctx, Ref, r)
            ok = (code, False) in r.conds or (code, None) in r.conds   # ret = 0 here
            if r not in seen and self._leaky(ctx, r, keys, error and not ok):
                self._report(ctx, r.holder if r.holder in keys else str(k), r, span, exit_)
            seen.add(r)
            ctx.discard(k, r)

    def _leaky(self, ctx: Context, r: Ref, keys, error: bool, overwrite=False) -> bool:
        """At an error exit: held only by locals, or managed (ended on some other path).
        Overwritten: managed, and held only by locals."""
        local = ownership.of(ctx).local(keys)
        managed = ownership.of(ctx).managed(r)
        if r.count == "0+":
            return False
        if overwrite:
            return managed and local and isinstance(r.count, int)
        # At any exit: a fresh object (a lookup or allocation, not a get on one the code
        # found elsewhere, which a page table may own by now) that only locals hold.
        fresh = ctx.models.get("ref_source", r.api) is not None
        return (error and (managed or local)) or (
            fresh and managed and local and isinstance(r.count, int))

    def _report(self, ctx: Context, key: str, r: Ref, span: Span, exit_: str) -> None:
        count = f"{r.count} references" if r.count != 1 else "the reference"
        ctx.report(LEAK, span, f"'{key}' keeps {count} from {r.api}() (line {r.origin.line}) "
                               f"when {exit_}", ctx.trail(key, r),
                   (Step(r.origin, f"reference taken by {r.api}()"),))


def _run(ctx: Context) -> Run:
    run: Run = ctx.scratch["leak"]
    return run


def _refs(ctx: Context, key: str | None) -> list[Ref]:
    return ctx.states_of(key, Ref)
