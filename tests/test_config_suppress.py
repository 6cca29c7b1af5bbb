"""CI mode, part 1: the .kref-lint.toml configuration and in-source suppressions, end to
end through the command line."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.modes_util import BUGGY, CORRECT, HEADER, HELPER, PMD_BUG, kernel_tree, line_of

RULE = "try-get-without-ref"


@pytest.fixture
def tree(tmp_path):
    root = kernel_tree(tmp_path / "linux")
    (root / ".git").mkdir()                 # the tree root, as far as the walk-up goes
    (root / "mm" / "gup.c").write_text(HEADER + HELPER + BUGGY + CORRECT)
    (root / "mm" / "staging").mkdir()
    (root / "mm" / "staging" / "old.c").write_text(HEADER + PMD_BUG)
    return root


def warnings(r) -> list[str]:
    return [l for l in r.stdout.splitlines() if ": warning: " in l]


# --------------------------------------------------------------------------- config
def test_config_is_found_by_walking_up_and_applies(tree):
    assert len(warnings(run_cli("mm/", cwd=tree))) == 2
    (tree / ".kref-lint.toml").write_text('exclude = ["mm/staging/"]\njobs = 2\n')
    r = run_cli(".", cwd=tree / "mm")               # found from a subdirectory
    assert r.returncode == 1, r.stderr
    assert [w.split(":")[0] for w in warnings(r)] == ["gup.c"]
    (tree / ".kref-lint.toml").write_text(f'ignore = ["{RULE}"]\n')
    r = run_cli("mm/", cwd=tree)
    assert r.returncode == 0 and warnings(r) == []


def test_walk_up_stops_at_the_repository_root(tree):
    (tree.parent / ".kref-lint.toml").write_text(f'ignore = ["{RULE}"]\n')   # above .git
    assert run_cli("mm/", cwd=tree).returncode == 1


def test_command_line_overrides_the_file(tree):
    (tree / ".kref-lint.toml").write_text(f'ignore = ["{RULE}"]\nexclude = ["gup.c"]\n')
    r = run_cli("--ignore", "", "--exclude", "mm/staging/**", "mm/", cwd=tree)
    assert r.returncode == 1, r.stderr
    assert [w.split(":")[0] for w in warnings(r)] == ["mm/gup.c"]
    r = run_cli("--ignore", "", "--exclude", "nothing", "mm/", cwd=tree)
    assert len(warnings(r)) == 2
    # select and ignore are separate settings: --select does not clear the file's ignore
    assert run_cli("--select", RULE, "mm/", cwd=tree).returncode == 0
    r = run_cli("--no-config", "mm/", cwd=tree)
    assert len(warnings(r)) == 2


def test_explicit_config_file_and_extra_rule_files_relative_to_it(tree, tmp_path):
    (tree / "mm" / "mine.c").write_text(
        "void bad(pte_t *ptep)\n{\n\tstruct page *p = pte_page(ptep_get_lockless(ptep));\n"
        "\tmy_get(p);\n}\n")
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "models.toml").write_text(
        "[acquire.my_get]\narg = 0\nkind = 'plain'\nneeds_ref = true\n")
    (conf_dir / "ci.toml").write_text('rules = ["models.toml"]\n')
    assert run_cli("mm/mine.c", cwd=tree).returncode == 0
    r = run_cli("--config", str(conf_dir / "ci.toml"), "mm/mine.c", cwd=tree)
    assert r.returncode == 1, r.stderr
    assert "mm/mine.c:4:9: warning: my_get() on 'p'" in r.stdout


@pytest.mark.parametrize("text, message", [
    ('selct = ["x"]\n', "unknown key 'selct' (did you mean 'select'?)"),
    ("[checks]\nfoo = 1\n", "unknown key 'checks'"),
    ('jobs = "many"\n', "'jobs' must be a positive integer"),
    ("select = 3\n", "'select' must be a list of strings"),
    ('select = ["no-such-rule"]\n', "unknown rule 'no-such-rule'"),
    ("select = [\n", "invalid TOML"),
])
def test_bad_config_is_a_clear_error(tree, text, message):
    (tree / ".kref-lint.toml").write_text(text)
    r = run_cli("mm/", cwd=tree)
    assert r.returncode == 2
    assert message in r.stderr and ".kref-lint.toml" in r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- suppressions
SUPPRESSED = """
int same_line(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	get_page(page); /* kref-lint: ignore[try-get-without-ref] caller holds the PTL */
	return 0;
}

