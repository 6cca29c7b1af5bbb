"""Run a plan: cached outcomes are reused, the rest are analyzed in isolated worker
processes, whatever ``-j`` says (a crash, a file past its CPU time or memory limit takes
only its own file, as a notification),
libclang TUs first so that the headers whose inline functions they walked are not read
a second time; a finding in a header reached from several TUs is reported once.

:func:`analyze_files` is plan + run for callers that need no routing notes.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

from analyzer.pipeline.cache import ResultCache
from analyzer.pipeline.file import Analyzer
from analyzer.pipeline.options import FileTask, Options, task_path
from analyzer.pipeline.plan import Plan, make_plan
from analyzer.pipeline.pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, run_isolated
from analyzer.results.outcome import FileOutcome, Stats

#: Called once per file with its outcome, as it is known (progress display).
Progress = Callable[[FileOutcome], None]


class _Task:
    """What a worker process runs: an Analyzer built once per worker."""

    def __init__(self, options: Options):
        self.options = options

    def __call__(self):
        return Analyzer(self.options).analyze


def run_plan(plan: Plan, options: Options, jobs: int = 1,
             cache: ResultCache | None = None, progress: Progress | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> list[FileOutcome]:
    """Every planned file's outcome, in the order of ``plan.order``."""
    out: dict[str, FileOutcome] = dict(plan.done)
    if progress is not None:
        for o in plan.done.values():
            progress(o)
    first = [t for t in plan.tasks if t.frontend == "clang"]
    for t, o in zip(first, _run(first, options, jobs, cache, timeout, progress)):
        out[t.path] = o
    covered = {os.path.realpath(h) for o in out.values() for h in o.covered}
    rest = []
    for t in plan.tasks:
        if t.frontend == "clang":
            continue
        if t.unless_covered and os.path.realpath(t.path) in covered:
            out[t.path] = FileOutcome(t.path, stats=Stats(files=1))   # walked with a TU
            if progress is not None:
                progress(out[t.path])
        else:
            rest.append(t)
    for t, o in zip(rest, _run(rest, options, jobs, cache, timeout, progress)):
        out[t.path] = o
    outcomes = [out[p] for p in plan.order]
    _dedup_header_findings(outcomes)
    return outcomes


def analyze_files(paths: Iterable[str], options: Options, jobs: int = 1,
                  cache: ResultCache | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> list[FileOutcome]:
    """Plan and run ``paths``; outcomes in their order (routing notes dropped)."""
    return run_plan(make_plan(paths, options), options, jobs, cache, timeout=timeout)


def _dedup_header_findings(outcomes: list[FileOutcome]) -> None:
    """A header function analyzed with several TUs reports each finding once."""
    seen: set[tuple] = set()
    for o in outcomes:
        for attr in ("findings", "suppressed"):
            kept = []
            for f in getattr(o, attr):
                if f.span.file != o.path:
                    k = (attr, f.rule_id, f.span, f.message)
                    if k in seen:
                        continue
                    seen.add(k)
                kept.append(f)
            setattr(o, attr, kept)


def _run(tasks: list[FileTask], options: Options, jobs: int, cache: ResultCache | None,
         timeout: float, progress: Progress | None) -> list[FileOutcome]:
    """Analyze every task; results in the order of ``tasks``.

    Cached outcomes are reused; the rest run in isolated worker processes, also for a
    single job: the per-file limits of CPU time and memory hold whatever ``-j`` says
    (tree-sitter cannot crash this process, but a file can still take minutes or
    gigabytes, or be a fifo by the time it is read)."""
    results: dict[int, FileOutcome] = {}
    keys: dict[int, str | None] = {}
    if cache is not None:
        salt = options.cache_salt()
        for i, t in enumerate(tasks):
            keys[i] = cache.key(t.path, t.cache_key() + salt)
            hit = cache.get(keys[i])
            table = options.summaries
            if hit is not None and table is not None and not table.still_valid(
                    hit.summaries_used, t.path):
                hit = None                        # a summary it used has changed
                cache.hits -= 1
                cache.misses += 1
            if hit is not None:
                results[i] = hit
                if progress is not None:
                    progress(hit)
    todo = [i for i in range(len(tasks)) if i not in results]
    if os.environ.get("KREF_LINT_DEBUG") and cache is not None:
        print(f"kref-lint: pass 2: {len(results)} cached, {len(todo)} to analyze: "
              f"{' '.join(tasks[i].path for i in todo[:8])}"
              f"{' ...' if len(todo) > 8 else ''}", file=sys.stderr, flush=True)
    fresh = run_isolated([tasks[i] for i in todo], _Task(options), jobs,
                         float(os.environ.get("KREF_LINT_TIMEOUT", timeout)),
                         int(os.environ.get("KREF_LINT_WORKER_MEMORY", DEFAULT_MEMORY)),
                         path_of=task_path, on_done=progress)
    for i, outcome in zip(todo, fresh):
        results[i] = outcome
        if cache is not None and not any(n.level == "error" for n in outcome.notifications):
            cache.put(keys.get(i), outcome, outcome.headers)
    return [results[i] for i in range(len(tasks))]
