"""Caller to callee across files: a function that some caller in another file of the tree
passes an object the caller holds no reference to (a page of a walked PFN) takes no plain
get on it -- pass 1 carries the caller's ``unheld_calls`` summary to the callee's file,
also when only the callee's file is analyzed (the callers' files are read for it).
Callers that hold the object, and callers whose own file defines the name, do not count.

The C below is ours, modeled on kernel patterns (compaction's PFN walk handing pages to
the isolation helper of non-LRU movable pages), not copied."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli

CALLEE = """\
int bad_isolate_movable(struct page *page, int mode)
{
\tget_page(page);
\tif (!page_movable(page)) {
\t\tput_page(page);
\t\treturn -EBUSY;
\t}
\treturn 0;
}

int ok_isolate_movable(struct page *page, int mode)
{
\tif (!get_page_unless_zero(page))
\t\treturn -EBUSY;
\tif (!page_movable(page)) {
\t\tput_page(page);
\t\treturn -EBUSY;
\t}
\treturn 0;
}

int ok_isolate_held(struct page *page, int mode)
{
\tget_page(page);
\tif (!page_movable(page)) {
\t\tput_page(page);
\t\treturn -EBUSY;
\t}
\treturn 0;
}

int ok_isolate_shadowed(struct page *page, int mode)
{
\tget_page(page);
\tput_page(page);
\treturn 0;
}
"""
CALLER = """\
static void scan_block(unsigned long start, unsigned long end)
{
\tunsigned long pfn;
\tstruct page *page = NULL;

\tfor (pfn = start; pfn < end; pfn++) {
\t\tpage = pfn_to_page(pfn);
\t\tif (page_movable(page))
\t\t\tbad_isolate_movable(page, 0);
\t\tif (page_movable(page))
\t\t\tok_isolate_movable(page, 0);
\t\tif (get_page_unless_zero(page)) {
\t\t\tok_isolate_held(page, 0);
\t\t\tput_page(page);
\t\t}
\t\tok_isolate_shadowed(page, 0);
\t}
}

/* this file's own one: the walk above calls it, not the other file's */
static int ok_isolate_shadowed(struct page *page, int mode)
{
\treturn 0;
}
"""


def _tree(root: Path) -> Path:
    (root / "include" / "linux").mkdir(parents=True)
    (root / "mm").mkdir()
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n")
    (root / "mm" / "movable.c").write_text(CALLEE)
    (root / "mm" / "scan.c").write_text(CALLER)
    return root


def _findings(cwd: Path, *paths: str) -> list[tuple[str, str, str]]:
    r = run_cli("--format", "sarif", "--frontend", "treesitter", "--no-cache", *paths,
                cwd=cwd)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    out = []
    for x in json.loads(r.stdout)["runs"][0]["results"]:
        flow = x["codeFlows"][0]["threadFlows"][0]["locations"]
        first = flow[0]["location"]["physicalLocation"]["artifactLocation"]["uri"]
        out.append((x["ruleId"], x["locations"][0]["logicalLocations"][0]["name"], first))
    return sorted(out)


def test_a_caller_in_another_file_passing_a_walked_pfns_page_is_followed(tmp_path):
    tree = _tree(tmp_path / "linux")
    got = _findings(tree, "mm/movable.c")          # only the callee's file analyzed
    assert [(r, f) for r, f, _ in got] == [("try-get-without-ref", "bad_isolate_movable")]
    assert got[0][2].endswith("scan.c")             # the path starts at the caller


def test_both_files_analyzed_give_the_same_finding(tmp_path):
    tree = _tree(tmp_path / "linux")
    got = _findings(tree, "mm/")
    assert [(r, f) for r, f, _ in got] == [("try-get-without-ref", "bad_isolate_movable")]


def test_without_the_callers_file_nothing_is_reported(tmp_path):
    tree = _tree(tmp_path / "linux")
    (tree / "mm" / "scan.c").unlink()
    assert _findings(tree, "mm/movable.c") == []


def _cached_findings(cwd: Path, cache: Path, *paths: str) -> list[tuple[str, str]]:
    r = run_cli("--format", "sarif", "--frontend", "treesitter", *paths, cwd=cwd,
                env={"KREF_LINT_CACHE_DIR": str(cache)})
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    return sorted((x["ruleId"], x["locations"][0]["logicalLocations"][0]["name"])
                  for x in json.loads(r.stdout)["runs"][0]["results"])


def test_a_cached_result_of_the_callee_follows_a_change_of_its_callers_file(tmp_path):
    """The callee's file is unchanged, but what its callers pass it is part of its input:
    the cached result is not reused once the caller takes a reference first (and back)."""
    tree = _tree(tmp_path / "linux")
    cache = tmp_path / "cache"
    want = [("try-get-without-ref", "bad_isolate_movable")]
    assert _cached_findings(tree, cache, "mm/movable.c") == want
    assert _cached_findings(tree, cache, "mm/movable.c") == want          # warm
    held = CALLER.replace("\t\tif (page_movable(page))\n\t\t\tbad_isolate_movable(page, 0);\n",
                          "\t\tif (get_page_unless_zero(page))\n"
                          "\t\t\tbad_isolate_movable(page, 0);\n")
    assert held != CALLER
    (tree / "mm" / "scan.c").write_text(held)
    assert _cached_findings(tree, cache, "mm/movable.c") == []
    (tree / "mm" / "scan.c").write_text(CALLER)
    assert _cached_findings(tree, cache, "mm/movable.c") == want
