"""``kref-lint summarize PATH... -o FILE``: pass 1 alone -- the tree-wide summaries of the
analyzed paths, written as one artifact that ``--summaries FILE`` reads (CI: compute it
once, give it to every ``--shard K/N`` job).  And how the check mode gets its table:
from ``--summaries FILE`` (checked against this run's rules and version), else computed.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from analyzer.errors import ToolError
from analyzer.modes.console import Console, check_output, write_output
from analyzer.modes.settings import Settings
from analyzer.pipeline.cache import default_dir
from analyzer.pipeline.discover import discover
from analyzer.pipeline.options import Loaded, Options
from analyzer.pipeline.tree import Pass1, apart, tree_root
from analyzer.summaries.table import SummaryFileError, SummaryTable


class SummariesError(ToolError):
    """A ``--summaries`` file that cannot be used for this run (exit 2)."""


def cache_dir() -> Path:
    """Pass 1's cache (by content, hence kept also when ``--no-cache`` bypasses the
    results): ``~/.cache/kref-lint/pass1`` beside the default result cache, and
    ``pass1/`` inside a ``KREF_LINT_CACHE_DIR`` (beside it, a cache directory under /tmp
    would put it in /tmp/pass1, shared with every other run; the result cache's entries
    are two-hex-digit directories, so the name cannot collide)."""
    env = os.environ.get("KREF_LINT_CACHE_DIR")
    return Path(env) / "pass1" if env else default_dir().parent / "pass1"


def compute(paths: Sequence[str], files: Sequence[str], options: Options, loaded: Loaded,
            jobs: int, cache_dir: Path | None) -> SummaryTable:
    def pass1() -> SummaryTable:
        p1 = Pass1(options, loaded, jobs, cache_dir)
        result = p1.summarize(files, paths)
        p1.save()
        return result.table

    return apart(pass1)            # pass 1's structures never reach this process


def sides(root: str, now: Sequence[str], before: Sequence[str], shadow: dict[str, str],
          options: Options, loaded: Loaded, jobs: int) -> tuple[Options, Options]:
    """The options of a comparison's two sides (``--diff``, ``check-patch``), each with
    its own tree-wide summaries: ``now`` in the tree as it is, ``before`` (copies, see
    ``shadow``: copy -> the tree's file) standing for the tree's versions of them."""
    def pass1() -> tuple[SummaryTable, SummaryTable]:
        p1 = Pass1(options, loaded, jobs, cache_dir())
        tables = p1.summarize(now, [root]).table, p1.summarize(before, [root], shadow).table
        p1.save()
        return tables

    table_now, table_before = apart(pass1)
    return replace(options, summaries=table_now), replace(options, summaries=table_before)


def load(path: str, paths: Sequence[str], loaded: Loaded, kernel: str | None
         ) -> SummaryTable:
    """The artifact at ``path``, for a run over ``paths`` with these models."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SummariesError(f"--summaries {path}: cannot read: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    given = list(paths) or ["."]
    root = tree_root(given) or os.path.commonpath([os.path.abspath(p) for p in given])
    try:
        table = SummaryTable.load(text, root, f"--summaries {path}")
    except SummaryFileError as exc:
        raise SummariesError(str(exc)) from None
    want = loaded.models.fingerprint()
    if table.meta.get("models") != want or table.meta.get("kernel_version") != kernel:
        raise SummariesError(
            f"--summaries {path}: computed with other API models or another kernel "
            f"version ({table.meta.get('kernel_version') or 'none'}) than this run "
            f"({kernel or 'none'}): run `kref-lint summarize` with this run's --rules and "
            "--kernel-version")
    return table


def main(paths: Sequence[str], output: str, options: Options, conf: Settings,
         console: Console, no_cache: bool) -> int:
    started = time.monotonic()
    check_output(output)
    found = discover(list(paths), conf.excluder)
    loaded = Loaded(options)
    p1 = Pass1(options, loaded, conf.workers, None if no_cache else cache_dir())
    result = p1.summarize(found.files, paths)
    p1.save()
    write_output(output, result.table.dump())
    s = result.stats
    console.say(f"summaries: {len(result.files)} files, {s.functions} functions, "
                f"{s.analyzed} analyzed, {s.with_facts} with facts, "
                f"{len(result.table.meta.get('checked') or {})} headers checked, in "
                f"{time.monotonic() - started:.1f}s")
    return 0
