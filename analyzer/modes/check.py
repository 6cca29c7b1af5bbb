"""``kref-lint [OPTIONS] PATH...``: analyze the .c and .h files under the paths; with
``--baseline OLD.sarif`` only findings not in OLD fail the run; with ``--diff REV`` the
run is :mod:`analyzer.modes.diff`'s.  Both render the same way (:func:`render`).

Exit codes: 0 no (new) findings, 1 findings, 2 (``EXIT_INCOMPLETE``) when a file could
not be analyzed (timeout, crash, unreadable, a fifo named on the command line, no compile
flags under ``--frontend clang``, ...): the report is still written, with every finding of
the other files, and stderr names each file.  Tool errors are raised as
:class:`~analyzer.errors.ToolError` (exit 2, by the command line).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace

from analyzer import __version__
from analyzer.modes import diff
from analyzer.modes import summarize as summaries
from analyzer.modes.console import Console, check_output, write_output
from analyzer.modes.settings import Settings, automation_id
from analyzer.pipeline.cache import ResultCache, default_dir
from analyzer.pipeline.discover import discover
from analyzer.pipeline.options import Loaded, Options
from analyzer.pipeline.plan import make_plan
from analyzer.pipeline.run import run_plan
from analyzer.pipeline.shard import parse_shard, select
from analyzer.pipeline.tree import header_tasks
from analyzer.report import json as json_report
from analyzer.report import sarif as sarif_report
from analyzer.report import text as text_report
from analyzer.results import baseline as bl
from analyzer.results.run import Provenance, RunInfo, RunResult, incomplete_line
from analyzer.vcs import git

#: A file was not analyzed: the report is incomplete (the code of a tool error: a CI
#: step that lets findings, exit 1, through still stops on it).
EXIT_INCOMPLETE = 2


@dataclass
class Request:
    paths: tuple[str, ...]
    fmt: str = "text"                     # text | sarif | json
    output: str | None = None
    frontend: str = "auto"
    compile_commands: str | None = None
    show_path: bool = False
    show_suppressed: bool = False
    statistics: bool = False
    no_cache: bool = False
    gitignore: bool = True
    diff_rev: str | None = None
    automation_id: str | None = None
    command_line: str = ""
    shard: str | None = None              # --shard K/N: this machine's files only
    prefilter: bool = True                # --no-prefilter: parse every file
    summaries_file: str | None = None     # --summaries FILE: pass 1's artifact
    summaries: bool = True                # --no-summaries: same-file summaries only


def options_for(req: Request, conf: Settings) -> Options:
    return Options(conf.rule_files, frozenset(conf.select) if conf.select else None,
                   frozenset(conf.ignore), "treesitter" if req.diff_rev else req.frontend,
                   compile_commands=os.path.abspath(req.compile_commands)
                   if req.compile_commands else None,
                   header_roots=tuple(os.path.abspath(p) for p in req.paths
                                      if os.path.isdir(p)),
                   kernel_version=conf.kernel.text)


def main(req: Request, conf: Settings, console: Console) -> int:
    started = time.monotonic()
    if req.output:
        check_output(req.output)
    options = options_for(req, conf)
    cache = None if req.no_cache else ResultCache(default_dir(), salt="")
    if req.diff_rev:
        run = diff.analyze(req.diff_rev, req.paths, options, conf, cache, console,
                           summaries=req.summaries)
    else:
        run = analyze(req, options, conf, cache, console)
    run.elapsed = time.monotonic() - started
    run.condense(detailed=console.show_diagnostics)
    return render(run, req, conf, console)


def analyze(req: Request, options: Options, conf: Settings, cache: ResultCache | None,
            console: Console) -> RunResult:
    """Discover, plan and run ``req.paths``; compared with the baseline when there is one."""
    base = bl.load(conf.baseline) if conf.baseline else None      # fail before the work
    shard = parse_shard(req.shard) if req.shard else None
    console.status("finding files ...")
    found = discover(list(req.paths), conf.excluder, req.gitignore)
    console.status(f"{len(found.files)} files found; planning (compile flags, pre-filter) ...")
    loaded = Loaded(options)
    extra = []
    if req.summaries_file or req.summaries:
        # pass 1 over every file (all shards alike), or its artifact; its cache is by
        # content (sound whatever changed), so it is kept also with --no-cache
        table = (summaries.load(req.summaries_file, req.paths, loaded, options.kernel_version)
                 if req.summaries_file else
                 summaries.compute(req.paths, found.files, options, loaded, conf.workers,
                                   summaries.cache_dir()))
        options = replace(options, summaries=table)
        loaded.options = options
        extra = header_tasks(table, found.files, req.prefilter)
    plan = make_plan(found.files, options, loaded, prefilter=req.prefilter)
    plan.order += [t.path for t in extra]
    plan.tasks += extra
    if shard is not None:
        # planned over every file (the same routing notes in every shard), run on ours
        plan = plan.only(select(plan.order, shard, found.root))
    with console.progress(len(plan.order)) as done:
        outcomes = run_plan(plan, options, conf.workers, cache, done)
    run = RunResult.from_outcomes(outcomes, found.root, [*found.notifications, *plan.notes])
    if base is not None:
        run.comparison = bl.compare(run.findings, run.suppressed, run.root, base)
    return run


def render(run: RunResult, req: Request, conf: Settings, console: Console) -> int:
    """Write the report, then the diagnostics and the summary; the exit code."""
    rules = conf.rules()
    cwd = os.getcwd()
    if req.fmt in ("sarif", "json"):
        kind = "kref-lint-diff" if req.diff_rev else "kref-lint"
        info = RunInfo(__version__, req.command_line,
                       req.automation_id or automation_id(req.paths, run.root, kind),
                       provenance(run.root), kernel_properties(conf))
        text = (sarif_report.dumps(sarif_report.build_sarif(run, rules, info))
                if req.fmt == "sarif" else
                json_report.dumps(json_report.build_json(run, rules, info)))
    elif req.statistics:
        text = text_report.statistics(run, rules)
    else:
        # paths relative to the working directory (else absolute): clickable in editors
        text = text_report.format_text(run, cwd, req.show_path, req.show_suppressed)
    if req.output:
        write_output(req.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    console.diagnostics(run, cwd)
    console.say(f"{text_report.summary_line(run.stats, len(run.findings))} in "
                f"{run.elapsed:.1f}s"
                + (f", {len(run.suppressed)} suppressed" if run.suppressed else ""))
    if run.comparison is not None:
        console.say(run.comparison.summary())
    if run.not_analyzed:
        console.error(incomplete_line(run.not_analyzed))
        return EXIT_INCOMPLETE
    return 1 if run.failing else 0


def kernel_properties(conf: Settings) -> dict:
    """SARIF ``run.properties``: the kernel version the API models were selected for."""
    return {"kernelVersion": conf.kernel.text or "unknown",
            "kernelVersionOrigin": conf.kernel.origin or "none (newest models)"}


def provenance(root: str) -> Provenance | None:
    state = git.state(root)
    if state is None:
        return None
    return Provenance(state.repository_uri, state.revision, state.branch)

