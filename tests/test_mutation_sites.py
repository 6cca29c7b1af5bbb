"""The mutation benchmark's own parts, on C we wrote (modeled on kernel shapes): the
site scanner finds what correct code does, each operator changes exactly that, and the
overlay never writes into the tree it mirrors."""
from __future__ import annotations

import dataclasses
import os
import textwrap

import pytest

from bench import csyntax as cs
from bench import mutation as bm
from bench import mutation_sites as ms


def _sites(code: str, operator: str, rel: str = "mm/sample.c") -> list[ms.Site]:
    cf = cs.load(rel, textwrap.dedent(code).encode())
    return ms.scan_file(ms.context(cf, frozenset({"kvm_get_pfn"})), [operator])


def _mutant(code: str, site: ms.Site) -> str:
    return ms.mutate(textwrap.dedent(code).encode(), site).decode()


LOOKUP = """
struct folio *lookup(struct address_space *mapping, pgoff_t index)
{
	XA_STATE(xas, &mapping->i_pages, index);
	struct folio *folio;

	rcu_read_lock();
repeat:
	folio = xas_load(&xas);
	if (!folio)
		goto out;
	if (!folio_try_get(folio))
		goto repeat;
	if (unlikely(folio != xas_reload(&xas))) {
		folio_put(folio);
		goto repeat;
	}
out:
	rcu_read_unlock();
	return folio;
}
"""

WALK = """
static int walk_pte(pmd_t pmd, pmd_t *pmdp, unsigned long addr, struct page **pages)
{
	pte_t *ptep = pte_offset_map(&pmd, addr);
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);
	struct folio *folio;

	folio = try_grab_folio_fast(page, 1, flags);
	if (!folio)
		return 0;
	if (unlikely(pmd_val(pmd) != pmd_val(*pmdp)) ||
	    unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
		gup_put_folio(folio, 1, flags);
		return 0;
	}
	pages[0] = page;
	return 1;
}

static struct folio *try_grab_folio_fast(struct page *page, int refs, unsigned int flags)
{
	struct folio *folio = page_folio(page);

	if (!folio_ref_try_add(folio, refs))
		return NULL;
	return folio;
}

int __must_check try_grab_folio(struct folio *folio, int refs, unsigned int flags)
{
	folio_ref_add(folio, refs);
	return 0;
}
"""


def test_recheck_whole_condition_removed():
    (site,) = _sites(LOOKUP, "recheck")
    assert (site.function, site.rules, site.line) == (
        "lookup", ("speculative-get-unvalidated",), 14)
    assert "origin:xarray" in site.features and "rcu-locked" in site.features
    out = _mutant(LOOKUP, site)
    assert "xas_reload" not in out
    assert out.count("folio_put(folio)") == 0          # the mismatch branch went with it
    assert "if (!folio_try_get(folio))\n\t\tgoto repeat;\nout:" in out


def test_recheck_each_arm_of_a_multi_level_recheck():
    sites = {s.variant: s for s in _sites(WALK, "recheck") if s.function == "walk_pte"}
    assert set(sites) == {"whole", "arm1", "arm2"}
    assert "pmd_val" not in _mutant(WALK, sites["arm1"]).split("folio = try_grab")[1] \
        .split("pages[0]")[0]
    arm2 = _mutant(WALK, sites["arm2"])
    assert "if (unlikely(pmd_val(pmd) != pmd_val(*pmdp))) {" in arm2
    assert "pte_val(ptep_get(ptep))" not in arm2
    assert "gup_put_folio" not in _mutant(WALK, sites["whole"])
    assert "origin:pte" in sites["whole"].features


def test_recheck_before_the_get_or_after_the_put_is_not_a_site():
    code = """
struct folio *f(struct page *page)
{
	struct folio *folio = page_folio(page);

	if (folio != page_folio(page))
		return NULL;
	if (!folio_try_get(folio))
		return NULL;
	folio_put(folio);
	if (page_folio(page) != folio)
		return NULL;
	return NULL;
}
"""
    assert _sites(code, "recheck") == []


