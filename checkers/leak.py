"""page-ref-leak: a page or folio reference taken and not dropped on some path.

Tracked: a reference (``Ref``: where and by which API it was taken, how many) on the
object that got it - the argument of a get (``acquire`` models, on the edge where a
try-get succeeded), the result or out-argument of a lookup, allocation or GUP
(``ref_source``: ``filemap_get_folio()``, ``alloc_pages()``, ``get_user_pages_fast(...,
&page)`` when it returned a count, ``follow_page(..., FOLL_GET)`` only with the flag) -
and on the objects derived from it (``page_folio()``, ``pages[i]``).  It ends with a drop of
the right count (``release``/``ref_release``; ``ref_count`` says which argument counts),
when it is returned, stored where something else owns it (a field through a pointer, the
caller's array) or passed to a call that is no API model and not known to borrow it
(``ref_borrow``, or a same-file helper that never lets the argument escape): unknown
callees take it over, precision first.  A store into a local array or struct keeps it
the function's.  A NULL test, an error test (``IS_ERR``, ``ref_error_test``) or a count
tested ``<= 0`` means no reference on that edge.

Reported: a reference still held at a ``return`` (a ``goto`` to a cleanup label reaches it),
at the end of the function, or when the variable holding it is overwritten - only for a
reference the function ends on some other path (so it manages it), and, when it is held
through a parameter or a field (it outlives the function), only at an error exit (a
negative errno, ``ERR_PTR()``, ``NULL``, a variable assigned one): keeping a reference
on success is how a function hands one to its caller.

Summaries (same file): a helper whose every returned object carries a reference is a
``ref_source``; a helper that never lets an argument escape is a ``ref_borrow``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from enum import Enum

from analyzer.engine import (
    NEG,
    NONPOS,
    NONZERO,
    POS,
    ZERO,
    Checker,
    Context,
    Test,
    effect_holds,
    walk_exprs,
)
from analyzer.ir import (
    AddrOf,
    Assign,
    Binary,
    Call,
    Cond,
    Decl,
    Deref,
    Expr,
    Index,
    Literal,
    Member,
    Name,
    Opaque,
    Return,
    Span,
    Unary,
)
from analyzer.result import Step
from analyzer.rule import Rule

# Calls that neither take a reference over nor use the object as owner.
NEUTRAL = ("transparent", "lock", "unlock", "refcount_read", "derive", "reread",
           "ref_error_test", "revalidate", "warn", "acquire", "ref_count", "make_accessible",
           "lockless_read", "ref_carrier")


class Code(Enum):
    ERRNO = "holds an error code"
    TRUE = "assigned a non-zero constant"
    FALSE = "assigned 0, NULL or false"


@dataclass(frozen=True, slots=True)
class Ref:
    origin: Span                 # where the reference was taken
    api: str
    holder: str                  # the variable that got it (messages)
    count: int | str = 1         # how many: a number, or what counts them ("ret", "nr")
    conds: frozenset = frozenset()   # (variable, truth) tested on its paths since
    result: str | None = None    # the variable holding the source's result, and on which
    when: str = "always"         # value of it the reference is held


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
- References put on a local list (`list_add(&folio->lru, &pagelist)`) count as handed
  over; counts that are not literals (`folio_put_refs(folio, refs)`) end the reference
  whatever they are; a count compared with a non-zero bound (`ret < nr`) says nothing.
- Conditions are not correlated across branches (`if (locked) folio_put(folio)`), one
  finding per exit.
""",
    precision="high",
    tags=("correctness", "refcount", "mm", "leak"),
)


