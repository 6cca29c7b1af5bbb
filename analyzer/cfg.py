"""Lower a function's structured IR into a control-flow graph, once for every frontend.

Kernel error paths live in ``goto``, ``switch``, early ``return``, ``? :`` and the
short-circuit operators, so all of them become real edges:

* conditions: ``&&``, ``||``, ``!``, ``? :``, ``,`` and assignments inside a condition are
  lowered until every branch block tests one atomic expression (``!`` swaps the edges);
* statement level: ``c ? f() : g();`` and ``c && f();`` become branches, as do ``? :``
  on the right of an assignment or a ``return``;
* GNU statement expressions are hoisted: their statements run in the current flow and
  their last expression takes their place.

``transparent`` names wrappers such as ``unlikely()`` that conditions may be wrapped in.
"""
from __future__ import annotations

from dataclasses import replace

from analyzer import ir
from analyzer.ir import (
    CFG,
    Assign,
    Binary,
    Block,
    Call,
    Compound,
    Cond,
    Edge,
    Expr,
    ExprStmt,
    Function,
    Name,
    Opaque,
    StmtExpr,
    Unary,
    children,
    with_children,
)


class _Block:
    __slots__ = ("cond", "events", "id", "succs")

    def __init__(self, bid: int):
        self.id = bid
        self.events: list = []
        self.cond: Expr | None = None
        self.succs: list[Edge] = []


def has_stmt_expr(e: Expr) -> bool:
    """True when a statement expression occurs anywhere in ``e`` (iterative)."""
    stack: list = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, StmtExpr):
            return True
        stack.extend(children(x))
    return False


