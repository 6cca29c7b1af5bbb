"""The walk: a function's CFG to a fixpoint, one checker at a time.

* Tracked objects are keyed by canonical access paths (``folio``, ``vmf->page``,
  ``*ptep``) or typed keys (:mod:`analyzer.engine.keys`); a call's result is keyed by the
  call's own text (``page_folio(page)``) until it is assigned, when its states move to
  the assigned path.  ``p = q`` copies ``q``'s states.
* The state of an object is a may-set of typestates, each with one witness trail (the
  steps that produced it), so "bad on some path" is visible and becomes a SARIF
  codeFlow.  Joins are unions; lattices are finite, so the fixpoint ends.  Trails never
  decide convergence.
* Each call is looked up in the models once; its models' effects become typed events
  (:mod:`analyzer.engine.api`), conditional ones decided on the branch edges
  (:mod:`analyzer.engine.effects`).  Lock and RCU state is an engine fact.
* Escape policy: an argument that designates a tracked object escapes (``on_escape``)
  when the callee is unknown or a function pointer, or none of its models is in an
  object-neutral section (``ESCAPES = False``: gets, puts, derivations, re-reads, count
  reads).  After the call, what an unknown callee was given the address of (``&x``) is
  forgotten: it may have changed it.  Whether a call also takes the *reference* of what
  it is given is the hand-over policy of :mod:`analyzer.engine.ownership`
  (``on_handover``).
* Known callees: a call is known when a model of a section that says what the callee
  does to its arguments names it (``KNOWS``, the default).  A section one checker
  declares only to describe an origin (tryget's ``pfn_page``, ``unheld_list``,
  ``list_member``, ``unheld_test``, ``owned``: ``KNOWS = False``) is told to the checkers
  that subscribe to it and nothing else: it neither makes the call known nor
  object-neutral for escape, nor hides the callee's summary (``summaries.table.
  modeled``), so it never changes another checker's result.  In pass 1 a checker
  summarizes only functions from which one of its own starters is reachable
  (``summaries.compute``), for the same reason.
* Reports are made in one final pass over the fixpoint states, so a finding never
  depends on visiting order; each (rule, span) is reported once.
* Bounded: a per-function budget of block visits, and one of the states those visits
  carry (a visit costs about as much as the states it carries: path-sensitive states
  that split on every test of a long function -- 200 states of one variable in a 7.2
  ``fs/`` function that took minutes -- exhaust it, see ``STATE_BUDGET``); when
  exhausted the function is reported as a notification, never silently dropped.  Both
  count work, not time, so a function's result never depends on the machine's speed.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from analyzer import ir
from analyzer.cfg import build_cfg, reachable
from analyzer.engine import ownership
from analyzer.engine.api import (
    ADDRESS,
    HOLDS,
    Checker,
    Compared,
    Context,
    Escape,
    Event,
    Facts,
    FlagTest,
    FunctionMemo,
    Held,
    Origin,
    Recheck,
)
from analyzer.engine.effects import (
    COMPARE,
    NONZERO,
    ZERO,
    Effect,
    Test,
    effect_fails,
    effect_holds,
    normalize,
    signed_of,
    test_of,
)
from analyzer.engine.keys import Ghost, Tag, is_computed, strip
from analyzer.ir import (
    CFG,
    AddrOf,
    Assign,
    Binary,
    Block,
    Call,
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
from analyzer.models import Model, Models, sections
from analyzer.models.core import Derive, LocklessRead, Revalidate
from analyzer.result import Finding, Notification, Step

VISIT_BUDGET = 20_000          # block visits per function and checker
#: States carried into those visits, summed (per function and checker).  Of every
#: function of mm/, virt/kvm/ and arch/x86/kvm/ in the four corpora, the most is 27,102
#: (5.10's shmem_getpage_gfp(), page-ref-leak); 7.2's ntfs_cluster_alloc()
#: (fs/ntfs/lcnalloc.c) took over 4 CPU minutes in page-ref-leak, 200 states of its
#: folio split on its tests, and stops at the budget after 0.4 s.
STATE_BUDGET = 100_000


def walk_exprs(e: Expr | Return) -> Iterator[Expr | Return]:
    """Every sub-expression of ``e`` (pre-order, iterative)."""
    return ir.walk(e)  # type: ignore[return-value]


def called_names(fn_cfg: CFG) -> frozenset[str]:
    names: set[str] = set()
    for b in fn_cfg.blocks:
        for ev in list(b.events) + ([b.cond] if b.cond is not None else []):
            for x in walk_exprs(ev):
                if isinstance(x, Call) and x.callee:
                    names.add(x.callee)
    return frozenset(names)


class _Run:
    def __init__(self, cfg: CFG, models: Models, checker: Checker,
                 memo: FunctionMemo | None = None):
        self.cfg = cfg
        self.checker = checker
        self.models = models
        self.ctx = Context(cfg.function, models, checker, memo)
        self.plans = self.ctx.memo.plans
        self.normals = self.ctx.memo.normals
        self.derefs = checker.overrides("on_deref")
        self.by_id = {b.id: b for b in cfg.blocks}
        self.known = models.identifiers(knowing=True)
        self.subs = checker.subscriptions()
        self.legacy_call = checker.overrides("on_call")
        self.legacy_branch = checker.overrides("on_branch")
        self.escapes = checker.overrides("on_escape")
        self.handover = ownership.handover if checker.overrides("on_handover") else None
        self.flags = models.names("flag") if checker.overrides("on_flag") \
            or checker.flag_moves else frozenset()
        self.values = models.names("flag", value=True)
        self.returned: list[frozenset[Any]] = []      # final pass: states of returned values
        # Deferred events: submitting section -> the carried sections this checker hears.
        self.submits: dict[str, list[str]] = {}
        for cls in sections().values():
            if cls.CARRIER and cls.SUBMITTED_BY and cls.event() in self.subs:
                self.submits.setdefault(cls.SUBMITTED_BY, []).append(cls.NAME)
        self.rechecks = checker.overrides("on_recheck")
        self.compares = checker.overrides("on_compare") or self.rechecks
        self.losses = checker.overrides("on_lost")
        # What a callee's models say, looked up once per run (the models do not change
        # during one): callee -> (its models, those told at the call, whether an argument
        # escapes to it, those decided on an edge)
        self._callees: dict[str | None, tuple[tuple[Model, ...], tuple[Model, ...], bool,
                                              tuple[Model, ...]]] = {}
        self._handovers: dict[int, tuple[Call, Any]] = {}     # id(call) -> its Handover

    def _callee(self, callee: str | None) -> tuple[tuple[Model, ...], tuple[Model, ...],
                                                    bool, tuple[Model, ...]]:
        got = self._callees.get(callee)
        if got is None:
            models = self.models.of(callee)
            escapes = callee is None or not any(
                m.spec is not None and m.spec.KNOWS and not m.spec.ESCAPES for m in models)
            got = self._callees[callee] = (
                models, self._told(models, self.checker.precedence), escapes,
                self._told(models, self.checker.edge_precedence))
        return got

    # -- events
    def eval(self, e: Expr | Return) -> None:
        """Evaluate ``e``: its calls in order (arguments first), then its assignments."""
        if isinstance(e, Return):
            if e.value is not None:
                self.eval(e.value)
            if self.ctx.reporting and self.checker.return_summaries:
                states = self.ctx.states(self.ctx.designated(e.value, elements=True,
                                                             derive=True))
                if states:
                    self.returned.append(states)
            self.checker.on_return(self.ctx, e)
            return
        plan = self.plans.get(id(e))
        if plan is None or plan[0] is not e:
            plan = self.plans[id(e)] = (e, _plan(e, self.ctx.transparent))
        ctx = self.ctx
        for op, node, target in plan[1]:
            if op is _CALL:
                self._call(node)
            elif op is _DEST:
                ctx.dest[id(node)] = ctx.key(target)
            elif op is _ASSIGN:
                if self.derefs:
                    self._deref(node.target)
                self._assign(node)
            elif op is _STEP:
                key = ctx.key(node.operand)
                self._overwrite(key, node.span)
                ctx.kill(key)
            elif self.derefs:
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
            if self.losses:
                for s in self.ctx.states(key):
                    if not any(k != key and s in st for k, st in self.ctx.tracked()):
                        self.checker.on_lost(self.ctx, key, s, span)
            self.checker.on_overwrite(self.ctx, key, span)

    def _call(self, call: Call) -> None:
        ctx = self.ctx
        result = ctx.result_key(call)
        if result is not None and call.callee not in ctx.transparent:
            ctx.kill(result)
        models, told, escapes, _ = self._callee(call.callee)
        for m in models:
            if (out := self._out(m, call)) is not None:
                self._overwrite(out, call.span)
                ctx.kill(out)                      # the callee stores a new value there
            if m.section == "lock":
                ctx.set(Ghost("lock", m.get("kind")), Held.YES)
            elif m.section == "unlock":
                ctx.set(Ghost("lock", m.get("kind")), Held.NO)
        for m in told:
            self._dispatch(m, call, result)
        if self.legacy_call:
            self.checker.on_call(ctx, call, result)
        if self.handover is not None:
            hit = self._handovers.get(id(call))
            if hit is None or hit[0] is not call:   # what the call may take: the models'
                hit = self._handovers[id(call)] = (call, self.handover(ctx, call))
            if hit[1] is not None:
                self.checker.on_handover(ctx, hit[1])
        if self.escapes and escapes:
            for a in call.args:
                key = ctx.designated(a)
                if key is not None:
                    self.checker.on_escape(ctx, Escape(key, call, a))
        ctx.dest.pop(id(call), None)
        if call.callee not in self.known:
            # Escaped to an unknown callee: it may have changed what it was given the
            # address of.
            for a in call.args:
                if isinstance(a, AddrOf):
                    ctx.kill(ctx.key(a.operand))

    def _out(self, m: Model, call: Call) -> str | None:
        """Where a model with ``out = N`` stores its result: what ``*argN`` designates
        (``&page`` -> ``page``, ``pp`` -> ``*pp``)."""
        index = getattr(m.spec, "out", None)
        arg = self.ctx.arg(call, index) if isinstance(index, int) else None
        if arg is None:
            return None
        if isinstance(arg, AddrOf):
            return self.ctx.key(arg.operand)
        key = self.ctx.key(arg)
        return f"*{key}" if key is not None else None

    @staticmethod
    def _told(models: tuple[Model, ...], prec: tuple[str, ...]) -> tuple[Model, ...]:
        """The models of a call a checker is told about, given its precedence ``prec``."""
        if not models or not prec:
            return models
        first = next((m for m in sorted((m for m in models if m.section in prec),
                                        key=lambda m: prec.index(m.section))), None)
        if first is None:
            return models
        return tuple(m for m in models if m.section not in prec or m is first)

    def _event(self, m: Model, call: Call, effect: Effect, result: str | None,
               via: str | None = None, edge: bool = False) -> Event[Any] | None:
        spec = m.spec
        if spec is None:
            return None
        ctx = self.ctx
        out = self._out(m, call)
        if out is not None:
            result = out                           # the effect is on what *argN holds
        index = getattr(spec, spec.OBJ) if spec.OBJ else None
        obj = ctx.arg(call, index) if isinstance(index, int) else None
        origin = None
        if isinstance(spec, LocklessRead):
            if spec.deref_only and not isinstance(obj, Deref):
                return None
            origin = (Origin.LOCKED if ctx.holds("spin") else
                      Origin.MAYBE_LOCKED if spec.rcu and not ctx.holds("rcu") else
                      Origin.LOCKLESS)
        return Event(spec, call, effect, result, via, obj, ctx.key(obj), origin, edge)

    def _dispatch(self, m: Model, call: Call, result: str | None) -> None:
        spec = m.spec
        name = spec.event() if spec is not None else None
        if m.section in self.submits:
            self._submit(m, call)
        if name is None or name not in self.subs:
            return
        effect = Effect.TRIED if spec.conditional() and not spec.ASSUMED else Effect.DONE
        ev = self._event(m, call, effect, result)
        if ev is None:
            return
        index = getattr(spec, spec.CARRIER) if spec.CARRIER else None
        if index is None:
            self._tell(name, ev)
            return
        # Carried: told when the carrier is submitted.  A computed path (page_folio(p))
        # names no place: the object it designates rides instead.
        ctx = self.ctx
        carrier = ctx.place(ctx.arg(call, index))
        obj = ctx.designated(ev.obj, elements=True, derive=True) \
            if ev.key is not None and is_computed(ev.key) else ev.key
        if carrier and obj:
            ctx.attach(carrier, obj, (Step(call.span, f"'{ev.key}' handed to {ev.api}()"),))

    def _submit(self, m: Model, call: Call) -> None:
        """A carrier is submitted: tell the events it carries, one per carried object."""
        ctx = self.ctx
        carrier = ctx.place(ctx.arg(call, getattr(m.spec, "arg", None)))
        for obj, trail in ctx.detach(carrier):
            for section in self.submits[m.section]:
                cls = sections()[section]
                entry = cls.build({})
                ev = Event(entry, call, Effect.DONE, None, None, None, obj,
                           attached=trail[-1] if trail else None)
                self._tell(cls.event() or section, ev)

    def _tell(self, name: str, ev: Event[Any]) -> None:
        """The checker's declared moves for the event, then its hook."""
        ctx, untracked = self.ctx, self.checker.untracked
        for mv in self.checker.moves.get(name, ()):
            if not mv.applies(ev) or (mv.flag and ctx.flag(mv.flag[0]) is (not mv.flag[1])):
                continue
            step = Step(ev.span, mv.says.format(ev.api))
            if mv.result and not ev.edge:
                if (key := ctx.receiver(ev, ev.result)) is not None:
                    ctx.transition(key, mv.table, step, untracked)
            else:
                ctx.move(Name(ev.via) if mv.result and ev.via else ev.obj, mv.table, step,
                         untracked, mv.elements)
        if self.checker.inherits and isinstance(ev.m, Derive) and ev.result is not None:
            ctx.inherit(ev.result, ctx.designated(ev.obj, elements=True, derive=True))
        hook = getattr(self.checker, "on_" + name, None)
        if hook is not None:
            hook(self.ctx, ev)

    def _edge(self, test: Test) -> None:
        """Decide the conditional effects of the tested call on this edge (where the
        outcome leaves one open, nothing is told)."""
        call = test.subject
        if not isinstance(call, Call):
            return
        for m in self._callee(call.callee)[3]:
            spec = m.spec
            if self.rechecks and isinstance(spec, Revalidate):
                self._recheck(call, spec, test)
            name = spec.event() if spec is not None else None
            if name is None or name not in self.subs or not spec.conditional():
                continue
            when = spec.holds_on()
            holds = effect_holds(when, test.outcome)
            if (holds and spec.ASSUMED) or not (holds or effect_fails(when, test.outcome)):
                continue
            ev = self._event(m, call, Effect.DONE if holds else Effect.FAILED,
                             test.via or self.ctx.key(call), test.via, edge=True)
            if ev is not None:
                self._tell(name, ev)

    def _recheck(self, call: Call, spec: Revalidate, test: Test) -> None:
        """A ``revalidate`` call decided on this edge: a :class:`Recheck` of its source."""
        ctx = self.ctx
        src = ctx.revalidated_source(call, spec.arg)
        if src is not None:
            handed = frozenset(k for a in call.args if (k := ctx.designated(a)) is not None)
            ok = effect_holds(spec.when, test.outcome)
            self.checker.on_recheck(ctx, Recheck(src, ok, call.span, None, handed))

    def _compare(self, test: Test) -> None:
        """Tell ``on_compare`` the equality this edge decides, if any, and ``on_recheck``
        a re-read compared with a tracked value."""
        s, truth = test.subject, test.true
        if truth is None:
            return
        found = [(s, truth)] if isinstance(s, ir.Binary) and s.op == "==" else []
        found += [(c.test, truth == c.equal_if_true) for c in self.ctx.compared(self.ctx.key(s))]
        for cmp, equal in found:
            self.checker.on_compare(self.ctx, cmp, equal)
            for a, b in ((cmp.left, cmp.right), (cmp.right, cmp.left)) if self.rechecks else ():
                src, first = self.ctx.reread_source(b), self.ctx.tracked_value(a)
                if src is not None and first is not None:
                    self.checker.on_recheck(self.ctx, Recheck(src, equal, cmp.span, first))

    def _flag(self, test: Test) -> None:
        """``x & FLAG`` tested: the flag's bit of ``x`` is known on this edge; ``x == V``
        for a value flag (``value = true``): whether ``x`` is ``V``."""
        e = test.subject
        if not isinstance(e, ir.Binary) or e.op not in ("&", "==") \
                or test.outcome not in (NONZERO, ZERO):
            return
        for flag, other in ((e.right, e.left), (e.left, e.right)):
            flag = self.ctx.strip(flag)
            if isinstance(flag, Name) and flag.id in self.flags \
                    and (e.op == "==") is (flag.id in self.values):
                known = test.outcome == NONZERO
                self.ctx.set(Ghost("flag", flag.id), Held.YES if known else Held.NO)
                if (mv := self.checker.flag_moves.get((flag.id, known))) is not None:
                    step = Step(e.span, mv.says.format(flag.id))
                    for k in [k for k in self.ctx.facts.objs if isinstance(k, str)]:
                        self.ctx.transition(k, mv.table, step)
                self.checker.on_flag(self.ctx, FlagTest(flag.id, self.ctx.key(other), known,
                                                        e.span))
                return

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
        # overwritten.  ``p += n`` moves a pointer within its object, it does not drop
        # what p held.
        declares = isinstance(a.target, Name) and a.target.span == a.span
        held = self._held(target, value, a.op)
        if src != target and not declares and a.op == "=":
            self._overwrite(target, a.span)
        ctx.kill(target)
        for c in held:
            ctx.add(Tag(target, ADDRESS if isinstance(c, AddrOf) else HOLDS), c)
        if self.submits:
            ctx.detach(target)                  # a new carrier carries nothing yet
        if saved is not None:
            ctx.facts.objs[target] = saved
        if a.op == "=" and isinstance(value, Call):
            ctx.facts.bind[target] = value
            if src is not None and src != target:
                ctx.facts.objs.pop(src, None)       # the temporary moved into target
        if self.compares:
            test, outcome = ctx.normal(value, NONZERO, zero=False)
            if isinstance(test, ir.Binary) and test.op == "==":
                ctx.set(Tag(target, "compare"), Compared(test, outcome == NONZERO))
        if self.checker.inherits and not ctx.states(target):
            ctx.inherit(target, ctx.designated(value, elements=True, derive=True)
                        or ctx.alias_of(value))
        self.checker.on_assign(ctx, target, value, a.span)
        root = ctx.alias_of(value) if self.checker.links else None
        if root is not None and root != target and (
                ctx.states(root) or not isinstance(value, Name)):
            ctx.link(target, root)

    def _held(self, target: str, value: Expr, op: str) -> list[Expr]:
        """The comparisons ``target`` may hold after ``target op value``."""
        if not self.checker.holds_comparisons:
            return []
        if op == "=" and isinstance(value, AddrOf) and isinstance(value.operand, Member):
            return [value]                              # head = &folio->page
        new: list[Expr] = [value] if isinstance(value, Binary) and value.op in (
            *COMPARE, "!=") else []
        if op in ("|=", "&=", "+="):
            return [*self.ctx.states(Tag(target, HOLDS)), *new]
        return new if op == "=" else []

    # -- fixpoint
    def run(self) -> str | None:
        cfg, ctx = self.cfg, self.ctx
        start = Facts()
        ctx.facts = start
        if self.checker.params is not None:
            for p in cfg.function.params:
                ctx.set(p, self.checker.params)
        self.checker.on_entry(ctx)
        ins: dict[int, Facts] = {cfg.entry: start}
        work = deque([cfg.entry])
        queued = {cfg.entry}
        visits = carried = 0
        while work:
            bid = work.popleft()
            queued.discard(bid)
            visits += 1
            if visits > VISIT_BUDGET:
                return (f"analysis budget exceeded in {cfg.function.name}() "
                        f"({VISIT_BUDGET} block visits)")
            carried += ins[bid].size()
            if carried > STATE_BUDGET:
                return (f"analysis budget exceeded in {cfg.function.name}() "
                        f"({STATE_BUDGET} states carried through {visits} block visits)")
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
            if self.losses:
                told: set[Any] = set()
                for k, states in ctx.tracked():
                    for s in [s for s in states if s not in told]:
                        told.add(s)
                        self.checker.on_lost(ctx, k, s, None)
            self.checker.on_exit(ctx)
            self._summarize_exit()
        return None

    def _summarize_exit(self) -> None:
        ctx, checker = self.ctx, self.checker
        for i, p in enumerate(ctx.function.params):
            if (got := checker.param_summaries.get(ctx.states(p))) is not None:
                ctx.summarize(got[0], arg=i, **got[1])
        if self.returned and (got := checker.return_summaries.get(
                frozenset().union(*self.returned))) is not None:
            ctx.summarize(got[0], **got[1])

    def _normal(self, cond: Expr, truth: bool) -> tuple[Expr, str]:
        """The normal form of ``cond`` on its ``truth`` edge (made once per function)."""
        got = self.normals.get((id(cond), truth))
        if got is None or got[0] is not cond:
            got = self.normals[(id(cond), truth)] = (
                cond, normalize(cond, NONZERO if truth else ZERO, self.ctx.transparent))
        return got[1]

    def transfer(self, block: Block, facts_in: Facts) -> Iterator[tuple[int, Facts]]:
        ctx = self.ctx
        ctx.facts = facts_in.copy()
        for ev in block.events:
            self.eval(ev)
        if block.cond is not None:
            self.eval(block.cond)
        after = ctx.facts
        last = len(block.succs) - 1
        for i, edge in enumerate(block.succs):
            facts = after.copy() if i < last else after     # the last edge takes it over
            if block.cond is not None and isinstance(edge.label, bool):
                ctx.facts = facts
                normal = self._normal(block.cond, edge.label)
                test = test_of(normal, facts.bind)
                self._edge(signed_of(normal, ctx.transparent, facts.bind) or test)
                if self.flags:
                    self._flag(test)
                if self.legacy_branch:
                    self.checker.on_branch(ctx, test)
                if self.compares:
                    self._compare(test)
            yield edge.target, facts


