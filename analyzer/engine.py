"""The forward dataflow engine that drives every checker.

A checker is a small state machine (see ``checkers/``): the engine walks a function's CFG
to a fixpoint and calls the checker's hooks on each event; the checker reads and writes
*typestates* of *tracked objects* through a :class:`Context`.

* Tracked objects are keyed by canonical access paths (``folio``, ``vmf->page``, ``*ptep``);
  a call's result is keyed by the call's own text (``page_folio(page)``) until it is
  assigned, when its states move to the assigned path.  ``p = q`` copies ``q``'s states.
* The state of an object is a may-set of typestates, each with one witness trail (the
  steps that produced it), so "bad on some path" is visible and becomes a SARIF codeFlow.
  Joins are unions; lattices are finite, so the fixpoint ends.  Trails never decide
  convergence.
* Branch sensitivity: each branch edge is turned into :class:`Test` facts
  (``!``, ``== NULL``, ``!= 0``, ``< 0``, ``likely()``/``unlikely()``, a variable that holds
  a call's result) that the checker applies with ``on_branch`` on that edge only.
* Uses of tracked objects reach the checker as hooks of their own: ``on_deref`` (``p->f``,
  ``*p``, ``p[i]``), ``on_store`` (a value stored into memory), ``on_overwrite`` (a path
  about to lose its states); a call whose arguments have no access path still gets a
  result key (``Context.result_key``), so its states follow the assignment.
* Reports are made in one final pass over the fixpoint states, so a finding never depends
  on visiting order; each (rule, span) is reported once.
* Bounded: a per-function budget of block visits; when exhausted the function is reported
  as a notification, never silently dropped.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from analyzer.cfg import build_cfg, reachable
from analyzer.ir import (
    CFG,
    AddrOf,
    Assign,
    Binary,
    Block,
    Call,
    Cond,
    Deref,
    Expr,
    Function,
    Index,
    Literal,
    Member,
    Name,
    Opaque,
    Return,
    Span,
    StmtExpr,
    Unary,
)
from analyzer.models import Models
from analyzer.result import Finding, Notification, Step
from analyzer.rule import Rule

Trail = tuple[Step, ...]
VISIT_BUDGET = 20_000          # block visits per function and checker
ZERO_LITERALS = frozenset({"0", "NULL", "false", "0UL", "0L", "0U", "0ULL", "0LL"})

# Outcomes of a tested value on one edge.
NONZERO, ZERO, NEG, NONNEG, POS, NONPOS = "nonzero", "zero", "neg", "nonneg", "pos", "nonpos"
_FLIP = {NONZERO: ZERO, ZERO: NONZERO, NEG: NONNEG, NONNEG: NEG, POS: NONPOS, NONPOS: POS}
_ORDER = {"<": (NEG, NONNEG), ">=": (NONNEG, NEG), ">": (POS, NONPOS), "<=": (NONPOS, POS)}
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}


class Held(Enum):
    """Whether a lock kind (spin, rcu) is held: the engine tracks it for every checker."""

    YES = "held"
    NO = "not held"


def _lock_key(kind: str) -> str:
    return f"<lock:{kind}>"


def effect_holds(when: str, outcome: str) -> bool:
    """Whether a model's ``when`` (always | nonzero | zero | positive) holds for a tested
    outcome.

    Kernel convention: a call tested ``>= 0`` (or false on ``< 0``) returned success,
    which for a "returns 0 on success" API is zero; for a tri-state API (``positive``: a
    count of references, or -errno) it returned the count, possibly 0 references."""
    if when == "always":
        return True
    if when == "positive":
        return outcome in (POS, NONNEG)
    if when == "nonzero":
        return outcome in (NONZERO, NEG, POS)
    return outcome in (ZERO, NONNEG)


@dataclass(frozen=True, slots=True)
class Test:
    """On this edge, ``subject`` evaluated to ``outcome``.  When the subject is a call
    whose result was first stored in a variable, ``via`` names that variable."""

    subject: Expr
    outcome: str
    via: str | None = None


# --------------------------------------------------------------------------- access paths
def strip(e: Expr, transparent: frozenset[str]) -> Expr:
    """``e`` without value-preserving wrappers (``unlikely(x)`` -> ``x``)."""
    while isinstance(e, Call) and e.callee in transparent and e.args:
        e = e.args[0]
    return e


def access_key(e: Expr | None, transparent: frozenset[str] = frozenset()) -> str | None:
    """The canonical access path of ``e`` or None when it designates no trackable place.

    Iterative, so deeply nested expressions cannot exhaust the Python stack."""
    if e is None:
        return None
    # Post-order over an explicit stack; each frame renders one node once its
    # children are rendered.
    out: list[str | None] = []
    stack: list[tuple[Expr, bool]] = [(strip(e, transparent), False)]
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            kids = _key_children(node)
            for k in reversed(kids):
                stack.append((strip(k, transparent), False))
            continue
        n = len(_key_children(node))
        parts = out[len(out) - n:] if n else []
        del out[len(out) - n:]
        out.append(_render(node, parts))
    return out[0]


def _key_children(e: Expr) -> tuple:
    if isinstance(e, Member):
        return (e.base,)
    if isinstance(e, (Deref, AddrOf)):
        return (e.operand,)
    if isinstance(e, Index):
        return (e.base, e.index)
    if isinstance(e, Call):
        return e.args
    return ()


def _render(e: Expr, parts: list) -> str | None:
    if isinstance(e, Name):
        return e.id
    if isinstance(e, Literal):
        return e.text
    if any(p is None for p in parts):
        return None
    if isinstance(e, Member):
        return f"{parts[0]}{'->' if e.arrow else '.'}{e.field}"
    if isinstance(e, Deref):
        return f"*{parts[0]}"
    if isinstance(e, AddrOf):
        return f"&{parts[0]}"
    if isinstance(e, Index):
        return f"{parts[0]}[{parts[1]}]"
    if isinstance(e, Call) and e.callee:
        return f"{e.callee}({', '.join(parts)})"
    return None


def _depends_on(key: str, base: str) -> bool:
    k = key.lstrip("*&")
    return k == base or k.startswith((base + "->", base + ".", base + "["))


def walk_exprs(e: Expr) -> Iterator[Expr]:
    """Every sub-expression of ``e`` (pre-order, iterative)."""
    stack = [e]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, Member):
            stack.append(x.base)
        elif isinstance(x, (Deref, AddrOf, Unary)):
            stack.append(x.operand)
        elif isinstance(x, Binary):
            stack += (x.right, x.left)
        elif isinstance(x, Index):
            stack += (x.index, x.base)
        elif isinstance(x, Assign):
            stack += (x.value, x.target)
        elif isinstance(x, Call):
            stack.extend(reversed(x.args))
            if x.func is not None:
                stack.append(x.func)
        elif isinstance(x, Cond):
            stack += (x.else_, x.then, x.test)
        elif isinstance(x, Return) and x.value is not None:
            stack.append(x.value)


def called_names(fn_cfg: CFG) -> frozenset[str]:
    names: set[str] = set()
    for b in fn_cfg.blocks:
        for ev in list(b.events) + ([b.cond] if b.cond is not None else []):
            for x in walk_exprs(ev):
                if isinstance(x, Call) and x.callee:
                    names.add(x.callee)
    return frozenset(names)


# --------------------------------------------------------------------------- the state
class Facts:
    """The abstract state at one program point, for one checker."""

    __slots__ = ("bind", "objs")

    def __init__(self, objs=None, bind=None):
        self.objs: dict[str, dict[Enum, Trail]] = objs if objs is not None else {}
        self.bind: dict[str, Call] = bind if bind is not None else {}

    def copy(self) -> Facts:
        return Facts(dict(self.objs), dict(self.bind))

    def merge(self, other: Facts) -> bool:
        """Union ``other`` into self; True when something new arrived."""
        changed = False
        for key, states in other.objs.items():
            mine = self.objs.get(key)
            if mine is None:
                self.objs[key] = states
                changed = True
                continue
            new = {s: t for s, t in states.items() if s not in mine}
            if new:
                self.objs[key] = {**mine, **new}
                changed = True
        for var in list(self.bind):
            if other.bind.get(var) != self.bind[var]:
                del self.bind[var]
                changed = True
        return changed


# --------------------------------------------------------------------------- checker API
class Checker:
    """Base class of a checker: override the hooks you need; each opens with a guard.

    ``starters`` are the model sections whose APIs start every story the checker tells
    (a lockless read, a teardown, ...): a function naming none of them cannot matter to
    the checker and is not walked, and a file naming none of any checker's is not even
    parsed by libclang (the cheap pre-filters)."""

    rules: tuple[Rule, ...] = ()
    starter_sections: tuple[str, ...] = ()

    def starters(self, models: Models) -> frozenset[str] | None:
        """The API names that start this checker's stories; None: no filter."""
        if not self.starter_sections:
            return None
        return frozenset().union(*(models.names(s) for s in self.starter_sections))

    def wants(self, names: frozenset[str], models: Models) -> bool:
        starters = self.starters(models)
        return starters is None or bool(names & starters)

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


