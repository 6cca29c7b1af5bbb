"""Tree-wide summaries in the comparison modes: ``--diff REV`` and ``check-patch`` see a
call into another file of the tree by the callee's summary, on both sides of the
comparison, so a finding that needs a cross-file summary is reported as the change's.

The C below is ours, modeled on kernel patterns (a helper of mm/ that submits a page for
I/O; a driver that pins a user page and hands it to the helper)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.modes_util import commit_all, git, init_repo
from tests.test_summaries import HELPER

OK_USER = """\
int drv_fill(struct bio *bio, struct page *page)
{
\treturn 0;
}
"""
BAD_USER = """\
int drv_fill(struct bio *bio, unsigned long addr, struct page **pages)
{
\tif (get_user_pages_fast(addr, 1, FOLL_WRITE, pages) != 1)
\t\treturn -EFAULT;
\treturn helper_submit(bio, pages[0]);
}
"""


@pytest.fixture
def repo(tmp_path) -> Path:
    root = init_repo(tmp_path / "linux")
    (root / "include" / "linux").mkdir(parents=True)
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (root / "mm").mkdir()
    (root / "mm" / "helper.c").write_text(HELPER)
    (root / "drivers" / "drv").mkdir(parents=True)
    (root / "drivers" / "drv" / "user.c").write_text(OK_USER)
    commit_all(root, "base")
    return root


def _results(stdout: str) -> list[tuple[str, str]]:
    run = json.loads(stdout)["runs"][0]
    return sorted((x["ruleId"], x["locations"][0]["logicalLocations"][0]["name"])
                  for x in run["results"] if x.get("baselineState", "new") == "new")


def test_diff_reports_a_finding_that_needs_another_files_summary(repo, tmp_path):
    env = {"KREF_LINT_CACHE_DIR": str(tmp_path / "cache")}
    (repo / "drivers" / "drv" / "user.c").write_text(BAD_USER)
    r = run_cli("--format", "sarif", "--diff", "HEAD", cwd=repo, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert _results(r.stdout) == [("io-without-accessible", "drv_fill")]
    # the helper's own file is not part of the change: without pass 1 nothing is known
    r = run_cli("--format", "sarif", "--diff", "HEAD", "--no-summaries", cwd=repo, env=env)
    assert r.returncode == 0 and _results(r.stdout) == [], r.stderr
    # a finding both sides have is not the change's: the helper at REV already did I/O
    commit_all(repo, "drv: submit through the helper")
    (repo / "drivers" / "drv" / "user.c").write_text(BAD_USER + "\n/* comment */\n")
    r = run_cli("--format", "sarif", "--diff", "HEAD", cwd=repo, env=env)
    assert r.returncode == 0 and _results(r.stdout) == [], r.stderr


def test_diff_sees_the_helper_at_rev_on_the_old_side(repo, tmp_path):
    """The caller exists at REV; the change makes the helper submit its page (and
    touches the caller, so that --diff analyzes it).  The old side reads the helper as
    it was (no I/O): the finding is the change's, not one both sides have."""
    env = {"KREF_LINT_CACHE_DIR": str(tmp_path / "cache")}
    (repo / "mm" / "helper.c").write_text(HELPER.replace(
        "\tbio_add_page(bio, page, PAGE_SIZE, 0);\n\treturn submit_bio_wait(bio);", "\treturn 0;",
        1))
    (repo / "drivers" / "drv" / "user.c").write_text(BAD_USER)
    commit_all(repo, "a helper that does nothing yet")
    (repo / "mm" / "helper.c").write_text(HELPER)
    (repo / "drivers" / "drv" / "user.c").write_text("/* now with I/O */\n" + BAD_USER)
    r = run_cli("--format", "sarif", "--diff", "HEAD", cwd=repo, env=env)
    assert r.returncode == 1, r.stderr
    assert _results(r.stdout) == [("io-without-accessible", "drv_fill")]


def test_check_patch_reports_a_finding_that_needs_another_files_summary(repo, tmp_path):
    (repo / "drivers" / "drv" / "user.c").write_text(BAD_USER)
    commit_all(repo, "drv: submit the pinned page through the mm helper")
    git(repo, "format-patch", "-q", "-o", str(tmp_path / "p"), "HEAD~1")
    git(repo, "checkout", "-q", "HEAD~1")
    patch = next((tmp_path / "p").glob("*.patch"))
    env = {"KREF_LINT_CACHE_DIR": str(tmp_path / "cache")}
    r = run_cli("check-patch", str(patch), "--tree", str(repo), "--format", "sarif",
                env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    got = sorted((x["ruleId"], x["locations"][0]["logicalLocations"][0]["name"])
                 for x in json.loads(r.stdout)["runs"][0]["results"])
    assert got == [("io-without-accessible", "drv_fill")]
    assert not list(tmp_path.glob("kref-lint-patch-*"))
