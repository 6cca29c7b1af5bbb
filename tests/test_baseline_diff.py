"""CI mode, part 2: --baseline OLD.sarif and --diff REV, end to end through the command
line on real files and real git repositories.  Fingerprints must survive unrelated edits
(30 lines added above, another function renamed, everything re-indented)."""
from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli
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
    line_of,
    tree_hash,
)

KEY = "krefLint/v1"


def sarif(tmp_path, *args, cwd, validator, name="out.sarif", expect=None):
    out = tmp_path / name
    r = run_cli("--format", "sarif", "-o", str(out), *args, cwd=cwd)
    assert r.returncode in (0, 1), r.stderr
    if expect is not None:
        assert r.returncode == expect, r.stderr
    log = json.loads(out.read_text())
    validator.validate(log)
    return log, r


def states(log) -> list[tuple[str, str, int]]:
    return sorted((res["baselineState"],
                   res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                   res["locations"][0]["physicalLocation"]["region"]["startLine"])
                  for res in log["runs"][0]["results"])


def fingerprints(log) -> set[str]:
    return {r["partialFingerprints"][KEY] for r in log["runs"][0]["results"]}


@pytest.fixture
def tree(tmp_path):
    root = kernel_tree(tmp_path / "linux")
    (root / "mm" / "gup.c").write_text(HEADER + HELPER + BUGGY + CORRECT + PMD_BUG)
    return root


def unrelated_edits(text: str) -> str:
    """30 lines above everything, another (clean) function renamed, tabs re-indented."""
    text = "".join(f"/* unrelated comment line {i} */\n" for i in range(30)) + text
    text = text.replace("count_pages", "nr_pages_counted")
    text = text.replace("gup_fast_pte_ok", "gup_fast_pte_correct")
    return re.sub(r"(?m)^\t+", lambda m: "    " * len(m.group(0)), text)


# --------------------------------------------------------------------------- baseline
def test_baseline_survives_unrelated_edits(tmp_path, tree, sarif_validator):
    old, r = sarif(tmp_path, "mm/", cwd=tree, validator=sarif_validator, name="old.sarif")
    assert r.returncode == 1 and len(old["runs"][0]["results"]) == 2
    gup = tree / "mm" / "gup.c"
    gup.write_text(unrelated_edits(gup.read_text()))

    r = run_cli("--baseline", str(tmp_path / "old.sarif"), "mm/", cwd=tree)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
    assert "0 new, 2 unchanged, 0 absent" in r.stderr

    now, _ = sarif(tmp_path, "mm/", cwd=tree, validator=sarif_validator)
    assert fingerprints(now) == fingerprints(old)            # identical, not just matched
    lines = sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"]
                   for r in now["runs"][0]["results"])
    assert lines != sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"]
                           for r in old["runs"][0]["results"])   # they did move


def test_baseline_new_unchanged_absent(tmp_path, tree, sarif_validator):
    sarif(tmp_path, "mm/", cwd=tree, validator=sarif_validator, name="old.sarif")
    gup = tree / "mm" / "gup.c"
    text = gup.read_text().replace(PMD_BUG, "")                 # fixes one finding
    text += BUGGY.replace("gup_fast_pte(", "gup_fast_pte_again(")     # adds another
    gup.write_text(text)

    r = run_cli("--baseline", str(tmp_path / "old.sarif"), "mm/", cwd=tree)
    assert r.returncode == 1
    new_line = line_of(gup, "get_page(page);", 2)
    assert r.stdout.splitlines() == [
        f"mm/gup.c:{new_line}:9: warning: get_page() on 'page' that holds no reference "
        f"(found by the lockless read at line {new_line - 5}) [try-get-without-ref]"]
    assert "1 new, 1 unchanged, 1 absent" in r.stderr

    log, _ = sarif(tmp_path, "--baseline", str(tmp_path / "old.sarif"), "mm/", cwd=tree,
                   validator=sarif_validator, expect=1)
    got = states(log)
    assert [s for s, _, _ in got] == ["absent", "new", "unchanged"]
    absent = next(r for r in log["runs"][0]["results"] if r["baselineState"] == "absent")
    assert "folio_get(folio)" in absent["locations"][0]["physicalLocation"]["region"][
        "snippet"]["text"]                          # re-emitted from the old log
    assert absent["ruleIndex"] == 0


def test_changing_the_buggy_statement_may_make_it_new(tmp_path, tree, sarif_validator):
    sarif(tmp_path, "mm/", cwd=tree, validator=sarif_validator, name="old.sarif")
    gup = tree / "mm" / "gup.c"
    gup.write_text(gup.read_text().replace("\tget_page(page);",
                                           "\tget_page(page); get_page(page);"))
    r = run_cli("--baseline", str(tmp_path / "old.sarif"), "mm/", cwd=tree)
    assert r.returncode == 1 and "1 new, 1 unchanged, 1 absent" in r.stderr