class Context:
    """What a checker sees of the engine during one hook call."""

    def __init__(self, fn: Function, models: Models, checker: Checker):
        self.function = fn
        self.models = models
        self.checker = checker
        self.transparent = models.names("transparent")
        self.facts = Facts()
        self.reporting = False
        self.findings: dict[tuple, Finding] = {}
        self.dest: dict[int, str | None] = {}   # id(call) -> variable it is assigned to
        self._keys: dict[int, tuple] = {}            # id(expr) -> (expr, access path)
        self.summaries: dict[tuple, object] = {}

    def name_of(self, call: Call, result: str | None) -> str:
        """How messages name a call's result: the variable it is assigned to, if any."""
        return self.dest.get(id(call)) or result or f"{call.callee}()"

    # -- access paths
    def key(self, e: Expr | None) -> str | None:
        if e is None:
            return None
        hit = self._keys.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        k = access_key(e, self.transparent)
        self._keys[id(e)] = (e, k)          # holding e keeps its id unique meanwhile
        return k

    def strip(self, e: Expr) -> Expr:
        return strip(e, self.transparent)

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
            elif derive and isinstance(e, Call) and (
                    m := self.models.get("derive", e.callee)) is not None:
                e = self.arg(e, m.get("from"))
            else:
                return None
        return None

    def place(self, e: Expr | None) -> str | None:
        """The place an argument names: ``&xas`` and ``xas`` alike; ``*ptep`` is ``ptep``."""
        if e is None:
            return None
        e = self.strip(e)
        if isinstance(e, (AddrOf, Deref)):
            e = e.operand
        return self.key(e)

    def result_key(self, call: Call) -> str | None:
        """The key of a call's result: its access path (``xas_load(&xas)``), or, when an
        argument has none (``xas_find(&xas, i + 1)``), a temporary named by the call site,
        so the result's states still move into the variable it is assigned to."""
        key = self.key(call)
        if key is None and call.callee is not None and call.callee not in self.transparent:
            key = f"{call.callee}(...)@{call.span.line}:{call.span.col}"
        return key

    def arg(self, call: Call, index: int) -> Expr | None:
        return self.strip(call.args[index]) if 0 <= index < len(call.args) else None

    def bound(self, e: Expr | None) -> Call | None:
        """The call whose result the variable ``e`` holds on every path here, if any."""
        e = self.strip(e) if e is not None else None
        return self.facts.bind.get(e.id) if isinstance(e, Name) else None

    # -- typestates
    def states(self, key: str | None) -> frozenset:
        if key is None:
            return frozenset()
        return frozenset(self.facts.objs.get(key, ()))

    def may_be(self, key: str | None, *states: Enum) -> bool:
        have = self.facts.objs.get(key, {}) if key else {}
        return any(s in have for s in states)

    def must_be(self, key: str | None, *states: Enum) -> bool:
        have = self.facts.objs.get(key, {}) if key else {}
        return bool(have) and all(s in states for s in have)

    def holds(self, kind: str) -> bool:
        """True when a lock of ``kind`` (``spin``, ``rcu``: the ``lock`` models' kinds)
        taken in this function is held on every path here."""
        return self.must_be(_lock_key(kind), Held.YES)

    def trail(self, key: str | None, state: Enum) -> Trail:
        return self.facts.objs.get(key, {}).get(state, ()) if key else ()

    def set(self, key: str | None, state: Enum, trail: Trail = ()) -> None:
        if key is not None:
            self.facts.objs[key] = {state: trail}

    def add(self, key: str | None, state: Enum, trail: Trail = ()) -> None:
        if key is not None and state not in self.facts.objs.get(key, {}):
            self.facts.objs[key] = {**self.facts.objs.get(key, {}), state: trail}

    def replace(self, key: str | None, old: Enum, new: Enum, step: Step | None = None):
        """Every path where ``key`` is ``old`` now has it ``new`` (trail extended)."""
        have = self.facts.objs.get(key) if key else None
        if not have or old not in have:
            return
        trail = have[old] + ((step,) if step else ())
        rest = {s: t for s, t in have.items() if s != old}
        rest.setdefault(new, trail)
        self.facts.objs[key] = rest

    def copy_states(self, dst: str | None, src: str | None) -> None:
        if dst is None or src is None or src not in self.facts.objs:
            return
        self.facts.objs[dst] = self.facts.objs[src]

    def discard(self, key: str | None, *states) -> None:
        """Forget these states of ``key`` (and ``key`` itself when none remain)."""
        have = self.facts.objs.get(key) if key else None
        if not have or not any(s in have for s in states):
            return
        rest = {s: t for s, t in have.items() if s not in states}
        if rest:
            self.facts.objs[key] = rest
        else:
            del self.facts.objs[key]

    def kill(self, key: str | None) -> None:
        """Forget ``key`` and every path through it (``key->x``, ``*key``)."""
        if key is None:
            return
        for k in [k for k in self.facts.objs if _depends_on(k, key)]:
            del self.facts.objs[k]
        for v in [v for v in self.facts.bind if v == key]:
            del self.facts.bind[v]

    def tracked(self) -> Iterable[tuple[str, dict]]:
        return list(self.facts.objs.items())

    # -- summaries
    def summarize(self, section: str, **values) -> None:
        """Record a fact about the analyzed function for its callers (final pass only):
        the same shape as a rule-file entry ``[section.<this function>]``."""
        if not self.reporting:
            return
        from analyzer.models import Model

        if section == "acquire" or section == "lock":
            values.setdefault("when", "always")
        m = Model(section, self.function.name, tuple(sorted(values.items())), "summary")
        self.summaries.setdefault((section, m.values), m)

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


