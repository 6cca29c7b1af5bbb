"""Notification noise (issue 16): exact repeats are reported once; several diagnostics
of one kind on one file are one line with a count, unless -v asks for each; counts in
``--statistics`` and JSON stay exact."""
from __future__ import annotations

import json

from analyzer.result import Notification
from analyzer.results.outcome import FileOutcome
from analyzer.results.run import RunResult, dedup, group
from tests.conftest import run_cli

DAMAGED = ("static int a = 1;\nFOO_BAR(x) BAZ(y) {{ ;\nint f(void) { return 0; }\n"
           "@@@ junk $$$;\nint g(void) { return 1; }\n### more junk\n/* folio_ref_count */\n")


def test_exact_repeats_are_reported_once():
    header = Notification("statement could not be parsed", "/t/include/x.h", 7, "note",
                          "degraded")
    outcomes = [FileOutcome(f"/t/{n}.c", notifications=[header]) for n in "abc"]
    run = RunResult.from_outcomes(outcomes, "/t")
    assert len(run.notifications) == 3
    run.condense(detailed=True)
    assert run.notifications == [header]
    assert run.diagnostic_counts() == {"degraded": 1}


def test_a_files_diagnostics_of_one_kind_are_one_line_with_a_count():
    notes = [Notification("parse error: top-level code read on a best-effort basis", "f.c",
                          line, "warning", "parse-error") for line in (40, 3, 12)]
    notes.append(Notification("cannot read file", "g.c", 0, "error", "unreadable"))
    notes.append(Notification("run-level note", "", 0, "note", "frontend"))
    notes.append(Notification("one of its kind", "f.c", 5, "note", "encoding"))
    out = group(dedup(notes + notes))
    assert out == [
        Notification("3 x [parse-error] at lines 3, 12, 40 (-v lists each); first: parse "
                     "error: top-level code read on a best-effort basis", "f.c", 3,
                     "warning", "parse-error"),
        notes[3], notes[4], notes[5]]
    many = [Notification("m", "h.c", line, "warning", "parse-error") for line in range(1, 12)]
    assert group(many)[0].message == ("11 x [parse-error] at lines 1, 2, 3, 4, 5, 6, 7, 8 "
                                      "and 3 more (-v lists each); first: m")


def test_the_cli_is_quiet_by_default_and_lists_each_with_v(tmp_path):
    src = tmp_path / "p.c"
    src.write_text(DAMAGED)
    quiet = json.loads(run_cli("--format", "json", str(src)).stdout)
    verbose = json.loads(run_cli("-v", "--format", "json", str(src)).stdout)
    kinds = lambda doc: [d["kind"] for d in doc["diagnostics"] if d["path"]]  # noqa: E731
    assert kinds(verbose).count("parse-error") == 4
    assert kinds(quiet).count("parse-error") == 1
    [grouped] = [d for d in quiet["diagnostics"] if d["kind"] == "parse-error"]
    assert grouped["message"].startswith("4 x [parse-error] at lines 2, 4, 6 (-v lists each)")
    assert grouped["line"] == 2
    # the counts are the same either way
    assert quiet["statistics"]["by_diagnostic"] == verbose["statistics"]["by_diagnostic"]
    assert quiet["statistics"]["by_diagnostic"]["parse-error"] == 4
    r = run_cli("--statistics", str(src))
    assert "4\t[parse-error]\tdiagnostic" in r.stdout
    text = run_cli(str(src))
    assert ("kref-lint: 1 file with degraded statements, 1 with parse problems "
            "(--show-diagnostics lists them)") in text.stderr.splitlines()
    listed = run_cli("-v", str(src)).stderr
    assert listed.count("[parse-error]") == 4
