"""Compare a run with an earlier one: ``--baseline OLD.sarif`` and ``--diff REV``.

Findings are matched by their ``krefLint/v1`` partial fingerprint (rule, path relative to
the tree root, function, comment- and whitespace-normalized reported statement, and the
occurrence among identical ones; see :func:`analyzer.report.sarif.fingerprint`), so lines
added above a function, renaming another function or re-indenting keep a finding
``unchanged``; editing the reported statement makes it ``new``.

States (SARIF ``baselineState``): ``new`` (not in the baseline: these fail the run),
``unchanged`` (in both), ``absent`` (in the baseline only: fixed, or its file was not
analyzed this time; re-emitted from the old log so SARIF viewers can show it).  Results
of the old log that were themselves ``absent`` or suppressed in source are not part of
the baseline: removing a suppression brings its finding back as ``new``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Iterable

from analyzer.result import Finding
from analyzer.report.sarif import FINGERPRINT_KEY, fingerprints


class BaselineError(Exception):
    """A baseline file that cannot be used (exit 2)."""


@dataclass
class Baseline:
    source: str                                   # the file (or "REV") it came from
    results: dict[str, dict] = field(default_factory=dict)    # fingerprint -> result


@dataclass
class Comparison:
    states: dict[str, str]              # fingerprint -> new | unchanged (current findings)
    new: list[Finding]                  # active findings not in the baseline
    unchanged: list[Finding]
    absent: list[dict]                  # old SARIF results, baselineState "absent"


def load(path: str) -> Baseline:
    try:
        with open(path, encoding="utf-8") as fh:
            log = json.load(fh)
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"baseline {path} is not JSON: {exc}") from None
    return from_log(log, path)


def from_log(log: dict, source: str) -> Baseline:
    """The baseline a SARIF log (as a dict) describes."""
    if not isinstance(log, dict) or not isinstance(log.get("runs"), list):
        raise BaselineError(f"baseline {source} is not a SARIF log (no 'runs')")
    out = Baseline(source)
    missing = 0
    for run in log["runs"]:
        if not isinstance(run, dict):
            continue
        name = (((run.get("tool") or {}).get("driver") or {}).get("name"))
        if name != "kref-lint":
            continue
        for result in run.get("results") or ():
            if not isinstance(result, dict):
                continue
            if result.get("baselineState") == "absent" or result.get("suppressions"):
                continue
            fp = (result.get("partialFingerprints") or {}).get(FINGERPRINT_KEY)
            if not isinstance(fp, str):
                missing += 1
                continue
            out.results.setdefault(fp, result)
    if missing and not out.results:
        raise BaselineError(f"baseline {source}: its results carry no '{FINGERPRINT_KEY}' "
                            "fingerprint (made by another tool or version?)")
    return out


def compare(findings: Iterable[Finding], suppressed: Iterable[Finding], root: str,
            baseline: Baseline) -> Comparison:
    """Classify the current findings against ``baseline``.  ``suppressed`` findings take
    part in fingerprinting (so that suppressing one does not renumber the others) but
    are never ``new``."""
    states: dict[str, str] = {}
    new, unchanged = [], []
    seen = set()
    for f, fp in fingerprints([*findings, *suppressed], root):
        seen.add(fp)
        if fp in baseline.results:
            states[fp] = "unchanged"
            if not f.suppression:
                unchanged.append(f)
        else:
            states[fp] = "new"
            if not f.suppression:
                new.append(f)
    absent = []
    for fp, result in baseline.results.items():
        if fp not in seen:
            r = copy.deepcopy(result)
            r["baselineState"] = "absent"
            absent.append(r)
    return Comparison(states, new, unchanged, absent)


def add_absent(log: dict, absent: list[dict]) -> None:
    """Append the ``absent`` results to the (single) run of ``log``, their ``ruleIndex``
    re-pointed into this run's rules (dropped when the rule is not there)."""
    if not absent:
        return
    run = log["runs"][0]
    index = {d["id"]: i for i, d in enumerate(run["tool"]["driver"].get("rules", []))}
    for r in absent:
        i = index.get(r.get("ruleId"))
        if i is None:
            r.pop("ruleIndex", None)
        else:
            r["ruleIndex"] = i
        r.pop("rule", None)
        run["results"].append(r)


def summary(comparison: Comparison, what: str) -> str:
    return (f"kref-lint: compared with {what}: {len(comparison.new)} new, "
            f"{len(comparison.unchanged)} unchanged, {len(comparison.absent)} absent")
