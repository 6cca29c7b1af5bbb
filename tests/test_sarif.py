"""SARIF as GitHub code scanning and Microsoft's SARIF multitool read it: rule metadata
(help, CWE tags, security-severity, problem.severity), GitHub's own line hash, version
control provenance, a portable %SRCROOT%, and check-patch regions that refer to the file
version they name.  Validated by the official schema and by the multitool itself
(installed by scripts/sarif-multitool)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from analyzer.report.sarif import information_uri
from analyzer.report.taxonomy import CLASSIFICATION
from analyzer.results.identity import line_hashes
from checkers import all_rules
from tests.conftest import FIXTURES, REPO, run_cli
from tests.modes_util import (
    BUGGY,
    CORRECT,
    HEADER,
    HELPER,
    PMD_BUG,
    commit_all,
    git,
    init_repo,
    kernel_tree,
)


@pytest.fixture(scope="module")
def multitool() -> str:
    r = subprocess.run([str(REPO / "scripts" / "sarif-multitool")], capture_output=True,
                       text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"scripts/sarif-multitool failed:\n{r.stderr[-2000:]}"
    return r.stdout.strip().splitlines()[-1]


def multitool_verdict(multitool: str, log_path: Path) -> list[str]:
    """Every error and warning the multitool reports, with SARIF's own rules and GitHub
    code scanning's ingestion rules (Gh, Ghas) on."""
    out = log_path.with_suffix(".validation.sarif")
    r = subprocess.run([multitool, "validate", str(log_path), "-o", str(out), "--log",
                        "ForceOverwrite", "--rule-kind", "Sarif;Gh;Ghas"],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"})
    assert r.returncode == 0 and out.is_file(), r.stdout + r.stderr
    results = json.loads(out.read_text())["runs"][0].get("results", [])
    return [f"{x['ruleId']}: {x['message'].get('text') or x['message']}" for x in results
            if x.get("level", "warning") in ("error", "warning")]


@pytest.fixture
def repo(tmp_path):
    root = init_repo(kernel_tree(tmp_path / "linux"))
    (root / "mm" / "gup.c").write_text(HEADER + HELPER + BUGGY + CORRECT + PMD_BUG)
    shutil.copytree(FIXTURES / "tryget", root / "mm" / "tryget")
    git(root, "remote", "add", "origin", "https://bot:t0ken@git.example.org/pub/linux.git")
    commit_all(root, "base")
    return root


def sarif_of(tmp_path, cwd, *args, name="out.sarif") -> tuple[dict, Path]:
    out = tmp_path / name
    r = run_cli("--format", "sarif", "-o", str(out), *args, cwd=cwd)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(out.read_text()), out


def test_rule_metadata_for_code_scanning(repo, tmp_path, sarif_validator):
    log, _ = sarif_of(tmp_path, repo, "mm/")
    sarif_validator.validate(log)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == information_uri()
    assert driver["semanticVersion"] == driver["version"]
    by_id = {d["id"]: d for d in driver["rules"]}
    assert set(by_id) == {r.id for r in all_rules()}
    for rule in all_rules():
        d = by_id[rule.id]
        props = d["properties"]
        cls = CLASSIFICATION[rule.id]
        assert "security" in props["tags"]
        assert [t for t in props["tags"] if t.startswith("external/cwe/")] == [
            f"external/cwe/{c.lower()}" for c in cls.cwe]
        assert 0.0 < float(props["security-severity"]) <= 10.0
        assert props["problem.severity"] == {"error": "error", "warning": "warning",
                                             "note": "recommendation"}[rule.level]
        assert props["precision"] == rule.precision
        assert d["helpUri"].startswith(driver["informationUri"])
        assert d["help"]["markdown"].startswith(f"# {rule.id}")


def test_every_rule_is_classified():
    """A new rule must say which weakness it finds (analyzer/report/taxonomy.py)."""
    assert set(CLASSIFICATION) == {r.id for r in all_rules()}
    for cls in CLASSIFICATION.values():
        assert cls.cwe and all(c.startswith("CWE-") and c[4:].isdigit() for c in cls.cwe)


def test_homepage_is_the_projects():
    text = (REPO / "pyproject.toml").read_text()
    assert f'Homepage = "{information_uri()}"' in text


def test_line_hash_provenance_and_portable_root(repo, tmp_path):
    log, _ = sarif_of(tmp_path, repo, "mm/")
    run = log["runs"][0]
    assert run["results"]
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]
        path = repo / loc["artifactLocation"]["uri"]
        line = loc["region"]["startLine"]
        expected = line_hashes(path.read_bytes().decode("utf-8", "replace"))[line]
        assert res["partialFingerprints"]["primaryLocationLineHash"] == expected
    (vcs,) = run["versionControlProvenance"]
    assert vcs == {"repositoryUri": "https://git.example.org/pub/linux.git",   # no token
                   "revisionId": git(repo, "rev-parse", "HEAD").strip(),
                   "branch": "master", "mappedTo": {"uriBaseId": "%SRCROOT%"}}
    del run["invocations"][0]["commandLine"]         # the command as typed (its -o FILE)
    text = json.dumps(log)
    assert str(repo) not in text and str(tmp_path) not in text and "t0ken" not in text


def test_multitool_accepts_check_baseline_and_patch_logs(repo, tmp_path, multitool):
    _, plain = sarif_of(tmp_path, repo, "mm/", name="plain.sarif")
    gup = repo / "mm" / "gup.c"
    gup.write_text(gup.read_text().replace(PMD_BUG, "") + BUGGY.replace(
        "gup_fast_pte(", "gup_fast_pte_again("))
    log, with_base = sarif_of(tmp_path, repo, "--baseline", str(plain), "mm/",
                              name="baseline.sarif")
    assert {r["baselineState"] for r in log["runs"][0]["results"]} == {
        "new", "unchanged", "absent"}
    _, diff = sarif_of(tmp_path, repo, "--diff", "HEAD", name="diff.sarif")
    git(repo, "checkout", "-q", "--", "mm/gup.c")
    git(repo, "checkout", "-q", "-b", "topic")
    (repo / "mm" / "util.c").write_text(HEADER + PMD_BUG)
    commit_all(repo, "mm/util: a pmd fast path")
    git(repo, "format-patch", "-q", "--thread", "-o", str(tmp_path / "p"), "master")
    git(repo, "checkout", "-q", "master")
    patch = tmp_path / "patch.sarif"
    r = run_cli("check-patch", str(next((tmp_path / "p").glob("*.patch"))), "--tree",
                str(repo), "--format", "sarif", "-o", str(patch))
    assert r.returncode == 1, r.stderr
    for path in (plain, with_base, diff, patch):
        assert multitool_verdict(multitool, path) == [], path.name


def test_multitool_reports_what_it_should(tmp_path, multitool):
    """The verdict is not vacuous: a log without informationUri draws SARIF2005."""
    log, path = sarif_of(tmp_path, REPO, "fixtures/tryget/")
    del log["runs"][0]["tool"]["driver"]["informationUri"]
    path.write_text(json.dumps(log))
    assert any(v.startswith("SARIF2005") for v in multitool_verdict(multitool, path))
