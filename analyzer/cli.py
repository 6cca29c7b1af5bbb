"""The ``kref-lint`` command line: options and commands only; the work is the modes'.

``kref-lint [OPTIONS] PATH...`` analyzes (the implicit ``check`` command); a compiler
command line (``-D``, ``-I``, ``-include``, ``--arch=`` ...: kbuild's ``CHECK=``
invocation) is the ``kbuild`` mode; ``check-patch``, ``explain`` and ``rules`` are the
others.  Exit codes: 0 no (new) findings, 1 findings, 2 usage or tool error (one line on
stderr, never a traceback; also when a file could not be analyzed: the report is then
still written), 130 interrupted (SIGINT), 143 terminated (SIGTERM); under kbuild, as sparse (see
:mod:`analyzer.modes.kbuild`).
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import traceback

import click

from analyzer import __version__
from analyzer.errors import ToolError
from analyzer.modes import check as check_mode
from analyzer.modes import info, kbuild
from analyzer.modes import merge as merge_mode
from analyzer.modes import patch as patch_mode
from analyzer.modes import summarize as summarize_mode
from analyzer.modes.console import Console
from analyzer.modes.settings import settings, split_ids

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class _DefaultGroup(click.Group):
    """A group whose first argument, when it is not a command, belongs to ``check``
    (or, for a compiler's command line, to ``kbuild``)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in (
                "--help", "-h", "--version"):
            args = ["kbuild" if kbuild.looks_like_kbuild(args) else "check", *args]
        elif not args:
            args = ["check"]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kref-lint")
def main() -> None:
    """kref-lint: find page/folio reference-count and ordering bugs in Linux kernel C.

    \b
      kref-lint [OPTIONS] PATH...     analyze .c/.h files under PATH (see `check --help`)
      make C=2 CHECK=kref-lint mm/    as kbuild's checker (see `kbuild --help`)
      kref-lint check-patch PATCH     the findings a patch series adds (mail, SARIF)
      kref-lint summarize -o FILE PATH...  the tree-wide summaries, for --summaries FILE
      kref-lint merge A.sarif B.sarif  the logs of --shard K/N runs, as one run's
      kref-lint explain RULE          a rule's documentation
      kref-lint rules                 every rule, one line each
    """


def _command_line() -> str:
    return " ".join(["kref-lint", *sys.argv[1:]])


def _finish(code: int) -> None:
    sys.exit(code)


def _fail(exc: ToolError) -> None:
    click.echo(f"kref-lint: error: {exc}", err=True)
    sys.exit(EXIT_ERROR)


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "sarif", "json"]), default="text",
              show_default=True, help="Output format (json: see README, 'JSON output').")
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
@click.option("--show-path", is_flag=True,
              help="Text: the path to each finding, as gcc 'note:' lines.")
@click.option("--show-suppressed", is_flag=True,
              help="Text: also list findings suppressed in the source, with the reason.")
@click.option("--show-diagnostics", "-v", "--verbose", "show_diagnostics", is_flag=True,
              help="List every tool diagnostic (parse problems, degraded statements, "
                   "routing notes) on stderr instead of a one-line summary, each one "
                   "(SARIF/JSON too) instead of one per file and kind with a count.")
@click.option("--statistics", is_flag=True,
              help="Text: findings per rule and diagnostics per kind instead of the "
                   "findings.")
@click.option("--quiet", "-q", is_flag=True,
              help="Only findings and errors: no progress, summary or diagnostics summary.")
