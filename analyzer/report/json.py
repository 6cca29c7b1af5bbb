"""``--format json``: one JSON object per run, for scripts.

The shape is versioned (``"version": 1``) and described by the JSON Schema shipped next to
this module (:data:`SCHEMA`, ``kref-lint-json.schema.json``; README documents it).  Paths
are relative to ``root`` (absolute for files outside it); lines and columns are 1-based,
columns counted in characters (``display_column`` is gcc's, tabs to 8); ``end_*`` is
exclusive.  Every active and every suppressed finding is listed, with its
``baseline_state`` under ``--baseline``/``--diff`` (``null`` otherwise) and its
``suppressed`` justification (``null`` when active); ``statistics.findings`` counts the
ones that fail the run, as the exit code does.
"""
from __future__ import annotations

import json
from pathlib import Path

from analyzer.ir import Span
from analyzer.result import Finding, Notification, Step
from analyzer.results.identity import display_column, display_path, fingerprints
from analyzer.results.run import RunInfo, RunResult
from analyzer.rule import Rule

FORMAT_VERSION = 1
SCHEMA = Path(__file__).with_name("kref-lint-json.schema.json")


def build_json(run: RunResult, rules: list[Rule], info: RunInfo) -> dict:
    states = run.comparison.states if run.comparison is not None else None
    findings = [_finding(run, f, fp, states.get(fp, "new") if states is not None else None)
                for f, fp in fingerprints([*run.findings, *run.suppressed], run.root)]
    absent = []
    if run.comparison is not None:
        for entry in run.comparison.absent:
            absent.append(_absent(entry, run.root))
    s = run.stats
    return {
        "version": FORMAT_VERSION,
        "tool": {"name": "kref-lint", "version": info.tool_version},
        "root": run.root,
        "rules": [r.id for r in rules],
        "findings": findings,
        "absent": absent,
        "diagnostics": [_diagnostic(n, run.root) for n in sorted(
            run.notifications, key=lambda n: (n.file, n.line, n.kind, n.message))],
        "statistics": {
            "files": s.files, "functions": s.functions, "degraded_statements": s.degraded,
            "degraded_functions": s.degraded_functions,
            "failed_files": s.failed_files, "not_parsed": s.skipped,
            "findings": len(run.failing), "suppressed": len(run.suppressed),
            "by_rule": dict(sorted(run.rule_counts().items())),
            "by_diagnostic": dict(sorted(run.diagnostic_counts().items())),
        },
    }


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _place(span: Span, root: str, run: RunResult | None = None) -> dict:
    out = {"path": display_path(span.file, root) if span.file else None,
           "line": span.line or None, "column": span.col or None}
    if run is not None:
        out["end_line"] = span.end_line or None
        out["end_column"] = span.end_col or None
        text = run.lines.get((span.file, span.line))
        out["display_column"] = (display_column(text, span.col)
                                 if text is not None and span.col else span.col or None)
    return out


def _step(step: Step, root: str) -> dict:
    return {**_place(step.span, root), "message": step.message}


def _finding(run: RunResult, f: Finding, fp: str, state: str | None) -> dict:
    return {
        "rule": f.rule_id,
        "message": f.message,
        **_place(f.span, run.root, run),
        "function": f.function or None,
        "snippet": f.snippet,
        "fingerprint": fp,
        "line_hash": run.line_hashes.get((f.span.file, f.span.line)),
        "baseline_state": state,
        "suppressed": f.suppression or None,
        "trail": [_step(s, run.root) for s in f.trail],
        "related": [_step(s, run.root) for s in f.related],
    }


def _absent(entry, root: str) -> dict:
    if isinstance(entry, Finding):
        return {"rule": entry.rule_id, "message": entry.message,
                **_place(entry.span, root), "function": entry.function or None}
    loc = ((entry.get("locations") or [{}])[0].get("physicalLocation") or {})
    region = loc.get("region") or {}
    return {"rule": entry.get("ruleId"),
            "message": (entry.get("message") or {}).get("text"),
            "path": (loc.get("artifactLocation") or {}).get("uri"),
            "line": region.get("startLine"), "column": region.get("startColumn"),
            "function": None}


def _diagnostic(n: Notification, root: str) -> dict:
    return {"level": n.level, "kind": n.kind, "message": n.message,
            "path": display_path(n.file, root) if n.file else None,
            "line": n.line or None}