# What eval() does at a node (see _plan).
_DEST, _CALL, _ASSIGN, _STEP, _DEREF = "dest", "call", "assign", "step", "deref"
Plan = tuple[tuple[str, Any, Any], ...]


def _plan(e: Expr, transparent: frozenset[str]) -> Plan:
    """What evaluating ``e`` does, in order: its calls (arguments first), then its
    assignments, increments and accesses through pointers, post-order; before the
    children of ``x = call(..)``, that the call's result goes to ``x`` (``_DEST``).  The
    same for every visit: made once per expression."""
    out: list[tuple[str, Any, Any]] = []
    stack: list[tuple[Expr, bool]] = [(e, False)]
    address_only: set[int] = set()        # ``p->f`` under ``&``: no access to *p
    while stack:
        node, done = stack.pop()
        if isinstance(node, (Name, Literal, Opaque, StmtExpr)):
            continue
        if not done:
            if isinstance(node, Assign) and node.op == "=":
                value = strip(node.value, transparent)
                if isinstance(value, Call):
                    out.append((_DEST, value, node.target))
            elif isinstance(node, AddrOf):
                address_only.add(id(node.operand))
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(_eval_children(node)))
            continue
        if isinstance(node, Call):
            out.append((_CALL, node, None))
        elif isinstance(node, Assign):
            out.append((_ASSIGN, node, None))
        elif isinstance(node, Unary) and node.op in ("++pre", "--pre", "post++", "post--"):
            out.append((_STEP, node, None))
        elif isinstance(node, (Member, Deref, Index)) and id(node) not in address_only:
            out.append((_DEREF, node, None))
    return tuple(out)


