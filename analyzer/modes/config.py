"""The project configuration file, ``.kref-lint.toml``.

Found by walking up from the analyzed paths (the first directory that has one wins; the
walk stops at the repository root, the directory holding ``.git``), or named with
``--config FILE``; ``--no-config`` ignores it.  Every key is optional::

    select   = ["try-get-without-ref"]      # only these rules
    ignore   = ["spurious-refcount-warn"]   # not these rules
    exclude  = ["drivers/staging/", "**/*_test.c"]   # gitignore-style globs
    rules    = ["tools/kref-lint/local.toml"]        # extra API model files
    baseline = "kref-lint-baseline.sarif"   # report only findings not in this SARIF log
    jobs     = 8                            # worker processes

    [mail]                                  # check-patch replies (see the README)
    from    = "kref-lint bot <kref-lint@example.org>"
    archive = "https://lore.kernel.org/r"   # where the replies are archived (Closes:)
    cc      = ["kref-lint-reports@example.org"]

Relative paths and globs are relative to the directory holding the file.  A flag given
on the command line replaces the file's value for that setting.  An unknown key, a value
of the wrong type or a TOML syntax error is an error that names the file and the key
(exit 2): a misspelt ``ignor`` must not silently do nothing.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from analyzer.errors import ToolError
from analyzer.pipeline.discover import Excluder

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef,unused-ignore]

FILENAME = ".kref-lint.toml"
KEYS = ("select", "ignore", "exclude", "rules", "baseline", "jobs", "mail")
MAIL_KEYS = ("from", "archive", "cc")


class ConfigError(ToolError):
    """A configuration file that cannot be used (exit 2)."""


@dataclass(frozen=True)
class Config:
    path: str | None = None                 # the file, None when there is none
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    rules: tuple[str, ...] | None = None    # absolute paths
    baseline: str | None = None             # absolute path
    jobs: int | None = None
    base: str = ""                             # directory globs are relative to
    mail_from: str | None = None            # [mail] from
    mail_archive: str | None = None         # [mail] archive
    mail_cc: tuple[str, ...] = ()              # [mail] cc

    def excluder(self, cli_exclude: Iterable[str] | None = None) -> Excluder:
        """The exclusion matcher: ``cli_exclude`` (relative to the working directory)
        replaces the file's patterns when given.  Raises
        :class:`analyzer.pipeline.discover.PatternError` for an invalid pattern."""
        if cli_exclude:
            return Excluder(tuple(cli_exclude), os.getcwd())
        return Excluder(self.exclude, self.base or os.getcwd(),
                        f"'exclude' in {self.path}" if self.path else "exclude")


def find_config(start_paths: Iterable[str]) -> str | None:
    """The ``.kref-lint.toml`` that applies to ``start_paths``: the nearest one in their
    common directory or above it, not above the repository root."""
    dirs = [os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".")
            for p in start_paths] or [os.getcwd()]
    try:
        here = os.path.commonpath(dirs)
    except ValueError:
        here = os.getcwd()
    while True:
        cand = os.path.join(here, FILENAME)
        if os.path.isfile(cand):
            return cand
        if os.path.exists(os.path.join(here, ".git")):
            return None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def load_config(path: str | None) -> Config:
    """Read and check ``path``; ``Config()`` (all unset) for None."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, KEYS, n=1)
        raise ConfigError(f"{path}: unknown key '{key}'"
                          + (f" (did you mean '{hint[0]}'?)" if hint else "")
                          + f"; known keys: {', '.join(KEYS)}")

    def strings(key: str) -> tuple[str, ...] | None:
        if key not in data:
            return None
        value = data[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: '{key}' must be a list of strings")
        return tuple(value)

    def resolve(p: str) -> str:
        return os.path.normpath(os.path.join(base, os.path.expanduser(p)))

    baseline = data.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline):
        raise ConfigError(f"{path}: 'baseline' must be a file name (a string)")
    jobs = data.get("jobs")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"{path}: 'jobs' must be a positive integer")
    rules = strings("rules")
    mail = _mail(data.get("mail", {}), path)
    return Config(path=os.path.abspath(path), select=strings("select"),
                  ignore=strings("ignore"), exclude=strings("exclude") or (),
                  rules=tuple(resolve(r) for r in rules) if rules is not None else None,
                  baseline=resolve(baseline) if baseline else None, jobs=jobs, base=base,
                  mail_from=mail.get("from"), mail_archive=mail.get("archive"),
                  mail_cc=tuple(mail.get("cc", ())))


def _mail(table, path: str) -> dict:
    """The ``[mail]`` table, checked: addresses must parse, the archive must be a URL."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'mail' must be a table ([mail])")
    for key in table:
        if key not in MAIL_KEYS:
            hint = difflib.get_close_matches(key, MAIL_KEYS, n=1)
            raise ConfigError(f"{path}: unknown key 'mail.{key}'"
                              + (f" (did you mean 'mail.{hint[0]}'?)" if hint else "")
                              + f"; known keys: {', '.join(MAIL_KEYS)}")
    out: dict = {}
    if "from" in table:
        out["from"] = check_address(table["from"], f"{path}: 'mail.from'", ConfigError)
    if "archive" in table:
        url = table["archive"]
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ConfigError(f"{path}: 'mail.archive' must be an http(s) URL")
        out["archive"] = url.rstrip("/")
    if "cc" in table:
        cc = table["cc"]
        if isinstance(cc, str):
            cc = [cc]
        if not isinstance(cc, list):
            raise ConfigError(f"{path}: 'mail.cc' must be a list of addresses")
        out["cc"] = [check_address(a, f"{path}: 'mail.cc'", ConfigError) for a in cc]
    return out


def check_address(value, what: str, error: type = ConfigError) -> str:
    """``value`` if it is one mail address (``Name <user@host>`` or ``user@host``), else
    ``error`` naming ``what``."""
    if isinstance(value, str) and "\n" not in value and "\r" not in value:
        name, addr = parseaddr(value)
        if addr and "@" in addr:
            try:
                Address(display_name=name, addr_spec=addr)
                return value.strip()
            except (ValueError, IndexError):
                pass
    raise error(f"{what}: not a mail address: {value!r} (write 'Name <user@example.org>')")