class LeakChecker(Checker):
    rules = (LEAK,)
    starter_sections = ("acquire", "ref_source")

    def wants(self, names, models):
        # Stories start at a get; helpers that only use or drop pages get summaries.
        return bool(names & (self.starters(models) | models.names("ref_borrow") |
                             models.names("release") | models.names("ref_release")))

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        self.locals = _declared(ctx.function.body)   # what dies with the function
        self.ended: set[Span] = set()           # origins some path ends: managed refs
        self.assigned: set[str] = set()
        self.escaped: set[str] = set()
        self.returns: set[bool] = set()          # True: a Ref, False: something else
        self.alias: dict[str, str] = {}          # folio = page_folio(page): one object
        self.lockless = False                     # speculative-ref-leak's story

    def on_call(self, ctx: Context, call: Call, result: str | None) -> None:
        models, name = ctx.models, call.callee
        if (m := models.get("lockless_read", name)) is not None:
            self.lockless |= not m.get("deref_only") or isinstance(
                ctx.arg(call, m.get("arg", 0)), Deref)
        if (m := models.get("release", name) or models.get("ref_release", name)) is not None \
                and not (m.source == "summary" and models.get("ref_borrow", name)):
            self._escape(ctx, call.args)
            self._drop(ctx, call, ctx.arg(call, m.get("arg")))
        elif (m := models.get("acquire", name)) is not None and m.get("when") == "always":
            self._take(ctx, _obj(ctx, ctx.arg(call, m.get("arg"))), call)
        elif (m := models.get("ref_source", name)) is not None:
            if m.get("arg") is None and self._flagged(ctx, call, m):
                self._take(ctx, result, call)
            elif self._flagged(ctx, call, m) and ctx.place(ctx.arg(call, m.get(
                    "arg"))) not in ctx.function.params:     # else the caller's array owns it
                out = ctx.dest.get(id(call)) or result
                where = ctx.arg(call, m.get("arg"))
                self._take(ctx, _obj(ctx, where), call, out if m.get("when") == "positive"
                           else 1 if isinstance(ctx.strip(where), AddrOf) else "?",
                           out, m.get("when"))
        elif (m := models.get("derive", name)) is not None:
            src = ctx.designated(ctx.arg(call, m.get("from")), derive=True)
            for r in _refs(ctx, src):
                ctx.add(result, r, ctx.trail(src, r))
        elif models.get("ref_error_value", name) is None and not any(
                models.get(s, name) for s in NEUTRAL):
            borrow = models.get("ref_borrow", name)
            kept = range(len(call.args)) if borrow is None or borrow.get("args") is None \
                else borrow.get("args")
            given = [a for i, a in enumerate(call.args) if borrow is None or i not in kept]
            self._escape(ctx, given)
            for _, r in _held(ctx, given, self.alias, lambda e: _parts(ctx, e)):
                self._end(ctx, r, f"passed to {name or 'a function pointer'}()", call.span)

    def on_branch(self, ctx: Context, test: Test) -> None:
        s, out, neg = test.subject, test.outcome, False
        if isinstance(s, Assign):             # while ((folio = lookup()) != NULL)
            s, test = ctx.strip(s.value), replace(test, via=ctx.key(s.target))
        cond = test.via or (ctx.key(s) if isinstance(s, (Name, Member, Deref)) else None)
        if isinstance(s, Binary) and s.op == "==" and out == NONZERO and any(
                _nonzero(x) for x in (s.left, s.right)):     # err == -EEXIST: err != 0
            cond = next((ctx.key(x) for x in (s.left, s.right)
                         if isinstance(x, (Name, Member))), None)
        if cond is not None and out in (NONZERO, ZERO):
            out = NONZERO if isinstance(s, Binary) else out
            if ctx.must_be(cond, Code.FALSE if out == NONZERO else Code.TRUE):
                self._forget(ctx, {r for _, st in ctx.tracked() for r in st
                                   if isinstance(r, Ref)})     # no path takes this edge
                return
            self._correlate(ctx, cond, out == NONZERO)
        if isinstance(s, Binary):             # ret == 1, ret == -ENOENT: its value is known
            if s.op != "==" or not any(_nonzero(x) for x in (s.left, s.right)):
                return
            sides = [x for x in (s.left, s.right) if not _nonzero(x)]
            call, subject = (_call(ctx, sides[0]), ctx.key(sides[0])) if sides else (None, None)
            neg = any(isinstance(x, Unary) for x in (s.left, s.right))
            if out == NONZERO and neg and isinstance(side := ctx.strip(sides[0]) if sides else
                                                     None, Call) and side.args and \
                    ctx.models.get("ref_error_value", side.callee):   # PTR_ERR(f) == -EBUSY
                self._forget(ctx, {r for _, r in _held(ctx, side.args[:1], self.alias)})
            if out == NONZERO:                # equal: a result of that sign, not 0
                self._forget(ctx, {r for _, st in ctx.tracked() for r in st if isinstance(
                    r, Ref) and r.result == subject and subject is not None and
                    not effect_holds(r.when, NEG if neg else POS)})
        else:
            call, subject = _call(ctx, s), test.via or (
                ctx.result_key(s) if isinstance(s, Call) else ctx.key(s))
        if test.via and out in (NONZERO, NEG) and call is not None and not any(
                ctx.models.get(sec, call.callee) for sec in ("acquire", "ref_source")):
            ctx.add(test.via, Code.ERRNO)         # if (ret) return ret;  an error code
        if call is not None and (m := ctx.models.get("ref_error_test", call.callee)):
            arg = ctx.key(ctx.arg(call, m.get("arg")))
            if m.get("null") and arg is not None and not effect_holds(m.get("when"), out):
                self._correlate(ctx, arg, True)           # not NULL on this edge
            if m.get("null") and ctx.must_be(arg, Code.FALSE) and not effect_holds(
                    m.get("when"), out):                  # NULL, yet not an error
                self._forget(ctx, {r for _, st in ctx.tracked() for r in st
                                   if isinstance(r, Ref)})
            elif effect_holds(m.get("when"), out):
                self._forget(ctx, set(_refs(ctx, ctx.designated(ctx.arg(call, m.get("arg"))))))
        elif call is not None and (m := ctx.models.get("acquire", call.callee)) is not None:
            if m.get("when") != "always" and not isinstance(s, Binary) and \
                    effect_holds(m.get("when"), out):
                self._take(ctx, subject if m.get("returns_object") else _obj(
                    ctx, ctx.arg(call, m.get("arg"))), call)
        # A source's result says no (NULL, an error, 0 references): nothing held here.
        self._forget(ctx, {r for k, st in ctx.tracked() for r in st if isinstance(r, Ref) and (
            (r.result == subject and (out == ZERO and not neg if isinstance(s, Binary)
                                      else _fails(r.when, out))) or
            (not isinstance(s, Binary) and out in (ZERO, NEG, NONPOS) and (
                r.count == subject or (k == subject and out == ZERO))))})

    def _forget(self, ctx: Context, gone: set) -> None:
        for k, _ in ctx.tracked():
            ctx.discard(k, *gone)

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        if not (isinstance(value, Opaque) and not value.text):    # not a bare declaration
            self.assigned.add(target)
        for r in {r for _, st in ctx.tracked() for r in st if isinstance(r, Ref) and (any(
                c == target for c, _ in r.conds) or target in (r.count, r.result)) and not (
                isinstance(value, Call) and (r in ctx.states(target) or (
                    r.origin == value.span and r.result == target)))}:
            new = replace(r, conds=frozenset((c, t) for c, t in r.conds if c != target),
                          count="?" if r.count == target else r.count,
                          result=None if r.result == target else r.result)
            for k, _ in ctx.tracked():                  # earlier tests are stale
                ctx.replace(k, r, new)
        self._escape(ctx, [value], direct=True)
        if isinstance(value, Literal) and value.text in ("0", "false", "NULL", "1", "true"):
            ctx.set(target, Code.FALSE if value.text in ("0", "false", "NULL") else Code.TRUE)
            self._correlate(ctx, target, value.text in ("1", "true"))
        elif self._error_value(ctx, value):
            ctx.set(target, Code.ERRNO)
        elif isinstance(value, Name) and value.id.isupper():    # ret = MIGRATEPAGE_SUCCESS
            for r in {r for _, st in ctx.tracked() for r in st if isinstance(r, Ref)}:
                for k, st in ctx.tracked():
                    if r in st:
                        ctx.replace(k, r, replace(r, conds=r.conds | {(target, None)}))
        m = ctx.models.get("acquire", value.callee) if isinstance(value, Call) else None
        grab = m is not None and m.get("returns_object")
        arg = ctx.arg(value, m.get("arg")) if grab else value
        if arg is not None and (grab or (isinstance(arg, (Call, AddrOf)) and _root(
                ctx, arg) is not arg)) and (
                src := ctx.key(_root(ctx, arg))) not in (None, target):
            # folio = grab(page), page = &folio->page, entry = mk_pte(page): one object
            self.alias[target] = src
        if target.isidentifier() and target not in self.locals | set(ctx.function.params):
            self._end_all(ctx, [value], "stored in a global", span)  # iopm_base = pa(page)
        if isinstance(value, Index):         # page = pages[i]: one of the array's refs
            base = ctx.designated(value.base, elements=True)
            for r in _refs(ctx, base):
                ctx.add(target, r, ctx.trail(base, r))

    def on_store(self, ctx: Context, target: Expr, value: Expr, span: Span) -> None:
        root = target.base if isinstance(target, (Index, Member)) else None
        if isinstance(root, Name) and self._owned(ctx, root.id) and (
                root.id not in self.assigned if isinstance(target, Index) else
                isinstance(target, Member) and not target.arrow):
            for k, r in _held(ctx, [value], self.alias,       # still the function's
                              lambda e: _parts(ctx, e)):
                ctx.add(root.id, replace(r, holder=root.id), ctx.trail(k, r))
                for j, _ in ctx.tracked():
                    ctx.discard(j, r)
            return
        self._escape(ctx, [value], direct=True)
        self._end_all(ctx, [value], "stored", span)

    def on_overwrite(self, ctx: Context, key: str, span: Span) -> None:
        for r in _refs(ctx, key):
            if not any(k != key and "(" not in k and r in st for k, st in ctx.tracked()) and \
                    self._leaky(ctx, r, [key], False, overwrite=True):
                self._report(ctx, key, r, span, f"'{key}' is overwritten at line {span.line}")

    def on_return(self, ctx: Context, ret: Return) -> None:
        value = ctx.strip(ret.value) if ret.value is not None else None
        if value is not None:
            got = _held(ctx, [value], self.alias)
            if not (isinstance(value, Literal) or self._error_value(ctx, value)):
                self.returns.add(bool(got))
            self._escape(ctx, [value], direct=True)
            self._end_all(ctx, [value], "returned", ret.span)
        error = value is not None and self._error_value(ctx, value)
        self._leaks(ctx, ret.span, error, f"the function returns at line {ret.span.line}",
                    ctx.key(value) if value is not None else None)

    def on_exit(self, ctx: Context) -> None:
        fn = ctx.function
        end = Span(fn.span.file, fn.span.end_line, max(fn.span.end_col - 1, 1),
                   fn.span.end_line, fn.span.end_col)
        self._leaks(ctx, end, False, "the function ends")
        if self.returns == {True}:
            ctx.summarize("ref_source", when="always")
        kept = tuple(i for i, p in enumerate(fn.params) if p not in self.escaped)
        if kept and fn.params:
            ctx.summarize("ref_borrow", args=kept)

    # ------------------------------------------------------------------ policy
    def _take(self, ctx: Context, key: str | None, call: Call, count=None,
              result: str | None = None, when: str = "always") -> None:
        if key is None or call.callee is None or (
                key not in ctx.function.params and _root_name(key) in ctx.function.params):
            return          # get_page(pages[i]), vmf->page: kept in the caller's storage
        m = ctx.models.get("acquire", call.callee)
        if ctx.models.get("ref_raw", call.callee) is not None:
            return          # page_ref_inc() after take_page_off_buddy(): kept for good
        if self.lockless and m is not None and m.get("kind") == "speculative":
            return          # a get on what a lockless read found: speculative-ref-leak's
        c = ctx.models.get("ref_count", call.callee)
        n = count or (_count(ctx, ctx.arg(call, c.get("arg"))) if c else 1)
        holder = ctx.name_of(call, None) if key == ctx.result_key(call) else key
        known = frozenset((k, Code.TRUE in st) for k, st in ctx.tracked()
                          if len(st) == 1 and next(iter(st)) in (Code.TRUE, Code.FALSE)
                          and k not in (holder, result))
        ctx.add(key, Ref(call.span, call.callee, holder, n, frozenset(list(known)[:8]),
                         result, when),
                (Step(call.span, f"'{holder}' gets a reference from {call.callee}()"),))

    def _correlate(self, ctx: Context, cond: str, truth: bool) -> None:
        """A reference whose paths tested ``cond`` the other way is not on this edge: the
        same condition tested twice (``if (target) ... if (!target)``) is one path."""
        for r in {r for _, st in ctx.tracked() for r in st if isinstance(r, Ref)}:
            if (cond, not truth) in r.conds:
                new = None
            elif (cond, truth) in r.conds or len(r.conds) >= 8:
                continue
            else:
                new = replace(r, conds=r.conds | {(cond, truth)})
            for k, st in ctx.tracked():
                if r in st:
                    ctx.discard(k, r) if new is None else ctx.replace(k, r, new)

    def _drop(self, ctx: Context, call: Call, arg: Expr | None) -> None:
        c = ctx.models.get("ref_count", call.callee)
        n = _count(ctx, ctx.arg(call, c.get("arg"))) if c else 1
        keys = {ctx.place(arg)} if arg is not None else set()
        for key, r in set(_held(ctx, [arg] if arg is not None else [], self.alias)) | {
                (k, r) for k in keys - {None} for r in _refs(ctx, k)}:
            if r in _refs(ctx, key):
                left = r.count - n if isinstance(r.count, int) and isinstance(n, int) else 0
                if left <= 0:
                    self._end(ctx, r, f"dropped by {call.callee}()", call.span)
                    continue
                step = Step(call.span, f"{n} of {r.count} references dropped by {call.callee}()")
                for k, _ in ctx.tracked():
                    ctx.replace(k, r, replace(r, count=left), step)

    def _end_all(self, ctx: Context, exprs, how: str, span: Span) -> None:
        for _, r in _held(ctx, exprs, self.alias):
            self._end(ctx, r, how, span)

    def _end(self, ctx: Context, r: Ref, how: str, span: Span) -> None:
        self.ended.add(r.origin)
        for k, _ in ctx.tracked():
            ctx.discard(k, r)

    def _leaks(self, ctx: Context, span: Span, error: bool, exit_: str,
               code: str | None = None) -> None:
        seen = set()
        for k, states in ctx.tracked():
            for r in [r for r in states if isinstance(r, Ref)]:
                keys = [j for j, st in ctx.tracked() if r in st]
                ok = (code, False) in r.conds or (code, None) in r.conds   # ret = 0 here
                if r not in seen and self._leaky(ctx, r, keys, error and not ok):
                    self._report(ctx, r.holder if r.holder in keys else k, r, span, exit_)
                seen.add(r)
                ctx.discard(k, r)

    def _leaky(self, ctx: Context, r: Ref, keys, error: bool, overwrite=False) -> bool:
        """At an error exit: held only by locals, or managed (ended on some other path).
        Overwritten: managed, and held only by locals."""
        local = all(self._owned(ctx, k) and self._owned(ctx, self.alias.get(k, k))
                    for k in keys)
        managed = r.origin in self.ended
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

    def _owned(self, ctx: Context, key: str) -> bool:
        return key in self.locals and key not in ctx.function.params

    def _escape(self, ctx: Context, exprs, direct: bool = False) -> None:
        """Parameters that leave the function: named anywhere in a call's arguments, or
        (``direct``) as the value itself (``p``, ``&p->f``, ``page_folio(p)``)."""
        for e in exprs:
            names = walk_exprs(e) if not direct else [_root(ctx, e)]
            self.escaped |= {x.id for x in names if isinstance(x, Name)}

    def _flagged(self, ctx: Context, call: Call, m) -> bool:
        if m.get("flag") is None:
            return True
        flags = ctx.arg(call, m.get("flag_arg"))
        return flags is not None and any(
            isinstance(x, (Name, Literal)) and m.get("flag") in getattr(x, "id", "") +
            getattr(x, "text", "") for x in walk_exprs(flags))

    def _error_value(self, ctx: Context, e: Expr) -> bool:
        """``-EFAULT``, ``ERR_PTR(..)``, ``VM_FAULT_OOM | ..``, ``NULL``, a variable
        assigned one; ``err ? err : nr`` only when both are."""
        e = ctx.strip(e)
        if isinstance(e, Cond):
            return e.then is not None and all(self._error_value(ctx, x)
                                              for x in (e.then, e.else_))
        if isinstance(e, Binary):
            return e.op == "|" and self._error_value(ctx, e.left)
        name = e.callee if isinstance(e, Call) else getattr(e, "id", getattr(e, "text", None))
        return (isinstance(e, Unary) and e.op == "-") or ctx.may_be(ctx.key(e), Code.ERRNO) \
            or ctx.models.get("ref_error_value", name) is not None

