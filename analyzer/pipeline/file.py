"""Analyze files: read, parse with a frontend, run the checkers, collect the outcome.

``analyze_file`` is what a worker process runs for one file; it never raises for bad
input: unreadable, binary, non-UTF-8 or unparsable files become notifications and the
rest of the file (and of the run) is still analyzed.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Optional

from analyzer.cfg import build_cfg
from analyzer.engine import Checker, analyze_function_full, called_names
from analyzer.frontend import treesitter
from analyzer.models import Models, load_models
from analyzer.result import FileOutcome, Finding, Notification, Stats
from analyzer.pipeline.pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, run_isolated
from analyzer.summaries import bottom_up
from analyzer.results.suppress import suppress_file

MAX_FILE_BYTES = 16 * 1024 * 1024

if TYPE_CHECKING:
    from analyzer.pipeline.cache import ResultCache


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
                return out.fail(f"file too large ({size} bytes > {MAX_FILE_BYTES}), "
                                    "not analyzed", "too-large")
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return out.fail(f"cannot read file: {exc.strerror or exc}", "unreadable")
        if not data.strip():
            out.notifications.append(Notification("empty file, nothing to analyze", path, 0,
                                                  "note", "empty"))
            out.stats = Stats(files=1)
            return out
        if b"\0" in data[:8192]:
            return out.fail("binary file (NUL bytes), not analyzed", "binary")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.notifications.append(Notification(
                f"invalid UTF-8 at byte {exc.start}; read with replacement characters",
                path, data.count(b"\n", 0, exc.start) + 1, "note", "encoding"))
        return self.analyze_source(path, data, out)

    def analyze_source(self, path: str, data: bytes, out: Optional[FileOutcome] = None
                       ) -> FileOutcome:
        out = out or FileOutcome(path)
        headers: tuple = ()
        try:
            parsed = None
            if self.options.frontend == "clang":
                parsed = self._parse_clang(path, data, out)
                if parsed is None:
                    return out
            if parsed:
                source, headers = parsed
                out.covered = tuple(h.path for h in headers)
            else:                       # tree-sitter, or clang's fallback to it
                source = treesitter.parse_source(path, data, self.models.iterators())
        except Exception as exc:  # a frontend bug must not lose the other files
            return out.fail(f"internal error while parsing: {type(exc).__name__}: {exc}",
                           "internal-error")
        out.stats = Stats(files=1, functions=len(source.functions) + sum(
            len(h.functions) for h in headers), degraded=source.degraded)
        for problem in source.errors:
            line, _, text = problem.partition(": ") if problem.startswith("line ") else (
                "line 0", "", problem)
            out.notifications.append(Notification(text, path, int(line.split()[1]),
                                                  "warning", "parse-error"))
        if source.degraded:
            out.notifications.append(Notification(
                f"{source.degraded} statement(s) could not be parsed and were analyzed as "
                "opaque", path, 0, "note", "degraded"))
        # split("\n"), not splitlines(): a form feed (common in kernel sources) is no line end
        lines = data.decode("utf-8", "replace").split("\n")
        models = self.models.overlay()          # this file's function summaries go here
        functions = list(source.functions) + [f for h in headers for f in h.functions]
        for fn, cfg, names in bottom_up(functions, models):
            try:
                result = analyze_function_full(fn, models, self.checkers, cfg, names)
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
        """The libclang frontend: (main SourceFile, walked header SourceFiles); None when
        the file cannot go through it (``out`` then says why); ``()`` when it must go
        through tree-sitter instead (``out`` says why)."""
        from analyzer.pipeline.flags import FlagResolver
        from analyzer.frontend import clang

        args = self.options.clang_args
        if args is None:
            resolver = self.__dict__.get("_flags")
            if resolver is None:                 # one per worker: the database is read once
                resolver = self.__dict__["_flags"] = FlagResolver(self.options.compile_commands)
            flags = resolver.resolve(path)
            while resolver.errors:               # an unreadable database: said once
                out.notifications.append(Notification(resolver.errors.pop(), path, 0,
                                                      "warning", "compile-db"))
            if flags is None:
                out.fail(resolver.why_not(path), "no-flags")
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
        if tu.errors and args is not self.options.clang_args and flags.origin == "synthesized":
            # Synthesized flags cannot know what .config builds: a file the configuration
            # leaves out fails to compile; its source is still worth reading.
            out.notifications.append(Notification(
                f"{tu.errors} clang error(s) with flags synthesized for the tree (not built "
                f"in this configuration?): analyzed with tree-sitter", path, 0, "note",
                "frontend"))
            out.headers = ()
            return ()
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

    ``options.frontend``: ``treesitter`` reads every file raw.  ``clang`` and ``auto``
    send each .c file with compile flags (its compile_commands.json entry, else flags
    synthesized for a prepared kernel tree) through libclang, together with the inline
    functions of the headers under ``options.header_roots`` it includes; a .c file that
    names no API any checker starts from is not parsed at all (the pre-filter).  Headers
    no parsed TU covered, and (``auto`` only) .c files without flags, go through
    tree-sitter, with one note saying why.  A finding in a header reached from several
    TUs is reported once."""
    paths = list(paths)
    if options.frontend == "treesitter":
        return _run(paths, options, jobs, cache, timeout)
    from analyzer.pipeline.flags import FlagResolver

    resolver = FlagResolver(options.compile_commands)
    sources = [p for p in paths if p.endswith(".c")]
    with_flags, without = [], []
    for p in sources:
        flags = resolver.resolve(p)
        # A tree with a compile database builds what it lists: a file missing from it
        # is not built in this configuration (synthesized flags would not compile it).
        if flags is None or (flags.origin == "synthesized" and resolver.database_for(p)):
            without.append(p)
        else:
            with_flags.append(p)
    out: dict[str, FileOutcome] = {}
    note = None
    if without:
        why = resolver.why_not(without[0]) if not with_flags else (
            "not in the compile database (not built in this configuration)")
        if options.frontend == "clang":
            for p in without:
                out[p] = FileOutcome(p).fail(f"--frontend clang: {why}", "no-flags")
        else:
            note = Notification(f"{len(without)} of {len(sources)} .c file(s) analyzed with "
                                f"tree-sitter: {why}", "", 0, "note", "frontend")
    analyzer = Analyzer(replace(options, frontend="treesitter"))
    prefilter = prefilter_identifiers(analyzer, [p for p in paths if not p.endswith(".c")],
                                      options.header_roots)
    parse = []
    for p in with_flags:
        if prefilter is None or _names_any(p, prefilter):
            parse.append(p)
        else:
            out[p] = FileOutcome(p, stats=Stats(files=1, skipped=1))
    clang_opts = replace(options, frontend="clang")
    for p, o in zip(parse, _run(parse, clang_opts, jobs, cache, timeout)):
        out[p] = o
    covered = {os.path.realpath(h) for o in out.values() for h in o.covered}
    rest = [p for p in paths if p not in out and (
        p.endswith(".c") or os.path.realpath(p) not in covered)]
    ts = _run(rest, replace(options, frontend="treesitter"), jobs, cache, timeout)
    for p, o in zip(rest, ts):
        out[p] = o
    for p in paths:
        out.setdefault(p, FileOutcome(p, stats=Stats(files=1)))   # covered headers
    _dedup_header_findings(list(out.values()))
    if note is not None and without:
        out[without[0]].notifications.insert(0, note)
    return [out[p] for p in paths]


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
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return True                      # let the analysis report the problem
    return prefilter.matches(data)


def prefilter_identifiers(analyzer: "Analyzer", headers: list[str],
                          roots: tuple[str, ...]) -> Optional[Prefilter]:
    """What a TU must name to be worth parsing: an API that starts a checker's story,
    an iterator macro that performs one, or a function of the analyzed headers that
    calls one (its summary would carry it); None when a checker cannot say."""
    models = analyzer.models
    starters: set[str] = set()
    for checker in analyzer.checkers:
        mine = checker.starters(models)
        if mine is None:
            return None
        starters |= mine
    starters |= {name for name, it in models.iterators().items() if it.step in starters}
    deref_only = {n for n in starters
                  if (m := models.get("lockless_read", n)) and m.get("deref_only")}
    relevant = starters - deref_only
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


def _run(paths: Iterable[str], options: Options, jobs: int = 1,
                  cache: Optional["ResultCache"] = None,
                  timeout: float = DEFAULT_TIMEOUT) -> list[FileOutcome]:
    """Analyze every file with one frontend; results in the order of ``paths``.

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
