"""io-without-accessible: I/O on a possibly secure page not first kept pending (a reference,
writeback) and *then* made accessible.  One typestate per page path: origin and step."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from analyzer.engine import Checker, Context, Effect, Event, Move, Test, Trail
from analyzer.engine.keys import element_owner, root_variable
from analyzer.engine.stores import guard, unguarded
from analyzer.ir import Call, Return
from analyzer.models.schema import ArgSection, Section, arg_section, option, register, when_key
from analyzer.result import Step
from analyzer.rule import Rule

# ------------------------------------------------------------------ model sections
MakeAccessible = arg_section("make_accessible", "arch_make_*_accessible() and wrappers (0 = "
                             "success)", conditional=True, assumed=True, hands_over=False)
IoSubmit = arg_section("io_submit", "calls that submit a bio: I/O starts on its pages",
                       arg_doc="the carrier whose pages I/O starts on")
NotSecure = arg_section("not_secure", "tests after which a page cannot be secure (a folio "
                        "not uptodate)", conditional=True)
WritebackEnd = arg_section("writeback_end", "calls that end writeback")
CpuAccess = arg_section("cpu_access", "CPU access to a page (folio_address(), kmap*())")
PteMapped = arg_section("pte_mapped", "pages a PTE maps (where GUP makes them accessible)",
                        required=False)
GupGrab = arg_section("gup_grab", "GUP's grab of a page for its caller: a pin (FOLL_PIN) or "
                      "a reference, as its flags say", conditional=True)
PrivateAlloc = arg_section("private_alloc", "pages never secure (own allocations, PMD leaves)",
                           arg_doc="argument that receives it (else the result)", required=False)


@register
@dataclass(frozen=True, slots=True)
class IoStart(ArgSection):
    """calls that start I/O on a page or folio (or attach it to a bio)"""
    NAME, ARG_DOC, CARRIER, SUBMITTED_BY = ("io_start", "argument whose page I/O is started "
                                            "on", "carrier", "io_submit")
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


# ------------------------------------------------------------------ states
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
    MAPPED = "mapped by a PTE (a guest's page, maybe), no reference"
    MAPPED_HELD = "mapped by a PTE, referenced"
    GRABBED = "grabbed by GUP for its caller: pinned for FOLL_PIN, not made accessible"


S, ACC, PIN, NO = Io, "accessible", "FOLL_PIN", Effect.FAILED
# Transition tables: old state -> new state; missing = unchanged.  No state = UNKNOWN.
GET = {S.UNKNOWN: S.HELD, S.UNHELD_ACCESSIBLE: S.REVERSED, S.DROPPED: S.PENDING,
       S.LOCKED: S.HELD, S.LOCKED_ACCESSIBLE: S.ACCESSIBLE, S.MAPPED: S.MAPPED_HELD}
# The folio lock blocks an import too (the hook's "locked or an extra reference"): in order.
LOCK = {S.UNKNOWN: S.LOCKED}
UNLOCK = {S.LOCKED: S.UNKNOWN, S.LOCKED_ACCESSIBLE: S.UNHELD_ACCESSIBLE}
WRITEBACK = {S.UNKNOWN: S.WRITEBACK, S.HELD: S.WRITEBACK, S.PENDING: S.WRITEBACK,
             S.LOCKED: S.WRITEBACK, S.LOCKED_ACCESSIBLE: S.ACCESSIBLE_WB,
             S.ACCESSIBLE: S.ACCESSIBLE_WB, S.UNHELD_ACCESSIBLE: S.REVERSED_WB,
             S.REVERSED: S.REVERSED_WB, S.DROPPED: S.WRITEBACK}
WRITEBACK_ACCESSIBLE = {s: S.ACCESSIBLE_WB for s in S if s is not S.NOT_SECURE}
ACCESSIBLE = {S.UNKNOWN: S.UNHELD_ACCESSIBLE, S.HELD: S.ACCESSIBLE, S.PENDING: S.ACCESSIBLE,
              S.GRABBED: S.ACCESSIBLE, S.WRITEBACK: S.ACCESSIBLE_WB, S.REVERSED: S.ACCESSIBLE,
              S.MAPPED: S.UNHELD_ACCESSIBLE, S.MAPPED_HELD: S.ACCESSIBLE,
              S.REVERSED_WB: S.ACCESSIBLE_WB, S.FAILED: S.ACCESSIBLE,
              S.DROPPED: S.UNHELD_ACCESSIBLE, S.LOCKED: S.LOCKED_ACCESSIBLE}
FAILURE = {s: S.FAILED for s in S if s is not S.NOT_SECURE}
OWN = dict.fromkeys(S, S.NOT_SECURE)
RELEASE = dict.fromkeys((S.PENDING, S.ACCESSIBLE, S.REVERSED, S.GRABBED), S.DROPPED)
GRAB = {S.MAPPED_HELD: S.GRABBED}       # a PTE's page, after the reference (acquire)
WRITEBACK_END = dict.fromkeys((S.WRITEBACK, S.ACCESSIBLE_WB, S.REVERSED_WB), S.DROPPED)
# CPU access to a held page: the s390 fault handler exports it, the hold blocks an import.
CPU = {S.HELD: S.ACCESSIBLE, S.PENDING: S.ACCESSIBLE, S.LOCKED: S.LOCKED_ACCESSIBLE}
NOT_MINE = {S.WRITEBACK: S.HELD, S.REVERSED_WB: S.UNHELD_ACCESSIBLE}
NEVER_MAPPED = dict.fromkeys((S.UNKNOWN, S.HELD, S.PENDING), S.NOT_SECURE)   # any origin
# What is wrong with a page in this state when I/O starts on it, most telling first.
_IO, _EARLY = "'{page}' is handed to {io}() for I/O ", (
    "'{page}' is made accessible (line {accessible}) before %s (line {line}): it may turn "
    "secure again before the I/O by {io}()")
PROBLEMS = {
    S.FAILED: _IO + "on the path where making it accessible failed (line {line})",
    S.DROPPED: _IO + "after its reference or writeback was dropped (line {line})",
    S.REVERSED: _EARLY % "its reference is taken",
    S.REVERSED_WB: _EARLY % "writeback is set",
    S.PENDING: _IO + "without being made accessible ({at}, line {origin})",
    S.WRITEBACK: _IO + "under writeback (line {writeback}) without being made accessible",
}
# What is wrong with a page handed back to the caller in this state.
_EARLY_BACK = ("'{page}' is made accessible (line {accessible}) before its {site}: it may "
               "turn secure again before the caller's I/O")
HANDED_BACK = {S.REVERSED: _EARLY_BACK, S.REVERSED_WB: _EARLY_BACK, S.WRITEBACK: "'{page}' "
               "is returned to the caller with {site} but not made accessible", S.GRABBED:
               "'{page}' is handed to the caller, {site}, without being made accessible on "
               "the FOLL_PIN path"}
# What the function is for its callers, by a parameter's (what it returns) states at exit.
_ACC: dict[str, Any] = {"accessible": True}
_TO_ACC = dict.fromkeys(map(frozenset, ({S.ACCESSIBLE}, {S.ACCESSIBLE_WB}, {S.ACCESSIBLE,
                        S.ACCESSIBLE_WB})), ("guest_source", _ACC))
PARAM_SUMMARY = {**_TO_ACC, frozenset({S.ACCESSIBLE_WB}): ("writeback_start", _ACC),
                 frozenset({S.UNHELD_ACCESSIBLE}): ("make_accessible", {}),
                 frozenset({S.UNHELD_ACCESSIBLE, S.FAILED}): ("make_accessible", {"when": "zero"}),
                 frozenset({S.PENDING}): ("guest_source", {})}
RETURN_SUMMARY = {**_TO_ACC, frozenset({S.PENDING}): ("guest_source", {}),
                  frozenset({S.NOT_SECURE}): ("private_alloc", {})}


IO_WITHOUT_ACCESSIBLE = Rule(
    id="io-without-accessible",
    name="IoWithoutAccessible",
    summary="I/O on a possibly secure page without a held reference/writeback and then "
            "arch_make_folio_accessible()",
    what="""
