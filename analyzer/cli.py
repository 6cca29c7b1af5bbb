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
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "sarif"]), default="text",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--select", multiple=True, metavar="RULE,...", help="Only these rules.")
@click.option("--ignore", multiple=True, metavar="RULE,...", help="Not these rules.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: number of cores).")
@click.option("--frontend", type=click.Choice(["auto", "treesitter", "clang"]),
              default="auto", show_default=True, help="C frontend.")
@click.option("--rules", "rule_files", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Extra API model file (TOML); may repeat.")
@click.option("--show-path", is_flag=True, help="Text: print the path to each finding.")
@click.option("--no-cache", is_flag=True,
              help="Do not read or write the per-file result cache "
                   "(${XDG_CACHE_HOME:-~/.cache}/kref-lint/results).")
def check(paths, fmt, output, select, ignore, jobs, frontend, rule_files, show_path,
          no_cache) -> None:
    """Analyze the .c and .h files under PATH... and report findings."""
    from analyzer.analyze import Options, analyze_files
    from analyzer.discover import UsageError, discover
    from analyzer.models import ModelError, load_models
    from analyzer.result import Stats
    from checkers import all_rules

    sel, ign = _split(select), _split(ignore)
    _check_rule_ids(sel, "--select")
    _check_rule_ids(ign, "--ignore")
    if frontend == "clang":
        raise click.UsageError("--frontend clang: the libclang frontend is not available in "
                               "this version; use --frontend treesitter")
    try:
        load_models(rule_files)             # fail early, once, with file and line
    except ModelError as exc:
        _die(f"bad rule file: {exc}")
    try:
        found = discover(list(paths))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None

    options = Options(tuple(os.path.abspath(f) for f in rule_files),
                      frozenset(sel) if sel else None, frozenset(ign), "treesitter")
    started = time.monotonic()
    from analyzer.cache import ResultCache, default_dir

    cache = None if no_cache else ResultCache(default_dir(), salt="")
    outcomes = analyze_files(found.files, options, jobs or os.cpu_count() or 1, cache)
    findings = sorted((f for o in outcomes for f in o.findings), key=lambda f: f.sort_key())
    notes = list(found.notifications) + [n for o in outcomes for n in o.notifications]
    stats = Stats()
    for o in outcomes:
        stats.add(o.stats)
    rules = [r for r in all_rules() if (not sel or r.id in sel) and r.id not in ign]

    if fmt == "sarif":
        import json

        from analyzer.report.sarif import build_sarif

        log = build_sarif(findings, notes, rules, found.root, __version__,
                          command_line=" ".join(["kref-lint", *sys.argv[1:]]))
        text = json.dumps(log, indent=2) + "\n"
    else:
        from analyzer.report.text import format_text

        text = format_text(findings, notes, found.root, show_path=show_path)
    if output:
        write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    from analyzer.report.text import summary_line

    click.echo(f"{summary_line(stats, len(findings))} in {time.monotonic() - started:.1f}s",
               err=True)
    sys.exit(EXIT_FINDINGS if findings else EXIT_CLEAN)


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


def _die(message: str) -> None:
    click.echo(f"kref-lint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def run() -> None:
    """Console-script entry point: click's usage errors exit 2, as promised."""
    main(standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    run()
