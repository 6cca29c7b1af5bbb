"""``kref-lint merge LOG... [-o FILE]``: the logs of ``--shard K/N`` runs as one run's
(:mod:`analyzer.results.merge`).  The format (SARIF or JSON) is the logs' own; all must
have the same.  Exit codes as ``check``: 0 no failing result, 1 results, 2 a file was
not analyzed in some shard (or a log cannot be read or merged)."""
from __future__ import annotations

import json
import sys

from analyzer.errors import ToolError
from analyzer.modes.console import check_output, write_output
from analyzer.report import sarif as sarif_report
from analyzer.report.json import dumps as json_dumps
from analyzer.results import merge as merging


class LogError(ToolError):
    """A log that cannot be read or merged (exit 2)."""


def _read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise LogError(f"{path}: not JSON ({exc})") from None


def main(paths: list[str], output: str | None) -> int:
    if output:
        check_output(output)
    logs = [(p, _read(p)) for p in paths]
    kinds = {"sarif" if isinstance(log, dict) and "runs" in log else "json"
             for _, log in logs}
    if len(kinds) != 1:
        raise LogError("cannot merge SARIF and JSON logs together")
    try:
        if kinds == {"sarif"}:
            merged = merging.merge_sarif(logs)
            text, code = sarif_report.dumps(merged), merging.sarif_exit(merged)
        else:
            merged = merging.merge_json(logs)
            text, code = json_dumps(merged), merging.json_exit(merged)
    except merging.MergeError as exc:
        raise LogError(str(exc)) from None
    if output:
        write_output(output, text)
    else:
        sys.stdout.write(text)
    return code
