"""What a checker sees: the hooks it overrides, the typed events the engine delivers, and
the :class:`Context` it reads and writes typestates through.

Events come from the models: the engine looks each call up once and, for every model of
the callee whose section a checker subscribes to, calls ``on_<event>(ctx, ev)`` with an
:class:`Event` carrying the section's typed entry (``ev.m``), the call, the object the
entry's argument designates and whether the effect happened (see
:mod:`analyzer.engine.effects`).  The section declares its event (``EVENT``; default its
name): ``on_acquire``, ``on_release``, ``on_lockless_read``, ``on_derive``, ``on_recheck``,
``on_lock``/``on_unlock``, ``on_sync``, ``on_teardown``, ``on_io_start``, ...

Engine hooks that no model produces: ``on_entry``, ``on_assign``, ``on_branch`` (the
condition in normal form), ``on_deref``, ``on_store``, ``on_overwrite``, ``on_escape``,
``on_handover`` (:mod:`analyzer.engine.ownership`), ``on_return``, ``on_exit``.
``on_call(ctx, call, result)`` is still called for every call (for checkers written
against the older, untyped API).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar

from analyzer.engine.effects import (
    COMPARE,
    NEGATE,
    NONZERO,
    ZERO,
    Effect,
    Test,
    atoms,
    normalize,
    oriented,
)
from analyzer.engine.keys import (
    Alias,
    Attached,
    Ghost,
    Key,
    Tag,
    access_key,
    depends_on,
    element_owner,
    strip,
)
from analyzer.ir import (
    AddrOf,
    Binary,
    Call,
    Decl,
    Deref,
    Expr,
    Function,
    Index,
    Literal,
    Member,
    Name,
    Return,
    Span,
    Unary,
    fast_init,
    walk,
)
from analyzer.models import Model, Models
from analyzer.models.schema import Section
from analyzer.result import Finding, Step
from analyzer.rule import Rule

#: The tag under which a variable's possible comparisons ride (:meth:`Context.held`).
HOLDS = "holds comparison"
ADDRESS = "holds member address"         # ``head = &folio->page``

Trail = tuple[Step, ...]
M = TypeVar("M", bound=Section)
S = TypeVar("S")
#: A summarized ``when`` on the other truth of a returned test (``return !ok(x)``).
_OTHER_TRUTH = {"nonzero": "zero", "zero": "nonzero"}


@fast_init
@dataclass(frozen=True, slots=True)
class Compared:
    """A variable holding the truth of an equality test (``changed = a != b`` holds
    ``a == b`` when false): the engine's state under ``Tag(variable, "compare")``."""

    test: Binary               # always ``==``
    equal_if_true: bool


class Held(Enum):
    """Whether a lock kind (spin, rcu) is held: the engine tracks it for every checker."""

    YES = "held"
    NO = "not held"


class Link(Enum):
    """The state of the engine's relation keys (:meth:`Context.link`, :meth:`Context.attach`)."""

    SAME = "same object"                # Alias(a, b): a and b name one object
    ATTACHED = "attached to a carrier"  # Attached(carrier, obj)


class Origin(Enum):
    """Where an object found by a lockless read comes from, as far as this function
    knows (the one lockless-read policy; each checker picks the origins it trusts)."""

    LOCKLESS = "found without a lock"          # no spinlock held; an RCU-style lookup
    #                                             inside the function's own RCU section
    MAYBE_LOCKED = "RCU-style lookup outside this function's RCU section"
    LOCKED = "read under a spinlock"           # whatever it designates is stable


@fast_init
@dataclass(frozen=True, slots=True)
class Event(Generic[M]):
    """One model's effect at one call (or on one branch edge after it)."""

    m: M                        # the section's typed entry
    call: Call
    effect: Effect
    result: str | None          # the call's result: its key at the call, on an edge the
    #                             variable that holds it (or the call's key)
    via: str | None             # on an edge: the variable the tested result was stored in
    obj: Expr | None            # the argument the entry's ``arg`` names, unwrapped
    key: str | None             # its access path
    origin: Origin | None = None    # lockless reads only
    edge: bool = False              # told on a branch edge after the call
    attached: Step | None = None    # deferred to a carrier's submission: where it was added

    @property
    def api(self) -> str:
        return self.call.callee or ""

    @property
    def span(self) -> Span:
        return self.call.span

    @property
    def done(self) -> bool:
        return self.effect is Effect.DONE

    @property
    def at_call(self) -> bool:
        """Told at the call (not on a branch edge)."""
        return not self.edge

    @property
    def conditional(self) -> bool:
        return self.m.conditional()

    @property
    def pending(self) -> str:
        """The result value on which the effect holds while it is still undecided: the
        entry's ``when`` at the call, ``always`` on the edge that decided it.  A state made
        at the call keeps it with the variable of the result (:mod:`analyzer.engine.values`
        decides it where that variable is tested)."""
        return "always" if self.edge else self.m.holds_on()


