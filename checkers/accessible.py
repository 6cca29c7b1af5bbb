"""io-without-accessible: I/O on a possibly secure page that was not first kept pending
(a reference or the writeback flag) and *then* made accessible.

Tracked: pages and folios by access path, one typestate each that combines where the
page came from (a possibly secure source, the kernel's own allocation, unknown) with its
step on none -> pending -> accessible -> I/O.  ``pages[i]`` reads the state of the array
GUP filled; ``folio = page_folio(page)`` links two paths to one page.  Reported where
the I/O starts (for a bio: where it is submitted) and, at the exit, for a parameter left
under writeback without being made accessible.  Summaries make same-file helpers
writeback starts, make-accessible wrappers, I/O starts or page sources for their callers.
The model and its known limits are in the rule's documentation below.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from analyzer.engine import Alias, Attached, Checker, Context, Event, Trail
from analyzer.engine.keys import element_owner, is_computed, root_variable
from analyzer.ir import AddrOf, Call, Expr, Member, Name, Return, Span
from analyzer.models.core import Acquire, Derive, Lock, Release, Unlock
from analyzer.models.schema import ArgSection, Section, arg_section, option, register, when_key
from analyzer.result import Step
from analyzer.rule import Rule

# ------------------------------------------------------------------ model sections
MakeAccessible = arg_section("make_accessible", "arch_make_{page,folio}_accessible() and "
                             "wrappers (0 = success)", conditional=True, assumed=True)
IoSubmit = arg_section("io_submit", "calls that submit a bio: I/O starts on the pages "
                       "attached to it", arg_doc="the carrier whose pages I/O starts on")
NotSecure = arg_section("not_secure", "tests after which a page cannot be secure (a folio "
                        "not uptodate)", conditional=True)
WritebackEnd = arg_section("writeback_end", "calls that end writeback")
PrivateAlloc = arg_section("private_alloc", "allocations the kernel owns (never secure/guest "
                           "pages)", arg_doc="argument that receives it (else the result)",
                           required=False)


@register
@dataclass(frozen=True, slots=True)
class IoStart(ArgSection):
    """calls that start I/O on a page or folio (or attach it to a bio)"""
    NAME = "io_start"
    ARG_DOC = "argument whose page I/O is started on"
    carrier: int | None = option(int, doc="argument (a bio) that carries the page to a later "
                                          "io_submit; absent: the I/O starts here")


@register
@dataclass(frozen=True, slots=True)
class GuestSource(Section):
    """possibly secure (guest) pages, referenced: GUP, page cache, pipes"""
    NAME = "guest_source"
    arg: int | None = option(int, doc="argument that receives the pages (else the result)")
    field: str | None = option(str, doc="the page is this field of that argument (buf->page)")
    accessible: bool | None = option(bool, doc="already made accessible (FOLL_PIN)")
    when: str = when_key()


@register
@dataclass(frozen=True, slots=True)
class WritebackStart(ArgSection):
    """calls that set the writeback flag (I/O pending)"""
    NAME, ASSUMED = "writeback_start", True      # FAILED: someone else's writeback
    when: str = when_key()
    accessible: bool | None = option(bool, doc="then makes it accessible, too")

class Io(Enum):
    UNKNOWN = "origin unknown (a parameter)"
    NOT_SECURE = "cannot be secure (the kernel's own page, or never mapped)"
    HELD = "referenced, origin unknown"
    LOCKED = "locked by this function: it cannot be made secure meanwhile"
    LOCKED_ACCESSIBLE = "locked and made accessible"
    PENDING = "referenced, possibly secure, not made accessible"
    WRITEBACK = "under writeback, not made accessible"
    ACCESSIBLE = "referenced and made accessible"
    ACCESSIBLE_WB = "under writeback and made accessible"
    UNHELD_ACCESSIBLE = "made accessible, pending left to the caller"
    REVERSED = "made accessible before the reference was taken"
    REVERSED_WB = "made accessible before writeback was set"
    FAILED = "making it accessible failed"
    DROPPED = "its reference or writeback was dropped"
    ATTACHED = "attached to a bio"          # Attached(bio, page) keys
    LINKED = "same page or folio"           # Alias(a, b) keys


S = Io
# Transition tables: old state -> new state; missing = unchanged.  No state = UNKNOWN.
GET = {S.UNKNOWN: S.HELD, S.UNHELD_ACCESSIBLE: S.REVERSED, S.DROPPED: S.PENDING,
       S.LOCKED: S.HELD, S.LOCKED_ACCESSIBLE: S.ACCESSIBLE}
# The folio lock also keeps a folio from being made secure (arch_make_folio_accessible()
# wants "the folio locked or an extra reference"): accessible under it, then a get, is
# in order.
LOCK = {S.UNKNOWN: S.LOCKED}
UNLOCK = {S.LOCKED: S.UNKNOWN, S.LOCKED_ACCESSIBLE: S.UNHELD_ACCESSIBLE}
WRITEBACK = {S.UNKNOWN: S.WRITEBACK, S.HELD: S.WRITEBACK, S.PENDING: S.WRITEBACK,
             S.LOCKED: S.WRITEBACK, S.LOCKED_ACCESSIBLE: S.ACCESSIBLE_WB,
             S.ACCESSIBLE: S.ACCESSIBLE_WB, S.UNHELD_ACCESSIBLE: S.REVERSED_WB,
             S.REVERSED: S.REVERSED_WB, S.DROPPED: S.WRITEBACK}
WRITEBACK_ACCESSIBLE: dict[Io, Io] = {s: S.ACCESSIBLE_WB for s in S
                        if s not in (S.NOT_SECURE, S.ATTACHED, S.LINKED)}
ACCESSIBLE = {S.UNKNOWN: S.UNHELD_ACCESSIBLE, S.HELD: S.ACCESSIBLE, S.PENDING: S.ACCESSIBLE,
              S.WRITEBACK: S.ACCESSIBLE_WB, S.REVERSED: S.ACCESSIBLE,
              S.REVERSED_WB: S.ACCESSIBLE_WB, S.FAILED: S.ACCESSIBLE,
              S.DROPPED: S.UNHELD_ACCESSIBLE, S.LOCKED: S.LOCKED_ACCESSIBLE}
FAILURE: dict[Io, Io] = {s: S.FAILED for s in S if s not in (S.NOT_SECURE, S.ATTACHED, S.LINKED)}
RELEASE = {S.PENDING: S.DROPPED, S.ACCESSIBLE: S.DROPPED, S.REVERSED: S.DROPPED}
WRITEBACK_END = {S.WRITEBACK: S.DROPPED, S.ACCESSIBLE_WB: S.DROPPED,
                 S.REVERSED_WB: S.DROPPED}
NOT_MINE = {S.WRITEBACK: S.HELD, S.REVERSED_WB: S.UNHELD_ACCESSIBLE}
NEVER_MAPPED = {S.HELD: S.NOT_SECURE, S.PENDING: S.NOT_SECURE}
# What is wrong with a page in this state when I/O starts on it, most telling first.
PROBLEMS = (S.FAILED, S.DROPPED, S.REVERSED, S.REVERSED_WB, S.PENDING, S.WRITEBACK)

IO_WITHOUT_ACCESSIBLE = Rule(
    id="io-without-accessible",
    name="IoWithoutAccessible",
    summary="I/O on a possibly secure page without a held reference/writeback and then "
            "arch_make_folio_accessible()",
    what="""
