"""File-wide facts from the text of the analyzed file, for the checkers of any of its
functions (the file is analyzed bottom-up, one function at a time, so what a sibling or a
caller does is otherwise invisible).  The pipeline puts them in ``Models.derived`` (read
with ``Models.fact()``): they are not models of a call.

* ``[stored."->F"]`` (:func:`member_stores`): what the file stores into members named
  ``F`` (``x->F = ...``, ``x.F = ...``): the callees whose results are stored (directly,
  or through a local variable every assignment of which is a call of that callee), ``""``
  for any other value; NULL stores are left out.  Also the callees the member's value is
  passed to (``kthread_use_mm(x->F)``; ``"="``: copied into another place).
  ``init_args()`` sets ``args->mm = mm_alloc()``, ``destroy_args()`` frees the page
  tables of ``args->mm``, and neither calls the other.
* ``[callers.f]`` (:func:`caller_context`): what every caller of a static function calls
  before calling it.
* ``[null_without.f]`` (:func:`null_guards`): ``f`` returns NULL when an argument is NULL.

Known limits: members are matched by name, not by struct type; a store through a pointer
to the member (``*pp = v``) or by ``memcpy()`` is not seen; a caller's calls are ordered by
their place in its text, not by its paths.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from analyzer.engine.effects import ZERO_LITERALS, Test
from analyzer.engine.keys import Ghost, strip
from analyzer.ir import (
    AddrOf,
    Assign,
    Binary,
    Call,
    Compound,
    Decl,
    Expr,
    Function,
    If,
    Literal,
    Member,
    Name,
    Return,
    Unary,
    walk,
)
from analyzer.models import Model

if TYPE_CHECKING:
    from analyzer.engine.api import Context


def _origin(value: Expr, calls_of: dict[str, set[str]]) -> str | None:
    """The callee whose result ``value`` is, "" for any other value, None for NULL."""
    if isinstance(value, (Literal, Name)) and (value.text if isinstance(value, Literal)
                                               else value.id) in ZERO_LITERALS:
        return None
    if isinstance(value, Call):
        return value.callee or ""
    if isinstance(value, Name):
        got = calls_of.get(value.id, {""})
        return next(iter(got)) if len(got) == 1 else ""
    return ""


def member_stores(functions: Iterable[Function],
                  transparent: frozenset[str] = frozenset()) -> list[Model]:
    """The ``[stored."->F"]`` facts of a file's functions (see the module docstring)."""
    stored: dict[str, set[str]] = {}
    passed: dict[str, set[str]] = {}
    for fn in functions:
        calls_of: dict[str, set[str]] = {p: {""} for p in fn.params}
        nodes = list(walk(fn.body))
        for n in nodes:                     # what each local variable is assigned
            if isinstance(n, Decl) and n.init is not None:
                target, value = n.name, strip(n.init, transparent)
            elif isinstance(n, Assign) and isinstance(t := strip(n.target, transparent),
                                                      Name):
                target, value = t.id, strip(n.value, transparent)
            else:
                continue
            calls_of.setdefault(target, set()).add(
                (value.callee or "") if isinstance(value, Call) else "")
        for n in nodes:
            if isinstance(n, Assign) and isinstance(t := strip(n.target, transparent),
                                                    Member):
                got = _origin(strip(n.value, transparent), calls_of) if n.op == "=" else ""
                if got is not None:
                    stored.setdefault(t.field, set()).add(got)
                if isinstance(v := strip(n.value, transparent), Member):
                    passed.setdefault(v.field, set()).add("=")   # copied elsewhere
            elif isinstance(n, Call) and n.callee:
                for a in n.args:
                    if isinstance(a := strip(a, transparent), Member):
                        passed.setdefault(a.field, set()).add(n.callee)
    return [Model.make("stored", f"->{f}", {"from": tuple(sorted(stored[f])),
                                           "passed": tuple(sorted(passed.get(f, ())))})
            for f in sorted(stored)]


def made_by(ctx: Context, e: Expr | None) -> tuple[frozenset[str], frozenset[str]] | None:
    """Where the value of ``e`` comes from and where it goes: the callees whose results it
    holds, and those it is handed to (``"="``: copied into another place), or None when
    that is unknown.  A variable bound to one call on every path here (its hand-offs: the
    calls of this function it is passed to); a member every store of which in this file
    is a call (its hand-offs: the file's)."""
    e = ctx.strip(e) if e is not None else None
    if isinstance(e, Name) and (call := ctx.bound(e)) is not None and call.callee:
        handed = {n.callee or "" for n in walk(ctx.function.body) if isinstance(n, Call)
                  and any(isinstance(a := ctx.strip(x), Name) and a.id == e.id
                          for x in n.args)}
        handed |= {"=" for n in walk(ctx.function.body) if isinstance(n, Assign)
                   and isinstance(v := ctx.strip(n.value), Name) and v.id == e.id}
        return frozenset({call.callee}), frozenset(handed)
    if isinstance(e, Member):
        m = ctx.models.fact("stored", f"->{e.field}")
        made = frozenset(m.get("from") or ()) if m is not None else frozenset()
        if made and "" not in made:
            return made, frozenset(m.get("passed") or ()) if m is not None else frozenset()
    return None


