"""racy-refcount-check and spurious-refcount-warn: decisions and assertions on an exact
reference count that speculative references can change at any moment.

Any code that finds a ``struct page`` without a reference (GUP-fast, pfn scanners, page
cache lookups) may ``folio_try_get()`` it: a non-zero count can go up, briefly, at any
time.  A count is only stable when it is frozen (``folio_ref_freeze()`` succeeded, or an
atomic ``*_and_test()`` saw it reach zero).

Tracked, per object: ``DECIDED`` on the edge where an unfrozen exact count check
(``folio_ref_count(f) == 1``, ``page_count(p) > 1`` false, ``folio_ref_sub_return() == 1``)
concluded that no other reference exists; ``FROZEN``/``EXCLUDED`` once the count is
frozen or an exclusion the models name (a put callback registered before the check, seed
004) is in place; ``LOCKLESS`` for objects found by a lockless read, ``HELD`` once a
reference is taken on them.

Reported:
* racy-refcount-check: an exclusive action the models name (overwriting the count,
  freeing, changing the folio's type, making it private) on a ``DECIDED`` object;
* spurious-refcount-warn: a ``WARN_ON()``-style assertion whose condition a speculative
  reference can make true (``count != 1``, ``count > 1``), or that asserts a non-zero count
  on an object found locklessly (its count may be frozen to 0), unless frozen.

Accepted by design: reuse decisions (``count == 1`` then reusing the page or setting it
anon-exclusive under the page-table lock) are not modeled actions -- a reference that
appears after such a check is speculative and backs off, and a lasting one needs the
lock the reuser holds.  Checks after a freeze, and zero tests (``count == 0``), are fine.

Summaries: a function that returns a count (or a freeze result) of its argument, acts
exclusively on it, or registers an exclusion on it is seen as such by its callers.

Known limits: a decision returned by a helper (``return folio_ref_count(f) == 1;``) is not
followed into the caller; page and folio are one object only when derived inline
(``folio_ref_count(page_folio(page))``, ``&folio->page``) or after the check.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from analyzer.engine import NONZERO, ZERO, Checker, Context, Test, effect_holds
from analyzer.ir import AddrOf, Binary, Call, Deref, Expr, Literal, Member, Name, Unary
from analyzer.models.schema import Section, option, register, when_key
from analyzer.result import Step
from analyzer.rule import Rule


# ------------------------------------------------------------------ model sections
@register
@dataclass(frozen=True, slots=True)
class RefcountRead(Section):
    """reads of an exact reference count"""

    NAME: ClassVar[str] = "refcount_read"
    EVENT: ClassVar[str | None] = None
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument whose count it returns")


@register
@dataclass(frozen=True, slots=True)
class Freeze(Section):
    """refcount freezes (ref_freeze: succeeds only at the expected count)"""

    NAME: ClassVar[str] = "freeze"
    arg: int | None = option(int, required=True)
    when: str = when_key()


@register
@dataclass(frozen=True, slots=True)
class Unfreeze(Section):
    """refcount unfreezes"""

    NAME: ClassVar[str] = "unfreeze"
    arg: int | None = option(int, required=True)


@register
@dataclass(frozen=True, slots=True)
class SetRefcount(Section):
    """calls that overwrite a reference count"""

    NAME: ClassVar[str] = "set_refcount"
    EVENT: ClassVar[str | None] = "exclusive"
    arg: int | None = option(int, required=True)


@register
@dataclass(frozen=True, slots=True)
class ExclusiveAction(Section):
    """actions that assume no other reference can exist"""

    NAME: ClassVar[str] = "exclusive_action"
    EVENT: ClassVar[str | None] = "exclusive"
    arg: int | None = option(int, required=True, doc="argument assumed to have no other "
                                                  "reference")


@register
@dataclass(frozen=True, slots=True)
class Exclusion(Section):
    """calls that exclude speculative references"""

    NAME: ClassVar[str] = "exclusion"
    arg: int | None = option(int, doc="argument it excludes speculative references on")


@register
@dataclass(frozen=True, slots=True)
class Warn(Section):
    """WARN_ON()/VM_BUG_ON()-style assertions"""

    NAME: ClassVar[str] = "warn"
    arg: int | None = option(int, required=True, doc="argument holding the asserted condition")


class Ref(Enum):
    LOCKLESS = "found locklessly, no reference"
    HELD = "count known to be non-zero"
    DECIDED = "judged exclusive by an unfrozen exact count"
    REPORTED = "racy decision reported"
    FROZEN = "count frozen"
    EXCLUDED = "speculative references excluded"


_COMPARE = ("==", "<", "<=", ">", ">=")
_MIRROR = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}

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


def _int(e: Expr) -> int | None:
    if not isinstance(e, Literal):
        return None
    try:
        return int(e.text.rstrip("uUlL"), 0)
    except ValueError:
        return None


class RefcheckChecker(Checker):
    rules = (RACY_REFCOUNT_CHECK, SPURIOUS_REFCOUNT_WARN)

    starter_sections = ("refcount_read", "set_refcount", "exclusive_action")

    # ------------------------------------------------------------------ hooks
    def on_call(self, ctx: Context, call: Call, result: str | None) -> None:
        name = call.callee
        if name is None:
            return
        models = ctx.models
        if (m := models.get("warn", name)) is not None:
            self._warn(ctx, call, ctx.arg(call, m.get("arg")))
        for section in ("set_refcount", "exclusive_action"):
            if (m := models.get(section, name)) is not None:
                self._act(ctx, call, m, section)
        if (m := models.get("exclusion", name)) is not None and m.get("arg") is not None:
            key = self._obj(ctx, ctx.arg(call, m.get("arg")))
            ctx.set(key, Ref.EXCLUDED, (Step(call.span, f"{name}() excludes references"),))
            self._summarize_on_param(ctx, key, "exclusion")
        if (m := models.get("unfreeze", name)) is not None:
            ctx.replace(self._obj(ctx, ctx.arg(call, m.get("arg"))), Ref.FROZEN, Ref.HELD)
        if (m := models.get("lockless_read", name)) is not None and not m.get("rcu"):
            source = ctx.arg(call, m.get("arg", 0))
            if not m.get("deref_only") or isinstance(source, Deref):
                ctx.set(result, Ref.LOCKLESS, (Step(call.span, f"read locklessly by {name}()"),))
        if (m := models.get("derive", name)) is not None:
            src = ctx.key(ctx.arg(call, m.get("from")))
            for state in ctx.states(src):
                ctx.add(result, state, ctx.trail(src, state))
        if (m := models.get("acquire", name)) is not None and m.get("when") == "always":
            self._hold(ctx, ctx.arg(call, m.get("arg")))

    def on_branch(self, ctx: Context, test: Test) -> None:
        subject = test.subject
        if isinstance(subject, Call):
            for section in ("freeze", "acquire"):
                m = ctx.models.get(section, subject.callee)
                if m is None or not effect_holds(m.get("when"), test.outcome):
                    continue
                key = self._obj(ctx, ctx.arg(subject, m.get("arg")))
                if section == "freeze":
                    ctx.set(key, Ref.FROZEN, (Step(subject.span, "count frozen by "
                                                   f"{subject.callee}()"),))
                elif m.get("when") != "always":
                    self._hold(ctx, ctx.arg(subject, m.get("arg")))
        self._decide(ctx, subject, test.outcome)

    def on_return(self, ctx: Context, ret) -> None:
        value = ctx.strip(ret.value) if ret.value is not None else None
        call = ctx.bound(value) or value
        if not isinstance(call, Call):
            return
        for section in ("refcount_read", "freeze"):
            m = ctx.models.get(section, call.callee)
            if m is None:
                continue
            key = ctx.key(ctx.arg(call, m.get("arg")))
            if key in ctx.function.params:
                extra = {"when": m.get("when")} if section == "freeze" else {}
                ctx.summarize(section, arg=ctx.function.params.index(key), **extra)

    # ------------------------------------------------------------------ policy
    def _obj(self, ctx: Context, e: Expr | None) -> str | None:
        """The object whose count is meant: through inline derivations (page_folio(page))
        and member addresses (&folio->page) to the variable that names it."""
        while e is not None:
            e = ctx.strip(e)
            if isinstance(e, Call) and (m := ctx.models.get("derive", e.callee)) is not None:
                e = ctx.arg(e, m.get("from"))
            elif isinstance(e, AddrOf) and isinstance(e.operand, Member):
                e = e.operand.base
            else:
                break
        return ctx.key(e)

    def _count(self, ctx: Context, e: Expr) -> Call | None:
        """The count read ``e`` is, holds, or adds a constant to."""
        e = ctx.strip(e)
        if isinstance(e, Name):
            e = ctx.bound(e) or e
        if isinstance(e, Call) and ctx.models.get("refcount_read", e.callee) is not None:
            return e
        if isinstance(e, Binary) and e.op in ("+", "-"):
            return self._count(ctx, e.left) or (self._count(ctx, e.right) if e.op == "+"
                                                else None)
        return None

    def _counted(self, ctx: Context, call: Call) -> str | None:
        return self._obj(ctx, ctx.arg(call, ctx.models.get("refcount_read",
                                                           call.callee).get("arg")))

    def _comparison(self, ctx: Context, e: Expr, op: str):
        """(count read, op with the count on the left, other side) or None."""
        if (c := self._count(ctx, e.left)) is not None:
            return c, op, e.right
        if (c := self._count(ctx, e.right)) is not None:
            return c, _MIRROR[op], e.left
        return None

    def _hold(self, ctx: Context, e: Expr | None) -> None:
        key = self._obj(ctx, e)
        if key is not None and not ctx.may_be(key, Ref.FROZEN, Ref.DECIDED, Ref.EXCLUDED):
            ctx.set(key, Ref.HELD)

    def _decide(self, ctx: Context, subject: Expr, outcome: str) -> None:
        e = ctx.strip(subject)
        while True:
            if isinstance(e, Unary) and e.op == "!":
                e, outcome = ctx.strip(e.operand), ZERO if outcome == NONZERO else NONZERO
            elif isinstance(e, Call) and (m := ctx.models.get("warn", e.callee)) is not None:
                e = ctx.arg(e, m.get("arg"))          # WARN_ON(c) is !!c
                if e is None:
                    return
            elif isinstance(e, Binary) and e.op == "!=":
                e = Binary("==", e.left, e.right, e.span)
                outcome = ZERO if outcome == NONZERO else NONZERO
            else:
                break
        if not isinstance(e, Binary) or e.op not in _COMPARE or outcome not in (NONZERO, ZERO):
            return
        found = self._comparison(ctx, e, e.op)
        if found is None:
            return
        count, op, other = found
        if _int(other) == 0 or (op in ("<", ">=") and _int(other) == 1):
            return                      # a zero test: a free count is not an exclusive one
        if (op in ("==", "<", "<=")) != (outcome == NONZERO):
            return                      # the edge where other references exist
        key = self._counted(ctx, count)
        if key is None or ctx.may_be(key, Ref.FROZEN, Ref.EXCLUDED):
            return
        shown = ctx.key(other) or "its expected value"
        ctx.set(key, Ref.DECIDED, (Step(e.span, f"'{key}' judged to have no other reference "
                                                f"by {count.callee}() {op} {shown}, count "
                                                "not frozen"),))

    def _act(self, ctx: Context, call: Call, m, section: str) -> None:
        key = self._obj(ctx, ctx.arg(call, m.get("arg")))
        if key is None:
            return
        if ctx.may_be(key, Ref.DECIDED):
            trail = ctx.trail(key, Ref.DECIDED)
            line = trail[0].span.line if trail else call.span.line
            effect, race = ((f"overwrites the count of '{key}'", "taken since is lost")
                            if section == "set_refcount" else
                            (f"assumes no other reference to '{key}'", "can appear since"))
            ctx.report(RACY_REFCOUNT_CHECK, call.span,
                       f"{call.callee}() {effect} after an unfrozen count check (line "
                       f"{line}): a speculative reference {race}", trail, trail[:1])
            ctx.replace(key, Ref.DECIDED, Ref.REPORTED)
        elif not ctx.states(key):
            self._summarize_on_param(ctx, key, section)

    def _summarize_on_param(self, ctx: Context, key: str | None, section: str) -> None:
        if key in ctx.function.params:
            ctx.summarize(section, arg=ctx.function.params.index(key))

    def _warn(self, ctx: Context, call: Call, cond: Expr | None) -> None:
        for count, op, other, zero in self._trips(ctx, cond):
            key = self._counted(ctx, count)
            if key is None or ctx.may_be(key, Ref.FROZEN):
                continue
            if not zero:
                shown = ctx.key(other) or "an expected value"
                ctx.report(SPURIOUS_REFCOUNT_WARN, call.span,
                           f"{call.callee}() on '{key}' fires when {count.callee}() {op} "
                           f"{shown}, which a speculative reference can make true for a "
                           "moment")
                return                               # one finding per assertion
            if ctx.may_be(key, Ref.LOCKLESS):
                trail = ctx.trail(key, Ref.LOCKLESS)
                ctx.report(SPURIOUS_REFCOUNT_WARN, call.span,
                           f"{call.callee}() on '{key}' fires on a zero count, but '{key}' "
                           "was found locklessly and its count may be frozen to 0",
                           trail, trail[:1])
                return

    def _trips(self, ctx: Context, cond: Expr | None) -> Iterator[tuple]:
        """Comparisons of a count in ``cond`` that can make it true: (count, op, other,
        zero) with ``zero`` False for "a higher count trips it", True for "a zero
        count trips it"."""
        stack = [(cond, True)] if cond is not None else []
        while stack:
            e, positive = stack.pop()
            e = ctx.strip(e)
            if isinstance(e, Unary) and e.op == "!":
                stack.append((e.operand, not positive))
                continue
            if isinstance(e, Binary) and e.op in ("&&", "||"):
                stack += [(e.right, positive), (e.left, positive)]
                continue
            if isinstance(e, Binary) and e.op in _COMPARE + ("!=",):
                found = self._comparison(ctx, e, e.op)
            elif self._count(ctx, e) is not None:
                found = (self._count(ctx, e), "!=", Literal("0"))     # truth of a count
            else:
                continue
            if found is None:
                continue
            count, op, other = found
            op = op if positive else _NEGATE[op]
            v = _int(other)
            higher = ((op in ("!=", ">") and (v is None or v >= 1))
                      or (op == ">=" and (v is None or v >= 2))
                      or (op == "==" and v is not None and v >= 2))
            zero = (op == "==" and v == 0) or (op == "<=" and v == 0) or (op == "<" and v == 1)
            if higher or zero:
                yield count, op, other, zero