def _eval_children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, Assign):
        # The target's sub-expressions (e.g. an index) are evaluated, not the target.
        inner = _eval_children(e.target) if not isinstance(e.target, Name) else ()
        return (*inner, e.value)
    return ir.children(e)  # type: ignore[return-value]


@dataclass
class FunctionResult:
    findings: list[Finding]
    notifications: list[Notification]
    summaries: list[Model]       # facts about fn, for its callers


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
    summaries: list[Model] = []
    cfg = cfg or build_cfg(fn, models.names("transparent"))
    names = called_names(cfg) if names is None else names
    memo = FunctionMemo()
    for checker in checkers:
        if not checker.wants(names, models, fn.name):
            continue
        run = _Run(cfg, models, checker, memo)
        problem = run.run()
        if problem:
            notes.append(Notification(problem, fn.file, fn.span.line, "warning", "budget"))
            continue
        findings.extend(run.ctx.findings.values())
        summaries.extend(run.ctx.summaries.values())
    return FunctionResult(_without_deferred(findings, checkers), notes, summaries)


def _without_deferred(findings: list[Finding], checkers: list[Checker]) -> list[Finding]:
    """Leave out the findings of a rule whose story a rule it defers to tells (see
    :attr:`Rule.defers_to`): same function, same starting place."""
    defers = {r.id: r.defers_to for c in checkers for r in c.rules if r.defers_to}
    if not defers:
        return findings
    starts: dict[str, set[Span]] = {}
    for f in findings:
        starts.setdefault(f.rule_id, set()).update(s.span for s in f.related)
    return [f for f in findings
            if not (f.related and any(f.related[0].span in starts.get(r, ())
                                      for r in defers.get(f.rule_id, ())))]
