"""Compare a run with an earlier one: ``--baseline OLD.sarif`` and ``--diff REV``.

Findings are matched by their ``krefLint/v1`` partial fingerprint (rule, path relative to
the tree root, function, comment- and whitespace-normalized reported statement, and the
occurrence among identical ones; see :func:`analyzer.results.identity.fingerprint`), so
lines added above a function, renaming another function or re-indenting keep a finding
``unchanged``; editing the reported statement makes it ``new``.

States (SARIF ``baselineState``): ``new`` (not in the baseline: these fail the run),
``unchanged`` (in both), ``absent`` (in the baseline only: fixed, or its file was not
analyzed this time; re-emitted so SARIF viewers can show it).  A baseline comes from a
SARIF log (:func:`load`; results that were themselves ``absent`` or suppressed in
source are not part of it: removing a suppression brings its finding back as ``new``)
or straight from findings (:func:`from_findings`, what ``--diff`` does with the
analysis at REV).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from analyzer.errors import ToolError
from analyzer.result import Finding
from analyzer.results.identity import FINGERPRINT_KEY, fingerprints

#: A baseline entry: the old log's SARIF result (re-emitted as is when absent), or the
#: finding itself when the baseline was computed in this run.
Entry = dict | Finding


class BaselineError(ToolError):
    """A baseline file that cannot be used (exit 2)."""


@dataclass
class Baseline:
    source: str                                   # the file (or "REV (commit)") it came from
    results: dict[str, Entry] = field(default_factory=dict)    # fingerprint -> entry


@dataclass
class Comparison:
    source: str                         # what the run was compared with
    states: dict[str, str]              # fingerprint -> new | unchanged (current findings)
    new: list[Finding]                  # active findings not in the baseline
    unchanged: list[Finding]
    absent: list[Entry]                 # in the baseline only

    def summary(self) -> str:
        return (f"kref-lint: compared with {self.source}: {len(self.new)} new, "
                f"{len(self.unchanged)} unchanged, {len(self.absent)} absent")


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


def from_findings(findings: Iterable[Finding], root: str, source: str) -> Baseline:
    """The baseline made of ``findings`` (paths under ``root``); suppressed ones take part
    in the numbering of identical statements but are not part of it, as in a log."""
    out = Baseline(source)
    for f, fp in fingerprints(findings, root):
        if not f.suppression:
            out.results.setdefault(fp, f)
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
    absent = [entry for fp, entry in baseline.results.items() if fp not in seen]
    return Comparison(baseline.source, states, new, unchanged, absent)
