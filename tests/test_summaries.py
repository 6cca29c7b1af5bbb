"""Tree-wide summaries (pass 1): a function defined in another file is known by its own
summary; static functions of other files, disagreeing definitions and rule-file models
are not used; cached results are invalidated when a summary they used changes; the
artifact (`summarize -o FILE`, `--summaries FILE`) makes N shards merge to one run; the
headers whose inline functions the analyzed code calls are checked, once.

The C below is ours, modeled on kernel patterns (a helper that submits a page for I/O,
a count test in a header inline)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from analyzer.models import Model, load_models
from analyzer.summaries.table import Definition, SummaryTable
from tests.conftest import run_cli

HELPER = """\
/* adds a page to a bio and submits it */
int helper_submit(struct bio *bio, struct page *page)
{
\tbio_add_page(bio, page, PAGE_SIZE, 0);
\treturn submit_bio_wait(bio);
}

static int helper_static(struct bio *bio, struct page *page)
{
\tbio_add_page(bio, page, PAGE_SIZE, 0);
\treturn submit_bio_wait(bio);
}
"""
HELPER_NO_IO = """\
/* only remembers the page */
int helper_submit(struct bio *bio, struct page *page)
{
\tbio->bi_private = page;
\treturn 0;
}
"""
USER = """\
int bad_gup_then_helper(struct bio *bio, unsigned long addr, struct page **pages)
{
\tif (get_user_pages_fast(addr, 1, FOLL_WRITE, pages) != 1)
\t\treturn -EFAULT;
\treturn helper_submit(bio, pages[0]);
}

