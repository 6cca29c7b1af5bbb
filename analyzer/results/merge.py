"""Merge the logs of ``--shard K/N`` runs (SARIF 2.1.0 or kref-lint JSON) into the log
one run over all the files would have written.

Each file is in exactly one shard, so a file's results and diagnostics come from one
log; what several shards repeat (notes about the whole run, a directory walk's
notifications, a header's result or diagnostic reported from TUs of several shards) is
kept once.
Results and diagnostics are put in the order one run writes them (sorted by path, line,
column, rule, message, function; diagnostics by path, line, kind, message, level),
rules and the invocation are the shards' own (the command line without its
``--shard``), and a baseline's ``absent`` results are those every shard lists (a
finding another shard still has is not absent).  JSON statistics are summed, a
diagnostic several shards repeat counted once.

Paths sort as one run sorts them when they are under the tree root (always, for
directories given on the command line); a result outside it may be placed differently.
Raises :class:`MergeError` for logs that are not shards of one run.
"""
from __future__ import annotations

import copy
import json
import re
from collections import Counter
from urllib.parse import unquote


class MergeError(ValueError):
    """Logs that cannot be merged (the merge mode makes it a tool error, exit 2)."""


_SHARD_ARG = re.compile(r"\s--shard(?:=|\s+)\S+")


def without_shard(command_line: str) -> str:
    """A command line with its ``--shard K/N`` removed: the unsharded run's."""
    return _SHARD_ARG.sub("", command_line)


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def _uri_key(location: dict | None) -> str:
    phys = (location or {}).get("physicalLocation") or {}
    uri = (phys.get("artifactLocation") or {}).get("uri") or ""
    return unquote(uri[len("file://"):] if uri.startswith("file://") else uri)


def _region(location: dict | None) -> dict:
    return ((location or {}).get("physicalLocation") or {}).get("region") or {}


def _same(logs: list, what: str, get) -> None:
    first = _canon(get(logs[0][1]))
    for name, log in logs[1:]:
        if _canon(get(log)) != first:
            raise MergeError(f"{name}: not a shard of the same run as {logs[0][0]} "
                             f"(different {what})")


def _common_absent(per_log: list[list[dict]]) -> list[dict]:
    """The entries every log lists, in the first log's order."""
    keys = [{_canon(e) for e in entries} for entries in per_log]
    shared = set.intersection(*keys) if keys else set()
    out, seen = [], set()
    for e in per_log[0] if per_log else []:
        k = _canon(e)
        if k in shared and k not in seen:
            seen.add(k)
            out.append(e)
    return out


def _unique(items: list[dict]) -> tuple[list[dict], Counter]:
    """Items without exact repeats, and how many times each repeated one was dropped."""
    out: list[dict] = []
    seen: set[str] = set()
    extra: Counter = Counter()
    for item in items:
        k = _canon(item)
        if k in seen:
            extra[k] += 1
            continue
        seen.add(k)
        out.append(item)
    return out, extra


# --------------------------------------------------------------------------- SARIF
def _result_key(r: dict):
    loc = (r.get("locations") or [None])[0]
    region = _region(loc)
    logical = ((loc or {}).get("logicalLocations") or [{}])[0]
    return (_uri_key(loc), region.get("startLine", 0), region.get("startColumn", 0),
            r.get("ruleId", ""), (r.get("message") or {}).get("text", ""),
            logical.get("name", ""))


def _notification_key(n: dict):
    loc = (n.get("locations") or [None])[0]
    kind = ((n.get("descriptor") or {}).get("id") or "").partition("/")[2]
    return (_uri_key(loc), _region(loc).get("startLine", 0), kind,
            (n.get("message") or {}).get("text", ""), n.get("level", ""))