def _declared(body) -> set[str]:
    """The names the function body declares (the IR's ``Decl`` statements)."""
    out, stack = set(), [body]
    while stack:
        x = stack.pop()
        if isinstance(x, Decl):
            out.add(x.name)
        if isinstance(x, (list, tuple)):
            stack += list(x)
        elif is_dataclass(x) and not isinstance(x, Span):
            stack += [getattr(x, f.name) for f in fields(x)]
    return out


def _refs(ctx: Context, key: str | None) -> list[Ref]:
    return [r for r in ctx.states(key) if isinstance(r, Ref)]


def _held(ctx: Context, exprs, alias: dict, walk=walk_exprs) -> list[tuple[str, Ref]]:
    """The references held by any object an expression names (``&folio->page``, ``pages[i]``
    and ``page_folio(page)`` included), or by one derived from it (``folio`` for ``page``
    after ``folio = page_folio(page)``)."""
    keys = {ctx.designated(x, elements=True, derive=True) or ctx.key(x)
            for e in exprs for x in walk(e)} - {None}
    for _ in range(4):                    # subpage -> page <- folio: one object
        keys |= {k for k, src in alias.items() if src in keys} | {alias[k] for k in keys
                                                                  if k in alias}
    return [(k, r) for k in keys for r in _refs(ctx, k)]


