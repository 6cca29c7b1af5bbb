"""The command line as users and scripts use it: formats, selection, exit codes."""
from __future__ import annotations

import json
import re

from checkers import all_rules
from tests.conftest import REPO, run_cli

GCC_LINE = re.compile(r"^[^\s:]+:\d+:\d+: warning: .+ \[[a-z\-]+\]$")


def test_fixtures_text_output_is_gcc_style_and_exits_1():
    r = run_cli("fixtures/")
    assert r.returncode == 1, r.stderr
    lines = [l for l in r.stdout.splitlines() if ": warning: " in l]
    assert lines and all(GCC_LINE.match(l) for l in lines)
    # gcc's columns: the leading tab counts to 8
    assert "fixtures/tryget/gup_fast.c:16:14: warning: try_get_page() on 'page'" in r.stdout
    assert re.search(r"kref-lint: \d+ files, \d+ functions, 0 statements degraded, "
                     r"\d+ findings", r.stderr)


def test_sarif_output_validates_and_carries_flows(tmp_path, sarif_validator):
    out = tmp_path / "out.sarif"
    r = run_cli("--format", "sarif", "--output", str(out), "fixtures/")
    assert r.returncode == 1 and r.stdout == ""
    log = json.loads(out.read_text())
    sarif_validator.validate(log)
    run = log["runs"][0]
    assert {d["id"] for d in run["tool"]["driver"]["rules"]} == {r.id for r in all_rules()}
    results = run["results"]
    assert len(results) >= 10
    for res in results:
        assert res["partialFingerprints"]["krefLint/v1"]
        steps = res["codeFlows"][0]["threadFlows"][0]["locations"]
        assert steps                              # origin ... finding
        assert all(s["location"]["message"]["text"] for s in steps)
        origin = res["relatedLocations"][0]["physicalLocation"]["region"]
        first = steps[0]["location"]["physicalLocation"]["region"]
        last = steps[-1]["location"]["physicalLocation"]["region"]
        assert first["startLine"] == origin["startLine"]
        assert last == {k: v for k, v in res["locations"][0]["physicalLocation"]["region"]
                        .items() if k != "snippet"}
        loc = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc["uriBaseId"] == "%SRCROOT%" and loc["uri"].startswith("fixtures/")


def test_select_and_ignore():
    rule = "try-get-without-ref"
    # fixtures/tryget/ holds findings of this rule only (every fixture line is exact)
    assert run_cli("--ignore", rule, "fixtures/tryget/").returncode == 0
    r = run_cli("--select", rule, "fixtures/")
    assert r.returncode == 1
    assert {l.rsplit("[", 1)[1] for l in r.stdout.splitlines() if ": warning: " in l} == {
        rule + "]"}
    r = run_cli("--select", "no-such-rule", "fixtures/")
    assert r.returncode == 2 and "unknown rule 'no-such-rule'" in r.stderr


def test_explain_and_rules_list():
    r = run_cli("explain", "try-get-without-ref")
    assert r.returncode == 0
    for section in ("What it does", "Why is this bad?", "Example", "Use instead",
                    "Known limits"):
        assert section in r.stdout
    assert run_cli("explain", "nope").returncode == 2
    r = run_cli("rules")
    assert r.returncode == 0 and "try-get-without-ref" in r.stdout


def test_clean_file_exits_0_and_jobs_option(tmp_path):
    (tmp_path / "ok.c").write_text("int f(struct page *page) { get_page(page); return 0; }\n")
    r = run_cli("-j", "2", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_usage_errors_exit_2():
    assert run_cli().returncode == 2
    assert run_cli("--format", "xml", "fixtures/").returncode == 2
    assert run_cli("--jobs", "0", "fixtures/").returncode == 2


def test_output_file_is_written_atomically(tmp_path):
    out = tmp_path / "report.txt"
    out.write_text("old")
    r = run_cli("--output", str(out), "fixtures/")
    assert r.returncode == 1
    assert "try-get-without-ref" in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]   # no temp file left


def test_parallel_and_serial_runs_agree(tmp_path):
    a = run_cli("-j", "1", "fixtures/")
    b = run_cli("-j", "2", "fixtures/")
    assert a.stdout == b.stdout


def test_installed_console_script_finds_its_rule_data(tmp_path):
    """README's first command, as installed by `pip install '.[test]'` (not editable):
    the console script runs from anywhere and finds rules/*.toml in site-packages."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "kref-lint"
    assert script.exists(), "kref-lint is not installed here: pip install '.[test]'"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(script), "rules"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert {l.split()[0] for l in r.stdout.splitlines()} == {x.id for x in all_rules()}
    r = subprocess.run([str(script), "--no-cache", str(REPO / "fixtures")], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert ": warning: " in r.stdout and "[try-get-without-ref]" in r.stdout
