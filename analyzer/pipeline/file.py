"""Analyze one file: read it, parse it with the frontend its task names, run the
checkers, apply in-source suppressions, and record what the reports need about it.

:meth:`Analyzer.analyze` is what a worker process runs for one
:class:`~analyzer.pipeline.plan.FileTask`; it never raises for bad input: unreadable,
binary, non-UTF-8 or unparsable files become notifications and the rest of the file (and
of the run) is still analyzed.  Besides findings, the outcome keeps the text of every
line a finding names and GitHub's line hash of each reported line, so reports never need
to re-read a file that may have changed (or, for ``check-patch``, never existed in the
tree).
"""
from __future__ import annotations

from dataclasses import replace
from functools import cached_property

from analyzer.engine import analyze_function_full
from analyzer.engine.origins import unheld_args
from analyzer.engine.stores import caller_context, member_stores, null_guards
from analyzer.frontend import clang, treesitter
from analyzer.pipeline.discover import FileTooLarge, NotRegularFile, read_source
from analyzer.pipeline.options import FileTask, Loaded
from analyzer.pipeline.plan import Prefilter, make_plan, starter_prefilter
from analyzer.result import Finding, Notification
from analyzer.results.identity import line_hashes
from analyzer.results.outcome import FileOutcome, Stats
from analyzer.results.suppress import suppress_file
from analyzer.summaries import bottom_up
from analyzer.summaries.table import PASSED
from checkers import all_rules

MAX_FILE_BYTES = 16 * 1024 * 1024          # parsed at most
MAX_READ_BYTES = 256 * 1024 * 1024         # read at most, for the pre-filter