class _Builder:
    def __init__(self, fn: Function, transparent: frozenset[str]):
        self.fn = fn
        self.transparent = transparent
        self.blocks: list[_Block] = []
        self.entry = self._new()
        self.exit = self._new()
        self.cur: _Block | None = self.entry
        self.labels: dict[str, _Block] = {}
        self.breaks: list[_Block] = []
        self.continues: list[_Block] = []
        self.switches: list[tuple[_Block, list]] = []   # (switch block, case edges)

    # ------------------------------------------------------------------ plumbing
    def _new(self) -> _Block:
        b = _Block(len(self.blocks))
        self.blocks.append(b)
        return b

    def _here(self) -> _Block:
        """The current block; code after a jump lands in a fresh, unreachable block."""
        if self.cur is None:
            self.cur = self._new()
        return self.cur

    def _jump(self, target: _Block) -> None:
        if self.cur is not None:
            self.cur.succs.append(Edge(target.id))
        self.cur = None

    def _start(self, block: _Block) -> None:
        """Continue in ``block``, falling through from the current block."""
        if self.cur is not None and self.cur is not block:
            self.cur.succs.append(Edge(block.id))
        self.cur = block

    def _emit(self, event) -> None:
        self._here().events.append(event)

    def _label(self, name: str) -> _Block:
        if name not in self.labels:
            self.labels[name] = self._new()
        return self.labels[name]

    # ------------------------------------------------------------------ expressions
    def hoist(self, e: Expr) -> Expr:
        """Run the statements of statement expressions in ``e``; return ``e`` without them."""
        if not has_stmt_expr(e):
            return e
        return self._hoist(e)

    def _hoist(self, e: Expr) -> Expr:
        if isinstance(e, StmtExpr):
            stmts = e.body.stmts
            last = stmts[-1] if stmts else None
            for s in stmts[:-1] if isinstance(last, ExprStmt) else stmts:
                self.stmt(s)
            if isinstance(last, ExprStmt):
                return self.hoist(last.expr)
            return Opaque("({...})", e.span)
        kids = children(e)
        if not kids:
            return e
        return with_children(e, [self.hoist(k) for k in kids])  # type: ignore[arg-type]

    def cond(self, e: Expr, t: _Block, f: _Block) -> None:
        """Branch to ``t`` when ``e`` is true, to ``f`` otherwise."""
        e = self.hoist(e)
        while True:
            if isinstance(e, Unary) and e.op == "!":
                e, t, f = e.operand, f, t
                continue
            if (isinstance(e, Call) and e.callee in self.transparent and len(e.args) == 1
                    and isinstance(e.args[0], (Binary, Unary, Cond, Assign))
                    and self._is_compound_cond(e.args[0])):
                e = e.args[0]
                continue
            break
        if isinstance(e, Binary) and e.op in ("&&", "||"):
            mid = self._new()
            if e.op == "&&":
                self.cond(e.left, mid, f)
            else:
                self.cond(e.left, t, mid)
            self.cur = mid
            self.cond(e.right, t, f)
            return
        if isinstance(e, Binary) and e.op == ",":
            self._emit(e.left)
            self.cond(e.right, t, f)
            return
        if isinstance(e, Cond):
            a, b = self._new(), self._new()
            self.cond(e.test, a, b)
            self.cur = a
            self.cond(e.then, t, f)
            self.cur = b
            self.cond(e.else_, t, f)
            return
        if isinstance(e, Assign):
            self._emit(e)
            self.cond(e.target, t, f)
            return
        blk = self._here()
        blk.cond = e
        blk.succs += [Edge(t.id, True), Edge(f.id, False)]
        self.cur = None

    @staticmethod
    def _is_compound_cond(e: Expr) -> bool:
        return (isinstance(e, Binary) and e.op in ("&&", "||", ",")) or isinstance(
            e, (Unary, Cond, Assign))

    def value_stmt(self, e: Expr) -> None:
        """An expression evaluated for its effects (statement level)."""
        e = self.hoist(e)
        if isinstance(e, Binary) and e.op in ("&&", "||"):
            run, done = self._new(), self._new()
            if e.op == "&&":
                self.cond(e.left, run, done)
            else:
                self.cond(e.left, done, run)
            self.cur = run
            self.value_stmt(e.right)
            self._start(done)
            return
        if isinstance(e, Binary) and e.op == ",":
            self.value_stmt(e.left)
            self.value_stmt(e.right)
            return
        if isinstance(e, Cond):
            self._split(e, lambda v: self.value_stmt(v))
            return
        if isinstance(e, Assign) and e.op == "=" and isinstance(e.value, Cond):
            self._split(e.value, lambda v: self.value_stmt(replace(e, value=v)))
            return
        self._emit(e)

    def _split(self, c: Cond, arm) -> None:
        a, b, done = self._new(), self._new(), self._new()
        self.cond(c.test, a, b)
        self.cur = a
        arm(c.then)
        self._start(done)
        self.cur = b
        arm(c.else_)
        self._start(done)

    # ------------------------------------------------------------------ statements
    def stmt(self, s) -> None:
        if isinstance(s, Compound):
            for x in s.stmts:
                self.stmt(x)
        elif isinstance(s, ExprStmt):
            self.value_stmt(s.expr)
        elif isinstance(s, ir.Decl):
            init = s.init if s.init is not None else Opaque("", s.span)
            self.value_stmt(Assign(Name(s.name, s.span), "=", init, s.span))
        elif isinstance(s, ir.Return):
            self._return(s)
        elif isinstance(s, ir.If):
            then, done = self._new(), self._new()
            other = self._new() if s.else_ is not None else done
            self.cond(s.cond, then, other)
            self.cur = then
            self.stmt(s.then)
            self._start(done)
            if s.else_ is not None:
                self.cur = other
                self.stmt(s.else_)
                self._start(done)
            self.cur = done
        elif isinstance(s, ir.While):
            head, body, done = self._new(), self._new(), self._new()
            self._start(head)
            self.cond(s.cond, body, done)
            self._loop_body(s.body, body, done, head, head)
            self.cur = done
        elif isinstance(s, ir.DoWhile):
            body, check, done = self._new(), self._new(), self._new()
            self._start(body)
            self._loop_body(s.body, body, done, check, check)
            self.cur = check
            self.cond(s.cond, body, done)
            self.cur = done
        elif isinstance(s, ir.For):
            for x in s.init:
                self.stmt(x)
            head, body, step, done = self._new(), self._new(), self._new(), self._new()
            self._start(head)
            if s.cond is None:
                self._jump(body)
            else:
                self.cond(s.cond, body, done)
            self._loop_body(s.body, body, done, step, step)
            self.cur = step
            if s.step is not None:
                self.value_stmt(s.step)
            self._jump(head)
            self.cur = done
        elif isinstance(s, ir.IterLoop):
            self._iter_loop(s)
        elif isinstance(s, ir.Switch):
            self._switch(s)
        elif isinstance(s, ir.Case):
            self._case(s)
        elif isinstance(s, ir.Label):
            self._start(self._label(s.name))
        elif isinstance(s, ir.Goto):
            self._here()
            self._jump(self._label(s.label))
        elif isinstance(s, ir.Break):
            if self.breaks:
                self._here()
                self._jump(self.breaks[-1])
        elif isinstance(s, ir.Continue):
            if self.continues:
                self._here()
                self._jump(self.continues[-1])
        elif isinstance(s, ir.OpaqueStmt):
            self._emit(Opaque(s.text, s.span))

    def _return(self, s: ir.Return) -> None:
        if s.value is not None:
            v = self.hoist(s.value)
            if isinstance(v, Cond):
                self._split(v, lambda x: self._return(ir.Return(x, s.span)))
                return
            s = ir.Return(v, s.span)
        self._emit(s)
        self._jump(self.exit)

    def _loop_body(self, body, entry: _Block, brk: _Block, cont: _Block,
                   back: _Block) -> None:
        self.breaks.append(brk)
        self.continues.append(cont)
        self.cur = entry
        self.stmt(body)
        self.breaks.pop()
        self.continues.pop()
        self._jump(back)

    def _iter_loop(self, s: ir.IterLoop) -> None:
        head, body, done = self._new(), self._new(), self._new()
        self._start(head)
        if s.step is not None:
            self._emit(Assign(s.cursor, "=", s.step, s.span) if s.cursor is not None
                       else s.step)
            test = s.cursor if s.cursor is not None else Opaque(s.macro, s.span)
        else:
            if s.cursor is not None:
                self._emit(Assign(s.cursor, "=", Opaque(s.macro, s.span), s.span))
            test = Opaque(s.macro, s.span)
        self.cond(test, body, done)
        self._loop_body(s.body, body, done, head, head)
        self.cur = done

    def _switch(self, s: ir.Switch) -> None:
        value = self.hoist(s.cond)
        sw = self._here()
        sw.cond = value
        self.cur = None
        done = self._new()
        edges: list[Edge] = []
        self.switches.append((sw, edges))
        self.breaks.append(done)
        self.stmt(s.body)
        self.breaks.pop()
        self.switches.pop()
        self._start(done)
        if not any(e.label == "default" for e in edges):
            edges.append(Edge(done.id, "default"))
        sw.succs.extend(edges)

    def _case(self, s: ir.Case) -> None:
        blk = self._new()
        self._start(blk)
        if self.switches:
            label = "default" if s.value is None else s.value
            self.switches[-1][1].append(Edge(blk.id, label))

    # ------------------------------------------------------------------ result
    def build(self) -> CFG:
        self.stmt(self.fn.body)
        if self.cur is not None:
            self._jump(self.exit)
        blocks = tuple(Block(b.id, tuple(b.events), b.cond, tuple(b.succs))
                       for b in self.blocks)
        return CFG(self.fn, blocks, self.entry.id, self.exit.id)


def build_cfg(fn: Function, transparent: frozenset[str] = frozenset()) -> CFG:
    """The CFG of ``fn``: entry and exit blocks, branch edges labelled True/False."""
    return _Builder(fn, transparent).build()


def reachable(cfg: CFG) -> set[int]:
    """Ids of the blocks reachable from the entry."""
    seen = {cfg.entry}
    stack = [cfg.entry]
    by_id = {b.id: b for b in cfg.blocks}
    while stack:
        for e in by_id[stack.pop()].succs:
            if e.target not in seen:
                seen.add(e.target)
                stack.append(e.target)
    return seen