@click.option("--no-cache", is_flag=True,
              help="Do not read or write the per-file result cache "
                   "(${XDG_CACHE_HOME:-~/.cache}/kref-lint/results).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              metavar="FILE", help="Configuration file (default: the nearest "
                                   ".kref-lint.toml above the paths).")
@click.option("--no-config", is_flag=True, help="Ignore .kref-lint.toml files.")
@click.option("--exclude", multiple=True, metavar="PATTERN",
              help="Skip files matching PATTERN (gitignore syntax, relative to the working "
                   "directory; !PATTERN re-includes); may repeat; replaces the config's "
                   "'exclude'.")
@click.option("--no-gitignore", is_flag=True,
              help="Walk directories without skipping the files .gitignore ignores.")
@click.option("--baseline", type=click.Path(dir_okay=False), metavar="OLD.sarif",
              help="Report only findings not in OLD.sarif (SARIF baselineState); exit 1 "
                   "only for new ones.")
@click.option("--no-baseline", is_flag=True, help="Ignore the config's 'baseline'.")
@click.option("--diff", "diff_rev", metavar="REV",
              help="In a git tree: analyze the .c/.h files changed since REV (in the "
                   "working tree) and report only the findings the change introduces.")
@click.option("--automation-id", metavar="ID",
              help="SARIF runAutomationDetails.id (default: kref-lint/<paths>/).")
@click.option("--no-prefilter", is_flag=True,
              help="Parse every file, also those that name no API any checker starts "
                   "from (they cannot have a finding; their parse diagnostics and "
                   "functions are then counted).")
@click.option("--shard", "shard_text", metavar="K/N",
              help="Analyze only shard K of N (a deterministic split balanced by file "
                   "size); `kref-lint merge` combines the N logs into the one run's.")
@click.option("--kernel-version", metavar="X.Y",
              help="The analyzed kernel's version, which selects the API models (default: "
                   "the tree's top-level Makefile; none found: the newest models).")
@click.option("--summaries", "summaries_file", type=click.Path(dir_okay=False),
              metavar="FILE",
              help="Use the tree-wide summaries `kref-lint summarize -o FILE` wrote (the "
                   "same for every --shard job) instead of computing them.")
@click.option("--no-summaries", is_flag=True,
              help="No tree-wide summaries (pass 1): a call of a function defined in "
                   "another file is known by the rule files only; no header is checked.")
def check(paths, fmt, output, select, ignore, jobs, frontend, compile_commands, rule_files,
          show_path, show_suppressed, show_diagnostics, statistics, quiet, no_cache,
          config_file, no_config, exclude, no_gitignore, baseline, no_baseline, diff_rev,
          automation_id, no_prefilter, shard_text, kernel_version, summaries_file,
          no_summaries) -> None:
    """Analyze the .c and .h files under PATH... and report findings.

    \b
    Settings come from .kref-lint.toml (see --config); flags override it.
    In-source suppressions: /* kref-lint: ignore[RULE] reason */ on the line or the
    line before.  With --baseline or --diff, only new findings fail the run."""
    if not paths and not diff_rev:
        raise click.UsageError("missing argument 'PATH...' (or --diff REV)")
    if diff_rev and baseline:
        raise click.UsageError("--diff and --baseline cannot be combined")
    if statistics and fmt != "text":
        raise click.UsageError("--statistics is a text report (no --format)")
    if shard_text and diff_rev:
        raise click.UsageError("--shard and --diff cannot be combined")
    if summaries_file and no_summaries:
        raise click.UsageError("--summaries and --no-summaries cannot be combined")
    try:
        conf = settings(config_file, no_config, list(paths) or ["."],
                        select=split_ids(select) if select else None,
                        ignore=split_ids(ignore) if ignore else None, rule_files=rule_files,
                        jobs=jobs, baseline=baseline,
                        no_baseline=no_baseline or bool(diff_rev), exclude=exclude,
                        kernel_version=kernel_version)
        req = check_mode.Request(tuple(paths), fmt, output, frontend, compile_commands,
                                 show_path, show_suppressed, statistics, no_cache,
                                 not no_gitignore, diff_rev, automation_id, _command_line(),
                                 shard_text, not no_prefilter, summaries_file,
                                 not no_summaries)
        _finish(check_mode.main(req, conf, Console(quiet, show_diagnostics)))
    except ToolError as exc:
        _fail(exc)


@main.command("check-patch")
@click.argument("patch", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--tree", default=".", show_default=True,
              type=click.Path(exists=True, file_okay=False),
              help="The source tree the series applies to (only read, never modified).")
@click.option("--format", "fmt", type=click.Choice(["mail", "sarif", "text", "json"]),
              default="mail", show_default=True,
              help="mail: replies to the patches (an mbox); sarif; text: gcc-style; json.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print nothing when no patch adds a finding; no summary.")
@click.option("--select", multiple=True, metavar="RULE,...", help="Only these rules.")
@click.option("--ignore", multiple=True, metavar="RULE,...", help="Not these rules.")
@click.option("--rules", "rule_files", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Extra API model file (TOML); may repeat.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              metavar="FILE", help="Configuration file (default: .kref-lint.toml of the tree).")
@click.option("--no-config", is_flag=True, help="Ignore .kref-lint.toml files.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: number of cores).")
@click.option("--from", "mail_from", metavar="'NAME <ADDRESS>'",
              help="Mail: the bot's identity (From:, Reported-by:); default: [mail] from "
                   "in the config, else kref-lint <kref-lint@localhost.invalid>.")
@click.option("--archive-url", metavar="URL",
              help="Mail: where the list is archived, for 'patch link:' and 'Closes:' "
                   "(default: [mail] archive, else https://lore.kernel.org/r).")
@click.option("--automation-id", metavar="ID",
              help="SARIF runAutomationDetails.id (default: kref-lint-patch/<name>/).")
@click.option("--kernel-version", metavar="X.Y",
              help="The analyzed kernel's version, which selects the API models (default: "
                   "the tree's top-level Makefile; none found: the newest models).")
def check_patch(patch, tree, fmt, output, quiet, select, ignore, rule_files, config_file,
                no_config, jobs, mail_from, archive_url, automation_id, kernel_version) -> None:
    """Check a patch or a patch series (mbox; - for stdin) against the tree: report the
    findings each patch adds, attributed to it.

    \b
    PATCH: git format-patch output, a mailing-list mbox, one patch mail, or a git diff,
    at most 10 MiB.  Each patch is applied with git apply to a private copy of the files
    it touches; exit 0 when no patch adds a finding, 1 when one does, 2 when the input
    cannot be checked (does not apply, binary, paths outside the tree, truncated, ...)."""
    try:
        conf = settings(config_file, no_config, [tree],
                        select=split_ids(select) if select else None,
                        ignore=split_ids(ignore) if ignore else None, rule_files=rule_files,
                        jobs=jobs, mail_from=mail_from, mail_archive=archive_url,
                        kernel_version=kernel_version)
        cli_options = (*(["--select", ",".join(conf.select)] if select else []),
                             *(["--ignore", ",".join(conf.ignore)] if ignore else []))
        req = patch_mode.Request(patch, tree, fmt, output, quiet, automation_id, cli_options,
                                 _command_line())
        _finish(patch_mode.main(req, conf, Console(quiet)))
    except ToolError as exc:
        _fail(exc)


@main.command("kbuild", context_settings={"ignore_unknown_options": True,
                                           "allow_interspersed_args": False,
                                           "help_option_names": ["--help"]})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kbuild_cmd(args) -> None:
    """Run as kbuild's source checker: make C=1 CHECK=kref-lint, make C=2 CHECK=kref-lint
    mm/.  ARGS are the checker arguments kbuild passes (CHECKFLAGS, the C flags, FILE.c);
    kref-lint recognizes them by themselves, so the word `kbuild` is optional.

    \b
    Findings go to stderr as gcc-style warnings; exit 0 whatever is found (the build goes
    on), 2 when kref-lint cannot run.  -Wsparse-error (make C=2 CF=-Wsparse-error) or
    --fail-on-findings: findings become errors and exit 1."""
    try:
        _finish(kbuild.main(list(args)))
    except ToolError as exc:
        _fail(exc)


@main.command("summarize")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="Write the summaries to FILE (JSON, atomically).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: number of cores).")
@click.option("--rules", "rule_files", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Extra API model file (TOML); may repeat.")
@click.option("--kernel-version", metavar="X.Y",
              help="The analyzed kernel's version (default: the tree's Makefile).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              metavar="FILE", help="Configuration file (default: the nearest "
                                   ".kref-lint.toml above the paths).")
@click.option("--no-config", is_flag=True, help="Ignore .kref-lint.toml files.")
@click.option("--no-cache", is_flag=True, help="Do not read or write pass 1's cache.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line.")
def summarize_cmd(paths, output, jobs, rule_files, kernel_version, config_file, no_config,
                  no_cache, quiet) -> None:
    """Pass 1 alone: the tree-wide summaries of the functions PATH... can reach (the
    analyzed files, the headers they include, the .c files defining what they call),
    written to FILE for `--summaries FILE` (one artifact for every --shard job).

    \b
    kref-lint summarize -o summaries.json mm/ virt/kvm/
    kref-lint --summaries summaries.json --shard 1/2 --format sarif -o 1.sarif mm/ virt/kvm/"""
    try:
        conf = settings(config_file, no_config, list(paths), select=None, ignore=None,
                        rule_files=rule_files, jobs=jobs, kernel_version=kernel_version)
        req = check_mode.Request(tuple(paths), frontend="treesitter")
        options = check_mode.options_for(req, conf)
        _finish(summarize_mode.main(paths, output, options, conf, Console(quiet, False),
                                    no_cache))
    except ToolError as exc:
        _fail(exc)


@main.command("merge")
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the merged log to FILE (atomically) instead of stdout.")
def merge_cmd(logs, output) -> None:
    """Merge the SARIF (or JSON) logs of `--shard K/N` runs into the log one run would
    have written: results, diagnostics, rules and the invocation.

    \b
    kref-lint --shard 1/2 --format sarif -o 1.sarif mm/    # on one machine
    kref-lint --shard 2/2 --format sarif -o 2.sarif mm/    # on another
    kref-lint merge 1.sarif 2.sarif -o kref-lint.sarif
    Exit 0 when the merged log has no result that fails the run, 1 when it has."""
    try:
        _finish(merge_mode.main(list(logs), output))
    except ToolError as exc:
        _fail(exc)


@main.command("explain")
@click.argument("rule_id")
@click.option("--markdown", is_flag=True, help="Print Markdown instead of plain text.")
def explain(rule_id: str, markdown: bool) -> None:
    """Print the documentation of RULE_ID."""
    try:
        click.echo(info.explain(rule_id, markdown))
    except ToolError as exc:
        _fail(exc)


@main.command("rules")
@click.option("--markdown", is_flag=True, help="A Markdown table (as in README.md).")
@click.option("--models", is_flag=True,
              help="List the model sections of the rule files instead, with their keys.")
@click.option("--apis", is_flag=True,
              help="List the API models instead, with the kernel versions they hold in.")
@click.option("--versioned", is_flag=True, help="With --apis: only the versioned ones.")
@click.option("--kernel-version", metavar="X.Y",
              help="With --apis: mark the models a tree of this version is read with.")
def rules_cmd(markdown: bool, models: bool, apis: bool, versioned: bool,
              kernel_version: str | None) -> None:
    """List every rule: id, precision and summary (--models: every model section; --apis:
    every API model with its kernel versions)."""
    if (versioned or kernel_version) and not apis:
        raise click.UsageError("--versioned and --kernel-version go with --apis")
    if models and apis:
        raise click.UsageError("--models and --apis are two listings: choose one")
    if models:
        click.echo(info.models_table(markdown), nl=False)
        return
    if not apis:
        click.echo(info.rules_table(markdown), nl=False)
        return
    try:
        click.echo(info.apis_table(kernel_version, versioned), nl=False)
    except ToolError as exc:
        _fail(exc)


class Terminated(BaseException):
    """SIGTERM (or SIGHUP): raised in the main thread so that every ``finally`` and
    context manager runs (worker processes stopped, temporary directories removed)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, _frame) -> None:
    signal.signal(signum, signal.SIG_IGN)          # a second one must not interrupt cleanup
    raise Terminated(signum)


def run() -> None:
    """Console-script entry point: every way out is an exit code and at most one line.
    SIGINT exits 130, SIGTERM 143, SIGHUP 129 (128 + the signal, as a shell reports a
    process the signal killed), each after the cleanup."""
    # The analysis allocates millions of long-lived objects (syntax trees' captures, IR,
    # skeletons, summaries) and frees few: with gen 0's default threshold of 700 the
    # collector rescans the old generations every few thousand allocations, which cost
    # about a tenth of a cold tree-wide run. A larger gen-0 threshold keeps cycles
    # collected (no cycle is kept longer than 50,000 allocations) at a fraction of the
    # cost; helper processes fork from here and inherit it.
    gc.set_threshold(50_000, 20, 20)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _on_signal)
    try:
        main(standalone_mode=False)
    except Terminated as exc:
        click.echo(f"kref-lint: terminated ({signal.Signals(exc.signum).name})", err=True)
        sys.exit(128 + exc.signum)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:            # usage errors: one line too
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"kref-lint: error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_ERROR)
    except (click.Abort, KeyboardInterrupt):
        click.echo("kref-lint: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ToolError as exc:
        click.echo(f"kref-lint: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:                        # `kref-lint mm/ | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)                              # as a shell reports SIGPIPE
    except Exception as exc:                        # a bug: still one line, still exit 2
        if os.environ.get("KREF_LINT_DEBUG"):
            traceback.print_exc()
        click.echo(f"kref-lint: internal error: {type(exc).__name__}: {exc} (a bug in "
                   "kref-lint; KREF_LINT_DEBUG=1 shows the traceback)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_CLEAN)


if __name__ == "__main__":  # pragma: no cover
    run()