Finds I/O on a page that may belong to a guest where, on some path, the function did not
first (1) mark the I/O pending -- a reference or writeback -- and *then* (2) make it
accessible (`arch_make_folio_accessible()`), keeping (1) until the I/O.
- *pending*: a reference the function holds (a get, a try-get, a GUP reference or pin, a
  page-cache lookup's, a confirmed pipe buffer's) or writeback; for the order only, the
  folio lock too (the hook wants "locked or an extra reference");
- *accessible*: the hook's success edge (0), `folio_start_writeback()`, the FOLL_PIN GUP
  family (`pin_user_pages*()`, `iov_iter_extract_pages()`), the CPU touching a held page
  (`folio_address()`, `kmap*()`: the s390 fault handler exports it);
- *I/O*: `bio_add_{page,folio}()` (at `submit_bio*()`), bvecs, sg lists, skb frags;
- *possibly secure*: FOLL_GET GUP and `iov_iter_get_pages*()` pages, page-cache lookups,
  pipe-buffer pages, pages the function sets writeback on or makes accessible; never the
  kernel's own allocations, PMD/PUD leaves, folios seen not uptodate.
Reported: I/O on a pending page never made accessible, accessible before pending, the
marker dropped before the I/O, I/O where the hook failed; a helper returning with
writeback set or a page accessible too early; a GUP provider handing back a PTE's page
it grabbed (`pages[]`, returned) not made accessible on the FOLL_PIN path.
""",
    why="""