int ok_static_of_another_file(struct bio *bio, unsigned long addr, struct page **pages)
{
\tif (get_user_pages_fast(addr, 1, FOLL_WRITE, pages) != 1)
\t\treturn -EFAULT;
\treturn helper_static(bio, pages[0]);
}
"""


def _findings(r) -> list[tuple[str, str, int]]:
    log = json.loads(r.stdout)
    return sorted((x["ruleId"], x["locations"][0]["logicalLocations"][0]["name"],
                   x["locations"][0]["physicalLocation"]["region"]["startLine"])
                  for x in log["runs"][0]["results"])


def _check(cwd, *args, env=None):
    r = run_cli("--format", "sarif", "--frontend", "treesitter", *args, cwd=cwd, env=env)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "drv"
    d.mkdir()
    (d / "helper.c").write_text(HELPER)
    (d / "user.c").write_text(USER)
    return d


def test_a_function_of_another_file_is_known_by_its_summary(files):
    """helper_submit() submits its page argument: the caller's GUP page reaches I/O
    without being made accessible.  helper_static() does the same, but is static in
    another file: the caller cannot be calling it, so it says nothing."""
    got = _findings(_check(files, "--no-cache", "."))
    assert got == [("io-without-accessible", "bad_gup_then_helper", 5)]
    assert _findings(_check(files, "--no-cache", "--no-summaries", ".")) == []


def test_definitions_that_disagree_give_no_fact(files):
    """Two non-static definitions of one name (say two configurations): only what both
    say is known, and one does no I/O."""
    (files / "other.c").write_text(HELPER_NO_IO)
    assert _findings(_check(files, "--no-cache", ".")) == []


def test_a_rule_file_model_wins_over_a_summary():
    base = load_models()
    api = "submit_bio_wait"
    assert base.of(api)
    fact = Model.make("release", api, {"arg": 0}, "summary")
    table = SummaryTable([Definition(api, "block/bio.c", False, False, (fact,))])
    models = base.overlay()
    used = table.apply(models, base, [api, "unknown_fn"], "drivers/x.c")
    assert models.get("release", api) is None and used == (("unknown_fn", ""),)
    # and a static definition of another file is not the caller's
    table = SummaryTable([Definition("helper", "a.c", True, False, (fact,))])
    assert table.resolve("helper", "b.c") == () and table.resolve("helper", "a.c") == ()


def test_a_cached_result_is_invalidated_when_a_summary_it_used_changes(files, tmp_path):
    env = {"KREF_LINT_CACHE_DIR": str(tmp_path / "cache")}
    want = [("io-without-accessible", "bad_gup_then_helper", 5)]
    assert _findings(_check(files, ".", env=env)) == want
    assert _findings(_check(files, ".", env=env)) == want              # warm
    (files / "helper.c").write_text(HELPER_NO_IO)     # user.c unchanged, its input is not
    assert _findings(_check(files, ".", env=env)) == []
    (files / "helper.c").write_text(HELPER)
    assert _findings(_check(files, ".", env=env)) == want
    # a change to the helper that keeps its summary keeps the finding
    (files / "helper.c").write_text(HELPER.replace("and submits it", "then submits it"))
    assert _findings(_check(files, ".", env=env)) == want
    # pass 1's cache is inside KREF_LINT_CACHE_DIR, not beside it (shared by every run)
    assert (tmp_path / "cache" / "pass1").is_dir() and not (tmp_path / "pass1").exists()


def _merge(tmp_path, texts, name):
    paths = []
    for i, text in enumerate(texts, 1):
        p = tmp_path / f"{name}{i}.sarif"
        p.write_text(text)
        paths.append(str(p))
    out = tmp_path / f"{name}.sarif"
    r = run_cli("merge", *paths, "-o", str(out))
    assert r.returncode in (0, 1), r.stderr
    return out.read_text()


def _results_and_notes(text: str):
    run = json.loads(text)["runs"][0]
    results = sorted((x["ruleId"], json.dumps(x["partialFingerprints"], sort_keys=True),
                      json.dumps(x["locations"], sort_keys=True)) for x in run["results"])
    notes = sorted(json.dumps(n, sort_keys=True)
                   for n in run["invocations"][0]["toolExecutionNotifications"])
    return results, notes


@pytest.mark.parametrize("n", [2, 3])
def test_shards_sharing_the_summaries_merge_to_one_run(files, tmp_path, n):
    """The helper and its caller land in different shards: the artifact carries the
    helper's summary to the caller's shard."""
    for i in range(4):                          # more files, so that every shard has some
        (files / f"more{i}.c").write_text(USER.replace("bad_gup_then_helper",
                                                       f"bad_more{i}")
                                          .replace("ok_static_of_another_file", f"ok_{i}"))
    art = tmp_path / "summaries.json"
    r = run_cli("summarize", "--no-cache", "-o", str(art), ".", cwd=files)
    assert r.returncode == 0 and art.is_file(), r.stderr
    whole = _check(files, "--no-cache", "--summaries", str(art), ".")
    computed = _check(files, "--no-cache", ".")
    shards = [_check(files, "--no-cache", "--summaries", str(art), "--shard", f"{k}/{n}",
                     ".").stdout for k in range(1, n + 1)]
    merged = _merge(tmp_path, shards, f"m{n}")
    assert merged == whole.stdout                                  # byte for byte
    assert _results_and_notes(merged) == _results_and_notes(computed.stdout)
    assert len(json.loads(merged)["runs"][0]["results"]) == 5


def test_a_bad_summaries_file_is_a_tool_error(files, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_cli("--no-cache", "--summaries", str(bad), ".", cwd=files)
    assert r.returncode == 2 and r.stderr.startswith("kref-lint: error: --summaries ")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = run_cli("--no-cache", "--summaries", str(tmp_path / "missing.json"), ".", cwd=files)
    assert r.returncode == 2 and "cannot read" in r.stderr
    # computed with other API models than the run's
    art = tmp_path / "s.json"
    assert run_cli("summarize", "--no-cache", "-o", str(art), ".", cwd=files).returncode == 0
    extra = tmp_path / "extra.toml"
    extra.write_text("[release.my_put]\narg = 0\n")
    r = run_cli("--no-cache", "--rules", str(extra), "--summaries", str(art), ".", cwd=files)
    assert r.returncode == 2 and "other API models" in r.stderr


# ------------------------------------------------------------------ headers where used
HEADER = """\
#ifndef _LINUX_OURS_H
#define _LINUX_OURS_H
/* decides on an exact count, unfrozen */
static inline int ours_unshare(struct folio *folio)
{
\tif (folio_ref_count(folio) != 1)
\t\treturn -EAGAIN;
\t__folio_set_guestmem(folio);
\treturn 0;
}

static inline int ours_unused(struct folio *folio)
{
\tif (folio_ref_count(folio) != 1)
\t\treturn -EAGAIN;
\t__folio_set_guestmem(folio);
\treturn 0;
}
#endif
"""
CALLER = """\
#include <linux/ours.h>