int line_before(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	// kref-lint: ignore[try-get-without-ref]: pinned by the caller
	get_page(page);
	return 0;
}

int block_before(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	/*
	 * kref-lint: ignore[racy-refcount-check, try-get-without-ref] the PTE is
	 * stable: the mmap lock is held for write here
	 */
	get_page(page);
	return 0;
}

int no_reason(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	/* kref-lint: ignore[try-get-without-ref] */
	get_page(page);
	return 0;
}

int other_rule(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	get_page(page); /* kref-lint: ignore[racy-refcount-check] not this rule */
	return 0;
}

int trailing_comment_covers_its_line_only(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte); /* kref-lint: ignore[try-get-without-ref] no */
	get_page(page);
	return 0;
}

int unknown_rule(pte_t *ptep)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	/* kref-lint: ignore[try-get-without-rev] typo in the id */
	get_page(page);
	return 0;
}

const char *in_a_string = "/* kref-lint: ignore[try-get-without-ref] not a comment */";
"""


def test_suppressions_in_source(tmp_path, sarif_validator):
    src = tmp_path / "s.c"
    src.write_text(HEADER + SUPPRESSED)
    r = run_cli(str(src), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    reported = sorted(int(w.split(":")[1]) for w in warnings(r))
    get_lines = [line_of(src, "get_page(page);", n) for n in range(1, 8)]
    # same line, line before, block before: suppressed; the other four are reported
    assert reported == get_lines[3:]
    assert "3 suppressed" in r.stderr
    assert "kref-lint: 1 file with malformed suppressions (--show-diagnostics lists them)" \
        in r.stderr
    r = run_cli("--show-diagnostics", str(src), cwd=tmp_path)
    assert f"kref-lint: warning: s.c:{line_of(src, 'ignore[try-get-without-ref] */')}: " \
           f"suppression of try-get-without-ref has no reason and is ignored: write the " \
           f"reason after ']' [suppression]" in r.stderr
    assert "suppression names unknown rule 'try-get-without-rev'" in r.stderr
    assert "suppression" not in r.stdout

    r = run_cli("--show-suppressed", str(src), cwd=tmp_path)
    notes = [l for l in r.stdout.splitlines() if ": note: suppressed: " in l]
    assert [int(l.split(":")[1]) for l in notes] == get_lines[:3]
    assert notes[0].endswith(f"[{RULE}] (caller holds the PTL)")
    assert notes[1].endswith("(pinned by the caller)")
    assert notes[2].endswith("(the PTE is stable: the mmap lock is held for write here)")

    out = tmp_path / "s.sarif"
    r = run_cli("--format", "sarif", "-o", str(out), str(src), cwd=tmp_path)
    assert r.returncode == 1
    log = json.loads(out.read_text())
    sarif_validator.validate(log)
    results = log["runs"][0]["results"]
    sup = {r["locations"][0]["physicalLocation"]["region"]["startLine"]: r["suppressions"]
           for r in results if "suppressions" in r}
    assert sup == {get_lines[0]: [{"kind": "inSource", "justification": "caller holds the PTL"}],
                   get_lines[1]: [{"kind": "inSource", "justification": "pinned by the caller"}],
                   get_lines[2]: [{"kind": "inSource", "justification":
                                   "the PTE is stable: the mmap lock is held for write here"}]}
    assert len(results) == 7


def test_only_suppressed_findings_exit_0(tmp_path):
    src = tmp_path / "s.c"
    src.write_text(HEADER + SUPPRESSED.split("int no_reason")[0])
    r = run_cli(str(src), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