def caller_context(functions: Iterable[Function]) -> list[Model]:
    """``[callers.f]`` for each static function ``f`` of the file that is only ever called
    (never used as a value, a callback): ``before`` = the calls that every caller makes
    before every call of ``f`` (earlier in the caller's text; with, transitively, what the
    file's functions so called call themselves).  A caller-side fact for a bottom-up
    analysis: ``memunmap_pages()`` kills and waits for the pgmap's percpu_ref before it
    calls ``pageunmap_range()``."""
    fns = list(functions)
    calls: dict[str, set[str]] = {}
    sites: dict[str, list[tuple[Function, Call]]] = {}
    taken: set[str] = set()
    for fn in fns:
        for n in walk(fn.body):
            if isinstance(n, Call) and n.callee:
                calls.setdefault(fn.name, set()).add(n.callee)
                sites.setdefault(n.callee, []).append((fn, n))
            elif isinstance(n, Name):
                taken.add(n.id)

    def closure(names: set[str]) -> set[str]:
        out, todo = set(names), list(names)
        while todo:
            for c in calls.get(todo.pop(), ()):
                if c not in out:
                    out.add(c)
                    todo.append(c)
        return out

    facts = []
    for fn in fns:
        if not fn.static or fn.name in taken or not sites.get(fn.name):
            continue
        common: set[str] | None = None
        for caller, site in sites[fn.name]:
            at = (site.span.line, site.span.col)
            got = closure({n.callee for n in walk(caller.body) if isinstance(n, Call)
                           and n.callee and (n.span.line, n.span.col) < at})
            common = got if common is None else common & got
        if common:
            facts.append(Model.make("callers", fn.name, {"before": tuple(sorted(common))}))
    return facts


def made_only_by(ctx: Context, e: Expr | None, makers: frozenset[str],
                 handoffs: frozenset[str]) -> bool:
    """``e`` holds a result of ``makers`` only, never handed to ``handoffs`` nor copied
    elsewhere (see :func:`made_by`)."""
    got = made_by(ctx, e)
    return got is not None and got[0] <= makers and not got[1] & (handoffs | {"="})


def owner(ctx: Context, e: Expr | None) -> str | None:
    """The access path of the object ``e`` is a member of (``&pgmap->done``: pgmap)."""
    e = e.operand if isinstance(e, AddrOf) else e
    return ctx.key(e.base if isinstance(e, Member) else e)


def null_guards(functions: Iterable[Function]) -> list[Model]:
    """``[null_without.f] arg = p`` for each function of the file that returns NULL
    whenever its parameter ``p`` is NULL: ``if (!p) return NULL;`` before any other
    return, ``p`` never assigned (squashfs_get_cache_page(): no mapping, no page)."""
    facts = []
    for fn in functions:
        assigned = {t.id for n in walk(fn.body) if isinstance(n, Assign)
                    and isinstance(t := n.target, Name)}
        for st in fn.body.stmts:
            if isinstance(st, If) and st.else_ is None:
                p, then = _null_test(st.cond), st.then
                if isinstance(then, Compound) and len(then.stmts) == 1:
                    then = then.stmts[0]
                if p in fn.params and p not in assigned and isinstance(then, Return) \
                        and then.value is not None and _origin(then.value, {}) is None:
                    facts.append(Model.make("null_without", fn.name,
                                            {"arg": fn.params.index(p)}))
                    break
            if any(isinstance(n, Return) for n in walk(st)):
                break
    return facts


def _null_test(cond: Expr) -> str | None:
    """``p`` of ``!p`` or ``p == NULL``."""
    if isinstance(cond, Unary) and cond.op == "!" and isinstance(cond.operand, Name):
        return cond.operand.id
    if isinstance(cond, Binary) and cond.op == "==" and isinstance(cond.left, Name) and \
            _origin(cond.right, {}) is None:
        return cond.left.id
    return None


def guard(ctx: Context, key: str | None, call: Call, api: str) -> None:
    """``key`` got its state from ``call``, which yields nothing when its argument that
    ``[null_without]`` names is NULL: remember that argument as the state's guard."""
    m = ctx.models.fact("null_without", api)
    var = ctx.key(ctx.arg(call, m.get("arg"))) if m is not None else None
    key = ctx.dest.get(id(call)) or key         # the variable the result is stored in
    if var is not None and key is not None:
        ctx.add(Ghost("guarded", var), key)


def unguarded(ctx: Context, test: Test) -> list[str]:
    """The keys whose guard (see :func:`guard`) is NULL on this edge: what they got from
    the guarded call they cannot hold here (one flag decides both where a page comes from
    and what is done with it).  Limit: a guard reassigned in between is not seen."""
    var = ctx.key(test.subject) if test.true is False else None
    return sorted(ctx.states(Ghost("guarded", var))) if var is not None else []
