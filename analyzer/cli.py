"""The ``kref-lint`` command line.

``kref-lint [OPTIONS] PATH...`` analyzes (the implicit ``check`` command);
``kref-lint explain RULE`` prints a rule's documentation; ``kref-lint rules`` lists them.
Exit codes: 0 no findings, 1 findings, 2 usage or tool error.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Optional

import click

from analyzer import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _DefaultGroup(click.Group):
    """A group whose first argument, when it is not a command, belongs to ``check``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in (
                "--help", "-h", "--version"):
            args = ["check", *args]
        elif not args:
            args = ["check"]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kref-lint")
def main() -> None:
    """kref-lint: find page/folio reference-count and ordering bugs in Linux kernel C.

    \b
      kref-lint [OPTIONS] PATH...     analyze .c/.h files under PATH (see `check --help`)
      kref-lint explain RULE          a rule's documentation
      kref-lint check-patch PATCH     the findings a patch series adds (mail, SARIF)
      kref-lint rules                 every rule, one line each
    """


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _check_rule_ids(ids: list[str], option: str) -> None:
    from checkers import all_rules

    known = {r.id for r in all_rules()}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise click.UsageError(f"{option}: unknown rule {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(known))})")


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".kref-lint-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "sarif"]), default="text",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--select", multiple=True, metavar="RULE,...", help="Only these rules.")
@click.option("--ignore", multiple=True, metavar="RULE,...", help="Not these rules.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: number of cores).")
@click.option("--frontend", type=click.Choice(["auto", "treesitter", "clang"]),
              default="auto", show_default=True,
              help="C frontend: auto = libclang for .c files with compile flags "
                   "(compile_commands.json, or a prepared kernel tree), tree-sitter for "
                   "the rest; clang = libclang only; treesitter = no build needed.")
@click.option("--compile-commands", type=click.Path(exists=True, dir_okay=False),
              default=None, metavar="FILE",
              help="The compile_commands.json to use (default: the nearest above each "
                   "file).")