def test_mismatch_put_inline_and_through_a_label():
    (inline,) = _sites(LOOKUP, "mismatch-put")
    out = _mutant(LOOKUP, inline)
    assert "folio_put" not in out and "xas_reload" in out
    code = """
unsigned batch(struct xa_state *xas, struct folio_batch *fbatch)
{
	struct folio *folio;

	xas_for_each(xas, folio, ULONG_MAX) {
		if (!folio_try_get(folio))
			goto retry;
		if (unlikely(folio != xas_reload(xas)))
			goto put_folio;
		folio_batch_add(fbatch, folio);
		continue;
put_folio:
		folio_put(folio);
retry:
		xas_reset(xas);
	}
	return 0;
}
"""
    (label,) = _sites(code, "mismatch-put")
    assert "origin:xarray-iter" in label.features
    out = _mutant(code, label)
    assert "goto put_folio" not in out and "xas_reload(xas)))\n\t\t\tgoto retry;" in out
    assert out.count("folio_put(folio)") == 1          # the label's put stays for others


def test_plain_get_shapes():
    sites = {s.function: s for s in _sites(LOOKUP + WALK, "plain-get")}
    assert "folio_get(folio);\n\tif (unlikely(folio != xas_reload" in \
        _mutant(LOOKUP + WALK, sites["lookup"])
    walk = _mutant(LOOKUP + WALK, sites["walk_pte"])   # 6.12: the plain GUP grab
    assert "folio = page_folio(page);\n\tif (try_grab_folio(folio, 1, flags))\n" \
           "\t\tfolio = NULL;\n\tif (!folio)" in walk
    code = """
static struct folio *idle(unsigned long pfn)
{
	struct page *page = pfn_to_online_page(pfn);
	struct folio *folio = page_folio(page);

	if (!folio_test_lru(folio) || !folio_try_get(folio))
		return NULL;
	return folio;
}
static int get_pfn(kvm_pfn_t pfn)
{
	return get_page_unless_zero(pfn_to_page(pfn));
}
"""
    by_fn = {s.function: s for s in _sites(code, "plain-get")}
    assert "if (!folio_test_lru(folio))\n\t\treturn NULL;\n\tfolio_get(folio);" in \
        _mutant(code, by_fn["idle"])
    assert "origin:pfn" in by_fn["idle"].features and "origin:pfn" in by_fn["get_pfn"].features
    assert "get_page(pfn_to_page(pfn));\n\treturn true;" in _mutant(code, by_fn["get_pfn"])


ACCESSIBLE = """
static int grab(struct page *page, unsigned int flags)
{
	struct folio *folio = page_folio(page);
	int ret;

	ret = try_grab_folio(folio, 1, flags);
	if (unlikely(ret))
		return ret;
	if (flags & FOLL_PIN) {
		ret = arch_make_folio_accessible(folio);
		if (ret) {
			unpin_user_page(page);
			return ret;
		}
	}
	return 0;
}
"""


def test_accessible_removed_and_moved_before_the_reference():
    (gone,) = _sites(ACCESSIBLE, "accessible")
    assert "arch_make" not in _mutant(ACCESSIBLE, gone) and "foll-pin-guard" in gone.features
    (moved,) = _sites(ACCESSIBLE, "accessible-order")
    out = _mutant(ACCESSIBLE, moved)
    assert out.index("arch_make_folio_accessible(folio)") < out.index("try_grab_folio(")
    assert "unpin_user_page" not in out                # nothing to drop before the get
    assert out.count("arch_make_folio_accessible") == 1