# --------------------------------------------------------------------------- the walk
class _Run:
    def __init__(self, cfg: CFG, models: Models, checker: Checker):
        self.cfg = cfg
        self.checker = checker
        self.ctx = Context(cfg.function, models, checker)
        self.by_id = {b.id: b for b in cfg.blocks}
        self.known = models.identifiers()

    # -- events
    def eval(self, e: Expr | Return) -> None:
        """Evaluate ``e``: its calls in order (arguments first), then its assignments."""
        if isinstance(e, Return):
            if e.value is not None:
                self.eval(e.value)
            self.checker.on_return(self.ctx, e)
            return
        # Post-order over an explicit stack.
        stack: list[tuple[Expr, bool]] = [(e, False)]
        address_only: set[int] = set()        # ``p->f`` under ``&``: no access to *p
        while stack:
            node, done = stack.pop()
            if isinstance(node, (Name, Literal, Opaque, StmtExpr)):
                continue
            if not done:
                if isinstance(node, Assign) and node.op == "=":
                    value = self.ctx.strip(node.value)
                    if isinstance(value, Call):
                        self.ctx.dest[id(value)] = self.ctx.key(node.target)
                elif isinstance(node, AddrOf):
                    address_only.add(id(node.operand))
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(_eval_children(node)))
                continue
            if isinstance(node, Call):
                self._call(node)
            elif isinstance(node, Assign):
                self._deref(node.target)
                self._assign(node)
            elif isinstance(node, Unary) and node.op in ("++pre", "--pre", "post++", "post--"):
                self._overwrite(self.ctx.key(node.operand), node.span)
                self.ctx.kill(self.ctx.key(node.operand))
            elif isinstance(node, (Member, Deref, Index)) and id(node) not in address_only:
                self._deref(node)

    def _deref(self, node: Expr) -> None:
        """Tell the checker that a tracked object is accessed through its pointer."""
        if isinstance(node, Member) and node.arrow:
            base = node.base
        elif isinstance(node, Deref):
            base = node.operand
        elif isinstance(node, Index):
            base = node.base
        else:
            return
        key = self.ctx.key(base)
        if key is not None and key in self.ctx.facts.objs:
            self.checker.on_deref(self.ctx, key, node)

    def _overwrite(self, key: str | None, span: Span) -> None:
        if key is not None and key in self.ctx.facts.objs:
            self.checker.on_overwrite(self.ctx, key, span)

    def _call(self, call: Call) -> None:
        ctx = self.ctx
        result = ctx.result_key(call)
        if result is not None and call.callee not in ctx.transparent:
            ctx.kill(result)
        if (m := ctx.models.get("lock", call.callee)) is not None:
            ctx.set(_lock_key(m.get("kind")), Held.YES)
        elif (m := ctx.models.get("unlock", call.callee)) is not None:
            ctx.set(_lock_key(m.get("kind")), Held.NO)
        self.checker.on_call(ctx, call, result)
        ctx.dest.pop(id(call), None)
        if call.callee not in self.known:
            # Escaped to an unknown callee: it may have changed what it was given the
            # address of.
            for a in call.args:
                if isinstance(a, AddrOf):
                    ctx.kill(ctx.key(a.operand))

    def _assign(self, a: Assign) -> None:
        ctx = self.ctx
        if not isinstance(a.target, Name):
            self.checker.on_store(ctx, a.target, ctx.strip(a.value), a.span)
        target = ctx.key(a.target)
        if target is None:
            return
        value = ctx.strip(a.value)
        src = (ctx.result_key(value) if isinstance(value, Call) else ctx.key(value)) \
            if a.op == "=" else None
        saved = ctx.facts.objs.get(src) if src is not None else None
        # A declaration (the CFG spells it ``name = init`` with the declarator's span on
        # both) starts a new variable: a block-scoped one of the same name is gone, not
        # overwritten.
        # ``p += n`` moves a pointer within its object, it does not drop what p held.
        declares = isinstance(a.target, Name) and a.target.span == a.span
        if src != target and not declares and a.op == "=":
            self._overwrite(target, a.span)
        ctx.kill(target)
        if saved is not None:
            ctx.facts.objs[target] = saved
        if a.op == "=" and isinstance(value, Call):
            ctx.facts.bind[target] = value
            if src is not None and src != target:
                ctx.facts.objs.pop(src, None)       # the temporary moved into target
        self.checker.on_assign(ctx, target, value, a.span)

    # -- branches
    def tests(self, cond: Expr, truth: bool) -> list[Test]:
        ctx = self.ctx
        outcome = NONZERO if truth else ZERO
        e = ctx.strip(cond)
        while True:
            if isinstance(e, Unary) and e.op == "!":
                e, outcome = ctx.strip(e.operand), _FLIP[outcome]
                continue
            if isinstance(e, Binary) and e.op in ("==", "!=") and (
                    _is_zero(e.right) or _is_zero(e.left)):
                if e.op == "==":                      # "x == NULL" holds: x is zero
                    outcome = _FLIP[outcome]
                e = ctx.strip(e.left if _is_zero(e.right) else e.right)
                continue
            break
        if isinstance(e, Binary) and e.op in _ORDER and (_is_zero(e.right) or _is_zero(e.left)):
            op = e.op if _is_zero(e.right) else _MIRROR[e.op]
            subject = e.left if _is_zero(e.right) else e.right
            yes, no = _ORDER[op]
            e, outcome = ctx.strip(subject), (yes if outcome == NONZERO else no)
        elif isinstance(e, Binary) and e.op == "!=":
            e, outcome = Binary("==", e.left, e.right, e.span), _FLIP[outcome]
        out = [Test(e, outcome)]
        if isinstance(e, Name) and e.id in ctx.facts.bind:
            out = [Test(ctx.facts.bind[e.id], outcome, via=e.id)]
        return out

    # -- fixpoint
    def run(self) -> str | None:
        cfg, ctx = self.cfg, self.ctx
        start = Facts()
        ctx.facts = start
        self.checker.on_entry(ctx)
        ins: dict[int, Facts] = {cfg.entry: start}
        work = deque([cfg.entry])
        queued = {cfg.entry}
        visits = 0
        while work:
            bid = work.popleft()
            queued.discard(bid)
            visits += 1
            if visits > VISIT_BUDGET:
                return (f"analysis budget exceeded in {cfg.function.name}() "
                        f"({VISIT_BUDGET} block visits)")
            for target, facts in self.transfer(self.by_id[bid], ins[bid]):
                old = ins.get(target)
                if old is None:
                    ins[target] = facts
                    changed = True
                else:
                    changed = old.merge(facts)
                if changed and target not in queued:
                    work.append(target)
                    queued.add(target)
        # Final pass: the same transfer over the fixpoint states, reporting this time.
        ctx.reporting = True
        for bid in sorted(reachable(cfg)):
            if bid in ins:
                for _ in self.transfer(self.by_id[bid], ins[bid]):
                    pass
        if cfg.exit in ins:
            ctx.facts = ins[cfg.exit].copy()
            self.checker.on_exit(ctx)
        return None

    def transfer(self, block: Block, facts_in: Facts):
        ctx = self.ctx
        ctx.facts = facts_in.copy()
        for ev in block.events:
            self.eval(ev)
        if block.cond is not None:
            self.eval(block.cond)
        after = ctx.facts
        for edge in block.succs:
            facts = after.copy()
            if block.cond is not None and isinstance(edge.label, bool):
                ctx.facts = facts
                for t in self.tests(block.cond, edge.label):
                    self.checker.on_branch(ctx, t)
            yield edge.target, facts