@dataclass(frozen=True, slots=True)
class Move:
    """A typestate transition that an event makes on its object, declared in a checker's
    ``moves`` and applied by the engine (:meth:`Context.move`) before the checker's hook:
    ``table`` maps old state -> new (missing: unchanged; no state: the checker's
    ``untracked``); ``says`` is the step (``{}``: the API).  It applies where the event's
    effect is ``on`` (DONE; FAILED: the edges where it did not happen); with ``edge`` only
    on a branch edge; with ``needs``/``unless`` only when the entry's boolean field is
    set / not set; ``elements``: an untracked array element first takes its array's;
    ``result``: to what the call fills instead (:meth:`Context.receiver`; on an edge: the
    variable the tested result was stored in); ``flag`` = (name, value): not where the
    flag is known to differ."""

    table: Mapping[Any, Any]
    says: str
    on: Effect = Effect.DONE
    edge: bool = False
    needs: str | None = None
    unless: str | None = None
    elements: bool = True
    result: bool = False
    flag: tuple[str, bool] | None = None

    def applies(self, ev: Event[Any]) -> bool:
        return (ev.effect is self.on and (ev.edge or not self.edge)
                and (not self.result or (ev.via if ev.edge else ev.result) is not None)
                and (self.needs is None or bool(getattr(ev.m, self.needs)))
                and (self.unless is None or not getattr(ev.m, self.unless)))


@fast_init
@dataclass(frozen=True, slots=True)
class Escape:
    """A tracked object passed to a call that may keep or change it (see
    :meth:`analyzer.engine.fixpoint` for the policy)."""

    key: str
    call: Call
    arg: Expr