Finds I/O started on a page or folio that may belong to a guest, where on some path
the function did not first (1) mark the I/O pending -- hold a reference or set the
writeback flag -- and *then* (2) make it accessible with `arch_make_folio_accessible()`
(or `arch_make_page_accessible()`), keeping (1) until the I/O.

The model:
- *pending*: a reference the function holds (`folio_get()`, a successful
  `folio_try_get()`/`try_get_page()`, a GUP reference or pin, the reference of a
  page-cache lookup, the pipe's reference on a confirmed pipe buffer) or the writeback
  flag (`folio_test_set_writeback()`); for the order of the two steps only, the folio
  lock too (the arch hook wants "the folio locked or an extra reference");
- *accessible*: the success edge (0) of `arch_make_folio_accessible()`; also
  `folio_start_writeback()`/`set_page_writeback()` (which set the flag and then call the
  hook) and the FOLL_PIN GUP family (`pin_user_pages*()`, `iov_iter_extract_pages()`),
  which pin and then make the page accessible;
- *I/O*: handing the page to a device or to a consumer that may DMA it:
  `bio_add_page()`/`bio_add_folio()` (checked when the bio is submitted with
  `submit_bio*()`), `bvec_set_page()`/`bvec_set_folio()` (an iov_iter for splice,
  MSG_SPLICE_PAGES or direct I/O), `sg_set_page()`, skb page frags.  Pipe-buffer gets
  are reference takers, not I/O: the pipe's pages are checked where they reach I/O;
- *possibly secure*: pages from `get_user_pages*()` (FOLL_GET) and
  `iov_iter_get_pages*()`, page-cache lookups (`filemap_get_folio()`, ...), pipe-buffer
  pages (`buf->page` after `pipe_buf_confirm()`/`pipe_buf_get()`), and any page the
  function itself sets writeback on or makes accessible.  Pages the kernel allocated for
  itself (`alloc_pages()`, `folio_alloc()`, `kmalloc()` buffers) and folios seen not
  uptodate (never mapped) are never secure.  Anything else is unknown and not reported.

Reported: I/O on a pending but never accessible page; accessible before pending
(ordering); pending dropped before the I/O; I/O on the path where making it accessible
failed; a writeback-start helper that returns with writeback set on its argument but
without making it accessible; and a page handed back to the caller (returned, or stored
through a parameter) that was made accessible before its reference was taken.
""",
    why="""
On s390 protected virtualization (and any architecture with "secure", inaccessible
guest pages) the host must not let a device touch a page that is in the secure state:
the device's access to it fails.  The kernel relies on one protocol for every path that
starts I/O on a page that may be shared with a guest: first mark the page as pending
I/O -- take an extra reference or set PG_writeback, which makes the conversion to secure
fail (it freezes the expected reference count and refuses folios under writeback) --;
then call `arch_make_folio_accessible()`; then start the I/O; and only after the I/O
has finished drop the marker.  Making the page accessible *before* taking the marker
is a race: the page can be made secure again in between (the guest touches it and
KVM imports it), and nothing stops that.  Dropping the marker before the I/O reopens the same window; starting the I/O when
`arch_make_folio_accessible()` failed hands a secure page to the device.  In 6.12 the
hook is called by `__folio_start_writeback()` and by GUP for FOLL_PIN only, so
writeback must go through `folio_start_writeback()`, and I/O on user pages needs a pin
(a FOLL_GET reference is not made accessible).
""",
    example="""
npages = get_user_pages_fast(addr, n, FOLL_WRITE, pages);   /* FOLL_GET */
for (i = 0; i < npages; i++)
        bio_add_page(bio, pages[i], PAGE_SIZE, 0);
submit_bio_wait(bio);            /* the pages may still be secure */
""",
    instead="""
npages = pin_user_pages_fast(addr, n, FOLL_WRITE, pages);   /* pin, then accessible */
for (i = 0; i < npages; i++)
        bio_add_page(bio, pages[i], PAGE_SIZE, 0);
submit_bio_wait(bio);
unpin_user_pages(pages, npages);

/* or, for a reference of your own: */
folio_get(folio);
if (arch_make_folio_accessible(folio)) {
        folio_put(folio);
        return -EIO;
}
""",
    limits="""
- Pages of unknown origin (parameters, fields) are not reported unless the function
  itself sets their writeback or makes them accessible: the caller is assumed to have
  done it.  A `get_page()` on such a page followed by I/O is silent.
- A bio is followed only within the function that submits it; a bio built here and
  submitted elsewhere is not checked.  A reference dropped right after an asynchronous
  `submit_bio()`, while the I/O is still running, is not reported.
- `pages[i]` takes the state of the array until that element is changed; making each
  element accessible in a loop over one index does not cover a later loop over another
  index (reported).
- bvecs, scatterlists and skb frags count as I/O even when their consumer turns out to
  be a CPU copy (which the s390 fault handler makes safe on its own).
- Reads into a page-cache folio are silent only when the function tests it not
  uptodate; ending writeback forgets a reference held at the same time; a release
  drops the pending marker even if the function holds a second reference (except
  count-dropping releases, `partial` in the models).
- Summaries stay within a file; helpers elsewhere need a model in rules/accessible.toml.
- Paths are joined without correlating conditions (`if (flags & FOLL_PIN)`).
""",
    precision="high",
    tags=("correctness", "security", "s390", "mm"),
)


class AccessibleChecker(Checker):
    rules = (IO_WITHOUT_ACCESSIBLE,)

    starter_sections = ("io_start", "writeback_start", "make_accessible", "guest_source")
    precedence = ("private_alloc", "guest_source", "writeback_start", "make_accessible",
                  "acquire", "release", "writeback_end", "lock", "unlock", "io_start",
                  "io_submit", "derive")
    edge_precedence = ("make_accessible", "writeback_start", "acquire", "guest_source", "lock",
                       "not_secure")

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        # Explicit, so that "on every path" survives the join at the exit.
        for p in ctx.function.params:
            ctx.set(p, S.UNKNOWN)

    def on_private_alloc(self, ctx: Context, ev: Event[ArgSection]) -> None:
        ctx.set(self._out(ctx, ev, ev.result), S.NOT_SECURE,
                (Step(ev.span, f"allocated by {ev.api}()"),))

    def on_guest_source(self, ctx: Context, ev: Event[GuestSource]) -> None:
        if ev.done:
            self._source(ctx, ev, ev.result if ev.at_call else ev.via)

    def on_writeback_start(self, ctx: Context, ev: Event[WritebackStart]) -> None:
        if ev.done:
            self._move(ctx, ev.obj, WRITEBACK_ACCESSIBLE if ev.m.accessible else WRITEBACK,
                       Step(ev.span, f"writeback set by {ev.api}()"))
        else:       # someone else's writeback: pending, but not this function's to finish
            self._move(ctx, ev.obj, NOT_MINE,
                       Step(ev.span, f"already under writeback per {ev.api}()"))

    def on_make_accessible(self, ctx: Context, ev: Event[ArgSection]) -> None:
        # The success edge is assumed until a test shows the failure edge.
        if ev.done:
            self._move(ctx, ev.obj, ACCESSIBLE, Step(ev.span, f"made accessible by {ev.api}()"))
        else:
            self._move(ctx, ev.obj, FAILURE, Step(ev.span, f"{ev.api}() failed"))

    def on_acquire(self, ctx: Context, ev: Event[Acquire]) -> None:
        if ev.done:
            step = Step(ev.span, f"reference taken by {ev.api}()")
            self._move(ctx, ev.obj, GET, step)
            if ev.edge and ev.m.returns_object and ev.via:
                self._move(ctx, Name(ev.via), GET, step)

    def on_release(self, ctx: Context, ev: Event[Release]) -> None:
        if not ev.m.partial:            # else one of several references: maybe still held
            self._move(ctx, ev.obj, RELEASE, Step(ev.span, f"reference dropped by {ev.api}()"),
                       elements=False)

    def on_writeback_end(self, ctx: Context, ev: Event[ArgSection]) -> None:
        self._move(ctx, ev.obj, WRITEBACK_END, Step(ev.span, f"writeback ended by {ev.api}()"))

    def on_lock(self, ctx: Context, ev: Event[Lock]) -> None:
        if ev.m.arg is not None and ev.done:
            self._move(ctx, ev.obj, LOCK, Step(ev.span, f"locked by {ev.api}()"))

    def on_unlock(self, ctx: Context, ev: Event[Unlock]) -> None:
        if ev.m.arg is not None:
            self._move(ctx, ev.obj, UNLOCK, Step(ev.span, f"unlocked by {ev.api}()"))

    def on_derive(self, ctx: Context, ev: Event[Derive]) -> None:
        src = ctx.designated(ev.obj, elements=True, derive=True)
        for state in ctx.states(src) if ev.result is not None else ():
            ctx.add(ev.result, state, ctx.trail(src, state))

    def on_not_secure(self, ctx: Context, ev: Event[ArgSection]) -> None:
        if ev.done and ev.edge:
            self._move(ctx, ev.obj, NEVER_MAPPED,
                       Step(ev.span, f"not uptodate per {ev.api}(): never mapped"))

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        # A new bio carries nothing yet.
        for k, _ in ctx.tracked():
            if isinstance(k, Attached) and k.carrier == target:
                ctx.kill(k)
        src = ctx.designated(value, elements=True, derive=True)
        if src is not None and src != target and not ctx.states(target):
            for state in ctx.states(src):
                ctx.add(target, state, ctx.trail(src, state))
        # folio = page_folio(page), p = q, page = &folio->page: one page, two paths.
        root = self._root(ctx, value)
        if root is not None and root != target and (
                ctx.states(root) or not isinstance(ctx.strip(value), Name)):
            ctx.set(Alias(target, root), S.LINKED)
            ctx.set(Alias(root, target), S.LINKED)

    def on_return(self, ctx: Context, ret: Return) -> None:
        if not ctx.reporting or ret.value is None:
            return
        key = ctx.designated(ret.value, elements=True, derive=True)
        if ctx.states(key):
            ctx.scratch.setdefault("returns", []).append(ctx.states(key))
        if key is not None and S.REVERSED in ctx.states(key) and key not in self._reported(ctx):
            self._helper_report(ctx, key, S.REVERSED)

    def on_exit(self, ctx: Context) -> None:
        params = ctx.function.params
        for k, have in ctx.tracked():
            # Handed back to the caller (a parameter's page, pages[*nr] = page) in the
            # wrong order: the caller's I/O is not protected.
            if isinstance(k, str) and S.REVERSED in have and k not in self._reported(ctx) \
                    and root_variable(k) in params:
                self._helper_report(ctx, k, S.REVERSED)
        for i, p in enumerate(params):
            states = ctx.states(p)
            bad = [s for s in (S.REVERSED_WB, S.WRITEBACK) if s in states]
            if bad and p not in self._reported(ctx):
                self._helper_report(ctx, p, bad[0])
            elif states == {S.ACCESSIBLE_WB}:
                ctx.summarize("writeback_start", arg=i, accessible=True, when="always")
            elif states and states <= {S.ACCESSIBLE, S.ACCESSIBLE_WB}:
                ctx.summarize("guest_source", arg=i, accessible=True, when="always")
            elif S.UNHELD_ACCESSIBLE in states and states <= {S.UNHELD_ACCESSIBLE, S.FAILED}:
                ctx.summarize("make_accessible", arg=i,
                              when="zero" if S.FAILED in states else "always")
            elif states == {S.PENDING}:
                ctx.summarize("guest_source", arg=i, when="always")
        returns = ctx.scratch.get("returns")
        if returns:
            every = frozenset().union(*returns)
            if every <= {S.ACCESSIBLE, S.ACCESSIBLE_WB}:
                ctx.summarize("guest_source", accessible=True, when="always")
            elif every == {S.PENDING}:
                ctx.summarize("guest_source", when="always")
            elif every == {S.NOT_SECURE}:
                ctx.summarize("private_alloc")

    @staticmethod
    def _reported(ctx: Context) -> set[str | None]:
        """Keys already reported at an I/O (this run's final pass)."""
        got: set[str | None] = ctx.scratch.setdefault("reported", set())
        return got

    # ------------------------------------------------------------------ policy
    def _source(self, ctx: Context, ev: Event[GuestSource], result: str | None) -> None:
        """Possibly secure pages arrive; with ``field``, only where nothing better is known
        (a page the function allocated itself stays its own)."""
        key = self._out(ctx, ev, result)
        if key is None or (ev.m.field and ctx.states(key)):
            return
        ctx.set(key, S.ACCESSIBLE if ev.m.accessible else S.PENDING,
                (Step(ev.span, f"possibly secure page from {ev.api}()"),))

    def _out(self, ctx: Context, ev: Event[Any], result: str | None) -> str | None:
        """The key a source or allocation fills: an argument (``&page`` -> ``page``), a
        field of it, or the call's result."""
        if ev.m.arg is None:
            return result
        field = getattr(ev.m, "field", None)
        if isinstance(ev.obj, AddrOf):
            base, sep = ctx.key(ev.obj.operand), "."
        else:
            base, sep = ev.key, "->"
        return f"{base}{sep}{field}" if base is not None and field else base

    def _root(self, ctx: Context, e: Expr) -> str | None:
        """The path ``e`` is another name for, tracked or not (no array elements)."""
        e = ctx.strip(e)
        while isinstance(e, (AddrOf, Call)):
            if isinstance(e, AddrOf) and isinstance(e.operand, Member) \
                    and e.operand.field == "page":
                e = ctx.strip(e.operand.base)   # &folio->page
            elif (inner := ctx.derived_from(e)) is not None:
                e = inner
            else:
                return None
        return ctx.key(e) if isinstance(e, (Name, Member)) else None

    def _move(self, ctx: Context, e: Expr | None, table: dict[Io, Io], step: Step,
              elements: bool = True) -> None:
        """Apply a transition to the page ``e`` designates and to every path linked to it;
        an array element first takes the array's state (unless ``elements`` is False)."""
        key = ctx.key(e)
        if key is None:
            return
        if elements and not ctx.states(key):
            src = ctx.designated(e, elements=True, derive=True)
            if src is not None and src != key:
                for state in ctx.states(src):
                    ctx.add(key, state, ctx.trail(src, state))
        todo: list[str | None] = [key]
        seen: set[str] = set()
        if e is not None and (inner := ctx.derived_from(ctx.strip(e))) is not None:
            todo.append(ctx.key(inner))
        while todo:
            k = todo.pop()
            if k is None or k in seen:
                continue
            seen.add(k)
            self._apply(ctx, k, table, step)
            for other, _ in ctx.tracked():
                if isinstance(other, Alias) and other.a == k \
                        and ctx.states(Alias(other.b, k)):
                    todo.append(other.b)

    @staticmethod
    def _apply(ctx: Context, key: str, table: dict[Io, Io], step: Step) -> None:
        have = [(s, ctx.trail(key, s)) for s in ctx.states(key)] or [(S.UNKNOWN, ())]
        new: dict[Io, Trail] = {}
        for s, trail in have:
            t = table.get(s, s)
            new.setdefault(t, trail + ((step,) if t != s else ()))
        if set(new) == {S.UNKNOWN} and not ctx.states(key):
            return
        for i, (s, trail) in enumerate(new.items()):
            (ctx.set if i == 0 else ctx.add)(key, s, trail)

    def on_io_start(self, ctx: Context, ev: Event[IoStart]) -> None:
        page, written = ev.obj, ev.key
        step = Step(ev.span, f"'{written}' handed to {ev.api}()")
        if ev.m.carrier is None:
            self._check(ctx, written, ctx.designated(page, elements=True, derive=True),
                        ev.call, step)
            return
        # The device sees the page when the bio is submitted: check it there.
        carrier = _carrier(ctx, ctx.arg(ev.call, ev.m.carrier))
        if written is not None and is_computed(written):
            written = ctx.designated(page, elements=True, derive=True)
        if carrier and written:
            ctx.set(Attached(carrier, written), S.ATTACHED, (step,))

    def on_io_submit(self, ctx: Context, ev: Event[ArgSection]) -> None:
        carrier = _carrier(ctx, ev.obj)
        for k, _ in ctx.tracked():
            if carrier and isinstance(k, Attached) and k.carrier == carrier:
                attach = ctx.trail(k, S.ATTACHED)
                self._check(ctx, k.obj, _resolve(ctx, k.obj), ev.call,
                            attach[-1] if attach else None)
                ctx.kill(k)

    def _check(self, ctx: Context, shown: str | None, key: str | None, call: Call,
               attach: Step | None) -> None:
        """I/O starts at ``call`` on the page spelled ``shown`` whose state ``key`` holds:
        report what is wrong with it on some path."""
        states = ctx.states(key)
        params = ctx.function.params
        if shown in params and states <= {S.UNKNOWN, S.HELD}:
            # The caller decides what the page is: this function is an I/O start for it.
            ctx.summarize("io_start", arg=params.index(shown))
        problem = next((s for s in PROBLEMS if s in states), None)
        if problem is None:
            return
        trail = ctx.trail(key, problem)
        origin = trail[0] if trail else Step(call.span, "")
        key_shown = shown or key
        io = f"'{key_shown}' is handed to {call.callee}() for I/O"
        what = {
            S.FAILED: f"{io} on the path where making it accessible failed "
                      f"(line {_line_of(trail)})",
            S.DROPPED: f"{io} after its reference or writeback was dropped "
                       f"(line {_line_of(trail)})",
            S.REVERSED: f"'{key_shown}' is made accessible (line {_line_of(trail, 'accessible')}) "
                        f"before its reference is taken (line {_line_of(trail)}): it may "
                        f"turn secure again before the I/O by {call.callee}()",
            S.REVERSED_WB: f"'{key_shown}' is made accessible (line "
                           f"{_line_of(trail, 'accessible')}) before writeback is set (line "
                           f"{_line_of(trail)}): it may turn secure again before the I/O by "
                           f"{call.callee}()",
            S.PENDING: f"{io} without being made accessible ({origin.message}, line "
                       f"{origin.span.line})",
            S.WRITEBACK: f"{io} under writeback (line {_line_of(trail, 'writeback')}) "
                         f"without being made accessible",
        }[problem]
        self._reported(ctx).add(key)
        path = trail + ((attach,) if attach and attach.span != call.span else ())
        ctx.report(IO_WITHOUT_ACCESSIBLE, call.span, what, path, (origin,))

    def _helper_report(self, ctx: Context, key: str, state: Io) -> None:
        trail = ctx.trail(key, state)
        if not trail:
            return
        site = trail[-1]                        # the writeback start or the get
        if state in (S.REVERSED, S.REVERSED_WB):
            what = (f"'{key}' is made accessible (line {_line_of(trail, 'accessible')}) "
                    f"before its {site.message}: it may turn secure again before the "
                    f"caller's I/O")
        else:
            what = (f"'{key}' is returned to the caller with {site.message} but not made "
                    f"accessible")
        ctx.report(IO_WITHOUT_ACCESSIBLE, site.span, what, trail, (trail[0],))


def _carrier(ctx: Context, e: Expr | None) -> str | None:
    """The bio an argument names: ``&bio`` and ``bio`` alike."""
    return ctx.key(e.operand) if isinstance(e, AddrOf) else ctx.key(e)


def _resolve(ctx: Context, key: str | None) -> str | None:
    """The tracked path holding the state of the page spelled ``key``: an element of an
    array takes the array's, ``&folio->page`` the folio's."""
    while key:
        if ctx.states(key):
            return key
        key = element_owner(key)
    return None


def _line_of(trail: Trail, word: str = "") -> int:
    """The line of the last step of ``trail`` (that mentions ``word``)."""
    for step in reversed(trail):
        if word in step.message:
            return step.span.line
    return 0