def _eval_children(e: Expr) -> tuple:
    if isinstance(e, Assign):
        # The target's sub-expressions (e.g. an index) are evaluated, not the target.
        inner = _eval_children(e.target) if not isinstance(e.target, Name) else ()
        return inner + (e.value,)
    if isinstance(e, Member):
        return (e.base,)
    if isinstance(e, (Deref, AddrOf, Unary)):
        return (e.operand,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, Index):
        return (e.base, e.index)
    if isinstance(e, Call):
        return e.args + ((e.func,) if e.func is not None else ())
    if isinstance(e, Cond):
        return (e.test, e.then, e.else_)
    return ()


def _is_zero(e: Expr) -> bool:
    return isinstance(e, Literal) and e.text in ZERO_LITERALS


@dataclass
class FunctionResult:
    findings: list[Finding]
    notifications: list[Notification]
    summaries: list            # analyzer.models.Model facts about fn, for its callers


def analyze_function(fn: Function, models: Models, checkers: Iterable[Checker],
                     cfg: CFG | None = None) -> tuple[list[Finding], list[Notification]]:
    """Run every interested checker over ``fn``; findings and notifications."""
    r = analyze_function_full(fn, models, checkers, cfg)
    return r.findings, r.notifications


def analyze_function_full(fn: Function, models: Models, checkers: Iterable[Checker],
                          cfg: CFG | None = None,
                          names: frozenset[str] | None = None) -> FunctionResult:
    """Run every interested checker over ``fn``: findings, notifications, summaries.
    ``names`` (the functions ``cfg`` calls) is computed when not given."""
    checkers = list(checkers)
    findings: list[Finding] = []
    notes: list[Notification] = []
    summaries: list = []
    cfg = cfg or build_cfg(fn, models.names("transparent"))
    names = called_names(cfg) if names is None else names
    for checker in checkers:
        if not checker.wants(names, models):
            continue
        run = _Run(cfg, models, checker)
        problem = run.run()
        if problem:
            notes.append(Notification(problem, fn.file, fn.span.line, "warning", "budget"))
            continue
        findings.extend(run.ctx.findings.values())
        summaries.extend(run.ctx.summaries.values())
    return FunctionResult(findings, notes, summaries)