int caller_{n}(struct folio *folio)
{{
\treturn ours_unshare(folio);
}}
"""


def _kernel_tree(root: Path) -> Path:
    (root / "include" / "linux").mkdir(parents=True)
    (root / "mm").mkdir()
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (root / "Kbuild").write_text("obj-y += mm/\n")
    (root / "include" / "linux" / "ours.h").write_text(HEADER)
    for n in (1, 2):
        (root / "mm" / f"c{n}.c").write_text(CALLER.format(n=n))
    return root


def test_inline_functions_the_code_calls_are_checked_once_under_the_header(tmp_path):
    tree = _kernel_tree(tmp_path / "linux")
    r = _check(tree, "--no-cache", "mm/")
    log = json.loads(r.stdout)["runs"][0]
    got = [(x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            x["locations"][0]["logicalLocations"][0]["name"]) for x in log["results"]]
    assert got == [("include/linux/ours.h", "ours_unshare")]     # once; not ours_unused
    assert _findings(_check(tree, "--no-cache", "--no-summaries", "mm/")) == []
    # a header the run analyzes itself is reported as a file of the run, once
    r = _check(tree, "--no-cache", "mm/", "include/linux/ours.h")
    names = sorted(f for _, f, _ in _findings(r))
    assert names == ["ours_unshare", "ours_unused"]


def test_the_shards_of_a_tree_check_each_header_once(tmp_path):
    tree = _kernel_tree(tmp_path / "linux")
    whole = _check(tree, "--no-cache", "mm/")
    shards = [_check(tree, "--no-cache", "--shard", f"{k}/2", "mm/").stdout for k in (1, 2)]
    assert _merge(tmp_path, shards, "h") == whole.stdout
    assert not os.path.exists(tree / ".kref-lint")
    shutil.rmtree(tree)


def test_a_skeleton_reads_the_functions_the_frontend_reads():
    """Pass 1 lowers only what it analyzes: the skeleton has the frontend's functions in
    its order, and a function lowered alone is the one the frontend lowers."""
    from analyzer.frontend import treesitter
    from analyzer.summaries.skeleton import lower_only, skeleton
    from tests.conftest import FIXTURES

    iterators = load_models().iterators()
    for path in sorted(FIXTURES.rglob("*.c")):
        data = path.read_bytes()
        full = treesitter.parse_source(str(path), data, iterators).functions
        skel = skeleton(str(path), data, iterators)
        assert [s.name for s in skel] == [f.name for f in full], path
        assert [s.static for s in skel] == [f.static for f in full], path
        wanted = {f.name for f in full[::2]}
        for i, fn in lower_only(str(path), data, iterators, wanted):
            assert fn == full[i], (path, fn.name)


PFN_HEADER = """\
/* a PFN with flag bits, as migrate_pfn() makes them */
static inline struct page *flagged_pfn_to_page(unsigned long fpfn)
{
\treturn pfn_to_page(fpfn >> 6);
}
"""
PFN_USER = """\
#include <linux/flagged.h>

/* drops the reference of the page each dst[] entry names */
void finalize_pfns(unsigned long *dst, unsigned long n)
{
\tunsigned long i;

\tfor (i = 0; i < n; i++) {
\t\tstruct page *page = flagged_pfn_to_page(dst[i]);

\t\tput_page(page);
\t}
}

int ok_reference_handed_over_by_pfn(int c)
{
\tunsigned long dst = 0;
\tstruct page *page = alloc_page(GFP_KERNEL);

\tif (page)
\t\tdst = migrate_pfn(page_to_pfn(page));
\tfinalize_pfns(&dst, 1);
\tif (c)
\t\treturn 0;
\treturn -EBUSY;
}

int bad_reference_kept(int c)
{
\tstruct page *page = alloc_page(GFP_KERNEL);

\tif (!page)
\t\treturn -ENOMEM;
\tif (c)
\t\treturn -EBUSY;
\tput_page(page);
\treturn 0;
}
"""


def test_another_checkers_starter_gives_page_ref_leak_no_summary(tmp_path):
    """pfn_to_page() starts a try-get-without-ref story (its pfn_page section), none of
    page-ref-leak's: pass 1 must not summarize flagged_pfn_to_page() for page-ref-leak
    on that account.  With such a summary ("borrows its PFN"), finalize_pfns() looked
    like a borrower of dst[] and the caller's page, handed over through its PFN, a leak
    (6.1/7.2 migrate_device_coherent_page/folio)."""
    root = tmp_path / "linux"
    (root / "include" / "linux").mkdir(parents=True)
    (root / "mm").mkdir()
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n")
    (root / "include" / "linux" / "flagged.h").write_text(PFN_HEADER)
    (root / "mm" / "m.c").write_text(PFN_USER)
    got = _findings(_check(root, "--no-cache", "mm/"))
    assert got == [("page-ref-leak", "bad_reference_kept", 35)]
