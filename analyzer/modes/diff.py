"""``kref-lint --diff REV [PATH...]``: the findings a change introduces.

The changed ``.c``/``.h`` files between ``REV`` and the working tree (staged and unstaged
changes, and untracked files git does not ignore) are analyzed twice: as they are now, in
place, and as they were at ``REV``, from blobs read with ``git cat-file`` into a private
temporary directory that mirrors their paths (a renamed file's old text goes under its
new name, so its old findings still match).  The analysis at ``REV`` is the baseline of
the run (:func:`analyzer.results.baseline.from_findings`, no detour through SARIF): only
findings it does not have are ``new``.  The working tree, the index and the repository
are only read.

With tree-wide summaries (the default), each side gets its own pass 1 over the tree
(cached by content, so the second run on a tree is cheap): the files now, and the files
at ``REV`` standing for the tree's versions of them -- a change to a helper in one file
shows in its callers' findings in the others.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace

from analyzer.ir import Span
from analyzer.modes import summarize
from analyzer.modes.console import Console
from analyzer.modes.settings import Settings
from analyzer.pipeline.cache import ResultCache
from analyzer.pipeline.discover import SOURCE_SUFFIXES
from analyzer.pipeline.options import Loaded, Options
from analyzer.pipeline.plan import make_plan
from analyzer.pipeline.run import run_plan
from analyzer.pipeline.tree import tree_root
from analyzer.result import Finding, Step
from analyzer.results import baseline as bl
from analyzer.results.run import RunResult
from analyzer.vcs import git


def analyze(rev: str, paths: Sequence[str], options: Options, conf: Settings,
            cache: ResultCache | None, console: Console, summaries: bool = False
            ) -> RunResult:
    """The run of the changed files now, compared with the same files at ``rev``.
    Raises :class:`analyzer.vcs.git.GitError`."""
    cwd = os.getcwd()
    root = git.toplevel(cwd)
    commit, todo = git.changes(rev, paths, cwd, SOURCE_SUFFIXES)
    todo = [c for c in todo
            if not conf.excluder.excluded(os.path.join(root, c.new_path or c.old_path or ""))]
    now = []
    for c in todo:
        if c.new_path:
            p = os.path.join(root, *c.new_path.split("/"))
            if os.path.isfile(p) and not os.path.islink(p):
                now.append(p)
    with tempfile.TemporaryDirectory(prefix="kref-lint-diff-") as tmp:
        old_files = sorted(git.materialize(root, todo, tmp))
        options_now = options_old = options
        if summaries and tree_root([root]) is not None:   # (else: the changed files only)
            console.status("tree-wide summaries (pass 1) ...")
            shadow = {p: os.path.join(root, os.path.relpath(p, tmp)) for p in old_files}
            options_now, options_old = summarize.sides(
                root, sorted(now), old_files, shadow, options, Loaded(options), conf.workers)
        plan_now = make_plan(sorted(now), options_now)
        plan_old = make_plan(old_files, options_old)
        with console.progress(len(plan_now.order) + len(plan_old.order)) as done:
            outcomes = run_plan(plan_now, options_now, conf.workers, cache, done)
            old = run_plan(plan_old, options_old, conf.workers, None, done)
        old_findings = [_moved(f, tmp, root) for o in old for f in (*o.findings, *o.suppressed)]
    base = bl.from_findings(old_findings, root, f"{rev} ({commit[:12]})")
    run = RunResult.from_outcomes(outcomes, root, plan_now.notes)
    run.comparison = bl.compare(run.findings, run.suppressed, root, base)
    return run


def _moved(f: Finding, tmp: str, root: str) -> Finding:
    """A finding at REV, its paths moved from the private copy to the tree's."""
    def span(s: Span) -> Span:
        rel = os.path.relpath(s.file, tmp)
        return s if rel.startswith("..") else replace(s, file=os.path.join(root, rel))

    def steps(ss: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(replace(s, span=span(s.span)) for s in ss)

    return replace(f, span=span(f.span), trail=steps(f.trail), related=steps(f.related))
