"""Call-graph order for bottom-up summaries: one iterative Tarjan, used by the same-file
summaries (:func:`analyzer.summaries.bottom_up`) and by pass 1 over the tree
(:mod:`analyzer.summaries.compute`)."""
from __future__ import annotations


def callee_order(nodes: list[int], edges: list[list[int]]
               ) -> tuple[list[int], list[list[int]]]:
    """``nodes`` callees first (iterative Tarjan; cycles cut by node order), and the
    strongly connected components of more than one node."""
    order: list[int] = []
    cycles: list[list[int]] = []
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            es = edges[v]
            for k in range(i, len(es)):
                w = es[k]
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
                first = len(order)
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    order.append(w)
                    if w == v:
                        break
                if len(order) - first > 1:
                    cycles.append(order[first:])
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return order, cycles
