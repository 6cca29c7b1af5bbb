"""What ``kref-lint check`` needs around the analysis: the configuration file merged with
the command line, the ``--diff`` run, and the SARIF ``runAutomationDetails`` id.

Kept out of :mod:`analyzer.cli` so that the command stays a readable list of steps."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Optional, Sequence

from analyzer.results.baseline import Baseline, from_log
from analyzer.modes.config import Config, Excluder, find_config, load_config
from analyzer.pipeline.discover import Discovery
from analyzer.report.text import relative_to_root
from analyzer.result import FileOutcome


@dataclass
class Settings:
    """The effective settings: the command line where given, else the config file."""

    config: Config
    select: list[str]
    ignore: list[str]
    rule_files: tuple[str, ...]
    jobs: Optional[int]
    baseline: Optional[str]
    excluder: Excluder

    def origin(self, option: str, given_on_cli: bool) -> str:
        """How to name a setting in an error: the flag, or the key and its file."""
        if given_on_cli or not self.config.path:
            return option
        return f"'{option.lstrip('-')}' in {self.config.path}"


def settings(config_file: Optional[str], no_config: bool, start: Sequence[str], *,
             select: Optional[list[str]], ignore: Optional[list[str]],
             rule_files: Sequence[str],
             jobs: Optional[int], baseline: Optional[str], no_baseline: bool,
             exclude: Sequence[str]) -> Settings:
    """Merge: a flag given on the command line replaces the file's value for it
    (``select``/``ignore`` None: not given; ``--ignore ''`` clears the file's list).
    Raises :class:`analyzer.config.ConfigError`."""
    path = None if no_config else (config_file or find_config(start))
    cfg = load_config(path)
    return Settings(
        config=cfg,
        select=select if select is not None else list(cfg.select or ()),
        ignore=ignore if ignore is not None else list(cfg.ignore or ()),
        rule_files=tuple(os.path.abspath(f) for f in rule_files) if rule_files
        else (cfg.rules or ()),
        jobs=jobs or cfg.jobs,
        baseline=None if no_baseline else (os.path.abspath(baseline) if baseline
                                           else cfg.baseline),
        excluder=cfg.excluder(exclude),
    )


def exclude_files(found: Discovery, excluder: Excluder) -> int:
    """Drop excluded files from ``found``; how many were dropped."""
    if not excluder:
        return 0
    before = len(found.files)
    found.files = [f for f in found.files if not excluder.excluded(f)]
    return before - len(found.files)


def automation_id(paths: Sequence[str], root: str, kind: str = "kref-lint") -> str:
    """``runAutomationDetails.id``: ``kind/`` and the analyzed paths relative to the tree
    root (``kref-lint/mm/``, ``kref-lint/mm+virt/kvm/``), so that each CI job that
    analyzes a different part of a tree uploads its own category (GitHub code scanning
    replaces the alerts of a category with each upload)."""
    rels = []
    for p in paths:
        rel = relative_to_root(os.path.abspath(p), root)
        if rel in (None, ".", ""):       # the root itself (no git root above) or outside
            rel = os.path.normpath(p) if not os.path.isabs(p) else os.path.basename(
                os.path.normpath(p))
        rels.append("" if rel == "." else rel.replace(os.sep, "/"))
    joined = "+".join(sorted(set(r.strip("/") for r in rels if r.strip("/"))))
    return f"{kind}/{joined}/" if joined else f"{kind}/"


def diff_analysis(rev: str, paths: Sequence[str], options, jobs: int, excluder: Excluder,
                  cache, rules, tool_version: str
                  ) -> tuple[Discovery, Baseline, list[FileOutcome]]:
    """Analyze the C sources changed between ``rev`` and the working tree, as they are
    now (the run) and as they were at ``rev`` (the baseline).  Raises
    :class:`analyzer.gitdiff.GitError`."""
    from analyzer.pipeline.file import analyze_files
    from analyzer.vcs.git import changes, materialize, toplevel
    from analyzer.report.sarif import build_sarif

    cwd = os.getcwd()
    root = toplevel(cwd)
    commit, todo = changes(rev, paths, cwd)
    todo = [c for c in todo
            if not excluder.excluded(os.path.join(root, c.new_path or c.old_path))]
    now = []
    for c in todo:
        if c.new_path:
            p = os.path.join(root, *c.new_path.split("/"))
            if os.path.isfile(p) and not os.path.islink(p):
                now.append(p)
    outcomes = analyze_files(sorted(now), options, jobs, cache)
    with tempfile.TemporaryDirectory(prefix="kref-lint-diff-") as tmp:
        old_files = materialize(root, todo, tmp)
        old = analyze_files(sorted(old_files), options, jobs, None)
        old_findings = [f for o in old for f in (*o.findings, *o.suppressed)]
        log = build_sarif(old_findings, [], list(rules), tmp, tool_version)
    base = from_log(log, f"{rev} ({commit[:12]})")
    return Discovery(sorted(now), [], root), base, outcomes
