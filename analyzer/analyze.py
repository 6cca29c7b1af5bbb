"""Analyze files: read, parse with a frontend, run the checkers, collect the outcome.

``analyze_file`` is what a worker process runs for one file; it never raises for bad
input: unreadable, binary, non-UTF-8 or unparsable files become notifications and the
rest of the file (and of the run) is still analyzed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Optional

from analyzer.engine import Checker, analyze_function_full
from analyzer.models import Models, load_models
from analyzer.result import FileOutcome, Finding, Notification, Stats
from analyzer.pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, run_isolated
from analyzer.summaries import bottom_up

MAX_FILE_BYTES = 16 * 1024 * 1024

if TYPE_CHECKING:
    from analyzer.cache import ResultCache


@dataclass(frozen=True)
class Options:
    """Everything a worker needs to analyze a file (picklable)."""

    rule_files: tuple[str, ...] = ()
    select: Optional[frozenset[str]] = None
    ignore: frozenset[str] = frozenset()
    frontend: str = "treesitter"


@dataclass
class Analyzer:
    """Per-process state: models and checker instances, built once."""

    options: Options
    models: Models = field(init=False)
    checkers: list[Checker] = field(init=False)

    def __post_init__(self):
        from checkers import ALL

        self.models = load_models(self.options.rule_files)
        self.checkers = [cls() for cls in ALL if any(self._enabled(r.id) for r in cls.rules)]

    def _enabled(self, rule_id: str) -> bool:
        sel = self.options.select
        return (sel is None or rule_id in sel) and rule_id not in self.options.ignore

    def analyze_file(self, path: str) -> FileOutcome:
        out = FileOutcome(path)
        try:
            size = os.path.getsize(path)
            if size > MAX_FILE_BYTES:
                return _failed(out, f"file too large ({size} bytes > {MAX_FILE_BYTES}), "
                                    "not analyzed", "too-large")
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return _failed(out, f"cannot read file: {exc.strerror or exc}", "unreadable")
        if not data.strip():
            out.notifications.append(Notification("empty file, nothing to analyze", path, 0,
                                                  "note", "empty"))
            out.stats = Stats(files=1)
            return out
        if b"\0" in data[:8192]:
            return _failed(out, "binary file (NUL bytes), not analyzed", "binary")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.notifications.append(Notification(
                f"invalid UTF-8 at byte {exc.start}; read with replacement characters",
                path, data.count(b"\n", 0, exc.start) + 1, "note", "encoding"))
        return self.analyze_source(path, data, out)

    def analyze_source(self, path: str, data: bytes, out: Optional[FileOutcome] = None
                       ) -> FileOutcome:
        from analyzer.frontend import treesitter

        out = out or FileOutcome(path)
        try:
            source = treesitter.parse_source(path, data, self.models.iterators())
        except Exception as exc:  # a frontend bug must not lose the other files
            return _failed(out, f"internal error while parsing: {type(exc).__name__}: {exc}",
                           "internal-error")
        out.stats = Stats(files=1, functions=len(source.functions), degraded=source.degraded)
        for problem in source.errors:
            out.notifications.append(Notification(problem, path, 0, "warning", "parse-error"))
        if source.degraded:
            out.notifications.append(Notification(
                f"{source.degraded} statement(s) could not be parsed and were analyzed as "
                "opaque", path, 0, "note", "degraded"))
        lines = data.decode("utf-8", "replace").splitlines()
        models = self.models.overlay()          # this file's function summaries go here
        for fn, cfg in bottom_up(list(source.functions), models):
            try:
                result = analyze_function_full(fn, models, self.checkers, cfg)
            except Exception as exc:
                out.notifications.append(Notification(
                    f"internal error in {fn.name}(): {type(exc).__name__}: {exc}", path,
                    fn.span.line, "error", "internal-error"))
                continue
            for fact in result.summaries:
                models.add_summary(fact)
            out.notifications.extend(result.notifications)
            out.findings.extend(_with_snippet(f, lines) for f in result.findings
                                if self._enabled(f.rule_id))
        out.findings.sort(key=Finding.sort_key)
        return out


def _failed(out: FileOutcome, message: str, kind: str) -> FileOutcome:
    out.notifications.append(Notification(message, out.path, 0, "error", kind))
    out.stats = Stats(files=1, failed_files=1)
    return out


def _with_snippet(f: Finding, lines: list[str]) -> Finding:
    line = lines[f.span.line - 1].strip() if 0 < f.span.line <= len(lines) else ""
    return replace(f, snippet=line)


# ------------------------------------------------------------------ running many files
class _Task:
    """What a worker process runs: an Analyzer built once per worker."""

    def __init__(self, options: Options):
        self.options = options

    def __call__(self):
        return Analyzer(self.options).analyze_file


def analyze_files(paths: Iterable[str], options: Options, jobs: int = 1,
                  cache: Optional["ResultCache"] = None,
                  timeout: float = DEFAULT_TIMEOUT) -> list[FileOutcome]:
    """Analyze every file; results in the order of ``paths``.

    Cached outcomes are reused; the rest run in isolated worker processes (a crash,
    hang or memory blow-up takes only its own file, as a notification), or in this
    process for a single job of tree-sitter work, which cannot crash it."""
    paths = list(paths)
    results: dict[int, FileOutcome] = {}
    keys: dict[int, Optional[str]] = {}
    if cache is not None:
        extra = repr(options)
        for i, p in enumerate(paths):
            keys[i] = cache.key(p, extra)
            hit = cache.get(keys[i])
            if hit is not None:
                results[i] = hit
    todo = [i for i in range(len(paths)) if i not in results]
    if jobs <= 1 and options.frontend == "treesitter":
        analyzer = Analyzer(options)
        fresh = [analyzer.analyze_file(paths[i]) for i in todo]
    else:
        fresh = run_isolated([paths[i] for i in todo], _Task(options), jobs,
                             float(os.environ.get("KREF_LINT_TIMEOUT", timeout)),
                             int(os.environ.get("KREF_LINT_WORKER_MEMORY", DEFAULT_MEMORY)))
    for i, outcome in zip(todo, fresh):
        results[i] = outcome
        if cache is not None and not any(n.level == "error" for n in outcome.notifications):
            cache.put(keys.get(i), outcome, outcome.headers)
    return [results[i] for i in range(len(paths))]