def test_sync_between_unpublish_and_teardown():
    code = """
static void collapse(struct vm_area_struct *vma, unsigned long addr, pmd_t *pmd)
{
	pmd_t old = pmdp_collapse_flush(vma, addr, pmd);

	tlb_remove_table_sync_one();
	pte_free(vma->vm_mm, pmd_pgtable(old));
}
static void after(struct mm_struct *mm, pgtable_t t)
{
	pte_free(mm, t);
	synchronize_rcu();
}
"""
    (site,) = _sites(code, "sync")
    assert site.function == "collapse" and "unpublish:pmdp_collapse_flush" in site.features
    assert "tlb_remove_table_sync_one" not in _mutant(code, site)


def test_freeze_to_exact_count_check():
    code = """
static bool take(struct folio *folio, int n)
{
	if (!folio_ref_freeze(folio, n + 1))
		return false;
	folio_ref_unfreeze(folio, n + 1);
	return true;
}
static void init(struct page *page)
{
	int ret = page_ref_freeze(page, 1);
	VM_BUG_ON(!ret);
}
"""
    by_fn = {s.function: s for s in _sites(code, "freeze")}
    assert "if (folio_ref_count(folio) != n + 1)" in _mutant(code, by_fn["take"])
    assert by_fn["take"].rules == ("racy-refcount-check",)
    assert "int ret = page_ref_count(page) == 1;" in _mutant(code, by_fn["init"])
    assert by_fn["init"].rules[0] == "spurious-refcount-warn"


def test_error_put_only_on_error_paths_of_a_reference_taken_here():
    code = """
static int fill(struct address_space *mapping, pgoff_t index, struct folio *given)
{
	struct folio *folio = filemap_get_folio(mapping, index);
	int err;

	if (IS_ERR(folio))
		return PTR_ERR(folio);
	err = check(folio);
	if (err) {
		folio_put(folio);
		return err;
	}
	if (folio_test_dirty(given)) {
		folio_put(given);
		return -EBUSY;
	}
	folio_put(folio);
	return 0;
}
"""
    (site,) = _sites(code, "error-put")
    assert (site.line, site.rules) == (11, ("page-ref-leak",))   # not given's, not success
    assert "acquired:filemap_get_folio" in site.features
    out = _mutant(code, site)
    assert "if (err) {\n\t\treturn err;" in out and out.count("folio_put(folio)") == 1


def test_mutate_refuses_a_text_that_moved():
    (site,) = _sites(LOOKUP, "recheck")
    with pytest.raises(ms.StaleSite):
        ms.mutate(b"\n" + textwrap.dedent(LOOKUP).encode(), site)


def test_batches_hold_one_mutant_per_file():
    sites = _sites(LOOKUP + WALK, "recheck") + _sites(ACCESSIBLE, "accessible", "mm/b.c")
    groups = bm.batches(sites)
    assert [len({s.file for s in g}) == len(g) for g in groups] == [True] * len(groups)
    assert sorted(s.id for g in groups for s in g) == sorted(s.id for s in sites)


def test_overlay_mirrors_the_tree_and_never_writes_into_it(tmp_path):
    tree = tmp_path / "linux"
    (tree / "mm").mkdir(parents=True)
    (tree / "include" / "linux").mkdir(parents=True)
    (tree / "mm" / "gup.c").write_text("int a;\n")
    (tree / "mm" / "internal.h").write_text("int b;\n")
    (tree / "Kbuild").write_text("")
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    ov = bm.Overlay(tree, "treesitter")
    try:
        ov.put("mm/gup.c", b"int mutated;\n")
        assert (ov.root / "mm" / "gup.c").read_bytes() == b"int mutated;\n"
        assert not (ov.root / "mm" / "gup.c").is_symlink()
        assert os.path.realpath(ov.root / "mm" / "internal.h") == str(
            (tree / "mm" / "internal.h").resolve())            # includes still resolve
        assert (ov.root / "include").is_symlink() and (ov.root / "Kbuild").exists()
        ov.restore("mm/gup.c")
        assert (ov.root / "mm" / "gup.c").is_symlink()
    finally:
        ov.close()
    assert not ov.root.exists()
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == [
        "Kbuild", "include", "include/linux", "mm", "mm/gup.c", "mm/internal.h"]
    assert not any(p.is_symlink() for p in tree.rglob("*"))


