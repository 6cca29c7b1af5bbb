"""Helpers for the CI / patch-review / IDE mode tests: real git repositories in tmp
dirs, C sources modeled on fixtures/tryget/gup_fast.c, and a hash of a whole tree (to
prove a run left it untouched)."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

GIT_ENV = dict(
    os.environ,
    GIT_AUTHOR_NAME="Ada Author", GIT_AUTHOR_EMAIL="ada@example.org",
    GIT_COMMITTER_NAME="Ada Author", GIT_COMMITTER_EMAIL="ada@example.org",
    GIT_AUTHOR_DATE="2024-03-01T12:00:00+00:00",
    GIT_COMMITTER_DATE="2024-03-01T12:00:00+00:00",
    GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C",
)


def git(cwd, *args: str, input: bytes | None = None) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, input=input,
                       capture_output=True, check=True)
    return r.stdout.decode("utf-8", "replace")


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "master")
    return path


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def tree_hash(root: Path) -> str:
    """Every path under ``root`` (.git included) with its type, mode and content."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(os.path.relpath(p, root).encode() + b"\0" + str(st.st_mode).encode())
            if os.path.islink(p):
                h.update(os.readlink(p).encode())
            elif os.path.isfile(p):
                with open(p, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


HEADER = '// SPDX-License-Identifier: GPL-2.0\n#include "../include/kernel.h"\n'

# A lockless walker that takes a plain reference: try-get-without-ref on the get_page line.
BUGGY = """
int gup_fast_pte(pte_t *ptep, struct page **pages, int *nr)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);

	if (!pte_present(pte))
		return 0;
	get_page(page);
	pages[(*nr)++] = page;
	return 1;
}
"""

# The same walker done right: speculative grab, re-check, drop on mismatch.
CORRECT = """
int gup_fast_pte_ok(pte_t *ptep, unsigned int flags, struct page **pages, int *nr)
{
	pte_t pte = ptep_get_lockless(ptep);
	struct page *page = pte_page(pte);
	struct folio *folio;

	folio = try_grab_folio_fast(page, 1, flags);
	if (!folio)
		return 0;
	if (unlikely(pte_val(pte) != pte_val(ptep_get(ptep)))) {
		gup_put_folio(folio, 1, flags);
		return 0;
	}
	pages[(*nr)++] = page;
	return 1;
}
"""

HELPER = """
static int count_pages(struct page **pages, int nr)
{
	return nr;
}
"""

PMD_BUG = """
int gup_fast_pmd(pmd_t *pmdp, struct page **pages, int *nr)
{
	pmd_t pmd = pmdp_get_lockless(pmdp);
	struct folio *folio;

	if (!pmd_leaf(pmd))
		return 0;
	folio = page_folio(pmd_page(pmd));
	folio_get(folio);
	pages[(*nr)++] = &folio->page;
	return 1;
}
"""


def kernel_tree(root: Path) -> Path:
    """A small tree with the fixtures' stub header, ready for mm/ sources."""
    (root / "include").mkdir(parents=True, exist_ok=True)
    (root / "mm").mkdir(exist_ok=True)
    stub = Path(__file__).resolve().parent.parent / "fixtures" / "include" / "kernel.h"
    (root / "include" / "kernel.h").write_bytes(stub.read_bytes())
    return root


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    seen = 0
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                             .split("\n"), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in {path}")
