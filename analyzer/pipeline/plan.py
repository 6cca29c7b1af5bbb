"""The plan of a run: for every file, how it is read -- decided once, here.

``options.frontend``: ``treesitter`` reads every file raw.  ``clang`` and ``auto`` send
each .c file with compile flags through libclang: the flags are resolved here, once per
file (``options.clang_args`` for every file, else its compile_commands.json entry, else
flags synthesized for a prepared kernel tree; see :mod:`analyzer.pipeline.flags`) and
travel with the :class:`~analyzer.pipeline.options.FileTask` to the worker.  A .c file
that names no API any checker starts from is not parsed at all (the pre-filter: it
cannot produce a finding); the same holds for every file tree-sitter reads (checked in
the worker, which reads the file anyway: :func:`starter_prefilter`).  ``prefilter=False``
(``--no-prefilter``) parses every file.  Headers go through tree-sitter unless a TU of the run walked
their inline functions; with ``auto``, so do .c files without flags, with one note
saying why.  With ``clang``, a .c file without flags is not analyzed (a notification),
and a run where no .c file has flags is an error (:class:`PlanError`).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from analyzer.cfg import build_cfg
from analyzer.engine import called_names
from analyzer.errors import ToolError
from analyzer.frontend import treesitter
from analyzer.pipeline.discover import read_source
from analyzer.pipeline.flags import FlagResolver
from analyzer.pipeline.options import FileTask, Loaded, Options
from analyzer.result import Notification
from analyzer.results.outcome import FileOutcome, Stats


class PlanError(ToolError):
    """The run cannot be planned as asked (exit 2): ``--frontend clang`` and no file
    has compile flags."""


@dataclass
class Plan:
    order: list[str]                                    # every path, as given
    tasks: list[FileTask] = field(default_factory=list)  # what workers analyze
    done: dict[str, FileOutcome] = field(default_factory=dict)   # decided here
    notes: list[Notification] = field(default_factory=list)      # run-level routing notes

    def only(self, paths: set[str]) -> Plan:
        """This plan restricted to ``paths`` (a shard), its run-level notes kept whole:
        planned over every file, they are the same in every shard."""
        return Plan([p for p in self.order if p in paths],
                    [t for t in self.tasks if t.path in paths],
                    {p: o for p, o in self.done.items() if p in paths}, list(self.notes))


def make_plan(paths: Iterable[str], options: Options, loaded: Loaded | None = None,
              prefilter_headers: Sequence[str] | None = None,
              prefilter: bool = True) -> Plan:
    """The plan for ``paths`` (see the module doc).  ``loaded``: the models and checkers
    the pre-filter asks (loaded here when not given); ``prefilter_headers``: the headers
    whose functions a TU may reach through (default: the headers among ``paths``);
    ``prefilter=False`` parses every file.  Raises :class:`PlanError`."""
    plan = Plan(list(paths))
    if options.frontend == "treesitter":
        plan.tasks = [FileTask(p, prefilter=prefilter) for p in plan.order]
        return plan
    resolver = FlagResolver(options.compile_commands)
    sources = [p for p in plan.order if p.endswith(".c")]
    with_flags: list[FileTask] = []
    without: list[str] = []
    for p in sources:
        if options.clang_args is not None:
            with_flags.append(FileTask(p, "clang", options.clang_args, "explicit"))
            continue
        flags = resolver.resolve(p)
        # A tree with a compile database builds what it lists: a file missing from it
        # is not built in this configuration (synthesized flags would not compile it).
        if flags is None or (flags.origin == "synthesized" and resolver.database_for(p)):
            without.append(p)
        else:
            with_flags.append(FileTask(p, "clang", flags.args, flags.origin))
    for problem in dict.fromkeys(resolver.errors):        # an unreadable database: once
        plan.notes.append(Notification(problem, "", 0, "warning", "compile-db"))
    if without:
        why = resolver.why_not(without[0]) if not with_flags else (
            "not in the compile database (not built in this configuration)")
        if options.frontend == "clang":
            if not with_flags:
                raise PlanError(f"--frontend clang: {why}")
            for p in without:
                plan.done[p] = FileOutcome(p).fail(f"--frontend clang: {why}", "no-flags")
        else:
            plan.notes.append(Notification(
                f"{len(without)} of {len(sources)} .c file(s) analyzed with tree-sitter: "
                f"{why}", "", 0, "note", "frontend"))
    wanted = None
    if prefilter:
        if prefilter_headers is None:
            prefilter_headers = [p for p in plan.order if not p.endswith(".c")]
        wanted = prefilter_identifiers(loaded or Loaded(options), list(prefilter_headers),
                                       options.header_roots)
    for task in with_flags:
        if wanted is None or _names_any(task.path, wanted):
            plan.tasks.append(task)
        else:
            plan.done[task.path] = FileOutcome(task.path, stats=Stats(files=1, skipped=1))
    planned = {t.path for t in plan.tasks} | set(plan.done)
    for p in plan.order:
        if p not in planned:
            plan.tasks.append(FileTask(p, unless_covered=not p.endswith(".c"),
                                       prefilter=prefilter))
    return plan


# --------------------------------------------------------------------------- pre-filter
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Prefilter:
    """Whether a TU can matter: it names one of ``idents``, or spells one of
    ``deref_only`` as a read through a pointer (``READ_ONCE(*p)``)."""

    idents: frozenset[bytes]
    deref_only: frozenset[bytes]

    def matches(self, data: bytes) -> bool:
        tokens = set(_IDENT.findall(data))
        if not self.idents.isdisjoint(tokens):
            return True
        return any(re.search(re.escape(name) + rb"\s*\(\s*\*", data)
                   for name in self.deref_only & tokens)


def _names_any(path: str, prefilter: Prefilter) -> bool:
    try:
        data = read_source(path)
    except OSError:
        return True                      # let the analysis report the problem
    return prefilter.matches(data)


def _starters(loaded: Loaded) -> tuple[set[str], set[str]] | None:
    """The APIs that start a checker's story (with the iterator macros that perform one),
    split into those any mention of counts and the ``deref_only`` lockless reads; None
    when a checker cannot say."""
    models = loaded.models
    starters: set[str] = set()
    for checker in loaded.checkers:
        mine = checker.starters(models)
        if mine is None:
            return None
        starters |= mine
    starters |= {name for name, it in models.iterators().items() if it.step in starters}
    deref_only = {n for n in starters
                  if (m := models.get("lockless_read", n)) and m.get("deref_only")}
    return starters - deref_only, deref_only


def starter_prefilter(loaded: Loaded) -> Prefilter | None:
    """What a file read by tree-sitter must name to be worth parsing: an API that
    starts a checker's story, or an iterator macro that performs one (tree-sitter reads
    each file alone, so no other file's function can start one for it); None when a
    checker cannot say.  Depends only on the models and the enabled checkers."""
    found = _starters(loaded)
    if found is None:
        return None
    relevant, deref_only = found
    return Prefilter(frozenset(s.encode() for s in relevant),
                     frozenset(s.encode() for s in deref_only))


def prefilter_identifiers(loaded: Loaded, headers: list[str],
                          roots: tuple[str, ...]) -> Prefilter | None:
    """What a TU must name to be worth parsing: an API that starts a checker's story,
    an iterator macro that performs one, or a function of the analyzed headers that
    calls one (its summary would carry it); None when a checker cannot say."""
    models = loaded.models
    found = _starters(loaded)
    if found is None:
        return None
    relevant, deref_only = found
    starters = relevant | deref_only
    calls: dict[str, frozenset[str]] = {}
    for h in headers:
        if roots and not any(os.path.realpath(h).startswith(os.path.realpath(r) + os.sep)
                             for r in roots):
            continue
        try:
            with open(h, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if Prefilter(frozenset(s.encode() for s in starters), frozenset()).matches(data):
            for fn in treesitter.parse_source(h, data, models.iterators()).functions:
                calls[fn.name] = called_names(build_cfg(fn, models.names("transparent")))
    grown = True
    while grown:                         # header functions calling starters, transitively
        new = {name for name, names in calls.items()
               if name not in relevant and names & (relevant | deref_only)}
        grown = bool(new)
        relevant |= new
    return Prefilter(frozenset(s.encode() for s in relevant),
                     frozenset(s.encode() for s in deref_only))
