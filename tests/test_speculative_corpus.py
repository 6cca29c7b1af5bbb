"""speculative-get-unvalidated / speculative-ref-leak on real kernel code: the canonical
lockless walkers of Debian's linux-source-6.12 (GUP-fast, the lockless page cache) are
silent, and the revalidation bugs reintroduced into copies of them are found."""
from __future__ import annotations

import re

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.corpus

RULES = "speculative-get-unvalidated,speculative-ref-leak"


def _run(*paths, cwd=None):
    r = run_cli("--no-cache", "--select", RULES, *map(str, paths), cwd=cwd)
    assert r.returncode in (0, 1), r.stderr
    return [line for line in r.stdout.splitlines() if "warning:" in line]


def _mutate(tmp_path, kernel_tree, rel, old, new):
    src = (kernel_tree / rel).read_text()
    assert src.count(old) == 1, f"{rel}: the pattern to mutate moved"
    at = src.index(old)
    out = tmp_path / rel.split("/")[-1]
    out.write_text(src[:at] + new + src[at + len(old):])
    return out, src[:at].count("\n") + 1


def test_canonical_walkers_are_silent(kernel_tree):
    assert _run("mm/gup.c", "mm/filemap.c", "mm/swap_state.c", cwd=kernel_tree) == []


def test_gup_fast_pte_recheck_removed(kernel_tree, tmp_path):
    path, line = _mutate(tmp_path, kernel_tree, "mm/gup.c",
                         "\t\tif (unlikely(pmd_val(pmd) != pmd_val(*pmdp)) ||\n"
                         "\t\t    unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {",
                         "\t\tif (unlikely(pmd_val(pmd) != pmd_val(*pmdp))) {")
    hits = _run(path)                       # once, at the first use: later ones are echoes
    assert len(hits) == 1, hits
    assert "'folio' from try_grab_folio_fast()" in hits[0], hits
    assert "passed to gup_fast_folio_allowed() without re-checking 'ptep'" in hits[0]
    assert line < int(re.search(r"gup\.c:(\d+):", hits[0]).group(1)) < line + 10


def test_filemap_mismatch_put_removed(kernel_tree, tmp_path):
    path, line = _mutate(tmp_path, kernel_tree, "mm/filemap.c",
                         "\tif (unlikely(folio != xas_reload(&xas))) {\n"
                         "\t\tfolio_put(folio);\n\t\tgoto repeat;\n\t}\nout:",
                         "\tif (unlikely(folio != xas_reload(&xas)))\n"
                         "\t\tgoto repeat;\nout:")
    hits = _run(path)
    assert len(hits) == 1 and hits[0].endswith(
        f"filemap.c:{line}:22: warning: 'folio' keeps the reference from folio_try_get() "
        f"(line {line - 3}) when the re-check of 'xas' fails [speculative-ref-leak]"), hits
