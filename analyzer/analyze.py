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
from analyzer.suppress import suppress_file

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
    # clang frontend: explicit flags (else resolved by analyzer.flags), the compile
    # database to use (else the nearest one), and the analyzed paths whose headers'
    # inline functions are walked from the TUs that include them
    clang_args: Optional[tuple[str, ...]] = None
    compile_commands: Optional[str] = None
    header_roots: tuple[str, ...] = ()


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
        headers: tuple = ()
        try:
            if self.options.frontend == "clang":
                parsed = self._parse_clang(path, data, out)
                if parsed is None:
                    return out
                source, headers = parsed
            else:
                source = treesitter.parse_source(path, data, self.models.iterators())
        except Exception as exc:  # a frontend bug must not lose the other files
            return _failed(out, f"internal error while parsing: {type(exc).__name__}: {exc}",
                           "internal-error")
        out.stats = Stats(files=1, functions=len(source.functions) + sum(
            len(h.functions) for h in headers), degraded=source.degraded)
        for problem in source.errors:
            out.notifications.append(Notification(problem, path, 0, "warning", "parse-error"))
        if source.degraded:
            out.notifications.append(Notification(
                f"{source.degraded} statement(s) could not be parsed and were analyzed as "
                "opaque", path, 0, "note", "degraded"))
        # split("\n"), not splitlines(): a form feed (common in kernel sources) is no line end
        lines = data.decode("utf-8", "replace").split("\n")
        models = self.models.overlay()          # this file's function summaries go here
        functions = list(source.functions) + [f for h in headers for f in h.functions]
        for fn, cfg in bottom_up(functions, models):
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
            out.findings.extend(_with_snippet(f, lines if f.span.file == path
                                              else _lines_of(f.span.file))
                                for f in result.findings if self._enabled(f.rule_id))
        elsewhere = [f for f in out.findings if f.span.file != path]    # clang: headers
        out.findings, out.suppressed, notes = suppress_file(
            path, lines, [f for f in out.findings if f.span.file == path], _known_rule_ids())
        out.notifications.extend(notes)
        for hpath in sorted({f.span.file for f in elsewhere}):
            active, suppressed, notes = suppress_file(
                hpath, _lines_of(hpath), [f for f in elsewhere if f.span.file == hpath],
                _known_rule_ids())
            out.findings += active
            out.suppressed += suppressed
            out.notifications.extend(notes)
        out.findings.sort(key=Finding.sort_key)
        return out

    def _parse_clang(self, path: str, data: bytes, out: FileOutcome):
        """The libclang frontend: (main SourceFile, walked header SourceFiles), or None
        when the file cannot go through it (``out`` then says why)."""
        from analyzer.flags import FlagResolver
        from analyzer.frontend import clang

        args = self.options.clang_args
        if args is None:
            resolver = FlagResolver(self.options.compile_commands)
            flags = resolver.resolve(path)
            if flags is None:
                _failed(out, resolver.why_not(path), "no-flags")
                return None
            args = flags.args
        roots = self.options.header_roots
        tu = clang.parse_tu(path, args, self.models.iterators(), self.models.identifiers(),
                            headers=clang.under(roots) if roots else None, data=data)
        out.headers = tu.includes
        for problem in tu.flag_problems:
            out.notifications.append(Notification(f"compile flag ignored by clang: {problem}",
                                                  path, 0, "note", "clang-flags"))
        main, headers = tu.files[0], tuple(tu.files[1:])
        if tu.errors:
            out.notifications.append(Notification(
                f"{tu.errors} clang error(s): the file was analyzed as clang recovered it",
                path, 0, "warning", "parse-error"))
        return main, headers


def _lines_of(path: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").split("\n")
    except OSError:
        return []


def _known_rule_ids() -> frozenset[str]:
    from checkers import all_rules

    return frozenset(r.id for r in all_rules())


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