def _parts(ctx: Context, e: Expr):
    """The sub-expressions that may be the object itself: not what a call other than a
    derivation computes from it (``page_address(page)`` is a value, not the page)."""
    stack = [e]
    while stack:
        x = ctx.strip(stack.pop())
        yield x
        if not isinstance(x, Call) or ctx.models.get("derive", x.callee) or \
                ctx.models.get("ref_carrier", x.callee):
            stack += [c for c in walk_exprs(x) if c is not x and _child(x, c)]


def _child(parent: Expr, c: Expr) -> bool:
    return c in getattr(parent, "args", ()) or any(
        getattr(parent, f, None) is c for f in ("base", "operand", "left", "right", "then",
                                                "else_", "index", "value", "target"))


def _fails(when: str, out: str) -> bool:
    """The source's result tested ``out`` says it gave no reference (a count or -errno
    tested non-zero may still be a count)."""
    return out in (ZERO, NEG, NONPOS) if when == "positive" else not effect_holds(when, out)


def _nonzero(e: Expr) -> bool:
    return (isinstance(e, Literal) and e.text.isdigit() and e.text != "0") or (
        isinstance(e, Unary) and e.op == "-")


def _obj(ctx: Context, e: Expr | None) -> str | None:
    """The object an argument designates: tracked, ``&folio->page`` is ``folio``."""
    if e is None:
        return None
    found = ctx.designated(e, derive=True)
    while found is None:                  # page_folio(page), &folio->page: page, folio
        e = ctx.strip(e)
        if isinstance(e, AddrOf) and (isinstance(e.operand, Name) or (isinstance(
                e.operand, Member) and e.operand.arrow)):
            e = e.operand if isinstance(e.operand, Name) else e.operand.base
        elif isinstance(e, Call) and (m := ctx.models.get("derive", e.callee)) and (
                a := ctx.arg(e, m.get("from"))) is not None:
            e = a
        else:
            return ctx.key(e)
    return found


def _root_name(key: str) -> str:
    return key.lstrip("*&").split("->")[0].split(".")[0].split("[")[0]


def _root(ctx: Context, e: Expr) -> Expr:
    """What a value is made of, through derivations and addresses: ``&page_folio(p)->f``
    is ``p``."""
    for _ in range(16):
        e = ctx.strip(e)
        if isinstance(e, Call) and (m := ctx.models.get("derive", e.callee) or ctx.models.get(
                "ref_carrier", e.callee)) is not None:
            e = ctx.arg(e, m.get("from")) or e
        elif isinstance(e, (AddrOf, Deref)):
            e = e.operand
        elif isinstance(e, (Member, Index)):
            e = e.base
        else:
            break
    return e


def _call(ctx: Context, e: Expr) -> Call | None:
    e = ctx.strip(e)
    return e if isinstance(e, Call) else ctx.bound(e)


def _count(ctx: Context, e: Expr | None) -> int | str:
    if isinstance(e, Literal) and e.text.isdigit():
        return int(e.text)
    if isinstance(ctx.strip(e), Binary) if e is not None else False:
        return "0+"                     # refs - 1: maybe no reference at all
    return (ctx.key(e) if e is not None else None) or "?"
