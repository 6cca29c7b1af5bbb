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
from analyzer.summaries.graph import callee_order


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
    order, _ = callee_order(list(range(len(functions))), edges)
    return [(functions[i], cfgs[i], calls[i]) for i in order]