@click.option("--rules", "rule_files", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Extra API model file (TOML); may repeat.")
@click.option("--show-path", is_flag=True, help="Text: print the path to each finding.")
@click.option("--no-cache", is_flag=True,
              help="Do not read or write the per-file result cache "
                   "(${XDG_CACHE_HOME:-~/.cache}/kref-lint/results).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              metavar="FILE", help="Configuration file (default: the nearest "
                                   ".kref-lint.toml above the paths).")
@click.option("--no-config", is_flag=True, help="Ignore .kref-lint.toml files.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Skip files matching GLOB (gitignore-style, relative to the working "
                   "directory); may repeat; replaces the config's 'exclude'.")
@click.option("--baseline", type=click.Path(dir_okay=False), metavar="OLD.sarif",
              help="Report only findings not in OLD.sarif (SARIF baselineState); exit 1 "
                   "only for new ones.")
@click.option("--no-baseline", is_flag=True, help="Ignore the config's 'baseline'.")
@click.option("--diff", "diff_rev", metavar="REV",
              help="In a git tree: analyze the .c/.h files changed since REV (in the "
                   "working tree) and report only the findings the change introduces.")
@click.option("--show-suppressed", is_flag=True,
              help="Text: also list findings suppressed in the source, with the reason.")
@click.option("--automation-id", metavar="ID",
              help="SARIF runAutomationDetails.id (default: kref-lint/<paths>/).")
def check(paths, fmt, output, select, ignore, jobs, frontend, compile_commands, rule_files,
          show_path, no_cache, config_file, no_config, exclude, baseline, no_baseline,
          diff_rev, show_suppressed, automation_id) -> None:
    """Analyze the .c and .h files under PATH... and report findings.

    \b
    Settings come from .kref-lint.toml (see --config); flags override it.
    In-source suppressions: /* kref-lint: ignore[RULE] reason */ on the line or the
    line before.  With --baseline or --diff, only new findings fail the run."""
    from analyzer.pipeline.file import Options, analyze_files
    from analyzer.modes.config import ConfigError
    from analyzer.pipeline.discover import UsageError, discover
    from analyzer.models import ModelError, load_models
    from analyzer.modes.settings import exclude_files, settings
    from analyzer.result import Stats
    from checkers import all_rules

    if not paths and not diff_rev:
        raise click.UsageError("missing argument 'PATH...' (or --diff REV)")
    if diff_rev and baseline:
        raise click.UsageError("--diff and --baseline cannot be combined")
    try:
        conf = settings(config_file, no_config, list(paths) or ["."],
                        select=_split(select) if select else None,
                        ignore=_split(ignore) if ignore else None, rule_files=rule_files,
                        jobs=jobs, baseline=baseline, no_baseline=no_baseline or bool(diff_rev),
                        exclude=exclude)
    except ConfigError as exc:
        _die(str(exc))
    sel, ign, rule_files, jobs = conf.select, conf.ignore, conf.rule_files, conf.jobs
    _check_rule_ids(sel, conf.origin("--select", bool(select)))
    _check_rule_ids(ign, conf.origin("--ignore", bool(ignore)))
    if frontend == "clang":
        from analyzer.frontend import clang as clang_frontend

        if not clang_frontend.available():
            _die("--frontend clang: libclang cannot be loaded (pip install libclang)")
    try:
        load_models(rule_files)             # fail early, once, with file and line
    except ModelError as exc:
        _die(f"bad rule file: {exc}")
    from analyzer.results import baseline as bl

    base = None
    if conf.baseline:
        try:
            base = bl.load(conf.baseline)
        except bl.BaselineError as exc:
            _die(str(exc))

    options = Options(tuple(os.path.abspath(f) for f in rule_files),
                      frozenset(sel) if sel else None, frozenset(ign),
                      "treesitter" if diff_rev else frontend,
                      compile_commands=os.path.abspath(compile_commands)
                      if compile_commands else None,
                      header_roots=tuple(os.path.abspath(p) for p in paths if os.path.isdir(p)))
    started = time.monotonic()
    from analyzer.pipeline.cache import ResultCache, default_dir

    cache = None if no_cache else ResultCache(default_dir(), salt="")
    rules = [r for r in all_rules() if (not sel or r.id in sel) and r.id not in ign]
    if diff_rev:
        from analyzer.vcs.git import GitError
        from analyzer.modes.settings import diff_analysis

        try:
            found, base, outcomes = diff_analysis(diff_rev, paths, options,
                                                  jobs or os.cpu_count() or 1,
                                                  conf.excluder, cache, rules, __version__)
        except GitError as exc:
            _die(str(exc))
    else:
        try:
            found = discover(list(paths))
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None
        exclude_files(found, conf.excluder)
        if frontend == "clang":
            _require_flags(found.files, options.compile_commands)
        outcomes = analyze_files(found.files, options, jobs or os.cpu_count() or 1, cache)
    findings = sorted((f for o in outcomes for f in o.findings), key=lambda f: f.sort_key())
    suppressed = sorted((f for o in outcomes for f in o.suppressed), key=lambda f: f.sort_key())
    notes = list(found.notifications) + [n for o in outcomes for n in o.notifications]
    stats = Stats()
    for o in outcomes:
        stats.add(o.stats)
    comparison = bl.compare(findings, suppressed, found.root, base) if base else None
    failing = comparison.new if comparison is not None else findings

    if fmt == "sarif":
        import json

        from analyzer.modes.settings import automation_id as default_automation_id
        from analyzer.report.sarif import build_sarif

        kind = "kref-lint-diff" if diff_rev else "kref-lint"
        log = build_sarif(findings + suppressed, notes, rules, found.root, __version__,
                          command_line=" ".join(["kref-lint", *sys.argv[1:]]),
                          automation_id=automation_id or default_automation_id(
                              paths, found.root, kind),
                          baseline_states=comparison.states if comparison else None)
        if comparison is not None:
            bl.add_absent(log, comparison.absent)
        text = json.dumps(log, indent=2) + "\n"
    else:
        from analyzer.report.text import format_text

        # Run-level notes (no file: which frontend read what) go to stderr with the
        # summary; stdout stays findings and per-file problems.
        for n in notes:
            if not n.file:
                click.echo(f"kref-lint: {n.level}: {n.message} [kref-lint:{n.kind}]", err=True)
        # paths relative to the working directory (else absolute): clickable in editors
        text = format_text(failing, [n for n in notes if n.file], os.getcwd(),
                           show_path=show_path,
                           suppressed=suppressed if show_suppressed else ())
    if output:
        write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    from analyzer.report.text import summary_line

    click.echo(f"{summary_line(stats, len(findings))} in {time.monotonic() - started:.1f}s"
               + (f", {len(suppressed)} suppressed" if suppressed else ""), err=True)
    if comparison is not None:
        click.echo(bl.summary(comparison, base.source), err=True)
    sys.exit(EXIT_FINDINGS if failing else EXIT_CLEAN)


@main.command("check-patch")
@click.argument("patch", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--tree", default=".", show_default=True,
              type=click.Path(exists=True, file_okay=False),
              help="The source tree the series applies to (only read, never modified).")
@click.option("--format", "fmt", type=click.Choice(["mail", "sarif", "text"]),
              default="mail", show_default=True,
              help="mail: replies to the patches (an mbox); sarif; text: gcc-style.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print nothing when no patch adds a finding.")
@click.option("--select", multiple=True, metavar="RULE,...", help="Only these rules.")
@click.option("--ignore", multiple=True, metavar="RULE,...", help="Not these rules.")
@click.option("--rules", "rule_files", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Extra API model file (TOML); may repeat.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              metavar="FILE", help="Configuration file (default: .kref-lint.toml of the tree).")
@click.option("--no-config", is_flag=True, help="Ignore .kref-lint.toml files.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: number of cores).")
@click.option("--automation-id", metavar="ID",
              help="SARIF runAutomationDetails.id (default: kref-lint-patch/<name>/).")
def check_patch(patch, tree, fmt, output, quiet, select, ignore, rule_files, config_file,
                no_config, jobs, automation_id) -> None:
    """Check a patch or a patch series (mbox; - for stdin) against the tree: report the
    findings each patch adds, attributed to it.

    \b
    PATCH: git format-patch output, a mailing-list mbox, one patch mail, or a git diff,
    at most 10 MiB.  Each patch is applied with git apply to a private copy of the files
    it touches; exit 0 when no patch adds a finding, 1 when one does, 2 when the input
    cannot be checked (does not apply, binary, paths outside the tree, truncated, ...)."""
    from analyzer.pipeline.file import Options
    from analyzer.modes.config import ConfigError
    from analyzer.models import ModelError, load_models
    from analyzer.modes.settings import settings
    from analyzer.modes.patch import PatchError, check_series, parse_series, read_input
    from checkers import all_rules

    try:
        conf = settings(config_file, no_config, [tree],
                        select=_split(select) if select else None,
                        ignore=_split(ignore) if ignore else None, rule_files=rule_files,
                        jobs=jobs,
                        baseline=None, no_baseline=True, exclude=())
    except ConfigError as exc:
        _die(str(exc))
    sel, ign = conf.select, conf.ignore
    _check_rule_ids(sel, conf.origin("--select", bool(select)))
    _check_rule_ids(ign, conf.origin("--ignore", bool(ignore)))
    try:
        load_models(conf.rule_files)
    except ModelError as exc:
        _die(f"bad rule file: {exc}")
    options = Options(tuple(conf.rule_files), frozenset(sel) if sel else None,
                      frozenset(ign), "treesitter")
    rules = [r for r in all_rules() if (not sel or r.id in sel) and r.id not in ign]
    started = time.monotonic()
    try:
        name = "-" if patch == "-" else patch
        series = parse_series(read_input(patch), name)
        result = check_series(series, tree, options, conf.jobs or os.cpu_count() or 1,
                              conf.excluder)
    except PatchError as exc:
        _die(str(exc))
    for skipped in series.skipped:
        click.echo(f"kref-lint: skipped {skipped}", err=True)

    findings = [pf.finding for pf in result.findings]
    if fmt == "sarif":
        import json

        from analyzer.report.sarif import FINGERPRINT_KEY, build_sarif, fingerprints

        by_id = {id(pf.finding): pf.patch for pf in result.findings}
        patch_of = {fp: by_id[id(f)] for f, fp in fingerprints(findings, result.tree)}
        label = os.path.basename(patch) if patch != "-" else "stdin"
        log = build_sarif(findings, result.notifications, rules, result.tree, __version__,
                          command_line=" ".join(["kref-lint", *sys.argv[1:]]),
                          automation_id=automation_id or f"kref-lint-patch/{label}/",
                          baseline_states={fp: "new" for fp in patch_of})
        for res in log["runs"][0]["results"]:
            p = patch_of[res["partialFingerprints"][FINGERPRINT_KEY]]
            res["properties"] = {"patch": p.label, "patchIndex": p.index,
                                 **({"messageId": p.message_id} if p.message_id else {})}
        text = json.dumps(log, indent=2) + "\n"
    elif fmt == "text":
        from analyzer.report.mail import format_text as patch_text

        text = patch_text(result, os.getcwd())
    else:
        from analyzer.report.mail import format_mail, no_findings_line

        reproduce = " ".join(["kref-lint", "check-patch",
                              "SERIES.mbox" if patch == "-" else _shell_quote(patch),
                              "--tree", _shell_quote(tree),
                              *(["--select", ",".join(sel)] if select else []),
                              *(["--ignore", ",".join(ign)] if ignore else [])])
        text = format_mail(result, rules, reproduce, __version__)
        if not text and not quiet:
            text = no_findings_line(result)
    if output:
        write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    n = len(series.patches)
    click.echo(f"kref-lint: {n} patch{'es' if n != 1 else ''}, {result.stats.files} file "
               f"version{'s' if result.stats.files != 1 else ''} analyzed, "
               f"{len(findings)} new finding{'s' if len(findings) != 1 else ''} "
               f"in {time.monotonic() - started:.1f}s", err=True)
    sys.exit(EXIT_FINDINGS if findings else EXIT_CLEAN)


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@main.command("explain")
@click.argument("rule_id")
@click.option("--markdown", is_flag=True, help="Print Markdown instead of plain text.")
def explain(rule_id: str, markdown: bool) -> None:
    """Print the documentation of RULE_ID."""
    from checkers import all_rules

    for rule in all_rules():
        if rule.id == rule_id:
            click.echo(rule.markdown() if markdown else rule.text())
            return
    known = ", ".join(r.id for r in all_rules())
    raise click.UsageError(f"unknown rule '{rule_id}' (known: {known})")


@main.command("rules")
@click.option("--markdown", is_flag=True, help="A Markdown table (as in README.md).")
def rules_cmd(markdown: bool) -> None:
    """List every rule: id, precision and summary."""
    from checkers import all_rules

    if markdown:
        click.echo("| rule id | precision | finds |\n|---|---|---|")
    for r in all_rules():
        if markdown:
            click.echo(f"| `{r.id}` | {r.precision} | {r.summary} |")
        else:
            click.echo(f"{r.id:32} {r.precision:8} {r.summary}")


def _require_flags(files: list[str], compile_commands: Optional[str]) -> None:
    """--frontend clang fails clearly when no .c file can get compile flags."""
    from analyzer.pipeline.flags import CompileDBError, FlagResolver

    sources = [f for f in files if f.endswith(".c")]
    try:
        resolver = FlagResolver(compile_commands)
        if sources and not any(resolver.resolve(f) for f in sources):
            _die(f"--frontend clang: {resolver.why_not(sources[0])}")
    except CompileDBError as exc:
        _die(f"--frontend clang: {exc}")


def _die(message: str) -> None:
    click.echo(f"kref-lint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def run() -> None:
    """Console-script entry point: click's usage errors exit 2, as promised."""
    main(standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    run()