On s390 protected virtualization a device must not touch a "secure" page. I/O on a page
a guest may share: mark it pending (a reference or PG_writeback make the conversion to
secure fail), `arch_make_folio_accessible()`, the I/O, then drop the marker. Accessible
*before* the marker races with the guest (KVM may import it again); dropping the marker
early reopens the window; I/O after a failed hook hands a secure page to the device.
""",
    example="""
npages = get_user_pages_fast(addr, n, FOLL_WRITE, pages);   /* FOLL_GET */
for (i = 0; i < npages; i++)
        bio_add_page(bio, pages[i], PAGE_SIZE, 0);
submit_bio_wait(bio);            /* the pages may still be secure */
""",
    instead="""
npages = pin_user_pages_fast(addr, n, FOLL_WRITE, pages);   /* pin, then accessible */
folio_get(folio);                   /* or, for a reference of your own */
if (arch_make_folio_accessible(folio))
        goto put;
""",
    limits="""
- Pages of unknown origin (parameters, fields) are the caller's to make accessible.
- A bio is followed only within the function that submits it (a put right after an
  asynchronous `submit_bio()` is not reported).
- `pages[i]` takes the array's state until that element changes; bvecs, sg lists, skb
  frags are I/O even when a CPU copy consumes them.
- Conditions are correlated only in one shape: a pointer whose NULL makes the page's
  source yield nothing (`if (!mapping) return NULL;`) and is tested before the I/O.
