"""Value correlation: which value a variable holds on which path, for the states that
remember it.

A checker whose states are frozen dataclasses with the fields below hands them to these
functions from its ``on_branch``/``on_assign`` hooks; the engine keeps, per state, what the
paths it is on have learnt about variables:

* ``conds``: ``(condition, truth)`` pairs tested or assigned since the state was made (a
  variable, ``a==b`` of two variables; truth None: assigned a constant name);
* ``result``/``when``: the variable holding the result of the call that made the state and
  the value of it on which the state holds (an effect's ``when``);
* ``count``: a number, or the variable that counts (tested ``<= 0``: nothing held);
* ``lost``: variables given an error value on its paths since.

Besides the states, variables get a :class:`Code` (an error code, a known truth) and
``tested`` ghost keys (``a==b`` tested true or false on this path).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from analyzer.engine.api import Context
from analyzer.engine.effects import NEG, NONPOS, NONZERO, POS, ZERO, Test, effect_fails, int_literal
from analyzer.engine.keys import Ghost
from analyzer.ir import (
    Assign,
    Binary,
    Call,
    Cond,
    Deref,
    Expr,
    Literal,
    Member,
    Name,
    Unary,
    children,
    walk,
)


class Code(Enum):
    ERRNO = "holds an error code"
    TRUE = "assigned a non-zero constant"
    FALSE = "assigned 0, NULL or false"


MAX_CONDS = 8       # conditions remembered per state (beyond: no more correlation)


def known(ctx: Context, *skip: str | None) -> frozenset[tuple[Any, Any]]:
    """The ``conds`` a state made here starts with: the variables of known truth (not
    ``skip``) and the ``a==b`` tests decided on this path."""
    got = {(k, Code.TRUE in st) for k, st in ctx.tracked()
           if len(st) == 1 and next(iter(st)) in (Code.TRUE, Code.FALSE)
           and k not in skip} | {
        (k.arg, next(iter(st))) for k, st in ctx.tracked()
        if isinstance(k, Ghost) and k.name == "tested" and len(st) == 1 and
        "==" in k.arg}                    # a==b tested: a variable's own test is no code
    return frozenset(sorted(got, key=str)[:MAX_CONDS])


def correlate(ctx: Context, typ: type[Any], cond: str, truth: bool) -> None:
    """A state whose paths tested ``cond`` the other way is not on this edge: the same
    condition tested twice (``if (target) ... if (!target)``) is one path."""
    ctx.rewrite(typ, lambda _, r: None if (cond, not truth) in r.conds else r if (
        (cond, truth) in r.conds or len(r.conds) >= MAX_CONDS) else replace(
        r, conds=r.conds | {(cond, truth)}))


def error_test(ctx: Context, typ: type[Any], ev: Any) -> None:
    """An error test decided on this edge (``IS_ERR(folio)``, ``ev.m.null``: also NULL):
    on its "no object" edge the tested object holds no ``typ`` state; on the other it is
    not NULL either, so a path where it was assigned NULL is not this one."""
    if ev.done:
        forget(ctx, typ, ctx.states_of(ctx.designated(ev.obj), typ))
    elif ev.m.null and ev.key is not None:
        correlate(ctx, typ, ev.key, True)
        if ctx.must_be(ev.key, Code.FALSE):       # NULL, yet not an error
            forget(ctx, typ)


def error_value(ctx: Context, e: Expr, errors: str) -> bool:
    """``-EFAULT``, a call or name of section ``errors`` (``ERR_PTR(..)``, ``NULL``),
    ``VM_FAULT_OOM | ..``, a variable assigned one; ``err ? err : nr`` only when both are."""
    e = ctx.strip(e)
    if isinstance(e, Cond):
        return e.then is not None and all(error_value(ctx, x, errors)
                                          for x in (e.then, e.else_))
    if isinstance(e, Binary):
        return e.op == "|" and error_value(ctx, e.left, errors)
    name = e.callee if isinstance(e, Call) else getattr(e, "id", getattr(e, "text", None))
    return (isinstance(e, Unary) and e.op == "-") or ctx.may_be(ctx.key(e), Code.ERRNO) \
        or ctx.models.get(errors, name) is not None


def holders(ctx: Context, typ: type[Any], state: Any) -> list[Any]:
    """The keys that have ``state`` (a state that names one event may sit on aliases)."""
    return [k for k, s in ctx.each(typ) if s == state]


def forget(ctx: Context, typ: type[Any], gone: Any = None) -> None:
    """The states in ``gone`` (None: every ``typ``) do not hold on this path, under any
    name."""
    if gone is not None and not gone:
        return
    ctx.rewrite(typ, lambda _, r: None if gone is None or r in gone else r)


def held(ctx: Context, typ: type[Any], exprs: Iterable[Expr], alias: Mapping[str, str],
         walk: Callable[[Any], Iterable[Any]] = walk) -> list[tuple[str, Any]]:
    """The ``typ`` states held by any object an expression names (``&folio->page``,
    ``pages[i]`` and ``page_folio(page)`` included; ``walk`` gives the sub-expressions
    that count), or by one ``alias`` ties to it (``folio`` for ``page`` after ``folio =
    page_folio(page)``, a subpage for its page, transitively)."""
    if not any(isinstance(r, typ) for st in ctx.facts.objs.values() for r in st):
        return []                         # none anywhere: what is named does not matter
    keys = {k for e in exprs for x in walk(e)
            if (k := ctx.designated(x, elements=True, derive=True) or ctx.key(x))}
    for _ in range(4):                    # subpage -> page <- folio: one object
        keys |= {k for k, src in alias.items() if src in keys} | {alias[k] for k in keys
                                                                  if k in alias}
    return [(k, r) for k in keys for r in ctx.states_of(k, typ)]


def parts(ctx: Context, e: Expr, carriers: tuple[str, ...] = ()) -> Iterator[Expr]:
    """The sub-expressions of ``e`` that may be the object itself: not what a call other
    than a derivation (or a ``carriers`` section) computes from it (``f(folio_nr_pages(p))``
    names no object)."""
    stack = [e]
    while stack:
        x = ctx.strip(stack.pop())
        yield x
        if not isinstance(x, Call) or ctx.models.get("derive", x.callee) or any(
                ctx.models.get(c, x.callee) for c in carriers):
            stack += list(children(x))  # type: ignore[arg-type]


def flagged(ctx: Context, call: Call, index: int | None, flag: str | None) -> bool:
    """``flag`` (no flag: always) is named in argument ``index`` of ``call`` (``FOLL_GET |
    FOLL_TOUCH``; a variable of flags names none)."""
    if flag is None:
        return True
    flags = ctx.arg(call, index)
    return flags is not None and any(
        isinstance(x, (Name, Literal)) and flag in getattr(x, "id", "") +
        getattr(x, "text", "") for x in walk(flags))


def count(ctx: Context, call: Call, section: str) -> int | str:
    """How many references ``call`` takes or drops: its argument that ``section`` names
    (a literal; ``"0+"`` for an expression such as ``refs - 1``, maybe none at all; else
    the variable, or ``"?"``), else 1."""
    c = ctx.models.get(section, call.callee)
    if c is None:
        return 1
    e = ctx.arg(call, c.spec.arg)
    if isinstance(e, Literal) and e.text.isdigit():
        return int(e.text)
    if isinstance(ctx.strip(e), Binary) if e is not None else False:
        return "0+"                     # refs - 1: maybe no reference at all
    return (ctx.key(e) if e is not None else None) or "?"


def branch(ctx: Context, typ: type[Any], test: Test, alias: dict[str, str], held: Callable[[Sequence[Expr]], list[tuple[str, Any]]],
           errors: str, sources: tuple[str, ...]) -> None:
    """What a branch edge says about the states of ``typ``: an edge no path takes (a
    condition known false, tested the other way before) holds none; a source's result
    tested for failure (NULL, an error of the result's sign, a count ``<= 0``) holds none
    of the states it made; a result tested non-zero after a call that is no source
    (``if (ret) return ret;``) holds an error code.  ``alias`` maps a variable to the
    object it names, ``held`` gives the states the objects of some expressions have,
    ``errors`` is the section of error values (``PTR_ERR(f) == -EBUSY``: no ``f``)."""
    s, out, neg = test.subject, test.outcome, False
    if isinstance(s, Binary) and s.op == "<" and out == ZERO and positive(s.right) and \
            ctx.must_be(ctx.key(s.left), Code.FALSE):
        forget(ctx, typ)   # for (i = 0; i < 1 << order; i++)
        return
    if isinstance(s, Assign):             # while ((folio = lookup()) != NULL)
        test = replace(test, via=ctx.key(s.target))
        s = ctx.strip(s.value)
    cond = test.via or (ctx.key(s) if isinstance(s, (Name, Member, Deref)) else None)
    if isinstance(s, Binary) and s.op == "==" and out == NONZERO and any(
            nonzero(x) for x in (s.left, s.right)):     # err == -EEXIST: err != 0
        cond = next((ctx.key(x) for x in (s.left, s.right)
                     if isinstance(x, (Name, Member))), None)
    pair = pair_of(s) if cond is None and out in (NONZERO, ZERO) else None
    if pair is not None:                  # if (folio != fault_folio) ... twice
        cond, out = pair, out
    if cond is not None and out in (NONZERO, ZERO):
        out = NONZERO if isinstance(s, Binary) and pair is None else out
        seen = ctx.ghost("tested", cond) if pair is not None else None
        if ctx.must_be(cond, Code.FALSE if out == NONZERO else Code.TRUE) or \
                ctx.must_be(seen, out != NONZERO):
            forget(ctx, typ)     # no path takes this edge
            return
        ctx.set(seen, out == NONZERO)     # what a reference taken from here knows
        correlate(ctx, typ, cond, out == NONZERO)
        if pair is not None and out == NONZERO:    # ret == A: not where ret = B held
            ctx.rewrite(typ, lambda _, r: None if any(
                t and other_constant(c, pair) for c, t in r.conds) else r)
    if isinstance(s, Binary):             # ret == 1, ret == -ENOENT: its value is known
        if s.op != "==" or not any(nonzero(x) for x in (s.left, s.right)):
            return
        sides = [x for x in (s.left, s.right) if not nonzero(x)]
        call, subject = (ctx.call_of(sides[0]), ctx.key(sides[0])) if sides else (None, None)
        neg = any(isinstance(x, Unary) for x in (s.left, s.right))
        if out == NONZERO and neg and isinstance(side := ctx.strip(sides[0]) if sides else
                                                 None, Call) and side.args and \
                ctx.models.get(errors, side.callee):   # PTR_ERR(f) == -EBUSY
            forget(ctx, typ, {r for _, r in held(side.args[:1])})
        if out == NONZERO:                # equal: a result of that sign, not 0
            ctx.rewrite(typ, lambda _, r: None if r.result == subject and
                        subject is not None and
                        effect_fails(r.when, NEG if neg else POS) else r)
    else:
        call, subject = ctx.call_of(s), test.via or (
            ctx.result_key(s) if isinstance(s, Call) else ctx.key(s))
    if test.via and out in (NONZERO, NEG) and call is not None and not any(
            ctx.models.get(sec, call.callee) for sec in sources):
        ctx.add(test.via, Code.ERRNO)         # if (ret) return ret;  an error code
    # A source's result says no (NULL, an error, 0 references): nothing held here.
    forget(ctx, typ, {r for k, r in ctx.each(typ) if (
        (r.result == subject and (out == ZERO and not neg if isinstance(s, Binary)
                                  else effect_fails(r.when, out))) or
        (not isinstance(s, Binary) and out in (ZERO, NEG, NONPOS) and (
            r.count == subject or (out == ZERO and subject is not None and k in (
                subject, alias.get(subject))))))})


def assign(ctx: Context, typ: type[Any], target: str, value: Expr, alias: dict[str, str],
           kept: Callable[[Any, Call], bool], errors: str) -> None:
    """``target = value`` for the states of ``typ``: tests of the old value are stale (a
    state made by this very call, ``kept(state, call)``, keeps its result); a constant is
    a known truth of ``target`` on this path, an error value makes it an error code (the
    objects ``alias`` ties to ``target`` are lost to it), a constant name a value tested
    later (``ret = VM_FAULT_LOCKED`` ... ``ret != VM_FAULT_LOCKED``)."""
    for k in [k for k, _ in ctx.tracked() if isinstance(k, Ghost) and k.name == "tested"
              and mentions(k.arg, target)]:
        ctx.kill(k)                                 # tests of the old value
    stale = {r for _, r in ctx.each(typ) if (any(
            mentions(c, target) for c, _ in r.conds) or target in (r.count, r.result, *r.lost)) and not (
            isinstance(value, Call) and (r in ctx.states(target) or (
                r.result == target and kept(r, value))))}
    ctx.rewrite(typ, lambda _, r: r if r not in stale else replace(  # stale tests
        r, conds=frozenset((c, t) for c, t in r.conds if not mentions(c, target)),
        count="?" if r.count == target else r.count,
        result=None if r.result == target else r.result, lost=r.lost - {target}))
    if (truth := truth_of(value)) is not None:       # 0, NULL, true, MC_TARGET_NONE
        ctx.set(target, Code.TRUE if truth else Code.FALSE)
        correlate(ctx, typ, target, truth)
    elif error_value(ctx, value, errors):
        ctx.add(target, Code.ERRNO)     # x = y: what y holds came along
        # page = ERR_PTR(ret): no longer the folio here
        near = {k for k, v in alias.items() if v == target} | {alias.get(target, target)}
        lost = {r for _, r in ctx.each(typ) if near & set(holders(ctx, typ, r)) - {target}}
        ctx.rewrite(typ, lambda _, r: replace(r, lost=r.lost | {target}) if r in lost else r)
    elif isinstance(value, Name) and value.id.isupper():    # ret = MIGRATEPAGE_SUCCESS
        ctx.rewrite(typ, lambda _, r: replace(r, conds=r.conds | {(target, None)}))
    if isinstance(value, Name) and value.id.isupper() and (
            pair := pair_of(Binary("==", Name(target), value))) is not None:
        ctx.set(ctx.ghost("tested", pair), True)     # ret == VM_FAULT_LOCKED here
        correlate(ctx, typ, pair, True)



def nonzero(e: Expr) -> bool:
    return bool(int_literal(e)) or (isinstance(e, Unary) and e.op == "-")


def pair_of(e: Expr) -> str | None:
    """``a == b`` of two variables, as one condition (``a==b``, names in order)."""
    if isinstance(e, Binary) and e.op == "==" and isinstance(e.left, Name) and \
            isinstance(e.right, Name) and e.left.value is None and e.right.value is None:
        return "==".join(sorted((e.left.id, e.right.id)))
    return None


def other_constant(c: Any, pair: str) -> bool:
    """``c`` and ``pair`` compare one variable with two different constants (``ret==A``,
    ``ret==B``): distinct constant names are taken as distinct values."""
    def split(x: Any) -> tuple[str, str] | None:
        sides = x.split("==") if isinstance(x, str) else []
        consts = [y for y in sides if y.isupper()]
        return (next(y for y in sides if y not in consts), consts[0]) \
            if len(sides) == 2 and len(consts) == 1 else None
    a, b = split(c), split(pair)
    return a is not None and b is not None and a[0] == b[0] and a[1] != b[1]


def mentions(cond: Any, target: str) -> bool:
    """A condition (a variable, or ``a==b``) reads ``target``."""
    return cond == target or (isinstance(cond, str) and target in cond.split("=="))


def positive(e: Expr) -> bool:
    """A bound that is at least 1: a positive constant, or one shifted left (``1U << n``)."""
    if isinstance(e, Binary) and e.op == "<<":
        e = e.left
    return (int_literal(e) or 0) > 0


def truth_of(e: Expr) -> bool | None:
    """The truth of a constant: a literal, ``true``/``false``/``NULL``, or an enumeration
    constant of known value; None for anything else."""
    if isinstance(e, Literal) and e.text in ("true", "false", "NULL"):
        return e.text == "true"
    v = int_literal(e)
    return None if v is None else v != 0