def test_baseline_from_config_and_no_baseline(tmp_path, tree, sarif_validator):
    sarif(tmp_path, "mm/", cwd=tree, validator=sarif_validator, name="old.sarif")
    (tree / ".kref-lint.toml").write_text(f'baseline = "{tmp_path / "old.sarif"}"\n')
    assert run_cli("mm/", cwd=tree).returncode == 0
    assert run_cli("--no-baseline", "mm/", cwd=tree).returncode == 1


@pytest.mark.parametrize("content, message", [
    (None, "cannot read baseline"),
    ("not json", "is not JSON"),
    ('{"version": "2.1.0"}', "is not a SARIF log"),
    ('{"runs": [{"tool": {"driver": {"name": "kref-lint"}}, "results": [{"ruleId": "x"}]}]}',
     "carry no 'krefLint/v1' fingerprint"),
])
def test_bad_baseline_is_a_clear_error(tmp_path, tree, content, message):
    path = tmp_path / "base.sarif"
    if content is not None:
        path.write_text(content)
    r = run_cli("--baseline", str(path), "mm/", cwd=tree)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- --diff
@pytest.fixture
def repo(tmp_path):
    root = init_repo(kernel_tree(tmp_path / "repo"))
    (root / "mm" / "gup.c").write_text(HEADER + HELPER + BUGGY + CORRECT)
    (root / "mm" / "old_name.c").write_text(HEADER + PMD_BUG)
    (root / "mm" / "gone.c").write_text(HEADER + PMD_BUG.replace("gup_fast_pmd", "gone_pmd"))
    (root / "mm" / "untouched.c").write_text(HEADER + BUGGY)
    (root / "README").write_text("not C\n")
    commit_all(root, "base")
    return root


def test_diff_reports_only_what_the_change_introduces(tmp_path, repo, sarif_validator):
    base = git(repo, "rev-parse", "HEAD").strip()
    gup = repo / "mm" / "gup.c"
    gup.write_text(unrelated_edits(gup.read_text())
                   + BUGGY.replace("gup_fast_pte(", "gup_fast_pte_new("))       # unstaged
    git(repo, "mv", "mm/old_name.c", "mm/new_name.c")                           # staged rename
    git(repo, "rm", "-q", "mm/gone.c")
    (repo / "mm" / "fresh.c").write_text(HEADER + PMD_BUG)                       # untracked
    (repo / "README").write_text("changed, still not C\n")
    before = tree_hash(repo)

    r = run_cli("--diff", "HEAD", cwd=repo)
    assert r.returncode == 1, r.stderr
    new_line = line_of(gup, "get_page(page);", 2)
    assert [l.split(": warning:")[0] for l in r.stdout.splitlines()] == [
        f"mm/fresh.c:{line_of(repo / 'mm' / 'fresh.c', 'folio_get(folio);')}:9",
        f"mm/gup.c:{new_line}:9"]
    assert f"compared with HEAD ({base[:12]}): 2 new, 2 unchanged, 1 absent" in r.stderr
    assert tree_hash(repo) == before                 # working tree, index, .git untouched

    log, _ = sarif(tmp_path, "--diff", "HEAD", cwd=repo, validator=sarif_validator, expect=1)
    assert states(log) == sorted([
        ("absent", "mm/gone.c", line_of(repo / "mm" / "fresh.c", "folio_get(folio);")),
        ("new", "mm/fresh.c", line_of(repo / "mm" / "fresh.c", "folio_get(folio);")),
        ("new", "mm/gup.c", new_line),
        ("unchanged", "mm/gup.c", line_of(gup, "get_page(page);")),
        ("unchanged", "mm/new_name.c", line_of(repo / "mm" / "new_name.c", "folio_get(folio);")),
    ])
    assert log["runs"][0]["automationDetails"] == {"id": "kref-lint-diff/"}
    assert tree_hash(repo) == before


def test_diff_with_paths_from_a_subdirectory(repo):
    (repo / "mm" / "untouched.c").write_text(HEADER + BUGGY + PMD_BUG)
    (repo / "mm" / "gup.c").write_text(HEADER + HELPER + BUGGY + CORRECT + PMD_BUG)
    r = run_cli("--diff", "HEAD", "gup.c", cwd=repo / "mm")
    assert r.returncode == 1
    assert [l.split(":")[0] for l in r.stdout.splitlines()] == ["gup.c"]   # cwd-relative
    git(repo, "commit", "-qam", "both")
    assert run_cli("--diff", "HEAD", cwd=repo).returncode == 0
    r = run_cli("--diff", "HEAD~1", cwd=repo)
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 2


