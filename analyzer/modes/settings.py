"""What every mode needs before it runs: the configuration file merged with the command
line, the rule selection checked (with a "did you mean"), the models loaded once to fail
early, and the SARIF ``runAutomationDetails`` id.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from analyzer import kversion
from analyzer.errors import ToolError
from analyzer.models import ModelError, load_models
from analyzer.modes.config import Config, check_address, find_config, load_config
from analyzer.pipeline.discover import Excluder
from analyzer.results.identity import relative_to_root
from analyzer.rule import Rule
from checkers import all_rules


class UsageError(ToolError):
    """A command line that cannot be run as given (exit 2)."""


@dataclass
class Settings:
    """The effective settings: the command line where given, else the config file."""

    config: Config
    select: list[str]
    ignore: list[str]
    rule_files: tuple[str, ...]
    jobs: int | None
    baseline: str | None
    excluder: Excluder
    mail_from: str | None = None
    mail_archive: str | None = None
    mail_cc: tuple[str, ...] = ()
    kernel: kversion.KernelVersion = field(default_factory=kversion.KernelVersion)

    def origin(self, option: str, given_on_cli: bool) -> str:
        """How to name a setting in an error: the flag, or the key and its file."""
        if given_on_cli or not self.config.path:
            return option
        return f"'{option.lstrip('-')}' in {self.config.path}"

    @property
    def workers(self) -> int:
        return self.jobs or os.cpu_count() or 1

    def rules(self) -> list[Rule]:
        """The rules this run reports, in registry order."""
        return [r for r in all_rules()
                if (not self.select or r.id in self.select) and r.id not in self.ignore]


def split_ids(values: Sequence[str]) -> list[str]:
    """``--select a,b --select c`` -> ``[a, b, c]``."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def settings(config_file: str | None, no_config: bool, start: Sequence[str], *,
             select: list[str] | None, ignore: list[str] | None,
             rule_files: Sequence[str], jobs: int | None, baseline: str | None = None,
             no_baseline: bool = True, exclude: Sequence[str] = (),
             mail_from: str | None = None, mail_archive: str | None = None,
             kernel_version: str | None = None) -> Settings:
    """Merge: a flag given on the command line replaces the file's value for it
    (``select``/``ignore`` None: not given; ``--ignore ''`` clears the file's list).
    The kernel version: ``kernel_version``, else the file's, else the Makefile of the
    tree holding ``start`` (:func:`analyzer.kversion.resolve`).
    Checks the rule ids (unknown: an error with the closest known one) and loads the
    rule files once, so that a bad one fails before any work.  Raises
    :class:`~analyzer.errors.ToolError`."""
    path = None if no_config else (config_file or find_config(start))
    cfg = load_config(path)
    out = Settings(
        config=cfg,
        select=select if select is not None else list(cfg.select or ()),
        ignore=ignore if ignore is not None else list(cfg.ignore or ()),
        rule_files=tuple(os.path.abspath(f) for f in rule_files) if rule_files
        else (cfg.rules or ()),
        jobs=jobs or cfg.jobs,
        baseline=None if no_baseline else (os.path.abspath(baseline) if baseline
                                           else cfg.baseline),
        excluder=cfg.excluder(exclude),
        mail_from=check_address(mail_from, "--from", UsageError) if mail_from
        else cfg.mail_from,
        mail_archive=(mail_archive.rstrip("/") if mail_archive else cfg.mail_archive),
        mail_cc=cfg.mail_cc,
        kernel=_kernel(kernel_version, cfg, start),
    )
    check_rule_ids(out.select, out.origin("--select", select is not None))
    check_rule_ids(out.ignore, out.origin("--ignore", ignore is not None))
    try:
        load_models(out.rule_files, kernel=out.kernel.text)   # fail early, with line
    except ModelError as exc:
        raise UsageError(f"bad rule file: {exc}") from None
    return out


def _kernel(cli: str | None, cfg: Config, start: Sequence[str]) -> kversion.KernelVersion:
    given, origin = ((cli, "--kernel-version") if cli else
                     (cfg.kernel_version, f"'kernel-version' in {cfg.path}"))
    try:
        return kversion.resolve(given, start, origin)
    except ValueError as exc:
        raise UsageError(f"{origin}: {exc}") from None


def known_rule_ids() -> list[str]:
    return [r.id for r in all_rules()]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'X'?)`` for the choice ``word`` begins (a cut-off id), else the
    closest one; ``""`` when none is close."""
    prefixed = sorted(c for c in choices if c.startswith(word))
    close = prefixed[:1] or difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_rule_ids(ids: Sequence[str], option: str) -> None:
    """Every id must be a rule's; else :class:`UsageError` with the closest one."""
    known = known_rule_ids()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageError(f"{option}: unknown rule '{unknown[0]}'{did_you_mean(unknown[0], known)}"
                         f"; known rules: {', '.join(sorted(known))}")


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
    joined = "+".join(sorted({r.strip("/") for r in rels if r.strip("/")}))
    return f"{kind}/{joined}/" if joined else f"{kind}/"