ERROR_PUT_NEGATIVES = """
static int copy(struct vm_fault *vmf, bool retry)
{
	struct page *old_page = vmf->page;
	struct page *new_page = alloc_page(GFP_KERNEL);

	if (!new_page)
		goto oom;
	if (retry) {
		put_page(new_page);
		goto again;
	}
	new_page = old_page;
	return 0;
oom:
	if (old_page)
		put_page(old_page);
	return VM_FAULT_OOM;
again:
	return 0;
}
"""


def test_error_put_needs_an_error_and_the_function_s_own_reference():
    # 'if (retry)' is a retry, not an error; old_page's reference is the caller's even
    # though new_page (allocated here) is later assigned from it
    assert _sites(ERROR_PUT_NEGATIVES, "error-put") == []


# ---- sites whose mutant is correct code (tests/data/mutation-not-bugs.toml)

def test_the_not_bug_table_is_well_formed_and_names_each_kernel_reason():
    entries = bm.load_not_bugs()
    assert entries, "the shipped table is read"
    for e in entries:
        assert e.operator in ms.OPERATORS and e.kernels and e.file.endswith(".c")
        assert len(e.reason.split()) >= 10 and e.evidence      # a kernel reason, not a tag


def test_a_malformed_not_bug_entry_is_an_error(tmp_path):
    bad = tmp_path / "nb.toml"
    bad.write_text('[[site]]\noperator = "plain-get"\nfile = "mm/x.c"\nfunction = "f"\n'
                   'kernels = ["6.12"]\nreason = ""\nevidence = "e"\n')
    with pytest.raises(SystemExit, match="entry 1 needs"):
        bm.load_not_bugs(bad)


PRESENT_PTE = """
static struct page *handle_present(struct vm_area_struct *vma, unsigned long addr,
				   pte_t ptent)
{
	struct page *page = vm_normal_page(vma, addr, ptent);

	if (!page)
		return NULL;
	if (!get_page_unless_zero(page))
		return NULL;
	return page;
}
"""


def _not_bug(kernels=("6.12",), function="handle_present") -> bm.NotBug:
    return bm.NotBug("plain-get", "mm/sample.c", function, kernels, "mapped under the PTL",
                     "elsewhere the kernel takes get_page() here")


def test_a_not_bug_entry_takes_its_site_out_of_the_recall_and_a_finding_there_is_a_false_alarm():
    sites = _sites(PRESENT_PTE, "plain-get")
    assert len(sites) == 1
    reasons = bm.not_bug_reasons(sites, "6.12", ["plain-get"], [_not_bug()])
    assert reasons == {sites[0].id: "mapped under the PTL"}
    assert bm.not_bug_reasons(sites, "5.10", ["plain-get"], [_not_bug()]) == {}
    assert bm.not_bug_reasons(sites, "6.12", ["recheck"], [_not_bug()]) == {}
    silent = bm.Outcome(sites[0], caught=False, reason="no-finding", not_bug="why")
    row = bm.summarize([silent])["plain-get"]
    assert (row["sites"], row["not_bugs"], row["false_alarms"]) == (0, 1, 0)
    alarm = bm.Outcome(sites[0], caught=True, not_bug="why")
    real = bm.Outcome(dataclasses.replace(sites[0], line=99), caught=False)
    row = bm.summarize([alarm, real])["plain-get"]
    assert (row["sites"], row["caught"], row["recall"]) == (1, 0, 0.0)
    assert (row["not_bugs"], row["false_alarms"]) == (1, 1)
    assert alarm.as_json()["false_alarm"] and not real.as_json()["false_alarm"]


def test_a_stale_not_bug_entry_stops_the_benchmark():
    sites = _sites(PRESENT_PTE, "plain-get")
    with pytest.raises(SystemExit, match=r"names no site on 6\.12"):
        bm.not_bug_reasons(sites, "6.12", ["plain-get"], [_not_bug(function="gone")])