class Analyzer(Loaded):
    """Per-process state (models and checkers, built once) and the analysis of a file."""

    def analyze_file(self, path: str) -> FileOutcome:
        """Analyze ``path`` in this process, routed as a run of that one file would be,
        but parsed whatever it names (tests, fixtures).  Raises
        :class:`~analyzer.pipeline.plan.PlanError`."""
        plan = make_plan([path], self.options, self, prefilter=False)
        if path in plan.done:
            return plan.done[path]
        return self.analyze(plan.tasks[0])

    @cached_property
    def starters(self) -> Prefilter | None:
        """The tree-sitter pre-filter (see :func:`starter_prefilter`), built once; with
        tree-wide summaries, a file calling a function summarized in a section that
        starts a checker's story is worth parsing too."""
        got = starter_prefilter(self)
        table = self.options.summaries
        if got is None or table is None:
            return got
        # a starter is a section name or (section, {key: value}) (Checker.starter_sections)
        starting = {s if isinstance(s, str) else s[0] for c in self.checkers
                    for s in c.starter_sections}
        extra = {n.encode() for n, ds in table.by_name.items()
                 if any(m.section in starting for d in ds for m in d.facts)}
        return Prefilter(got.idents | frozenset(extra), got.deref_only)

    def analyze(self, task: FileTask) -> FileOutcome:
        path = task.path
        out = FileOutcome(path)
        # a generated register header of 24 MB that names no API is not parsed at all:
        # the parser's bound applies to what is parsed (below), reading to a larger one
        prefiltered = task.prefilter and task.frontend == "treesitter"
        try:
            data = read_source(path, MAX_READ_BYTES if prefiltered else MAX_FILE_BYTES)
        except FileTooLarge as exc:
            return out.fail(f"{exc.strerror}, not analyzed", "too-large")
        except NotRegularFile as exc:
            return out.fail(f"{exc.strerror}, not analyzed", "not-regular")
        except OSError as exc:
            return out.fail(f"cannot read file: {exc.strerror or exc}", "unreadable")
        if not data.strip():
            out.notifications.append(Notification("empty file, nothing to analyze", path, 0,
                                                  "note", "empty"))
            out.stats = Stats(files=1)
            return out
        if b"\0" in data[:8192]:
            return out.fail("binary file (NUL bytes), not analyzed", "binary")
        if prefiltered:
            wanted = self.starters
            if wanted is not None and not wanted.matches(data):
                out.stats = Stats(files=1, skipped=1)       # cannot produce a finding
                return out
        if len(data) > MAX_FILE_BYTES:
            return out.fail(f"file too large ({len(data)} bytes > {MAX_FILE_BYTES}), not "
                            "analyzed", "too-large")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.notifications.append(Notification(
                f"invalid UTF-8 at byte {exc.start}; read with replacement characters",
                path, data.count(b"\n", 0, exc.start) + 1, "note", "encoding"))
        return self.analyze_source(task, data, out)

    def analyze_source(self, task: FileTask, data: bytes,
                       out: FileOutcome | None = None) -> FileOutcome:
        path = task.path
        out = out or FileOutcome(path)
        headers: tuple = ()
        try:
            parsed = None
            if task.frontend == "clang":
                parsed = self._parse_clang(task, data, out)
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
            len(h.functions) for h in headers), degraded=source.degraded,
            degraded_functions=sum(1 for f in source.functions if f.degraded) + sum(
                1 for h in headers for f in h.functions if f.degraded))
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
        text = data.decode("utf-8", "replace")
        texts = {path: text}
        lines = {path: text.split("\n")}
        models = self.models.overlay()          # this file's function summaries go here
        functions = list(source.functions) + [f for h in headers for f in h.functions]
        found: list[Finding] = []
        order = bottom_up(functions, models)
        table = self.options.summaries
        visible = [f.name for f in source.functions if not f.static] if table else []
        passed = {n: got for n in visible if table is not None
                  and (got := table.passed_unheld(n, path))}    # callers elsewhere
        for fact in [*member_stores(functions, models.names("transparent")),
                     *caller_context(functions), *null_guards(functions),
                     *unheld_args(functions, models, passed)]:
            models.derived[(fact.section, fact.api)] = fact   # file-wide, not models
        if table is not None:        # what the tree says of the functions called here
            own = {fn.name for fn in functions}
            called = {n for _, _, names in order for n in names} - own
            out.summaries_used = table.apply(models, self.models, called, path) + tuple(
                (PASSED + n, table.passed_digest(n, path)) for n in sorted(set(visible)))
        only = task.report_only
        for fn, cfg, names in order:
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
            if only is not None and fn.name not in only:
                continue
            found += [f for f in result.findings if self.options.enabled(f.rule_id)]
        known = frozenset(r.id for r in all_rules())
        for fpath in sorted({f.span.file for f in found}, key=lambda p: (p != path, p)):
            if fpath not in lines:               # clang: a header's inline function
                texts[fpath] = _text_of(fpath)
                lines[fpath] = texts[fpath].split("\n")
            mine = [_with_snippet(f, lines[fpath]) for f in found if f.span.file == fpath]
            active, suppressed, notes = suppress_file(fpath, lines[fpath], mine, known)
            out.findings += active
            out.suppressed += suppressed
            out.notifications.extend(notes)
        out.findings.sort(key=Finding.sort_key)
        _record_lines(out, texts, lines)
        return out

    def _parse_clang(self, task: FileTask, data: bytes, out: FileOutcome):
        """The libclang frontend: (main SourceFile, walked header SourceFiles); None when
        the file cannot go through it (``out`` then says why); ``()`` when it must go
        through tree-sitter instead (``out`` says why)."""
        roots = self.options.header_roots
        tu = clang.parse_tu(task.path, task.args, self.models.iterators(),
                            self.models.identifiers(),
                            headers=clang.under(roots) if roots else None, data=data)
        out.headers = tu.includes
        for problem in tu.flag_problems:
            out.notifications.append(Notification(f"compile flag ignored by clang: {problem}",
                                                  task.path, 0, "note", "clang-flags"))
        main, headers = tu.files[0], tuple(tu.files[1:])
        if tu.errors and task.flags_origin == "synthesized":
            # Synthesized flags cannot know what .config builds: a file the configuration
            # leaves out fails to compile; its source is still worth reading.
            out.notifications.append(Notification(
                f"{tu.errors} clang error(s) with flags synthesized for the tree (not built "
                f"in this configuration?): analyzed with tree-sitter", task.path, 0, "note",
                "frontend"))
            out.headers = ()
            return ()
        if tu.errors and not main.functions and not any(h.functions for h in headers):
            # Fatal errors and nothing read (libclang gave up, or crashed and recovered
            # an empty TU): the file was not analyzed, whatever clang says it recovered.
            first = f": {tu.diagnostics[0]}" if tu.diagnostics else ""
            out.fail(f"clang could not parse the file ({tu.errors} error(s), no function "
                     f"read), not analyzed{first}", "parse-failed")
            return None
        if tu.errors:
            first = f" (first: {tu.diagnostics[0]})" if tu.diagnostics else ""
            out.notifications.append(Notification(
                f"{tu.errors} clang error(s): the file was analyzed as clang recovered "
                f"it{first}", task.path, 0, "warning", "parse-error"))
        return main, headers


def _text_of(path: str) -> str:
    try:
        return read_source(path).decode("utf-8", "replace")
    except OSError:
        return ""


def _with_snippet(f: Finding, lines: list[str]) -> Finding:
    line = lines[f.span.line - 1].strip() if 0 < f.span.line <= len(lines) else ""
    return replace(f, snippet=line)


def _record_lines(out: FileOutcome, texts: dict[str, str],
                  lines: dict[str, list[str]]) -> None:
    """Keep the lines the findings name, and GitHub's hash of each reported line."""
    wanted: dict[str, set[int]] = {}
    primary: dict[str, set[int]] = {}
    for f in (*out.findings, *out.suppressed):
        primary.setdefault(f.span.file, set()).add(f.span.line)
        for span in (f.span, *(s.span for s in f.trail), *(s.span for s in f.related)):
            wanted.setdefault(span.file, set()).add(span.line)
    for fpath, nos in wanted.items():
        if fpath not in lines:
            texts[fpath] = _text_of(fpath)
            lines[fpath] = texts[fpath].split("\n")
        body = lines[fpath]
        for n in nos:
            if 0 < n <= len(body):
                out.lines[(fpath, n)] = body[n - 1].rstrip("\r")
    for fpath, nos in primary.items():
        for n, h in line_hashes(texts[fpath], nos).items():
            out.line_hashes[(fpath, n)] = h