@fast_init
@dataclass(frozen=True, slots=True)
class Handover:
    """``call`` may take over the references of what ``args`` name (the policy:
    :mod:`analyzer.engine.ownership`)."""

    call: Call
    args: tuple[Expr, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class FlagTest:
    """On this edge the bit ``flag`` (a ``flag`` model: ``[flag.FOLL_PIN]``) of the value
    ``key`` is ``set`` or clear: ``if (flags & FOLL_PIN)``, ``if (!(gup_flags & FOLL_PIN))``."""

    flag: str
    key: str | None
    set: bool
    span: Span


@fast_init
@dataclass(frozen=True, slots=True)
class Source:
    """A place a lockless walker must re-check: ``ptep``, ``xas``; or, ``membership``, a
    page's folio (``page_folio(page)``: the page may have left the folio)."""

    key: str
    membership: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class Recheck:
    """On this branch edge a lockless source was re-read and found ``equal`` (unchanged)
    or not: by an equality with the value first read (``first``, the tracked object it
    stands for: ``pte_val(pte) != pte_val(ptep_get(ptep))``, ``folio != xas_reload(&xas)``,
    also through a variable holding the comparison) or by a ``revalidate`` call
    (``first`` None; ``handed``: the tracked objects passed to it)."""

    source: Source
    equal: bool
    span: Span
    first: str | None = None
    handed: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- the state
class Facts:
    """The abstract state at one program point, for one checker."""

    __slots__ = ("bind", "objs")

    def __init__(self, objs: dict[Key, dict[Any, Trail]] | None = None,
                 bind: dict[str, Call] | None = None):
        self.objs: dict[Key, dict[Any, Trail]] = objs if objs is not None else {}
        self.bind: dict[str, Call] = bind if bind is not None else {}

    def copy(self) -> Facts:
        return Facts(dict(self.objs), dict(self.bind))

    def size(self) -> int:
        """The states held, over every key (at least 1: an empty state is visited too)."""
        return 1 + sum(map(len, self.objs.values()))

    def merge(self, other: Facts) -> bool:
        """Union ``other`` into self; True when something new arrived."""
        changed = False
        objs = self.objs
        for key, states in other.objs.items():
            mine = objs.get(key)
            if mine is None:
                objs[key] = states
                changed = True
                continue
            if mine is states:                  # shared since a copy: nothing new
                continue
            new = {s: t for s, t in states.items() if s not in mine}
            if new:
                objs[key] = {**mine, **new}
                changed = True
        bind, theirs = self.bind, other.bind
        for var in list(bind):
            if (got := theirs.get(var)) is not bind[var] and got != bind[var]:
                del bind[var]
                changed = True
        return changed


# --------------------------------------------------------------------------- checker API
class Checker:
    """Base class of a checker: override the hooks you need; each opens with a guard.

    ``starter_sections`` are the model sections whose APIs start every story the checker
    tells (a lockless read, a teardown, ...): a function naming none of them cannot
    matter to the checker and is not walked, and a file naming none of any checker's is
    not even parsed by libclang (the cheap pre-filters)."""

    rules: tuple[Rule, ...] = ()
    #: Each a section name, or a name with the values its entries must have
    #: (``("acquire", {"kind": "speculative"})``).
    starter_sections: tuple[str | tuple[str, dict[str, Any]], ...] = ()
    #: Sections in order of precedence: of a call's models in these sections only the
    #: first is told at the call (a helper summarized as a page source and as an I/O
    #: start is the source); ``edge_precedence`` the same for what is decided on a
    #: branch edge.  Sections not listed are all told, in the order of their declaration.
    precedence: tuple[str, ...] = ()
    edge_precedence: tuple[str, ...] = ()
    #: Whether the engine records the comparisons a variable may hold (``ok = a == b``,
    #: accumulated ``bad |= a != b``) for :meth:`Context.held`, and the member address it
    #: holds (``head = &folio->page``) for ``object_of(e, through_vars=True)``.
    holds_comparisons: bool = False
    #: Declarative transitions: event -> the :class:`Move` s it makes (a hook is optional).
    moves: ClassVar[Mapping[str, tuple[Move, ...]]] = {}
    untracked: ClassVar[Any] = None
    #: The state every parameter starts in (None: untracked until something happens to it).
    params: ClassVar[Any] = None
    #: Moves on the edges where a ``flag`` model's bit becomes known: (name, set) -> a
    #: Move applied to every tracked path.
    flag_moves: ClassVar[Mapping[tuple[str, bool], Move]] = {}
    #: Assignments link the paths that name one object (:meth:`Context.link`): ``folio =
    #: page_folio(page)``, ``page = &folio->page``, and ``p = q`` when ``q`` is tracked.
    links: ClassVar[bool] = False
    #: A derived value (``page_folio(page)``) and an untracked variable assigned an
    #: expression take the states of what it designates (the array of ``pages[i]``, the
    #: object of ``&folio->page``, what a derivation or a get returning its object names).
    inherits: ClassVar[bool] = False
    #: Summaries by the exact states at the exit: of a parameter (``param_summaries``: the
    #: entry gets ``arg`` = its index) and of everything returned (``return_summaries``;
    #: a returned value stands for the object it designates): states -> (section, values).
    param_summaries: ClassVar[Mapping[frozenset[Any], tuple[str, Mapping[str, Any]]]] = {}
    return_summaries: ClassVar[Mapping[frozenset[Any], tuple[str, Mapping[str, Any]]]] = {}
    #: Sections whose APIs make a function worth walking for its summaries alone (a
    #: helper that drops or re-checks what its caller found), in the same forms.
    summary_sections: tuple[str | tuple[str, dict[str, Any]], ...] = ()
    #: Sections of the file-wide derived facts (``Models.derived``) whose fact about a
    #: function makes it worth walking too (a parameter its callers pass unheld).
    fact_sections: tuple[str, ...] = ()

    def starters(self, models: Models) -> frozenset[str] | None:
        """The API names that start this checker's stories; None: no filter."""
        if not self.starter_sections:
            return None
        return _names(models, self.starter_sections)

    def wants(self, names: frozenset[str], models: Models, fn: str | None = None) -> bool:
        starters = self.starters(models)
        return starters is None or not names.isdisjoint(starters) or not names.isdisjoint(
            _names(models, self.summary_sections)) or any(models.fact(s, fn)
                                                          for s in self.fact_sections)

    def subscriptions(self) -> frozenset[str]:
        """The events this checker has an ``on_<event>`` hook for."""
        cls = type(self)
        got: frozenset[str] | None = cls.__dict__.get("_subscriptions")
        if got is None:
            got = frozenset(n[3:] for n in dir(cls) if n.startswith("on_")
                            and n[3:] not in _ENGINE_HOOKS) | frozenset(cls.moves)
            cls._subscriptions = got  # type: ignore[attr-defined]
        return got

    def overrides(self, hook: str) -> bool:
        return getattr(type(self), hook) is not getattr(Checker, hook)

    def on_entry(self, ctx: Context) -> None: ...
    def on_call(self, ctx: Context, call: Call, result: str | None) -> None: ...
    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None: ...
    def on_branch(self, ctx: Context, test: Test) -> None: ...
    def on_return(self, ctx: Context, ret: Return) -> None: ...
    def on_exit(self, ctx: Context) -> None: ...

    def on_deref(self, ctx: Context, key: str, expr: Expr) -> None:
        """The tracked object ``key`` is accessed through the pointer: ``key->f``,
        ``*key`` or ``key[i]``, read or written (``&key->f`` computes an address only)."""

    def on_overwrite(self, ctx: Context, key: str, span: Span) -> None:
        """The tracked path ``key`` is about to lose its states to an assignment or an
        increment; ``ctx.states(key)`` still has them."""

    def on_store(self, ctx: Context, target: Expr, value: Expr, span: Span) -> None:
        """``value`` is stored into memory (``*p = v``, ``a[i] = v``, ``s->f = v``): the
        target is no plain variable, and may have no access path (``a[(*n)++]``).
        Called before ``on_assign``, while ``value``'s states are still its own."""

    def on_escape(self, ctx: Context, ev: Escape) -> None:
        """A tracked object is passed to a call that is no object-neutral model."""

    def on_handover(self, ctx: Context, ev: Handover) -> None:
        """A call may take over the references of what ``ev.args`` name (the policy:
        :mod:`analyzer.engine.ownership`)."""

    def on_recheck(self, ctx: Context, ev: Recheck) -> None:
        """A lockless source was re-checked on this edge (see :class:`Recheck`)."""

    def on_lost(self, ctx: Context, key: Key, state: Any, span: Span | None) -> None:
        """The last copy of ``state`` is lost: ``key``, the only key holding it, is
        overwritten at ``span``, or the function returns (``span`` None; told for the
        first key holding it)."""

    def on_compare(self, ctx: Context, test: Binary, equal: bool) -> None:
        """On this branch edge the equality ``test`` (``a == b``) is known ``equal`` or
        not: a condition ``a == b`` or ``a != b`` (through ``!``), or a variable that
        holds the truth of one on every path it was assigned on (``changed = a != b;
        if (changed)``)."""


    def on_flag(self, ctx: Context, ev: FlagTest) -> None:
        """A branch edge on which a modeled flag bit is known set or clear."""


def _names(models: Models, sections: tuple[str | tuple[str, dict[str, Any]], ...]
           ) -> frozenset[str]:
    return models.union(sections)


_ENGINE_HOOKS = frozenset({"entry", "call", "assign", "branch", "return", "exit", "deref",
                           "overwrite", "store", "escape", "handover", "compare", "lost", "recheck",
                           "flag"})


@dataclass
class FunctionMemo:
    """What the runs of one function's checkers share (with the same models): what
    depends on the function's IR alone, made once.  By expression id, the expression
    held with it (so that the id stays that expression's)."""

    keys: dict[int, tuple[Expr, str | None]] = field(default_factory=dict)  # access paths
    plans: dict[int, tuple[Any, Any]] = field(default_factory=dict)     # the engine's
    normals: dict[tuple[int, bool], tuple[Expr, tuple[Expr, str]]] = field(
        default_factory=dict)                 # a branch condition's normal form per edge
    declared: frozenset[str] | None = None


class Context:
    """What a checker sees of the engine during one hook call."""

    def __init__(self, fn: Function, models: Models, checker: Checker,
                 memo: FunctionMemo | None = None):
        self.function = fn
        self.memo = memo or FunctionMemo()
        self.models = models
        self.checker = checker
        self.transparent = models.names("transparent")
        self.facts = Facts()
        self.reporting = False
        self.findings: dict[tuple[str, str, int, int], Finding] = {}
        self.dest: dict[int, str | None] = {}   # id(call) -> variable it is assigned to
        self._keys = self.memo.keys
        self.summaries: dict[tuple[str, tuple[tuple[str, Any], ...]], Model] = {}
        #: A checker's own per-run state (one function, one checker), e.g. what the
        #: final pass has reported so far; empty at every run's start.
        self.scratch: dict[str, Any] = {}

    def name_of(self, call: Call, result: str | None) -> str:
        """How messages name a call's result: the variable it is assigned to, if any."""
        return self.dest.get(id(call)) or result or f"{call.callee}()"

    # -- access paths
    def key(self, e: Expr | None) -> str | None:
        if e is None:
            return None
        if type(e) is Name:                 # its name (as access_key spells it)
            return e.id
        hit = self._keys.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        k = access_key(e, self.transparent)
        self._keys[id(e)] = (e, k)          # holding e keeps its id unique meanwhile
        return k

    def strip(self, e: Expr) -> Expr:
        return strip(e, self.transparent)

    def normal(self, e: Expr, outcome: str, zero: bool = True) -> tuple[Expr, str]:
        """``e`` evaluated to ``outcome``, in the normal form of branch tests (with
        ``zero`` False, the truth of a comparison: only ``!`` and ``!=`` are undone)."""
        return normalize(e, outcome, self.transparent, zero)

    def atoms(self, cond: Expr) -> list[tuple[Expr, bool]]:
        """The atoms of a boolean condition with their polarity (through ``!``, ``&&``,
        ``||``)."""
        return list(atoms(cond, self.transparent))

    def ghost(self, name: str, arg: str = "") -> Ghost:
        """The key of per-function state ``name`` (about ``arg``), e.g. a lock kind."""
        return Ghost(name, arg)

    def spec(self, section: str, callee: str | None) -> Any:
        """The typed entry of ``callee`` in ``section`` (a rule file's or a summary's),
        else None: for checkers that ask about a call they did not get an event for (a
        returned one)."""
        m = self.models.get(section, callee)
        return m.spec if m is not None else None

    def derived_from(self, e: Expr) -> Expr | None:
        """The argument a ``derive`` model says ``e``'s value comes from (``page_folio(p)``
        -> ``p``), else None."""
        if isinstance(e, Call) and (m := self.models.get("derive", e.callee)) is not None:
            return self.arg(e, m.get("from"))
        return None

    def derivation(self, e: Expr | None, limit: int = 8) -> list[Expr]:
        """``e`` and what it is derived from, nearest first (``pte_val(ptep_get(p))`` ->
        ``[pte_val(..), ptep_get(p)]``): the engine's one walk of a derivation chain."""
        out: list[Expr] = []
        while e is not None and len(out) < limit:
            e = self.strip(e)
            out.append(e)
            e = self.derived_from(e)
        return out

    def object_of(self, e: Expr | None, through_vars: bool = False) -> str | None:
        """The object whose reference count ``e`` is about: through derivations
        (``page_folio(page)``; with ``through_vars`` also one held in a variable,
        ``folio = page_folio(page)``) and member addresses (``&folio->page``) to its path."""
        seen: set[str] = set()              # page = compound_head(page) binds page to itself
        while e is not None:
            e = self.strip(e)
            if through_vars and isinstance(e, Name) and e.id not in seen:
                seen.add(e.id)
                addr = self.states(Tag(e.id, ADDRESS))
                held = self.bound(e) or (next(iter(addr)) if len(addr) == 1 else None)
                if held is not None and (self.derived_from(held) is not None
                                         or isinstance(held, AddrOf)):
                    e = held
                    continue
            inner = self.derived_from(e)
            if inner is not None:
                e = inner
            elif isinstance(e, AddrOf) and isinstance(e.operand, Member):
                e = e.operand.base
            else:
                break
        return self.key(e)

    def count_read(self, e: Expr) -> tuple[Call, str | None] | None:
        """The exact count read (a ``refcount_read`` model) that ``e`` is, holds in a
        variable, or adds a constant to, with the object whose count it reads."""
        e = self.strip(e)
        if isinstance(e, Name):
            e = self.bound(e) or e
        if isinstance(e, Call) and (m := self.models.get("refcount_read", e.callee)):
            return e, self.object_of(self.arg(e, m.get("arg")))
        if isinstance(e, Binary) and e.op in ("+", "-"):
            return self.count_read(e.left) or (self.count_read(e.right) if e.op == "+"
                                               else None)
        return None

    def count_tests(self, cond: Expr) -> Iterator[tuple[tuple[Call, str | None], str, Expr]]:
        """The exact count comparisons that make ``cond`` true, as ``(count_read, op,
        other)`` with the count on the left and ``op`` the relation that then holds:
        through ``!``/``&&``/``||``, the truth of a count (``!= 0``) and variables holding
        comparisons (:meth:`held`)."""
        for e, positive in self.atoms(cond):
            v, outcome = self.normal(e, NONZERO)
            truth = positive == (outcome != ZERO)
            for c in self.held(v):
                yield from self.count_tests(c if truth else Unary("!", c))
            found: tuple[tuple[Call, str | None], str, Expr] | None = None
            if isinstance(e, Binary) and e.op in (*COMPARE, "!="):
                found = oriented(e, self.count_read)
            elif (read := self.count_read(e)) is not None:
                found = (read, "!=", Literal("0"))
            if found is not None:
                yield found[0], found[1] if positive else NEGATE[found[1]], found[2]

    def tracked_value(self, e: Expr) -> str | None:
        """The tracked object ``e`` stands for, through value conversions along its
        derivation (``pte_val(pte)`` -> ``pte``)."""
        for x in self.derivation(e):
            key = self.designated(x)
            if key is not None:
                return key
        return None

    def reread_source(self, e: Expr) -> Source | None:
        """The source that ``e`` re-reads: a place (``ptep_get(ptep)``, ``*pmdp``,
        ``xas_reload(&xas)``), also through derivations (``pte_val()``, ``pte_page()``);
        else a page's folio membership (``page_folio(page)``)."""
        top = self.strip(e)
        for x in self.derivation(e):
            if isinstance(x, Deref):
                key = self.key(x.operand)
                return Source(key) if key else None
            if not isinstance(x, Call):
                break
            m = self.models.get("reread", x.callee) or self.models.get("lockless_read",
                                                                        x.callee)
            if m is not None and self.models.get("derive", x.callee) is None:
                arg = self.arg(x, m.get("arg", 0))
                if m.get("deref_only") and not isinstance(arg, Deref):
                    return None
                key = self.place(arg)
                return Source(key) if key else None
            if self.models.get("derive", x.callee) is None:
                break
        if isinstance(top, Call) and self.models.get("reread", top.callee) is not None:
            key = self.key(top)
            return Source(key, membership=True) if key else None
        return None

    def revalidated_source(self, call: Call, index: int | None) -> Source | None:
        """The source a ``revalidate`` call re-checks: what its argument (or another
        argument) re-reads, else the place the argument names."""
        arg = self.arg(call, index)
        others = [self.arg(call, i) for i in range(len(call.args)) if i != index]
        for a in [arg, *others]:
            if a is not None and (src := self.reread_source(a)) is not None:
                return src
        key = self.place(arg)
        return Source(key) if key else None

    def declared(self) -> frozenset[str]:
        """The names the function body declares: what dies with the function."""
        got = self.memo.declared
        if got is None:
            got = self.memo.declared = frozenset(
                x.name for x in walk(self.function.body) if isinstance(x, Decl))
        return got

    def call_of(self, e: Expr) -> Call | None:
        """The call ``e`` is, or whose result the variable ``e`` holds on every path."""
        e = self.strip(e)
        return e if isinstance(e, Call) else self.bound(e)

    def made_of(self, e: Expr, carriers: tuple[str, ...] = ()) -> Expr:
        """What a value is made of, through derivations (and the ``from`` of the
        ``carriers`` sections), addresses, members and elements: ``&page_folio(p)->f``
        is ``p``."""
        for _ in range(16):
            e = self.strip(e)
            if isinstance(e, Call) and (m := next((self.models.get(s, e.callee) for s in (
                    "derive", *carriers) if self.models.get(s, e.callee)), None)):
                e = self.arg(e, getattr(m.spec, "from_", None)) or e
            elif isinstance(e, (AddrOf, Deref)):
                e = e.operand
            elif isinstance(e, (Member, Index)):
                e = e.base
            else:
                break
        return e
    def returned_recheck(self, value: Expr) -> tuple[int, bool, Any] | None:
        """What a returned ``value`` says about a parameter's source: ``(its index, the
        truth returned when the source is unchanged, the revalidate model it passes on
        or None)`` for ``return pte_same(*ptep, pte)``, ``return pte_val(pte) !=
        pte_val(ptep_get(ptep))``; else None."""
        params = self.function.params
        test, outcome = self.normal(value, "nonzero", zero=False)
        truth = outcome == "nonzero"
        rv = self.spec("revalidate", test.callee) if isinstance(test, Call) else None
        if rv is not None:
            srcs = [self.revalidated_source(test, rv.arg)]     # type: ignore[arg-type]
        elif isinstance(test, Binary) and test.op == "==":
            srcs = [self.reread_source(b) for b in (test.left, test.right)]
        else:
            return None
        for src in srcs:
            if src is not None and not src.membership and src.key in params:
                return params.index(src.key), truth, rv
        return None

    def derive_states(self, ev: Event[Any], src: Key | None,
                      fn: Any = None) -> None:
        """A ``derive`` event: its result gets every state ``fn(state)`` of ``src`` (the
        object derived from; ``fn`` None: the same state; returning None: not this one),
        the trail extended by the derivation."""
        step = Step(ev.span, f"'{self.name_of(ev.call, ev.result)}' derived from '{src}' by "
                             f"{ev.api}()")
        for s in list(self.states(src)):
            new = s if fn is None else fn(s)
            if new is not None:
                self.add(ev.result, new, (*self.trail(src, s), step))

    def place(self, e: Expr | None) -> str | None:
        """The place an argument names: ``&xas`` and ``xas`` alike; ``*ptep`` is ``ptep``."""
        if e is None:
            return None
        e = self.strip(e)
        if isinstance(e, (AddrOf, Deref)):
            e = e.operand
        return self.key(e)

    def designated(self, e: Expr | None, elements: bool = False,
                   derive: bool = False) -> str | None:
        """The tracked object ``e`` designates: ``e`` itself when tracked, else the object
        it points into (``&folio->page`` -> ``folio``); with ``elements``, the array an
        element belongs to (``pages[i]`` -> ``pages``); with ``derive``, the object it is
        derived from by a ``derive`` model (``page_folio(page)`` -> ``page``)."""
        while e is not None:
            e = self.strip(e)
            key = self.key(e)
            if key is not None and key in self.facts.objs and self.facts.objs[key]:
                return key
            if isinstance(e, AddrOf) and isinstance(e.operand, (Member, Index)):
                inner = e.operand
                e = inner.base if isinstance(inner, Index) or inner.arrow else None
            elif elements and isinstance(e, Index):
                e = e.base
            elif derive and isinstance(e, Call) and self.derived_from(e) is not None:
                e = self.derived_from(e)
            else:
                return None
        return None

    def result_key(self, call: Call) -> str | None:
        """The key of a call's result: its access path (``xas_load(&xas)``), or, when an
        argument has none (``xas_find(&xas, i + 1)``), a temporary named by the call site,
        so the result's states still move into the variable it is assigned to."""
        key = self.key(call)
        if key is None and call.callee is not None and call.callee not in self.transparent:
            hit = self._keys.get(~id(call))         # the temporary's name, made once
            if hit is not None and hit[0] is call:
                return hit[1]
            key = f"{call.callee}(...)@{call.span.line}:{call.span.col}"
            self._keys[~id(call)] = (call, key)
        return key

    def arg(self, call: Call, index: int | None) -> Expr | None:
        if index is None:
            return None
        return self.strip(call.args[index]) if 0 <= index < len(call.args) else None

    def held(self, e: Expr) -> list[Expr]:
        """The comparisons the variable ``e`` may hold here (assigned, or accumulated with
        ``|=``/``&=``/``+=``, on some path); empty for anything else.  Recorded only for a
        checker with ``holds_comparisons``."""
        e = self.strip(e)
        key = self.key(e) if isinstance(e, Name) else None
        return sorted(self.states(Tag(key, HOLDS)), key=lambda c: (c.span.line, c.span.col)) \
            if key is not None else []

    def bound(self, e: Expr | None) -> Call | None:
        """The call whose result the variable ``e`` holds on every path here, if any."""
        e = self.strip(e) if e is not None else None
        return self.facts.bind.get(e.id) if isinstance(e, Name) else None

    # -- typestates
    def states(self, key: Key | None) -> frozenset[Any]:
        if key is None:
            return frozenset()
        return frozenset(self.facts.objs.get(key, ()))

    def may_be(self, key: Key | None, *states: Any) -> bool:
        have = self.facts.objs.get(key, {}) if key is not None else {}
        return any(s in have for s in states)

    def must_be(self, key: Key | None, *states: Any) -> bool:
        have = self.facts.objs.get(key, {}) if key is not None else {}
        return bool(have) and all(s in states for s in have)

    def holds(self, kind: str) -> bool:
        """True when a lock of ``kind`` (``spin``, ``rcu``: the ``lock`` models' kinds)
        taken in this function is held on every path here."""
        return self.must_be(Ghost("lock", kind), Held.YES)

    def flag(self, name: str) -> bool | None:
        """Whether the bit ``name`` (a ``flag`` model) is known set (True) or clear (False)
        on every path here, from the tests of it this function made; else None."""
        got = self.states(Ghost("flag", name))
        return None if len(got) != 1 else Held.YES in got

    def trail(self, key: Key | None, state: Any) -> Trail:
        return self.facts.objs.get(key, {}).get(state, ()) if key is not None else ()

    def set(self, key: Key | None, state: Any, trail: Trail = ()) -> None:
        if key is not None:
            self.facts.objs[key] = {state: trail}

    def add(self, key: Key | None, state: Any, trail: Trail = ()) -> None:
        if key is not None and state not in self.facts.objs.get(key, {}):
            self.facts.objs[key] = {**self.facts.objs.get(key, {}), state: trail}

    def replace(self, key: Key | None, old: Any, new: Any, step: Step | None = None) -> None:
        """Every path where ``key`` is ``old`` now has it ``new`` (trail extended)."""
        have = self.facts.objs.get(key) if key is not None else None
        if not have or old not in have:
            return
        trail = have[old] + ((step,) if step else ())
        rest = {s: t for s, t in have.items() if s != old}
        rest.setdefault(new, trail)
        self.facts.objs[key] = rest  # type: ignore[index]

    def copy_states(self, dst: Key | None, src: Key | None) -> None:
        if dst is None or src is None or src not in self.facts.objs:
            return
        self.facts.objs[dst] = self.facts.objs[src]

    def discard(self, key: Key | None, *states: Any) -> None:
        """Forget these states of ``key`` (and ``key`` itself when none remain)."""
        have = self.facts.objs.get(key) if key is not None else None
        if not have or not any(s in have for s in states):
            return
        rest = {s: t for s, t in have.items() if s not in states}
        if rest:
            self.facts.objs[key] = rest  # type: ignore[index]
        else:
            del self.facts.objs[key]  # type: ignore[arg-type]

    def kill(self, key: Key | None) -> None:
        """Forget ``key`` and every key riding on it (``key->x``, ``*key``, tags)."""
        if key is None:
            return
        objs = self.facts.objs
        if objs:
            # a path through ``key`` spells it: the substring test rejects the others
            dead = [k for k in objs if (not isinstance(k, str) or not isinstance(key, str)
                                        or key in k) and depends_on(k, key)]
            for k in dead:
                del objs[k]
        if key in self.facts.bind:
            del self.facts.bind[key]

    def tracked(self) -> Iterable[tuple[Key, dict[Any, Trail]]]:
        return list(self.facts.objs.items())

    def inherit(self, dst: Key | None, src: Key | None) -> None:
        """``dst`` may now also be in every state ``src`` is in (with its trails)."""
        if dst is not None and dst != src:
            for state in self.states(src):
                self.add(dst, state, self.trail(src, state))

    def transition(self, key: Key, table: Mapping[Any, Any], step: Step,
                   default: Any = None) -> None:
        """Apply a transition table (old state -> new; missing: unchanged) to every state of
        ``key`` (none: ``default``), extending the trail of each changed one by ``step``."""
        have = [(s, self.trail(key, s)) for s in self.states(key)] or [(default, ())]
        new: dict[Any, Trail] = {}
        for s, trail in have:
            t = table.get(s, s)
            new.setdefault(t, trail + ((step,) if t != s else ()))
        if set(new) == {default} and not self.states(key):
            return
        for i, (s, trail) in enumerate(new.items()):
            (self.set if i == 0 else self.add)(key, s, trail)

    def move(self, e: Expr | None, table: Mapping[Any, Any], step: Step, default: Any = None,
             elements: bool = True) -> None:
        """:meth:`transition` the object ``e`` designates under every name it has: its path,
        what it is derived from (``page_folio(page)`` -> ``page``) and every path
        :meth:`link` ed to those.  With ``elements``, an untracked array element
        (``pages[i]``) first takes its array's states."""
        key = self.key(e)
        if key is None:
            return
        if elements and not self.states(key):
            self.inherit(key, self.designated(e, elements=True, derive=True))
        todo: list[str | None] = [key]
        if e is not None and (inner := self.derived_from(self.strip(e))) is not None:
            todo.append(self.key(inner))
        seen: set[str] = set()
        while todo:
            k = todo.pop()
            if k is None or k in seen:
                continue
            seen.add(k)
            self.transition(k, table, step, default)
            todo.extend(self.linked(k))

    # -- one object, several names; objects handed to a carrier
    def link(self, a: str, b: str) -> None:
        """``a`` and ``b`` name one object (``folio = page_folio(page)``, ``page =
        &folio->page``): :meth:`move` applies to both.  Rides on both paths."""
        self.set(Alias(a, b), Link.SAME)
        self.set(Alias(b, a), Link.SAME)

    def linked(self, key: str) -> list[str]:
        """The paths :meth:`link` ed to ``key`` here."""
        return [k.b for k in self.facts.objs if isinstance(k, Alias) and k.a == key
                and Alias(k.b, key) in self.facts.objs]

    def alias_of(self, e: Expr) -> str | None:
        """The path ``e`` is another name for, tracked or not: a path itself, the folio of
        ``&folio->page``, the argument of a ``derive`` model (``page_folio(page)``) or of
        a get that returns its object."""
        e = self.strip(e)
        while isinstance(e, (AddrOf, Call)):
            if isinstance(e, AddrOf) and isinstance(e.operand, Member) \
                    and e.operand.field == "page":
                e = self.strip(e.operand.base)
            elif (inner := self.derived_from(e)) is not None:
                e = inner
            elif isinstance(e, Call) and (m := self.models.get("acquire", e.callee)) \
                    and m.get("returns_object") and (got := self.arg(e, m.get("arg"))):
                e = got                             # folio = try_grab_folio_fast(page, ..)
            else:
                return None
        return self.key(e) if isinstance(e, (Name, Member)) else None

    def attach(self, carrier: str, obj: str, trail: Trail) -> None:
        """``obj`` is handed to ``carrier`` (a page added to a bio) for use later."""
        self.set(Attached(carrier, obj), Link.ATTACHED, trail)

    def detach(self, carrier: str | None) -> list[tuple[str, Trail]]:
        """Everything attached to ``carrier`` (with the trail of its attaching), which now
        carries nothing."""
        got = [k for k in self.facts.objs if isinstance(k, Attached) and k.carrier == carrier]
        out = [(k.obj, self.trail(k, Link.ATTACHED)) for k in got]
        for k in got:
            del self.facts.objs[k]
        return out

    def holder(self, key: str | None) -> str | None:
        """The tracked path holding the states of the object spelled ``key``: itself, else
        the array of an element (``pages[i]``) or the folio of ``&folio->page``."""
        while key:
            if self.states(key):
                return key
            key = element_owner(key)
        return None

    def receiver(self, ev: Event[Any], result: str | None, field: str | None = None) -> str | None:
        """The path a call fills: the argument of the event's object (``&page`` -> ``page``,
        ``pages``), or its ``field`` (``&buf`` -> ``buf.page``, ``buf`` -> ``buf->page``);
        with no object argument, ``result``."""
        if ev.m.OBJ is None or getattr(ev.m, ev.m.OBJ) is None:
            return result
        if isinstance(ev.obj, AddrOf):
            base, sep = self.key(ev.obj.operand), "."
        else:
            base, sep = ev.key, "->"
        return f"{base}{sep}{field}" if base is not None and field else base
    def each(self, typ: type[S], key: Key | None = None) -> list[tuple[Key, S]]:
        """Every ``(key, state)`` whose state is a ``typ``: of one key, or of all."""
        if key is not None:
            return [(key, s) for s in self.facts.objs.get(key, ()) if isinstance(s, typ)]
        return [(k, s) for k, have in self.facts.objs.items() for s in have
                if isinstance(s, typ)]

    def states_of(self, key: Key | None, typ: type[S]) -> list[S]:
        """The states of ``key`` that are a ``typ``."""
        return [s for _, s in self.each(typ, key)] if key is not None else []

    def rewrite(self, typ: type[S], fn: Any, step: Step | None = None) -> None:
        """Map ``fn(key, state)`` over every ``typ`` state: a new state replaces it (the
        trail extended by ``step``), None forgets it, the same state keeps it."""
        for k, s in self.each(typ):
            new = fn(k, s)
            if new is None:
                self.discard(k, s)
            elif new != s:
                self.replace(k, s, new, step)

    def compared(self, var: str | None) -> list[Compared]:
        """The equality tests ``var`` may hold the truth of (see :meth:`on_compare`)."""
        return self.states_of(Tag(var, "compare"), Compared) if var is not None else []

    # -- summaries
    def summarize(self, section: str, **values: Any) -> None:
        """Record a fact about the analyzed function for its callers (final pass only):
        the same shape as a rule-file entry ``[section.<this function>]``."""
        if not self.reporting:
            return
        m = Model.make(section, self.function.name, values, "summary")
        self.summaries.setdefault((section, m.values), m)

    def summarize_returned(self, section: str, truth: bool, like: Any = None,
                           **values: Any) -> None:
        """:meth:`summarize` an effect this function reports through its return value:
        the one the model ``like`` has when the function returns its result (``truth``)
        or its negation; without ``like``, an effect that holds when it returns true
        (``truth``) or false."""
        when = like.when if like is not None else "nonzero"
        self.summarize(section, when=when if truth else _OTHER_TRUTH.get(when, "nonzero"),
                       **values)

    def summarize_param(self, section: str, key: Key | None, like: Any = None,
                        **values: Any) -> None:
        """:meth:`summarize` a fact about the parameter ``key`` (``arg`` = its index);
        nothing when ``key`` is no parameter.  ``like``: the model entry whose effect the
        function passes on (a conditional one's ``when`` with it)."""
        params = self.function.params
        if like is not None and like.conditional():
            values.setdefault("when", like.holds_on())
        if isinstance(key, str) and key in params:
            self.summarize(section, arg=params.index(key), **values)

    # -- reporting
    def report(self, rule: Rule, span: Span, message: str, trail: Trail = (),
               related: tuple[Step, ...] = ()) -> None:
        if not self.reporting:
            return
        k = (rule.id, span.file, span.line, span.col)
        if k in self.findings:
            return
        path = trail + (Step(span, message),)
        self.findings[k] = Finding(rule.id, message, span, self.function.name, path,
                                   related or trail[:1] or path[-1:])
