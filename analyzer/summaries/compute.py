"""Pass 1: the facts of every function of the tree a caller may reach, bottom-up over
the cross-file call graph.

Input: the files of the tree that matter (the analyzed ones, the headers they include,
the ``.c`` files defining what they call; chosen by :mod:`analyzer.pipeline.tree`), each
read to a :mod:`~analyzer.summaries.skeleton` (cached by content).  Then:

1. every function whose body names an API a checker's summaries start from, or a
   function of the tree that does (transitively), is *relevant* to that checker: only
   those can have a summary, and a checker analyzes only the relevant functions that
   name such an API or call one with a fact standing for one (so another checker's
   starters never change its summaries);
2. the relevant functions are lowered (only they: the cost of a frontend is lowering),
   their calls resolved as a caller's file resolves them (:mod:`analyzer.summaries.
   table`), and ordered callees first (Tarjan; cycles cut deterministically);
3. each is analyzed by the checkers with the facts of its callees -- the same file's as
   pass 2 adds them, the others' as the table resolves them -- and what they summarize
   becomes its facts.

A function's facts are cached under its file's content, its place in the file, and the
facts of everything it calls that a summary describes, so a warm run lowers nothing and
an edit re-analyzes the edited functions and the callers whose inputs changed.
"""
from __future__ import annotations

import hashlib
import pickle
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from analyzer.cfg import build_cfg
from analyzer.engine import Checker, analyze_function_full, called_names
from analyzer.ir import Function
from analyzer.models import Model, Models
from analyzer.summaries.graph import callee_order
from analyzer.summaries.skeleton import FnSkeleton
from analyzer.summaries.table import CALLER_SECTIONS, Definition, crosses, modeled


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str                       # as read
    rel: str                        # relative to the tree's root
    digest: str                     # of its content
    header: bool
    functions: tuple[FnSkeleton, ...]
    #: Of the words of the run's :class:`FactStarters` (``words``), those its text names.
    words: frozenset[str] = frozenset()


@dataclass
class Pass1Cache:
    """What pass 1 keeps between runs (the pipeline persists it)."""

    calls: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    facts: dict[str, tuple[Model, ...]] = field(default_factory=dict)


@dataclass
class Pass1Stats:
    files: int = 0
    relevant_files: int = 0
    functions: int = 0
    relevant: int = 0
    lowered: int = 0
    analyzed: int = 0
    with_facts: int = 0


#: A lowered function pickled and zlib-compressed (held so until it is analyzed), with
#: what it calls (:func:`called_by`: computed where it was lowered).
Packed = tuple[bytes, frozenset[str]]
#: Lower, for each (file, indexes) given, those functions of the file: index -> Function,
#: or :data:`Packed`.
Lower = Callable[[Sequence[tuple[FileInfo, Sequence[int]]]],
                 list[dict[int, Function | Packed]]]


def called_by(fn: Function, transparent: frozenset[str]) -> frozenset[str]:
    """The names a lowered function calls, as its analysis sees them."""
    return called_names(build_cfg(fn, transparent))


def _function(got: Function | bytes | None) -> Function | None:
    return pickle.loads(zlib.decompress(got)) if isinstance(got, bytes) else got


@dataclass(frozen=True, slots=True)
class Job:
    key: str                          # of the cached facts
    names: frozenset[str]             # what the function calls
    given: tuple[Model, ...]          # the facts its overlay holds for those names
    mask: int                         # the checkers that analyze it (bit i: checkers[i])


#: One function to analyze: (lowered, the facts its overlay holds, its calls, the
#: checkers that analyze it as a bit mask over the run's checkers).
Work = tuple[Function | bytes | None, tuple[Model, ...], frozenset[str], int]
#: Analyze functions none of which calls another: each one's summarized facts.
Analyze = Callable[[Sequence[Work]], list[tuple[Model, ...]]]


def analyze_one(models: Models, checkers: Sequence[Checker], work: Work
                ) -> tuple[Model, ...]:
    """A function's facts, analyzed with a fresh overlay holding ``given`` by the checkers
    of the work's mask (those from which one of their starters is reachable)."""
    got, given, names, mask = work
    fn = _function(got)
    if fn is None:
        return ()
    ov = models.overlay()
    for m in given:
        ov.add_summary(m)
    try:
        mine = [c for i, c in enumerate(checkers) if mask >> i & 1]
        return tuple(analyze_function_full(fn, ov, mine, None, names).summaries)
    except Exception:                    # pass 2 reports it, with the file
        return ()


