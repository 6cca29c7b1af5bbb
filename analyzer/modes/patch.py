"""``kref-lint check-patch PATCH --tree DIR``: the findings each patch of a series adds.

The input is read and checked by :mod:`analyzer.inputs` (mail, mbox, diff; refused with a
:class:`~analyzer.inputs.PatchError` naming the patch and the reason, exit 2).  Each patch
is applied, in series order, with ``git apply`` to a private copy of the files the series
touches, in a temporary directory: the tree is only read, and a path that leads through
a symlink in the tree or out of it is refused.  The ``.c``/``.h`` files a patch touches
are analyzed before and after it (a file unchanged since it was last analyzed is not
analyzed again); a finding whose fingerprint is not there before is the patch's own.
Both sides get the tree-wide summaries (pass 1, cached by content): the copies stand for
the tree's versions of the files, so a helper a patch changes in one file shows in its
callers' findings in another, and a call into the tree is known by the callee's summary.
The reply (mail, SARIF, text, JSON) is written by :mod:`analyzer.report`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, replace

from analyzer import __version__
from analyzer.inputs import PatchError
from analyzer.inputs.diff import show_path
from analyzer.inputs.mbox import Patch, Series, parse_series, read_input
from analyzer.ir import Span
from analyzer.modes.console import Console, check_output, write_output
from analyzer.modes.settings import Settings
from analyzer.modes.summarize import cache_dir
from analyzer.pipeline.discover import SOURCE_SUFFIXES, Excluder
from analyzer.pipeline.options import Loaded, Options
from analyzer.pipeline.run import analyze_files
from analyzer.pipeline.tree import Pass1, tree_root
from analyzer.report import mail as mail_report
from analyzer.report import sarif as sarif_report
from analyzer.report.json import build_json
from analyzer.report.json import dumps as json_dumps
from analyzer.report.text import diagnostic_line
from analyzer.result import Finding, Notification, Step
from analyzer.results.identity import fingerprints
from analyzer.results.outcome import FileOutcome, LineTexts, Stats
from analyzer.results.patches import PatchFinding, SeriesResult
from analyzer.results.run import Provenance, RunInfo, RunResult, incomplete_line, not_analyzed
from analyzer.vcs import git


@dataclass
class Request:
    patch: str                      # a file, or "-"
    tree: str
    fmt: str = "mail"               # mail | sarif | text | json
    output: str | None = None
    quiet: bool = False
    automation_id: str | None = None
    cli_options: tuple[str, ...] = ()    # --select/--ignore as given (the reproduce line)
    command_line: str = ""


#: A touched file could not be analyzed (see :mod:`analyzer.modes.check`).
EXIT_INCOMPLETE = 2


def main(req: Request, conf: Settings, console: Console) -> int:
    """Run check-patch; the exit code (0: no patch adds a finding, 1: one does, 2: a
    file version could not be analyzed -- the report is still written)."""
    started = time.monotonic()
    if req.output:
        check_output(req.output)
    options = Options(conf.rule_files, frozenset(conf.select) if conf.select else None,
                      frozenset(conf.ignore), "treesitter", kernel_version=conf.kernel.text)
    series = parse_series(read_input(req.patch), req.patch)
    for skipped in series.skipped:
        console.say(f"kref-lint: skipped {skipped}")
    result = check_series(series, req.tree, options, conf.workers, conf.excluder)
    rules = conf.rules()
    n_new = len(result.findings)
    if req.fmt == "sarif":
        label = os.path.basename(req.patch) if req.patch != "-" else "stdin"
        info = _info(req, result, req.automation_id or f"kref-lint-patch/{label}/")
        text = sarif_report.dumps(sarif_report.build_patch_sarif(result, rules, info))
    elif req.fmt == "json":
        run = RunResult(result.tree, [pf.finding for pf in result.findings],
                        notifications=result.notifications, stats=result.stats)
        for pf in result.findings:
            run.lines.update(pf.lines)
        text = json_dumps(build_json(run, rules, _info(req, result, None)))
    elif req.fmt == "text":
        text = mail_report.format_text(result)
    else:
        reply = mail_report.ReplyInfo(__version__,
                                      conf.mail_from or mail_report.DEFAULT_FROM,
                                      conf.mail_archive or mail_report.DEFAULT_ARCHIVE,
                                      conf.mail_cc, req.cli_options)
        text = mail_report.format_mail(result, rules, reply)
        if not text and not req.quiet:
            text = mail_report.no_findings_line(result)
    if req.output:
        write_output(req.output, text)
    else:
        sys.stdout.write(text)
    n = len(series.patches)
    console.say(f"kref-lint: {n} patch{'es' if n != 1 else ''}, {result.stats.files} file "
                f"version{'s' if result.stats.files != 1 else ''} analyzed, "
                f"{n_new} new finding{'s' if n_new != 1 else ''} "
                f"in {time.monotonic() - started:.1f}s")
    missing = not_analyzed(result.notifications)
    if missing:
        for note in result.notifications:
            if note.level == "error":
                console.error(diagnostic_line(note, os.getcwd()))
        console.error(incomplete_line(missing))
        return EXIT_INCOMPLETE
    return 1 if n_new else 0


def _info(req: Request, result: SeriesResult, automation_id: str | None) -> RunInfo:
    state = git.state(result.tree)
    provenance = Provenance(state.repository_uri, state.revision, state.branch) \
        if state else None
    return RunInfo(__version__, req.command_line, automation_id, provenance)


# --------------------------------------------------------------------------- checking
def check_series(series: Series, tree: str, options: Options, jobs: int = 1,
                 excluder: Excluder | None = None, summaries: bool = True) -> SeriesResult:
    """Apply the series patch by patch to a private copy and collect what each adds
    (``summaries``: with the tree-wide summaries, see the module doc)."""
    tree = os.path.realpath(tree)
    if not os.path.isdir(tree):
        raise PatchError(f"--tree {tree}: not a directory")
    result = SeriesResult(series, tree, tree_commit=git.head_commit(tree))
    open_findings: dict[str, PatchFinding] = {}
    memo: dict[tuple[str, str], FileOutcome] = {}
    # a kernel tree only: elsewhere the touched files are all pass 1 would read
    pass1 = (Pass1(options, Loaded(options), jobs, cache_dir())
             if summaries and tree_root([tree]) is not None else None)

    def with_summaries(work: str, paths: list[str]) -> Options:
        if pass1 is None or not paths:
            return options
        shadow = {os.path.join(work, *k.split("/")): os.path.join(tree, *k.split("/"))
                  for k in known}
        return replace(options, summaries=pass1.summarize(paths, [tree], shadow).table)

    def analyze(work: str, rels: dict[str, str]
                ) -> tuple[list[Finding], list[Notification], Stats, LineTexts,
                           dict[tuple[str, int], str]]:
        """Analyze work/<rel> for each rel (a file unchanged since it was last analyzed
        is not analyzed again); findings re-pathed to tree/<rels[rel]>."""
        todo, outs = [], {}
        opts = with_summaries(work, [os.path.join(work, *r.split("/")) for r in rels])
        table = opts.summaries
        for rel in rels:
            path = os.path.join(work, *rel.split("/"))
            key = (rel, _digest(path))
            if key in memo and (table is None or
                                table.still_valid(memo[key].summaries_used, path)):
                outs[rel] = memo[key]
            else:
                todo.append((rel, key))
        fresh = analyze_files([os.path.join(work, *r.split("/")) for r, _ in todo], opts,
                              jobs if len(todo) > 3 else 1, None)
        for (rel, key), o in zip(todo, fresh):
            memo[key] = outs[rel] = o
        findings, notes, stats = [], [], Stats()
        lines: LineTexts = {}
        hashes: dict[tuple[str, int], str] = {}
        for rel, o in outs.items():
            src = os.path.join(work, *rel.split("/"))
            dst = os.path.join(tree, *rels[rel].split("/"))
            findings += [_rebase(f, src, dst) for f in (*o.findings, *o.suppressed)]
            notes += [replace(n, file=dst) if n.file == src else n for n in o.notifications]
            stats.add(o.stats)
            lines.update({(dst if p == src else p, n): t for (p, n), t in o.lines.items()})
            hashes.update({(dst if p == src else p, n): h
                           for (p, n), h in o.line_hashes.items()})
        return findings, notes, stats, lines, hashes

    with tempfile.TemporaryDirectory(prefix="kref-lint-patch-") as tmp:
        work = os.path.join(tmp, "tree")
        os.mkdir(work)
        known: set[str] = set()
        for patch in series.patches:
            for rel in patch.paths():
                if rel not in known:
                    _copy_in(tree, work, rel, patch)
                    known.add(rel)
            before_rels: dict[str, str] = {}
            after_rels: dict[str, str] = {}
            for fpatch in patch.files:
                target = fpatch.new_path or fpatch.old_path or ""
                if not target or (excluder is not None and
                                  excluder.excluded(os.path.join(tree, target))):
                    continue
                if fpatch.old_path and _is_source(fpatch.old_path) and \
                        _is_file(work, fpatch.old_path):
                    before_rels[fpatch.old_path] = target
                if fpatch.new_path and _is_source(fpatch.new_path):
                    after_rels[fpatch.new_path] = fpatch.new_path
            before, _, _, _, _ = analyze(work, before_rels)
            problem = git.apply(patch.diff, work, tmp)
            if problem is not None:
                raise PatchError(_not_applied(patch, series, result, problem))
            after_rels = {r: t for r, t in after_rels.items() if _is_file(work, r)}
            after, notes, stats, lines, hashes = analyze(work, after_rels)
            result.stats.add(stats)
            result.notifications += notes
            result.after[patch.index] = [f for f in after if not f.suppression]
            result.after_lines[patch.index] = lines
            before_fps = {fp for _, fp in fingerprints(before, tree)}
            after_pairs = fingerprints(after, tree)
            after_fps = {fp for _, fp in after_pairs}
            for fp in list(open_findings):
                pf = open_findings[fp]
                if fp in before_fps and fp not in after_fps:
                    pf.fixed_by = patch
                    del open_findings[fp]
            for f, fp in after_pairs:
                if fp in before_fps or f.suppression:
                    continue
                pf = _locate(patch, f, fp, work, tree)
                pf.lines = {k: v for k, v in lines.items() if k[0] in _files_of(f)}
                pf.line_hash = hashes.get((f.span.file, f.span.line), "")
                result.findings.append(pf)
                open_findings[fp] = pf
                _keep_version(result, patch, f, work, tree)
    if pass1 is not None:
        pass1.save()
    result.notifications = list(dict.fromkeys(result.notifications))
    return result


def _files_of(f: Finding) -> set[str]:
    return {f.span.file, *(s.span.file for s in f.trail), *(s.span.file for s in f.related)}


def _keep_version(result: SeriesResult, patch: Patch, f: Finding, work: str,
                  tree: str) -> None:
    """Keep the text, after ``patch``, of the files ``f`` names (SARIF embeds them)."""
    for path in sorted(_files_of(f)):
        rel = os.path.relpath(path, tree).replace(os.sep, "/")
        if rel.startswith("../") or (patch.index, rel) in result.versions:
            continue
        src = os.path.join(work, *rel.split("/"))
        if _is_file(work, rel):
            with open(src, "rb") as fh:
                result.versions[(patch.index, rel)] = fh.read().decode("utf-8", "replace")


def _not_applied(patch: Patch, series: Series, result: SeriesResult, detail: str) -> str:
    hint = ""
    if series.base_commit:
        at = f" (the tree is at {result.tree_commit[:12]})" if result.tree_commit else ""
        hint = f"; the series is based on {series.base_commit[:12]}{at}"
    earlier = f" after {patch.index - 1} earlier patch(es)" if patch.index > 1 else ""
    return f"{patch.label} does not apply to {result.tree}{earlier}: {detail}{hint}"


def _locate(patch: Patch, f: Finding, fp: str, work: str, tree: str) -> PatchFinding:
    rel = os.path.relpath(f.span.file, tree).replace(os.sep, "/")
    for fpatch in patch.files:
        if fpatch.new_path == rel:
            hunk = fpatch.hunk_for(f.span.line)
            if hunk is not None and hunk.new_line_index(f.span.line) is not None:
                return PatchFinding(patch, f, fp, hunk)
    # the line is not in the diff: quote the patched file around it
    try:
        with open(os.path.join(work, *rel.split("/")), "rb") as fh:
            text = fh.read().split(b"\n")
    except OSError:
        text = []
    lo, hi = max(1, f.span.line - 3), min(len(text), f.span.line + 2)
    return PatchFinding(patch, f, fp, None,
                        [(n, _display(text[n - 1])) for n in range(lo, hi + 1)])


def _display(line: bytes) -> str:
    line = line.rstrip(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _rebase(f: Finding, src: str, dst: str) -> Finding:
    def span(s: Span) -> Span:
        return replace(s, file=dst) if s.file == src else s

    def steps(ss: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(replace(s, span=span(s.span)) for s in ss)

    return replace(f, span=span(f.span), trail=steps(f.trail), related=steps(f.related))


def _is_source(path: str) -> bool:
    return path.endswith(SOURCE_SUFFIXES)


def _is_file(work: str, rel: str) -> bool:
    p = os.path.join(work, *rel.split("/"))
    return os.path.isfile(p) and not os.path.islink(p)


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _copy_in(tree: str, work: str, rel: str, patch: Patch) -> None:
    """Copy tree/<rel> (when it exists) into the private copy, refusing anything that
    would read outside the tree (path confinement: ours, whatever parsed the diff)."""
    parts = rel.split("/")
    cur = tree
    for part in parts:
        cur = os.path.join(cur, part)
        if os.path.islink(cur):
            raise PatchError(f"{patch.label}: '{show_path(rel)}' leads through a symlink in "
                             "the tree, refused")
        if not os.path.lexists(cur):
            return                                  # a file the patch creates
    real = os.path.realpath(cur)
    if os.path.commonpath([real, tree]) != tree:
        raise PatchError(f"{patch.label}: '{show_path(rel)}' is outside the tree, refused")
    st = os.stat(cur)
    if stat.S_ISDIR(st.st_mode):
        raise PatchError(f"{patch.label}: '{show_path(rel)}' is a directory in the tree")
    if not stat.S_ISREG(st.st_mode):
        raise PatchError(f"{patch.label}: '{show_path(rel)}' is not a regular file in the "
                         "tree")
    dst = os.path.join(work, *parts)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(cur, dst)
    os.chmod(dst, (stat.S_IMODE(st.st_mode) & 0o755) | 0o600)
