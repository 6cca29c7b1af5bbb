"""Outcomes of tested values, the one normal form of a branch condition, and how a
conditional effect is decided on the edge where it holds.

``when`` in a model names the return value on which its effect holds:

=========  =======================================================================
always     the call has the effect (told at the call)
nonzero    true / non-NULL / non-zero (``folio_try_get()``)
zero       0 = success (``arch_make_folio_accessible()``); ``>= 0`` counts as success
positive   ``> 0`` (an API returning 1 for "reference taken", 0 or ``< 0`` otherwise)
negative   ``< 0`` (an error code)
=========  =======================================================================

A conditional effect is told three ways: :attr:`Effect.TRIED` at the call (the checker
may check its preconditions there), :attr:`Effect.DONE` on each branch edge where the
tested result says it happened, :attr:`Effect.FAILED` on each edge where it did not.  A
section marked ``ASSUMED`` is told ``DONE`` at the call and ``FAILED`` on the edges
where it did not happen (a call whose result is never tested is taken to succeed).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from analyzer.engine.keys import strip
from analyzer.ir import Binary, Call, Expr, Literal, Name, Unary, fast_init

T = TypeVar("T")
ZERO_LITERALS = frozenset({"0", "NULL", "false", "0UL", "0L", "0U", "0ULL", "0LL"})

# Outcomes of a tested value on one edge.
NONZERO, ZERO, NEG, NONNEG, POS, NONPOS = "nonzero", "zero", "neg", "nonneg", "pos", "nonpos"
_FLIP = {NONZERO: ZERO, ZERO: NONZERO, NEG: NONNEG, NONNEG: NEG, POS: NONPOS, NONPOS: POS}
_ORDER = {"<": (NEG, NONNEG), ">=": (NONNEG, NEG), ">": (POS, NONPOS), "<=": (NONPOS, POS)}
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
MIRROR = _MIRROR                # the operator with its sides swapped
NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
COMPARE = ("==", "<", "<=", ">", ">=")


class Effect(Enum):
    DONE = "done"            # the effect happened here
    TRIED = "tried"          # a conditional effect's call: decided on the branch edges
    FAILED = "failed"        # on this edge, the conditional effect did not happen


def effect_holds(when: str, outcome: str) -> bool:
    """Whether a model's ``when`` holds for a tested outcome (the engine's decision; no
    checker calls this).

    Kernel convention: a call tested ``>= 0`` (or false on ``< 0``) returned success,
    which for a "returns 0 on success" API is zero."""
    if when == "always":
        return True
    if when == "nonzero":
        return outcome in (NONZERO, NEG, POS)
    if when == "positive":
        return outcome == POS
    if when == "negative":
        return outcome == NEG
    return outcome in (ZERO, NONNEG)


def effect_fails(when: str, outcome: str) -> bool:
    """Whether a tested outcome says the effect did *not* happen.  Besides where it holds,
    an outcome may leave it open: a tri-state count (``positive``) tested non-zero or
    ``>= 0`` may still be one; the engine then tells neither."""
    if when == "positive":
        return outcome in (ZERO, NEG, NONPOS)
    return not effect_holds(when, outcome)


def signed_test(cond: Expr, truth: bool, transparent: frozenset[str],
                bind: dict[str, Call]) -> Test | None:
    """``x == 1`` or ``x == -ENOENT`` on its true edge: ``x`` is positive (negative) there,
    the test of the call ``x`` holds (``via`` names the variable)."""
    return signed_of(normalize(cond, NONZERO if truth else ZERO, transparent), transparent,
                     bind)


def signed_of(normal: tuple[Expr, str], transparent: frozenset[str],
              bind: dict[str, Call]) -> Test | None:
    """:func:`signed_test` of a condition already in normal form (:func:`normalize`)."""
    e, outcome = normal
    if not (isinstance(e, Binary) and e.op == "==" and outcome == NONZERO):
        return None
    for const, other in ((e.right, e.left), (e.left, e.right)):
        const = strip(const, transparent)
        sign = NEG if isinstance(const, Unary) and const.op == "-" else \
            POS if (int_literal(const) or 0) > 0 else None
        other = strip(other, transparent)
        if sign is None:
            continue
        if isinstance(other, Name) and other.id in bind:
            return Test(bind[other.id], sign, via=other.id)
        return Test(other, sign) if isinstance(other, Call) else None
    return None


@fast_init
@dataclass(frozen=True, slots=True)
class Test:
    """On this edge, ``subject`` evaluated to ``outcome``: the normal form of a branch
    condition (no ``!``, no comparison with 0, ``a != b`` as ``a == b`` with the outcome
    flipped).  When the subject is a call whose result was first stored in a variable,
    ``via`` names that variable."""

    subject: Expr
    outcome: str
    via: str | None = None

    @property
    def true(self) -> bool | None:
        """The truth of the subject on this edge, when it is a truth (not an order)."""
        return {NONZERO: True, ZERO: False}.get(self.outcome)


def is_zero(e: Expr) -> bool:
    """``0``, ``NULL``, ``false``, or an enumeration constant equal to 0."""
    return (isinstance(e, Literal) and e.text in ZERO_LITERALS) or (
        isinstance(e, Name) and e.value == 0)


def normalize(e: Expr, outcome: str, transparent: frozenset[str],
              zero: bool = True) -> tuple[Expr, str]:
    """``e`` evaluated to ``outcome``, in normal form: the subject without ``!``,
    ``== 0``/``!= 0``, an ordering with 0 turned into a sign outcome, ``!=`` as ``==``.
    With ``zero`` False, comparisons with 0 are kept (the truth of a comparison: ``!``
    and ``!=`` only)."""
    e = strip(e, transparent)
    while True:
        if isinstance(e, Unary) and e.op == "!":
            e, outcome = strip(e.operand, transparent), _FLIP[outcome]
            continue
        if zero and isinstance(e, Binary) and e.op in ("==", "!=") and (
                is_zero(e.right) or is_zero(e.left)):
            if e.op == "==":                      # "x == NULL" holds: x is zero
                outcome = _FLIP[outcome]
            e = strip(e.left if is_zero(e.right) else e.right, transparent)
            continue
        break
    if zero and isinstance(e, Binary) and e.op in _ORDER and (
            is_zero(e.right) or is_zero(e.left)):
        op = e.op if is_zero(e.right) else _MIRROR[e.op]
        subject = e.left if is_zero(e.right) else e.right
        yes, no = _ORDER[op]
        e, outcome = strip(subject, transparent), (yes if outcome == NONZERO else no)
    elif isinstance(e, Binary) and e.op == "!=":
        e, outcome = Binary("==", e.left, e.right, e.span), _FLIP[outcome]
    return e, outcome


def branch_test(cond: Expr, truth: bool, transparent: frozenset[str],
                bind: dict[str, Call]) -> Test:
    """The normal form of ``cond`` on its ``truth`` edge; a variable that holds a call's
    result on every path is replaced by the call (``via`` names it)."""
    return test_of(normalize(cond, NONZERO if truth else ZERO, transparent), bind)


def test_of(normal: tuple[Expr, str], bind: dict[str, Call]) -> Test:
    """:func:`branch_test` of a condition already in normal form (:func:`normalize`)."""
    e, outcome = normal
    if isinstance(e, Name) and e.id in bind:
        return Test(bind[e.id], outcome, via=e.id)
    return Test(e, outcome)


def int_literal(e: Expr) -> int | None:
    """The value of an integer literal (``1``, ``0x2UL``) or of an enumeration constant
    the frontend resolved, else None."""
    if isinstance(e, Name):
        return e.value
    if not isinstance(e, Literal):
        return None
    try:
        return int(e.text.rstrip("uUlL"), 0)
    except ValueError:
        return None


def atoms(cond: Expr, transparent: frozenset[str]) -> Iterator[tuple[Expr, bool]]:
    """The atoms of a boolean condition with their polarity (``True``: the condition
    is true when the atom is), through ``!``, ``&&`` and ``||``, left to right."""
    stack = [(cond, True)]
    while stack:
        top, positive = stack.pop()
        e = strip(top, transparent)
        if isinstance(e, Unary) and e.op == "!":
            stack.append((e.operand, not positive))
        elif isinstance(e, Binary) and e.op in ("&&", "||"):
            stack += [(e.right, positive), (e.left, positive)]
        else:
            yield e, positive


def oriented(e: Binary, left: Callable[[Expr], T | None]) -> tuple[T, str, Expr] | None:
    """A comparison read with the side ``left`` accepts on the left: ``(what left
    returned, the operator, the other side)``; ``1 < x`` is ``x > 1``."""
    if (got := left(e.left)) is not None:
        return got, e.op, e.right
    if (got := left(e.right)) is not None:
        return got, _MIRROR[e.op], e.left
    return None


def count_trip(op: str, other: Expr) -> bool | None:
    """What makes the refcount test ``count op other`` true that was false: ``True``: a
    higher count (a speculative reference: ``!= 1``, ``> 1``, ``== 2``); ``False``: a zero
    count (a frozen one: ``== 0``, ``< 1``); ``None``: neither."""
    v = int_literal(other)
    if ((op in ("!=", ">") and (v is None or v >= 1)) or (op == ">=" and (v is None or v >= 2))
            or (op == "==" and v is not None and v >= 2)):
        return True
    return False if (op in ("==", "<=") and v == 0) or (op == "<" and v == 1) else None