def test_diff_clean_change_exits_0(repo):
    gup = repo / "mm" / "gup.c"
    gup.write_text(gup.read_text() + CORRECT.replace("gup_fast_pte_ok", "another_ok"))
    r = run_cli("--diff", "HEAD", cwd=repo)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    assert "0 new, 1 unchanged, 0 absent" in r.stderr


@pytest.mark.parametrize("args, message", [
    (("--diff", "no-such-rev"), "unknown revision 'no-such-rev'"),
    (("--diff", "HEAD", "--baseline", "x.sarif"), "cannot be combined"),
])
def test_diff_errors(repo, args, message):
    r = run_cli(*args, cwd=repo)
    assert r.returncode == 2 and message in r.stderr
    assert "Traceback" not in r.stderr


def test_diff_outside_a_git_tree(tmp_path):
    (tmp_path / "x").mkdir()
    r = run_cli("--diff", "HEAD", cwd=tmp_path / "x")
    assert r.returncode == 2 and "needs a git tree" in r.stderr


# --------------------------------------------------------------------------- IDE
def test_sarif_for_ides_and_code_scanning(tmp_path, tree, sarif_validator):
    (tree / ".git").mkdir()                             # %SRCROOT% is the tree root
    log, _ = sarif(tmp_path, "mm/", cwd=tree, validator=sarif_validator, expect=1)
    run = log["runs"][0]
    assert run["automationDetails"] == {"id": "kref-lint/mm/"}
    # portable: the log says what %SRCROOT% is, not where it was on this machine
    assert run["originalUriBaseIds"]["%SRCROOT%"] == {"description": {"text": (
        "The root of the analyzed tree (its git top level or kernel source root); result "
        "URIs are relative to it.")}}
    assert str(tree) not in json.dumps(log)
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["help"]["markdown"].startswith("# try-get-without-ref")
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": "mm/gup.c", "uriBaseId": "%SRCROOT%"}
        steps = res["codeFlows"][0]["threadFlows"][0]["locations"]
        assert steps[0]["location"]["physicalLocation"]["region"]["startLine"] < \
            loc["region"]["startLine"] == steps[-1]["location"]["physicalLocation"][
                "region"]["startLine"]
        assert res["relatedLocations"][0]["message"]["text"]
    log, _ = sarif(tmp_path, "mm/gup.c", "include/", cwd=tree, validator=sarif_validator)
    assert log["runs"][0]["automationDetails"] == {"id": "kref-lint/include+mm/gup.c/"}


def test_text_paths_are_clickable_from_the_working_directory(tmp_path, tree):
    for cwd, prefix in ((tree, "mm/gup.c:"), (tree / "mm", "gup.c:"),
                        (tmp_path, "linux/mm/gup.c:")):
        r = run_cli(str(tree / "mm"), cwd=cwd)
        assert r.stdout.startswith(prefix), (cwd, r.stdout)
    other = tmp_path / "elsewhere"
    other.mkdir()
    r = run_cli(str(tree / "mm"), cwd=other)
    assert r.stdout.startswith(str(tree / "mm" / "gup.c") + ":")      # absolute


# --------------------------------------------------------------------------- pre-commit
def test_pre_commit_hook_entries_work_as_pre_commit_runs_them(repo):
    import shlex

    from tests.conftest import REPO

    hooks = (REPO / ".pre-commit-hooks.yaml").read_text()
    entries = dict(re.findall(r"(?m)^- id: (\S+)\n(?:  .*\n)*?  entry: (.+)$", hooks))
    assert set(entries) == {"kref-lint", "kref-lint-diff"}
    assert hooks.count("types: [c]") == 2                   # identify: .c and .h are "c"
    gup = repo / "mm" / "gup.c"
    gup.write_text(gup.read_text() + PMD_BUG)
    git(repo, "add", "mm/gup.c")
    for hook, n in (("kref-lint-diff", 1), ("kref-lint", 2)):
        argv = shlex.split(entries[hook])
        assert argv[0] == "kref-lint"
        r = run_cli(*argv[1:], "mm/gup.c", cwd=repo)        # pre-commit appends the files
        assert r.returncode == 1, r.stderr
        assert len(r.stdout.splitlines()) == n, (hook, r.stdout)


def test_fingerprint_ignores_comments_on_the_reported_line():
    from analyzer.results.identity import normalize_snippet

    base = normalize_snippet("get_page(page);")
    for variant in ("\t\tget_page(page);  ", "get_page(page); // expect: x",
                    "get_page(page); /* kref-lint: ignore[r] why */",
                    "get_page( /* the page */ page);"):
        assert normalize_snippet(variant) == base, variant
    assert normalize_snippet("if(x)  get_page(page);") == normalize_snippet(
        "if (x)\tget_page( page );")
    assert normalize_snippet('puts("/* not  a comment */");') == 'puts("/* not  a comment */");'
    assert normalize_snippet("get_page(page2);") != base