- A release ends the pending marker even with a second reference held (but `partial`).
""",
    precision="high",
    tags=("correctness", "security", "s390", "mm"),
)


class AccessibleChecker(Checker):
    rules = (IO_WITHOUT_ACCESSIBLE,)

    starter_sections = ("io_start", "writeback_start", "make_accessible", "guest_source",
                        "gup_grab")
    precedence = ("private_alloc", "guest_source", "writeback_start", "make_accessible",
                  "acquire", "release", "writeback_end", "lock", "unlock", "io_start",
                  "io_submit", "derive")
    edge_precedence = ("make_accessible", "writeback_start", "acquire", "guest_source", "lock",
                       "not_secure")
    untracked = params = S.UNKNOWN      # params explicitly: "on every path" survives joins
    param_summaries, return_summaries = PARAM_SUMMARY, RETURN_SUMMARY
    links = inherits = True     # folio = page_folio(page), page = &folio->page: one page
    moves: ClassVar[dict[str, tuple[Move, ...]]] = {
        "make_accessible": (Move(ACCESSIBLE, "made accessible by {}()"),   # until a test fails
                            Move(FAILURE, "{}() failed", on=NO)),
        "writeback_start": (Move(WRITEBACK_ACCESSIBLE, "writeback set by {}()", needs=ACC),
                            Move(WRITEBACK, "writeback set by {}()", unless=ACC),
                            Move(NOT_MINE, "already under writeback per {}()", on=NO)),
        "writeback_end": (Move(WRITEBACK_END, "writeback ended by {}()"),),
        "acquire": (Move(GET, "reference taken by {}()"),      # and what it returns:
                    Move(GET, "reference taken by {}()", edge=True, needs="returns_object",
                         result=True)),
        "release": (Move(RELEASE, "reference dropped by {}()", unless="partial", elements=False),),
        "lock": (Move(LOCK, "locked by {}()"),),
        "unlock": (Move(UNLOCK, "unlocked by {}()"),),
        "not_secure": (Move(NEVER_MAPPED, "not uptodate per {}(): never mapped", edge=True),),
        "gup_grab": (Move(GRAB, "grabbed by {}() (a pin for FOLL_PIN)", flag=(PIN, True)),),
        "pte_mapped": (Move({S.UNKNOWN: S.MAPPED}, "mapped by a PTE per {}()", result=True),),
        "private_alloc": (Move(OWN, "allocated by {}()", result=True),),
        "cpu_access": (Move(CPU, "accessed by the CPU through {}()"),),
    }
    flag_moves: ClassVar[dict[tuple[str, bool], Move]] = {   # GUP's FOLL_GET branch: no pin
        (PIN, False): Move({S.GRABBED: S.HELD}, "not {}: a reference")}

    # ------------------------------------------------------------------ hooks
    def on_guest_source(self, ctx: Context, ev: Event[GuestSource]) -> None:
        key = ctx.receiver(ev, ev.result if ev.at_call else ev.via, ev.m.field)
        if ev.done and key is not None and not (ev.m.field and ctx.states(key)):
            ctx.set(key, S.ACCESSIBLE if ev.m.accessible else S.PENDING,
                    (Step(ev.span, f"possibly secure page from {ev.api}()"),))
            guard(ctx, key, ev.call, ev.api)       # the source yields nothing without it

    def on_branch(self, ctx: Context, test: Test) -> None:
        for key in unguarded(ctx, test):           # one flag decides source and I/O
            ctx.discard(key, S.PENDING)

    def on_io_start(self, ctx: Context, ev: Event[IoStart]) -> None:
        # Told at the I/O: this call, or the submission of the bio the page was added to.
        page = ctx.holder(ev.key) if ev.attached else \
            ctx.designated(ev.obj, elements=True, derive=True)
        self._check(ctx, ev.key, page, ev.call,
                    ev.attached or Step(ev.span, f"'{ev.key}' handed to {ev.api}()"))

    def on_return(self, ctx: Context, ret: Return) -> None:
        self._handed_back(ctx, ctx.designated(ret.value, elements=True, derive=True),
                          (S.REVERSED, S.GRABBED))

    def on_exit(self, ctx: Context) -> None:
        params = ctx.function.params
        for k, _ in ctx.tracked():      # the caller's own page (a parameter), or its pages[]
            if isinstance(k, str) and root_variable(k) in params:
                self._handed_back(ctx, k, (S.REVERSED,) if k in params else
                                  (S.REVERSED, S.GRABBED) if element_owner(k) else ())
        for p in params:
            self._handed_back(ctx, p, (S.REVERSED_WB, S.WRITEBACK))

    # ------------------------------------------------------------------ reports
    def _check(self, ctx: Context, shown: str | None, key: str | None, call: Call,
               attach: Step | None) -> None:
        """I/O at ``call`` on the page ``shown`` (states in ``key``): what is wrong?"""
        if (states := ctx.states(key)) <= {S.UNKNOWN, S.HELD}:  # a parameter: the caller
            ctx.summarize_param("io_start", shown)             # decides, an I/O start
        if (problem := next((s for s in PROBLEMS if s in states), None)) is None:
            return
        trail = ctx.trail(key, problem)
        origin = trail[0] if trail else Step(call.span, "")
        what = PROBLEMS[problem].format(
            page=shown or key, io=call.callee, line=_line_of(trail), at=origin.message,
            origin=origin.span.line, accessible=_line_of(trail, "accessible"),
            writeback=_line_of(trail, "writeback"))
        ctx.scratch.setdefault("reported", set()).add(key)
        path = trail + ((attach,) if attach and attach.span != call.span else ())
        ctx.report(IO_WITHOUT_ACCESSIBLE, call.span, what, path, (origin,))

    def _handed_back(self, ctx: Context, key: str | None, bad: tuple[Io, ...]) -> None:
        """A page handed back to the caller in a state (the first of ``bad`` it may be in)
        its I/O cannot repair: accessible too early, grabbed or under writeback."""
        state = next((s for s in bad if s in ctx.states(key)), S.UNKNOWN)
        trail = ctx.trail(key, state) if state in HANDED_BACK else ()
        if key is None or not trail or key in ctx.scratch.get("reported", ()):
            return                              # no trail, or reported at its I/O
        site = trail[-1]                        # the writeback start, the grab or the get
        what = HANDED_BACK[state].format(page=key, site=site.message,
                                         accessible=_line_of(trail, "accessible"))
        ctx.report(IO_WITHOUT_ACCESSIBLE, site.span, what, trail, (trail[0],))


def _line_of(trail: Trail, word: str = "") -> int:
    """The line of the last step of ``trail`` (that mentions ``word``)."""
    return next((step.span.line for step in reversed(trail) if word in step.message), 0)
