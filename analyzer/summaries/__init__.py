"""Per-function facts for callers: the order functions are analyzed in, and how their
summaries reach the functions that call them.

Within one file, functions are analyzed callees first (a bottom-up order of the call
graph; recursive cycles are cut arbitrarily but deterministically).  When a checker
analyzes a function it may ``ctx.summarize(section, ...)`` a fact in the vocabulary of
the rule files ("returns an object found locklessly", "returns a speculative
reference to its argument's object", "tears down without a sync"); the fact is added
to the file's model overlay under the function's name, so its callers see it exactly
as if a kernel developer had written it in ``rules/``.  Rule files win over summaries.

Scope: the file being analyzed (static helpers, and the inline helpers of the header
it is) — cross-file APIs are what rules/ is for.
"""
from __future__ import annotations

from analyzer.cfg import build_cfg
from analyzer.engine import called_names
from analyzer.ir import CFG, Function
from analyzer.models import Models


def bottom_up(functions: list[Function], models: Models
              ) -> list[tuple[Function, CFG, frozenset[str]]]:
    """``functions`` with their CFGs and the names they call, callees before callers
    (Tarjan's SCC order)."""
    transparent = models.names("transparent")
    cfgs = [build_cfg(fn, transparent) for fn in functions]
    calls = [called_names(c) for c in cfgs]
    by_name: dict[str, list[int]] = {}
    for i, fn in enumerate(functions):
        by_name.setdefault(fn.name, []).append(i)
    edges = [sorted({j for n in calls[i] for j in by_name.get(n, ()) if j != i})
             for i in range(len(cfgs))]
    order: list[int] = []
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    counter = 0
    for root in range(len(functions)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:                                   # iterative Tarjan
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for k in range(i, len(edges[v])):
                w = edges[v][k]
                if w not in index:
                    work.append((v, k + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    order.append(w)
                    if w == v:
                        break
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return [(functions[i], cfgs[i], calls[i]) for i in order]