def analyze_here(models: Models, checkers: Sequence[Checker]) -> Analyze:
    return lambda works: [analyze_one(models, checkers, w) for w in works]


def starter_names(models: Models, checkers: Sequence[Checker]) -> frozenset[str] | None:
    """What a body must name to start a checker's story (None: a checker cannot say)."""
    out: set[str] = set()
    for c in checkers:
        mine = c.starters(models)
        if mine is None:
            return None
        out |= mine
    out |= {name for name, it in models.iterators().items() if it.step in out}
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class FactStarters:
    """What a function's body must name (itself or through what it calls) for a checker
    to write any summary there, in pass 1 (:func:`fact_starters`): one of ``names``, or
    one of the iterator macros ``loops`` in a file whose text names one of ``words``."""

    names: frozenset[str]
    loops: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    #: The sections of a callee's fact that stand for one of ``names`` (a helper
    #: summarized as a get is a get): a function calling such a callee is analyzed too.
    sections: frozenset[str] = frozenset()

    def named_by(self, tokens: Sequence[str], words: frozenset[str]) -> bool:
        return not self.names.isdisjoint(tokens) or (
            not words.isdisjoint(self.words) and not self.loops.isdisjoint(tokens))

    def __or__(self, other: FactStarters) -> FactStarters:
        return FactStarters(self.names | other.names, self.loops | other.loops,
                            self.words | other.words, self.sections | other.sections)


def fact_starters(models: Models, checker: Checker) -> FactStarters | None:
    """What can begin a summary of ``checker`` (None: anything can).

    A checker's ``summary_starters`` (its starter and summary sections when it declares
    none) are the sections whose calls can begin any summary it writes -- a fact about a
    parameter or a result, local or not -- and ``("iterator", {"over": S})`` the
    iterator macros of a file naming an entry of section ``S`` (a cursor over such a
    list).  Pass 1 analyzes a function with a checker only when one of those is
    reachable from it, and only when its body names one of them or a callee has a fact
    in one of their sections (``sections``: a helper summarized as a get is a get); the
    story starters, which pass 2 walks from, may be many more (a lock, a re-read: they
    decide a finding, never a summary).  The checker's docstring says why it writes no
    summary elsewhere."""
    sections = getattr(type(checker), "summary_starters", None)
    if sections is None:
        if not checker.starter_sections:
            return None
        sections = checker.starter_sections + checker.summary_sections
    plain = tuple(s for s in sections if not (isinstance(s, tuple) and s[0] == "iterator"))
    names = frozenset().union(*(models.names(s) if isinstance(s, str) else
                                models.names(s[0], **s[1]) for s in plain))
    facts = frozenset(s if isinstance(s, str) else s[0] for s in plain)
    loops: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    for s in sections:
        if isinstance(s, tuple) and s[0] == "iterator":
            loops = frozenset(models.iterators())
            words |= models.names(s[1]["over"])
    iterators = models.iterators().items()
    return FactStarters(names | {n for n, it in iterators if it.step in names}, loops, words,
                        facts)


def pass1_starters(models: Models, checkers: Sequence[Checker]) -> FactStarters | None:
    """The union of the checkers' :func:`fact_starters` (None: a checker cannot say)."""
    out = FactStarters(frozenset())
    for c in checkers:
        mine = fact_starters(models, c)
        if mine is None:
            return None
        out |= mine
    return out


def _facts_digest(facts: Sequence[Model]) -> str:
    return hashlib.sha256(repr(sorted((m.section, repr(m.values)) for m in facts))
                          .encode()).hexdigest()[:16]


def _ir_key(salt: str, lowered: Function | bytes | None, job: Job) -> str | None:
    """The cache key of a function's facts by its lowered IR (pickled: ``bytes``) and
    what else its analysis is given, whatever file content it was lowered from."""
    if not isinstance(lowered, bytes):
        return None
    given = [(m.section, m.api, m.source, repr(m.values)) for m in job.given]
    return hashlib.sha256(repr((salt, "ir", hashlib.sha256(lowered).hexdigest(),
                                sorted(job.names), given, job.mask)).encode()).hexdigest()


def _reuse(cache: Pass1Cache, key: str, same: str | None) -> bool:
    """Whether the facts under ``same`` (:func:`_ir_key`) stand for ``key``'s."""
    got = cache.facts.get(same) if same is not None else None
    if got is None:
        return False
    cache.facts[key] = got
    return True