def merge_sarif(logs: list[tuple[str, dict]]) -> dict:
    """``logs``: (name, SARIF log) of each shard."""
    for name, log in logs:
        runs = log.get("runs")
        if log.get("version") != "2.1.0" or not isinstance(runs, list) or len(runs) != 1:
            raise MergeError(f"{name}: not a SARIF 2.1.0 log of one run")
        if ((runs[0].get("tool") or {}).get("driver") or {}).get("name") != "kref-lint":
            raise MergeError(f"{name}: not a kref-lint log")
    run_of = lambda log: log["runs"][0]                                  # noqa: E731
    _same(logs, "tool version or rules", lambda log: run_of(log)["tool"])
    for key in ("automationDetails", "originalUriBaseIds", "versionControlProvenance",
                "columnKind", "artifacts", "properties"):
        _same(logs, key, lambda log, key=key: run_of(log).get(key))
    _same(logs, "command line", lambda log: without_shard(
        (run_of(log).get("invocations") or [{}])[0].get("commandLine", "")))
    merged = copy.deepcopy(logs[0][1])
    run = merged["runs"][0]
    results: list[dict] = []
    absent: list[list[dict]] = []
    notes: list[dict] = []
    for _, log in logs:
        mine = run_of(log).get("results") or []
        results += [r for r in mine if r.get("baselineState") != "absent"]
        absent.append([r for r in mine if r.get("baselineState") == "absent"])
        for inv in run_of(log).get("invocations") or []:
            notes += inv.get("toolExecutionNotifications") or []
    # a header function walked with TUs of several shards: its result once, as one run
    # reports it (two results of one run always differ, by their fingerprints at least)
    results, _ = _unique(results)
    results.sort(key=_result_key)                  # stable: a file's own order is kept
    run["results"] = results + _common_absent(absent)
    invocation = (run.get("invocations") or [{}])[0]
    if "commandLine" in invocation:
        invocation["commandLine"] = without_shard(invocation["commandLine"])
    unique, _ = _unique(notes)
    invocation["toolExecutionNotifications"] = sorted(unique, key=_notification_key)
    invocation["executionSuccessful"] = all(
        inv.get("executionSuccessful", True)
        for _, log in logs for inv in run_of(log).get("invocations") or [])
    return merged


def sarif_exit(log: dict) -> int:
    """2: a file was not analyzed; 1: a result fails the run; else 0 (as ``check``)."""
    run = log["runs"][0]
    notes = [n for inv in run.get("invocations") or []
             for n in inv.get("toolExecutionNotifications") or []]
    if any(n.get("level") == "error" for n in notes):
        return 2
    failing = [r for r in run.get("results") or []
               if not r.get("suppressions") and r.get("baselineState") in (None, "new")]
    return 1 if failing else 0


# --------------------------------------------------------------------------- JSON
def _finding_key(f: dict):
    return (f.get("path") or "", f.get("line") or 0, f.get("column") or 0,
            f.get("rule") or "", f.get("message") or "", f.get("function") or "")


def _diagnostic_key(d: dict):
    return (d.get("path") or "", d.get("line") or 0, d.get("kind") or "",
            d.get("message") or "")


_SUMMED = ("files", "functions", "degraded_statements", "degraded_functions",
           "failed_files", "not_parsed",
           "findings", "suppressed")


def merge_json(logs: list[tuple[str, dict]]) -> dict:
    for name, log in logs:
        if not isinstance(log, dict) or log.get("version") != 1 or \
                (log.get("tool") or {}).get("name") != "kref-lint":
            raise MergeError(f"{name}: not a kref-lint JSON log (version 1)")
    _same(logs, "tool version", lambda log: log["tool"])
    _same(logs, "rules", lambda log: log.get("rules"))
    merged = copy.deepcopy(logs[0][1])
    findings, _ = _unique([f for _, log in logs for f in log.get("findings") or []])
    merged["findings"] = sorted(findings, key=_finding_key)
    merged["absent"] = _common_absent([log.get("absent") or [] for _, log in logs])
    diags, repeated = _unique([d for _, log in logs for d in log.get("diagnostics") or []])
    merged["diagnostics"] = sorted(diags, key=_diagnostic_key)
    stats = {k: sum((log.get("statistics") or {}).get(k, 0) for _, log in logs)
             for k in _SUMMED}
    by_rule: Counter = Counter()
    by_diag: Counter = Counter()
    for _, log in logs:
        by_rule.update((log.get("statistics") or {}).get("by_rule") or {})
        by_diag.update((log.get("statistics") or {}).get("by_diagnostic") or {})
    for key, n in repeated.items():            # a diagnostic every shard repeats: once
        by_diag[json.loads(key)["kind"]] -= n
    stats["by_rule"] = dict(sorted(by_rule.items()))
    stats["by_diagnostic"] = dict(sorted((k, v) for k, v in by_diag.items() if v > 0))
    merged["statistics"] = {**(merged.get("statistics") or {}), **stats}
    return merged


def json_exit(log: dict) -> int:
    if any(d.get("level") == "error" for d in log.get("diagnostics") or []):
        return 2
    return 1 if (log.get("statistics") or {}).get("findings") else 0