def compute(files: Sequence[FileInfo], lower: Lower, models: Models,
            checkers: Sequence[Checker], cache: Pass1Cache, salt: str = "",
            analyze: Analyze | None = None) -> tuple[list[Definition], Pass1Stats]:
    """The definitions of the names with facts, and the figures.  ``analyze``: how a
    wave of functions is analyzed (default: here, one after the other); the facts do
    not depend on it."""
    stats = Pass1Stats(files=len(files))
    # ---- nodes: every function of every file
    node_file: list[int] = []
    node_idx: list[int] = []
    skel: list[FnSkeleton] = []
    own: list[dict[str, list[int]]] = [{} for _ in files]
    visible: dict[str, list[int]] = {}          # headers' and non-static .c definitions
    for fi, f in enumerate(files):
        for i, s in enumerate(f.functions):
            v = len(skel)
            node_file.append(fi)
            node_idx.append(i)
            skel.append(s)
            own[fi].setdefault(s.name, []).append(v)
            if f.header or not s.static:
                visible.setdefault(s.name, []).append(v)
    n = len(skel)
    stats.functions = n
    defined = frozenset(visible) | frozenset(k for o in own for k in o)

    def targets(v: int, names: tuple[str, ...]) -> list[int]:
        fo = own[node_file[v]]
        out: list[int] = []
        for name in defined.intersection(names):
            mine = fo.get(name)
            out.extend(mine if mine is not None else visible.get(name, ()))
        return out

    # ---- 1. callees first, over the skeletons' identifiers (an over-approximation of
    # the calls: every call is an identifier of the body, so the order holds for them)
    # Per checker (bit i of a mask: checkers[i]): a checker can summarize only a function
    # from which one of its own summary starters is reachable (fact_starters), so what it
    # summarizes never depends on another checker's sections (a tryget starter such as
    # pfn_to_page() must not give page-ref-leak a summary of every helper naming it).
    mine = [fact_starters(models, c) for c in checkers]
    seed_mask = [sum(1 << i for i, st in enumerate(mine)
                     if st is None or st.named_by(sk.tokens, files[node_file[v]].words))
                 for v, sk in enumerate(skel)]
    first = [bool(m) for m in seed_mask]         # lowered at once
    callees: list[list[int]] = [sorted(w for w in targets(v, skel[v].tokens) if w != v)
                                for v in range(n)]
    # only a function that names a starter, or calls (transitively) one that does, can
    # have a fact: the order is over those (no cycle through a function that cannot)
    callers: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        for w in callees[v]:
            callers[w].append(v)
    mask = list(seed_mask)
    work = [v for v in range(n) if first[v]]
    while work:
        w = work.pop()
        for v in callers[w]:
            if mask[w] & ~mask[v]:
                mask[v] |= mask[w]
                work.append(v)
    potential = [bool(m) for m in mask]
    for v in range(n):
        if potential[v]:
            callees[v] = [w for w in callees[v] if potential[w]]
    order, cycles = callee_order([v for v in range(n) if potential[v]], callees)
    by_file: dict[int, list[int]] = {}
    for v in range(n):
        by_file.setdefault(node_file[v], []).append(v)

    # ---- 2. lowering: the functions that name a starter at once (in parallel), the
    # others when a callee of theirs turns out to have facts
    lowered: dict[int, Function | bytes | None] = {}   # released once analyzed
    calls: dict[int, frozenset[str]] = {}
    transparent = models.names("transparent")

    def lower_files(batch: list[tuple[int, list[int]]]) -> None:
        batch = [(fi, vs) for fi, vs in batch if vs]
        if not batch:
            return
        got = lower([(files[fi], [node_idx[v] for v in vs]) for fi, vs in batch])
        for (fi, vs), fns in zip(batch, got):
            stats.lowered += len(fns)
            for v in vs:
                one = fns.get(node_idx[v])
                if isinstance(one, tuple):
                    lowered[v], names = one
                else:
                    lowered[v] = one
                    fn = _function(one)
                    names = called_by(fn, transparent) if fn else frozenset()
                cache.calls[(files[fi].digest, node_idx[v])] = names

    def calls_of(v: int) -> frozenset[str]:
        got = calls.get(v)
        if got is None:
            k = (files[node_file[v]].digest, node_idx[v])
            if k not in cache.calls:
                fi = node_file[v]
                # once per file: every function of it that may still be needed
                lower_files([(fi, [w for w in by_file[fi] if w not in lowered and (
                    w == v or (potential[w] and (files[fi].digest, node_idx[w])
                               not in cache.calls))])])
            got = calls[v] = cache.calls[k]
        return got

    facts: dict[int, tuple[Model, ...]] = {}
    lower_files([(fi, [v for v in vs if first[v]
                       and (files[fi].digest, node_idx[v]) not in cache.calls])
                 for fi, vs in sorted(by_file.items())])

    # ---- 3. each function with the facts of its callees.  What a function's analysis
    # sees of its file's overlay is what a sequential visit in ``order`` has added to it
    # under the names it calls (the first fact added for an API in a section wins:
    # add_summary never replaces); ``added`` keeps that as (when, model), so that the
    # functions whose callees are all done -- a wave -- are analyzed together (in
    # parallel by ``analyze``), each with a fresh overlay holding exactly that.
    added: dict[int, dict[str, dict[str, tuple[int, Model]]]] = {}

    def note(fi: int, when: int, ms: Sequence[Model]) -> None:
        mine = added.setdefault(fi, {})
        for m in ms:
            by_section = mine.setdefault(m.api, {})
            old = by_section.get(m.section)
            if old is None or when < old[0]:
                by_section[m.section] = (when, m)

    def resolved(name: str, caller_file: int) -> tuple[Model, ...]:
        defs = [w for w in visible.get(name, ()) if node_file[w] != caller_file]
        if not defs:
            return ()
        got = [tuple(m for m in facts.get(w, ()) if crosses(m)
                     and m.section not in CALLER_SECTIONS) for w in defs]
        common = {(m.section, repr(m.values)) for m in got[0]}
        for g in got[1:]:
            common &= {(m.section, repr(m.values)) for m in g}
        return tuple(m for m in got[0] if (m.section, repr(m.values)) in common)

    def checkers_of(v: int) -> int:
        """The checkers that analyze ``v`` (bit i: checkers[i]): those of its mask whose
        summary starters it names, or whose :attr:`FactStarters.sections` a fact of a
        callee has that its overlay can hold (a same-file callee's, or a crossing one not
        kept for callers).  A function naming only a story starter, with no such callee,
        is not analyzed: no summary can begin there (:func:`fact_starters`)."""
        live = seed_mask[v]
        if live == mask[v]:
            return live
        fi = node_file[v]
        got = {m.section for w in callees[v] for m in facts.get(w, ())
               if node_file[w] == fi or (crosses(m) and m.section not in CALLER_SECTIONS)}
        if got:
            live |= sum(1 << i for i, st in enumerate(mine)
                        if st is None or not st.sections.isdisjoint(got))
        return live & mask[v]

    def wanted(v: int) -> bool:
        """Whether ``v`` can have a fact (a checker analyzes it)."""
        return checkers_of(v) != 0

    def prepare(v: int, when: int) -> Job:
        """What ``v``'s analysis depends on: its cache key, its calls, the facts."""
        fi = node_file[v]
        names = calls_of(v)
        deps: list[tuple[str, ...]] = []
        for name in sorted(names):
            if name in own[fi]:
                mine = [m for w in own[fi][name] if w != v for m in facts.get(w, ())]
                if mine:
                    deps.append((name, "=", _facts_digest(mine)))
                continue
            if name not in visible or modeled(models, name):
                continue
            got = resolved(name, fi)
            note(fi, when, got)
            if got:
                deps.append((name, _facts_digest(got)))
        live = checkers_of(v)
        key = hashlib.sha256(repr((salt, files[fi].digest, node_idx[v], skel[v].name, deps,
                                   live)).encode()).hexdigest()
        mine_added = added.get(fi, {})
        given = tuple(m for name in sorted(names)
                      for _, m in mine_added.get(name, {}).values())
        return Job(key, names, given, live)

    def commit(v: int, out: tuple[Model, ...], when: int) -> bool:
        before = facts.get(v, ())
        if out:
            facts[v] = out
            note(node_file[v], when, out)
        return out != before

    def run(vs: list[int], whens: list[int]) -> list[tuple[Model, ...]]:
        """The facts of ``vs`` (none of them a callee of another), cached or analyzed."""
        jobs = [prepare(v, w) for v, w in zip(vs, whens)]
        todo = [i for i, j in enumerate(jobs) if j.key not in cache.facts]
        missing: dict[int, list[int]] = {}
        for i in todo:
            if vs[i] not in lowered:
                missing.setdefault(node_file[vs[i]], []).append(vs[i])
        lower_files(sorted(missing.items()))
        # the same lowered function (its IR and spans: an edit elsewhere in its file that
        # moves no line of it) with the same inputs has the same facts
        same = {i: _ir_key(salt, lowered.get(vs[i]), jobs[i]) for i in todo}
        todo = [i for i in todo if not _reuse(cache, jobs[i].key, same[i])]
        work = [(lowered.get(vs[i]), jobs[i].given, jobs[i].names, jobs[i].mask)
                for i in todo]
        outs = (analyze or analyze_here(models, checkers))(
            [w for w in work if w[0] is not None])
        it = iter(outs)
        for i, w in zip(todo, work):
            if w[0] is not None:
                stats.analyzed += 1
            got = cache.facts[jobs[i].key] = next(it) if w[0] is not None else ()
            if (by_ir := same[i]) is not None:
                cache.facts[by_ir] = got
        return [cache.facts[j.key] for j in jobs]

    def calls_known(vs: list[int]) -> None:
        """Lower, in one batch, what the calls of ``vs`` need (see calls_of)."""
        need: dict[int, set[int]] = {}
        for v in vs:
            if v not in calls and (files[node_file[v]].digest, node_idx[v]) not in cache.calls:
                need.setdefault(node_file[v], set()).add(v)
        lower_files([(fi, [w for w in by_file[fi] if w not in lowered and (
            w in ws or (potential[w] and (files[fi].digest, node_idx[w]) not in cache.calls))])
            for fi, ws in sorted(need.items())])

    pos = {v: i for i, v in enumerate(order)}
    tick = len(order)

    def settle(comp: list[int]) -> None:
        """A cycle's functions one after the other, then again while their facts change
        (twice at most; what a function already summarized stays, add_summary never
        replaces) -- before any caller of the cycle is analyzed, so that a caller sees
        the facts the cycle ends with, whichever other cycles the graph holds."""
        nonlocal tick
        for v in comp:
            if wanted(v):
                commit(v, run([v], [pos[v]])[0], pos[v])
        for _ in range(2):
            changed = False
            for v in comp:
                if wanted(v):
                    changed |= commit(v, run([v], [tick])[0], tick)
                tick += 1
            if not changed:
                break

    comp_of = {v: ci for ci, comp in enumerate(cycles) for v in comp}
    units: list[list[int]] = []
    unit_of: dict[int, int] = {}
    for v in order:                      # Tarjan emits an SCC's nodes together
        ci = comp_of.get(v)
        if ci is None or cycles[ci][0] == v:
            units.append([v] if ci is None else cycles[ci])
        unit_of[v] = len(units) - 1
    waiting = [0] * len(units)
    up: list[list[int]] = [[] for _ in units]
    for u, members in enumerate(units):
        for d in sorted({unit_of[w] for v in members for w in callees[v]} - {u}):
            waiting[u] += 1
            up[d].append(u)
    ready = [u for u in range(len(units)) if not waiting[u]]
    while ready:
        ready.sort()
        singles = [units[u][0] for u in ready if len(units[u]) == 1]
        live = [v for v in singles if wanted(v)]
        calls_known(live)
        for v, out in zip(live, run(live, [pos[v] for v in live])):
            commit(v, out, pos[v])
        for u in ready:                   # a cycle: its functions one after the other
            if len(units[u]) > 1:
                settle(units[u])
        for v in singles:
            lowered.pop(v, None)          # a cut cycle revisits its functions: only those
        nxt = []                          # stay lowered
        for u in ready:
            for w in up[u]:
                waiting[w] -= 1
                if not waiting[w]:
                    nxt.append(w)
        ready = nxt
    stats.relevant = sum(potential)

    # ---- the definitions of every name some definition has facts for
    facts = {v: kept for v, fs in facts.items() if (kept := tuple(filter(crosses, fs)))}
    named = {skel[v].name for v in facts}
    stats.with_facts = len(facts)
    out_defs: list[Definition] = []
    for v in range(n):
        s = skel[v]
        if s.name in named:
            f = files[node_file[v]]
            out_defs.append(Definition(s.name, f.rel, s.static, f.header, facts.get(v, ())))
    return out_defs, stats
