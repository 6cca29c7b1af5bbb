"""Where real kernel code does what a kref-lint rule demands, and how to undo it.

The site scanner of the mutation benchmark (bench/mutation.py).  It reads the sources
of a kernel tree with tree-sitter-c (bench/csyntax.py), never with kref-lint's own
frontends, models or checkers, and finds, per operator, every place where correct code
does the one thing a rule is about:

  recheck      a re-check of the lockless source after a speculative get
               (speculative-get-unvalidated): the whole re-check, and each arm of a
               multi-arm ``||`` re-check on its own
  mismatch-put the put on the mismatch path of such a re-check (speculative-ref-leak)
  plain-get    a speculative get (try-get-without-ref), turned into the plain get
  accessible   arch_make_{page,folio}_accessible() and its error handling
               (io-without-accessible), removed
  accessible-order  the same, moved before the reference/writeback it must follow
  sync         the synchronization (synchronize_rcu(), tlb_remove_table_sync_one(),
               an IPI flush) between an unpublish step and a teardown
               (hotplug-teardown-unsynced), removed
  freeze       a refcount freeze, replaced by the exact count check it stands for
               (racy-refcount-check, or spurious-refcount-warn inside an assertion)
  error-put    a put on an error path of a reference taken in the same function
               (page-ref-leak)

Each site carries the edits of its mutant; ``mutate(text, site)`` is the operator: a
pure function of the original text and the site that changes exactly that one thing
(it refuses a text that no longer has the site's code at the site's offsets).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from bench import csyntax as cs
from bench.csyntax import CFile, Function

# --------------------------------------------------------------------------------------
# Vocabulary (our own, written from the kernel sources of 5.10 - 7.x)

# Speculative gets that return whether they took the reference: name -> the plain get
# of the same object with the same count ("{0}" is the first argument, "{1}" the count).
SPEC_BOOL = {
    "folio_try_get": "folio_get({0})",
    "folio_try_get_rcu": "folio_get({0})",
    "get_page_unless_zero": "get_page({0})",
    "page_cache_get_speculative": "get_page({0})",
    "page_cache_add_speculative": "page_ref_add({0}, {1})",
    "folio_ref_try_add_rcu": "folio_ref_add({0}, {1})",
    "folio_ref_try_add": "folio_ref_add({0}, {1})",
    "page_ref_add_unless": "page_ref_add({0}, {1})",
    "folio_ref_add_unless": "folio_ref_add({0}, {1})",
}
# Bool speculative helpers of a tree, with their plain twin when the tree has it.
SPEC_BOOL_HELPERS = {"kvm_try_get_pfn": "kvm_get_pfn({0})"}
# Pointer-returning GUP-style speculative grabs are found per tree (see spec_getters()):
# try_get_folio(), try_grab_folio_fast() (6.12), try_grab_folio() (6.1),
# try_get_compound_head()/try_grab_compound_head() (5.10).
SPEC_PRIMITIVES = frozenset(SPEC_BOOL)

# Re-reads of a lockless source (one side of an equality re-check).
REREADS = frozenset({
    "xas_reload", "ptep_get", "ptep_get_lockless", "pmdp_get", "pmdp_get_lockless",
    "pudp_get", "p4dp_get", "pgdp_get", "READ_ONCE", "page_folio", "compound_head",
    "pfn_folio", "radix_tree_deref_slot", "radix_tree_deref_slot_protected", "xa_load",
    "rcu_dereference", "rcu_dereference_raw",
})
SAME = frozenset({"pte_same", "pmd_same", "pud_same", "p4d_same", "pgd_same"})

PUTS = frozenset({
    "folio_put", "put_page", "folio_put_refs", "gup_put_folio", "put_compound_head",
    "put_page_refs", "page_cache_release", "put_devmap_managed_page_refs",
    "put_devmap_managed_folio_refs", "unpin_user_page", "unpin_user_pages",
    "unpin_user_pages_dirty_lock", "unpin_folio", "unpin_folios", "release_pages",
    "kvm_release_page_clean", "kvm_release_page_dirty", "kvm_release_page_unused",
    "kvm_release_pfn_clean", "kvm_release_pfn_dirty", "kvm_release_pfn", "__free_page",
    "__free_pages", "folio_putback_lru", "putback_lru_page", "free_huge_folio",
    "put_user_page", "put_user_pages", "unpin_user_page_range_dirty_lock",
})

# APIs that return a page/folio carrying a reference for the caller.
REF_RETURNING = frozenset({
    "filemap_get_folio", "__filemap_get_folio", "filemap_lock_folio", "filemap_grab_folio",
    "find_get_page", "find_lock_page", "find_or_create_page", "find_get_page_flags",
    "grab_cache_page", "grab_cache_page_nowait", "grab_cache_page_write_begin",
    "pagecache_get_page", "read_mapping_folio", "read_mapping_page", "read_cache_folio",
    "read_cache_page", "read_cache_page_gfp", "mapping_read_folio_gfp", "filemap_get_entry",
    "swap_cache_get_folio", "read_swap_cache_async", "__read_swap_cache_async",
    "swapin_readahead", "lookup_swap_cache", "folio_alloc", "folio_alloc_mpol",
    "__folio_alloc", "__folio_alloc_node", "vma_alloc_folio", "alloc_page", "alloc_pages",
    "__alloc_pages", "alloc_pages_node", "__alloc_pages_node", "alloc_page_vma",
    "alloc_pages_mpol", "alloc_hugetlb_folio", "alloc_hugetlb_folio_nodemask",
    "alloc_hugetlb_folio_vma", "filemap_alloc_folio", "shmem_alloc_folio",
    "shmem_alloc_and_add_folio", "alloc_zeroed_user_highpage_movable",
    "vma_alloc_zeroed_movable_folio", "alloc_anon_folio", "folio_prealloc",
    "gfn_to_page", "kvm_vcpu_gfn_to_page", "get_user_page_vma_remote", "follow_page",
    "ksm_get_folio", "get_ksm_page", "alloc_pages_exact_nid", "__page_cache_alloc",
    "page_cache_alloc", "alloc_migration_target", "alloc_swap_folio",
    "kvm_gmem_get_folio", "__kvm_gmem_get_pfn",
})
# Gets on an object the caller already references (or a speculative one).
GETS = frozenset({
    "get_page", "folio_get", "try_get_page", "folio_try_get", "folio_try_get_rcu",
    "get_page_unless_zero", "folio_ref_add", "page_ref_add", "page_ref_inc",
    "folio_ref_inc", "try_grab_folio", "try_grab_page", "folio_ref_try_add",
    "page_cache_get_speculative", "get_hwpoison_page", "kvm_get_pfn",
})
# GUP-style calls that fill a pages[] array (or &page) with references.
GUP_OUT = frozenset({
    "get_user_pages", "get_user_pages_fast", "get_user_pages_fast_only",
    "get_user_pages_remote", "get_user_pages_unlocked", "get_user_pages_locked",
    "pin_user_pages", "pin_user_pages_fast", "pin_user_pages_remote",
    "pin_user_pages_unlocked", "__get_user_pages", "__get_user_pages_locked",
    "__gup_longterm_locked", "iov_iter_get_pages2", "iov_iter_get_pages_alloc2",
    "iov_iter_extract_pages", "shmem_get_folio", "shmem_get_folio_gfp",
    "shmem_get_folio_inline", "get_user_pages_vma",
})

ACCESSIBLE = frozenset({"arch_make_folio_accessible", "arch_make_page_accessible"})
# What marks a page pending I/O before it is made accessible.
PENDING = frozenset({
    "folio_get", "get_page", "folio_try_get", "try_get_page", "get_page_unless_zero",
    "try_grab_folio", "try_grab_folio_fast", "try_grab_page", "try_grab_compound_head",
    "try_get_folio", "folio_ref_add", "page_ref_add", "folio_test_set_writeback",
    "TestSetPageWriteback", "set_page_writeback", "folio_start_writeback",
    "pin_user_pages", "pin_user_pages_fast", "get_user_pages", "get_user_pages_fast",
    "pipe_buf_get", "generic_pipe_buf_get",
})

SYNCS = frozenset({
    "synchronize_rcu", "synchronize_rcu_expedited", "synchronize_rcu_mult",
    "tlb_remove_table_sync_one", "kick_all_cpus_sync", "kvm_flush_remote_tlbs",
    "kvm_flush_remote_tlbs_memslot", "kvm_flush_remote_tlbs_range",
})
UNPUBLISH = frozenset({
    "pmd_clear", "pud_clear", "p4d_clear", "pgd_clear", "pmdp_collapse_flush",
    "pmdp_huge_clear_flush", "pmdp_get_and_clear", "pmdp_huge_get_and_clear",
    "pmdp_huge_get_and_clear_full", "pudp_huge_get_and_clear", "pmdp_invalidate",
    "remove_pfn_range_from_zone", "kvm_mmu_prepare_zap_page", "__kvm_mmu_prepare_zap_page",
    "kvm_zap_obsolete_pages", "tdp_mmu_zap_root", "kvm_tdp_mmu_zap_invalidated_roots",
    "offline_mem_sections", "pmd_clear_huge", "pud_clear_huge",
})
TEARDOWNS = frozenset({
    "arch_remove_memory", "__remove_pages", "sparse_remove_section", "vmemmap_free",
    "depopulate_section_memmap", "vmemmap_remap_free", "vmemmap_remap_alloc",
    "vmemmap_remap_split", "pte_free", "pmd_free", "pud_free", "p4d_free",
    "__tlb_remove_table", "pagetable_free", "pgtable_trans_huge_deposit",
    "free_pte_range", "free_pmd_range", "kvm_mmu_free_shadow_page",
    "kvm_mmu_free_obsolete_roots", "tdp_mmu_free_sp", "free_pgtables",
    "pagetable_pte_dtor", "pagetable_pmd_dtor", "free_pages_exact",
})

FREEZES = {"folio_ref_freeze": "folio_ref_count", "page_ref_freeze": "page_ref_count"}
ASSERTS = re.compile(r"^(WARN_ON|WARN|VM_WARN_ON|VM_BUG_ON|BUG_ON)(_ONCE|_PAGE|_FOLIO|"
                     r"_ONCE_PAGE|_ONCE_FOLIO|_MM|_VMA|_ONCE_MM)?$")

ERROR_LABEL = re.compile(r"(^|_)(err|error|errout|fail|failed|failure|bad|abort|nomem|"
                         r"enomem|efault|einval|eio|ebusy|oom|sigbus|unwind)", re.IGNORECASE)
ERRNO = re.compile(r"^-\s*E[A-Z0-9]+$")
GOOD_FAULT = {"VM_FAULT_NOPAGE", "VM_FAULT_LOCKED", "VM_FAULT_RETRY", "VM_FAULT_COMPLETED",
              "VM_FAULT_DONE_COW", "VM_FAULT_WRITE", "VM_FAULT_MAJOR"}
ITERATOR = re.compile(r"(_for_each\w*|^for_each_\w+)$")
PFN_WALK = frozenset({"pfn_to_page", "pfn_to_online_page", "pfn_folio", "pfn_swap_entry_to_page",
                      "pfn_swap_entry_folio", "kvm_pfn_to_refcounted_page", "pfn_to_kaddr"})
LOCKLESS_READ = frozenset({"ptep_get_lockless", "pmdp_get_lockless", "READ_ONCE", "ptep_get",
                           "gup_get_pte",
                           "pmdp_get", "pudp_get", "pgdp_get", "p4dp_get", "huge_ptep_get"})
LIST_GET = frozenset({"lru_to_folio", "list_first_entry", "list_last_entry", "list_entry",
                      "list_next_entry", "list_prev_entry", "list_first_entry_or_null",
                      "llist_entry", "hlist_entry"})
XARRAY = re.compile(r"^(xas_|xa_|radix_tree_|find_get_entr|filemap_get_entry)")


# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    old: bytes
    new: bytes


@dataclass
class Site:
    operator: str
    variant: str                  # "" or which arm / which form
    rules: tuple[str, ...]        # any of these, in the mutated function, catches it
    file: str                     # relative to the tree
    function: str
    line: int                     # the line the mutation is at
    what: str                     # the code the mutation removes or changes
    mutation: str                 # what it becomes, in words
    features: frozenset[str]
    edits: tuple[Edit, ...]
    fn_start: int = 0             # the function's byte span in the original
    fn_end: int = 0

    @property
    def id(self) -> str:
        v = f"[{self.variant}]" if self.variant else ""
        return f"{self.operator}{v}:{self.file}:{self.function}:{self.line}"


class StaleSite(Exception):
    """The text does not hold the site's code where the site says."""


def mutate(text: bytes, site: Site) -> bytes:
    """The operator: ``text`` with the site's one change applied."""
    out = text
    for e in sorted(site.edits, key=lambda e: e.start, reverse=True):
        if out[e.start:e.end] != e.old:
            raise StaleSite(site.id)
        out = out[:e.start] + e.new + out[e.end:]
    return out


# --------------------------------------------------------------------------------------
# Per-file knowledge

@dataclass
class Context:
    """What the scanner knows about one file and its tree."""
    cf: CFile
    spec_ptr: dict[str, str] = field(default_factory=dict)   # ptr getter -> kind
    spec_bool: dict[str, str] = field(default_factory=dict)  # bool getter -> plain template
    plain_grab: str = ""        # "try_grab_folio" when the tree's is the plain int one
    plain_grab_page: str = ""   # "try_grab_page" when it is bool (5.10, 6.1)
    tree_has: frozenset[str] = frozenset()


# GUP's own speculative grabs: the caller must still re-check the page table entry.
# Which of them is speculative depends on the version (6.12's try_grab_folio() is the
# plain one, 6.1's the speculative one), so a name counts only where the tree's
# definition is pointer-returning and takes a speculative reference (transitively).
GUP_SPEC_CANDIDATES = frozenset({"try_get_folio", "try_grab_folio_fast", "try_grab_folio",
                                 "try_get_compound_head", "try_grab_compound_head",
                                 "try_get_compound_page"})


def spec_getters(cf: CFile) -> tuple[dict[str, str], dict[str, str]]:
    """The file's own speculative getters: GUP's grabs (pointer-returning, their object
    the speculative get's) and bool helpers that return one (kvm_try_get_pfn())."""
    ptr: dict[str, str] = {}
    boolean: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for fn in cf.functions:
            if fn.name in ptr or fn.name in boolean or fn.name in SPEC_PRIMITIVES:
                continue
            head = fn.signature(cf.data)
            names = {n for n, _ in cs.calls(cf, fn.body)}
            spec = names & (SPEC_PRIMITIVES | set(ptr) | set(boolean))
            if not spec:
                continue
            if fn.name in GUP_SPEC_CANDIDATES and \
                    re.search(r"struct\s+(folio|page)\s*\*\s*\w+\s*\(", head):
                ptr[fn.name] = "folio" if "struct folio" in head.split("(")[0] else "page"
                changed = True
            elif fn.name in SPEC_BOOL_HELPERS and \
                    re.search(r"\bbool\b|\bint\b", head.split("(")[0]):
                for r in cf.nodes(fn.body):
                    if r.type == "return_statement" and r.named_children:
                        e = cs.strip(cf, r.named_children[0])
                        if e.type == "call_expression" and cs.call_name(cf, e) in spec:
                            boolean[fn.name] = SPEC_BOOL_HELPERS[fn.name]
                            changed = True
                            break
    return ptr, boolean


def context(cf: CFile, tree_defs: frozenset[str]) -> Context:
    ptr, boolean = spec_getters(cf)
    ctx = Context(cf, ptr, boolean, tree_has=tree_defs)
    for fn in cf.functions:      # 6.12+: int try_grab_folio(struct folio *, refs, flags)
        if fn.name == "try_grab_folio":
            head = fn.signature(cf.data)
            if re.search(r"\bint\b[^(]*\btry_grab_folio\s*\(\s*struct\s+folio\b", head):
                ctx.plain_grab = "try_grab_folio"
        if fn.name == "try_grab_page":
            head = fn.signature(cf.data)
            if re.search(r"\bbool\b[^(]*\btry_grab_page\s*\(\s*struct\s+page\b", head):
                ctx.plain_grab_page = "try_grab_page"
    return ctx


def is_spec_get(ctx: Context, name: str) -> bool:
    return name in SPEC_BOOL or name in ctx.spec_ptr or name in ctx.spec_bool


# --------------------------------------------------------------------------------------
# Objects, their derivations and origins

def assigned_var(cf: CFile, call: Node) -> str:
    """``x`` in ``x = call(...)`` / ``T *x = call(...)``."""
    p = call.parent
    while p is not None and p.type in ("parenthesized_expression", "cast_expression"):
        p = p.parent
    if p is None:
        return ""
    right = p.child_by_field_name("right")
    if p.type == "assignment_expression" and right is not None:
        left = p.child_by_field_name("left")
        if left is not None and cs.strip(cf, right).start_byte <= call.start_byte and \
                left.type in ("identifier", "field_expression", "pointer_expression"):
            return cf.text(left)
    if p.type == "init_declarator":
        d = p.child_by_field_name("declarator")
        while d is not None and d.type == "pointer_declarator":
            d = d.child_by_field_name("declarator")
        if d is not None and d.type == "identifier":
            return cf.text(d)
    return ""


def spec_object(ctx: Context, name: str, call: Node) -> str:
    cf = ctx.cf
    if name in ctx.spec_ptr:
        return assigned_var(cf, call)
    args = cs.call_args(call)
    if not args:
        return ""
    a = cs.strip(cf, args[0])
    return cf.text(a)


def last_assignment(cf: CFile, fn: Function, var: str, before: int) -> Node | None:
    """The right-hand side of the last ``var = ...`` before byte ``before``."""
    best = None
    for n in cf.nodes(fn.body):
        if n.start_byte >= before:
            break
        if n.type == "assignment_expression":
            left = n.child_by_field_name("left")
            if left is not None and cf.text(left) == var and cf.text(n)[len(cf.text(left)):] \
                    .lstrip().startswith("="):
                best = n.child_by_field_name("right")
        elif n.type == "init_declarator":
            d = n.child_by_field_name("declarator")
            while d is not None and d.type == "pointer_declarator":
                d = d.child_by_field_name("declarator")
            if d is not None and cf.text(d) == var:
                best = n.child_by_field_name("value")
    return best


def iterator_binding(cf: CFile, fn: Function, var: str, before: int) -> str:
    """The iterator macro (``xas_for_each(&xas, folio, ...)``) that binds ``var``."""
    found = ""
    for name, call in cs.calls(cf, fn.body):
        if call.start_byte >= before:
            break
        if ITERATOR.search(name) and any(cf.text(a) == var for a in cs.call_args(call)):
            found = name
    return found


def derivation(cf: CFile, fn: Function, var: str, before: int, depth: int = 0
               ) -> tuple[set[str], set[str], str]:
    """(variables ``var`` was computed from, calls on the way, origin kind)."""
    if depth > 6 or not re.fullmatch(r"\w+", var):
        return set(), set(), "other"
    rhs = last_assignment(cf, fn, var, before)
    if rhs is None:
        it = iterator_binding(cf, fn, var, before)
        if it:
            kind = "xarray-iter" if XARRAY.match(it) else (
                "list" if re.match(r"h?list_|llist_", it) else "iterator")
            return set(), {it}, kind
        if var in fn.params:
            head = fn.signature(cf.data)
            if re.search(r"\b(pmd|pud|pgd|p4d|pte)_t\s+" + re.escape(var) + r"\b", head):
                return set(), set(), "snapshot-param"
            return set(), set(), "param"
        return set(), set(), "other"
    names = {n for n, _ in cs.calls(cf, rhs)}
    deps = {cf.text(n) for n in cs.walk(rhs) if n.type == "identifier"} - names
    kind = ""
    if names & LOCKLESS_READ:
        kind = "pte"
    if names & LIST_GET:
        kind = "list"
    if any(XARRAY.match(n) for n in names):
        kind = "xarray"
    if names & PFN_WALK:
        kind = "pfn"
    if names & REF_RETURNING:
        kind = "referenced"
    subkinds = []
    for d in sorted(deps):
        if d == var:
            continue
        sub, subcalls, subkind = derivation(cf, fn, d, rhs.start_byte, depth + 1)
        deps |= sub
        names |= subcalls
        subkinds.append(subkind)
    if not kind:
        kind = min(subkinds, key=ORIGIN_PRIORITY.index, default="other")
    return deps, names, kind


ORIGIN_PRIORITY = ("referenced", "xarray", "xarray-iter", "pte", "pfn", "list", "iterator",
                   "snapshot-param", "param", "other")


def origin(cf: CFile, fn: Function, var: str, before: int) -> str:
    return derivation(cf, fn, var, before)[2]


def expr_origin(cf: CFile, fn: Function, node: Node, before: int) -> str:
    """The origin of an object spelled as an expression (``pfn_to_page(pfn)``)."""
    text = cf.text(cs.strip(cf, node))
    if re.fullmatch(r"\w+", text):
        return origin(cf, fn, text, before)
    names = {n for n, _ in cs.calls(cf, node)}
    if names & PFN_WALK:
        return "pfn"
    if names & LOCKLESS_READ:
        return "pte"
    if any(XARRAY.match(n) for n in names):
        return "xarray"
    ids = {cf.text(n) for n in cs.walk(node) if n.type == "identifier"} - names
    kinds = [origin(cf, fn, i, before) for i in sorted(ids)]
    return min(kinds, key=ORIGIN_PRIORITY.index, default="other")


def object_features(cf: CFile, fn: Function, var: str, before: int,
                    node: Node | None = None) -> set[str]:
    kind = expr_origin(cf, fn, node, before) if node is not None else \
        origin(cf, fn, var, before)
    feats = {f"origin:{kind}"}
    pre = cf.data[fn.body.start_byte:before]
    if re.search(rb"\brcu_read_lock\s*\(", pre):
        feats.add("rcu-locked")
    elif "origin:xarray" in feats:
        feats.add("xarray-rcu-in-caller")
    if re.search(rb"\b(spin_lock\w*|xas_lock\w*|xa_lock\w*|raw_spin_lock\w*)\s*\(", pre):
        feats.add("spinlock-taken")
    return feats


# --------------------------------------------------------------------------------------
# Operator 1 and 2: re-checks after a speculative get

@dataclass
class Recheck:
    fn: Function
    get: Node                     # the speculative get call
    getname: str
    obj: str
    stmt: Node                    # the if statement
    arms: list[Node]              # the re-check arms of its condition
    chain: str                    # '||' (true = mismatch) or '&&' (true = match)
    cond: Node


def _reread(cf: CFile, node: Node) -> bool:
    for n in cs.walk(node):
        if n.type == "call_expression" and cs.call_name(cf, n) in REREADS:
            return True
        if n.type == "pointer_expression" and cf.text(n).startswith("*"):
            return True
    return False


def _recheck_arm(cf: CFile, arm: Node, related: set[str]) -> str:
    """'!=' / '==' when ``arm`` is an equality re-check relating ``related``."""
    neg = cs.is_not(cf, arm)
    if neg is not None:
        inner = cs.strip(cf, neg)
        if inner.type == "call_expression" and cs.call_name(cf, inner) in SAME:
            return "!=" if _same_relates(cf, inner, related) else ""
        return ""
    if arm.type == "call_expression" and cs.call_name(cf, arm) in SAME:
        return "==" if _same_relates(cf, arm, related) else ""
    op = cs.binary_op(cf, arm)
    if op not in ("==", "!="):
        return ""
    sides = [cs.strip(cf, side) for side in cs.operands(arm)]
    rr = [_reread(cf, s) for s in sides]
    if rr[0] == rr[1]:
        return ""
    snap = sides[1] if rr[0] else sides[0]
    snap_ids = {cf.text(n) for n in cs.walk(snap) if n.type == "identifier"} - \
        {name for name, _ in cs.calls(cf, snap)}
    if not snap_ids or not snap_ids <= related | {"NULL"} or snap_ids == {"NULL"}:
        return ""
    return op


def _same_relates(cf: CFile, call: Node, related: set[str]) -> bool:
    args = cs.call_args(call)
    if len(args) != 2:
        return False
    rr = [_reread(cf, a) for a in args]
    if rr[0] == rr[1]:
        return False
    snap = args[1] if rr[0] else args[0]
    return {cf.text(n) for n in cs.walk(snap) if n.type == "identifier"} <= related


def find_rechecks(ctx: Context) -> Iterator[Recheck]:
    cf = ctx.cf
    for fn in cf.functions:
        seen: set[int] = set()
        for name, call in cs.calls(cf, fn.body):
            if not is_spec_get(ctx, name):
                continue
            obj = spec_object(ctx, name, call)
            if not obj or not re.fullmatch(r"[\w.>-]+", obj):
                continue
            deps, _, _ = derivation(cf, fn, obj, call.start_byte)
            related = {obj} | deps
            for n in cf.nodes(fn.body):
                if n.start_byte <= call.end_byte or n.type not in ("if_statement",):
                    continue
                cond = n.child_by_field_name("condition")
                if cond is None or cond.end_byte <= call.end_byte:
                    continue
                if _dropped_before(cf, fn, obj, call, n):
                    break                      # the reference is gone by then
                for chain in ("||", "&&"):
                    found = [a for a in cs.arms(cf, cond, chain)
                             if a.start_byte > call.end_byte
                             and _recheck_arm(cf, a, related) == ("!=" if chain == "||"
                                                                   else "==")]
                    if found:
                        break
                if not found:
                    continue
                if n.start_byte not in seen:
                    seen.add(n.start_byte)
                    yield Recheck(fn, call, name, obj, n, found, chain, cond)
                break


def _dropped_before(cf: CFile, fn: Function, obj: str, get: Node, stmt: Node) -> bool:
    """Between the get and ``stmt`` the reference was dropped on the way to it: a put
    of ``obj`` on the straight line (in a block enclosing ``stmt``), or a label (a path
    from elsewhere, typically after a put: KSM's ``stale:``)."""
    for n in cf.nodes(fn.body):
        if n.start_byte <= get.end_byte or n.start_byte >= stmt.start_byte:
            continue
        if n.type == "labeled_statement":
            return True
        if n.type == "call_expression" and cs.call_name(cf, n) in PUTS and \
                cs.call_args(n) and _obj_text(cf, cs.call_args(n)[0]) == obj:
            block = cs.enclosing(n, ("compound_statement",))
            if block is not None and block.start_byte <= stmt.start_byte < block.end_byte:
                return True
    return False


def _remove_stmt(cf: CFile, stmt: Node, replacement: bytes = b"") -> Edit:
    """Delete a statement (its lines when it has them to itself); one that is the body of
    a branch or a loop macro becomes the empty statement."""
    if not replacement and (stmt.parent is None or stmt.parent.type != "compound_statement"
                            or _iterator_body(cf, stmt)):
        replacement = b";"
    if replacement:
        return Edit(stmt.start_byte, stmt.end_byte, cf.data[stmt.start_byte:stmt.end_byte],
                    replacement)
    s, e = cs.line_range(cf.data, stmt.start_byte, stmt.end_byte)
    return Edit(s, e, cf.data[s:e], b"")


def _branch_text(cf: CFile, branch: Node | None) -> bytes:
    return cf.data[branch.start_byte:branch.end_byte] if branch is not None else b""


def _site(cf: CFile, fn: Function, op: str, variant: str, rules, node: Node, what: str,
          mutation: str, features: Iterable[str], edits: Iterable[Edit]) -> Site:
    return Site(op, variant, tuple(rules), cf.rel, fn.name, cf.line(node),
                " ".join(what.split()), mutation, frozenset(features), tuple(edits),
                fn.start, fn.end)


def recheck_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for rc in find_rechecks(ctx):
        feats = object_features(cf, rc.fn, rc.obj, rc.get.start_byte)
        feats.add(f"get:{rc.getname}")
        variants = [("whole", rc.arms)]
        if len(rc.arms) > 1:
            variants += [(f"arm{i + 1}", [a]) for i, a in enumerate(rc.arms)]
        for variant, drop in variants:
            new_cond = cs.without(cf, rc.cond, {(a.start_byte, a.end_byte) for a in drop},
                                  rc.chain)
            if new_cond is None:
                cons, alt = cs.then_else(rc.stmt)
                keep = alt if rc.chain == "||" else cons   # the branch a match takes
                edit = (_remove_stmt(cf, rc.stmt, _branch_text(cf, keep)) if keep is not None
                        else _remove_stmt(cf, rc.stmt))
                how = "the re-check removed" + (" (its match branch kept)" if keep else "")
            else:
                edit = Edit(rc.cond.start_byte, rc.cond.end_byte, cf.data[
                    rc.cond.start_byte:rc.cond.end_byte], new_cond.encode())
                how = f"condition becomes {' '.join(new_cond.split())}"
            what = " ".join(cf.text(a) for a in drop)
            yield _site(cf, rc.fn, "recheck", variant if len(rc.arms) > 1 else "",
                        ["speculative-get-unvalidated"], drop[0], what, how,
                        feats | {f"arms:{len(rc.arms)}"}, [edit])


def _is_put_of(cf: CFile, stmt: Node, objs: set[str]) -> bool:
    """``stmt`` only drops references on one of ``objs``: ``folio_put(folio);`` or
    ``if (!put_devmap_managed_folio_refs(folio, refs)) folio_put_refs(folio, refs);``."""
    if stmt.type == "expression_statement" and stmt.named_children:
        e = cs.strip(cf, stmt.named_children[0])
        if e.type == "call_expression" and cs.call_name(cf, e) in PUTS:
            args = cs.call_args(e)
            return bool(args) and _obj_text(cf, args[0]) in objs
        return False
    if stmt.type == "if_statement":
        cons, alt = cs.then_else(stmt)
        body = cs.body_statements(cons)
        cond = stmt.child_by_field_name("condition")
        cond_calls = {n for n, _ in cs.calls(cf, cond)} if cond is not None else set()
        return alt is None and bool(body) and all(_is_put_of(cf, s, objs) for s in body) \
            and cond_calls <= PUTS | {"unlikely", "likely"}
    return False


def _obj_text(cf: CFile, node: Node) -> str:
    node = cs.strip(cf, node)
    t = re.sub(r"\s+", "", cf.text(node))
    m = re.fullmatch(r"&(\w+)->page|page_folio\((\w+)\)|folio_page\((\w+),0\)|&(\w+)\[0\]",
                     t)
    if m:
        return next(g for g in m.groups() if g)
    return re.sub(r"\[[^]]*\]$", "", t)


def mismatch_put_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for rc in find_rechecks(ctx):
        objs = {rc.obj}
        cons, alt = cs.then_else(rc.stmt)
        feats = object_features(cf, rc.fn, rc.obj, rc.get.start_byte) | {f"get:{rc.getname}"}
        if rc.chain == "||":
            path = cs.body_statements(cons)
        elif cs.exits(cs.body_statements(cons)):
            parent = rc.stmt.parent
            items = cs.block_items(parent) if parent is not None and \
                parent.type == "compound_statement" else []
            path = items[items.index(rc.stmt) + 1:] if rc.stmt in items else []
        else:
            path = cs.body_statements(alt)
        site = _put_on_path(ctx, rc, path, objs, feats)
        if site is not None:
            yield site


def _put_on_path(ctx: Context, rc: Recheck, path: list[Node], objs: set[str], feats
                 ) -> Site | None:
    cf = ctx.cf
    rules = ["speculative-ref-leak"]
    for s in path:
        if _is_put_of(cf, s, objs):
            return _site(cf, rc.fn, "mismatch-put", "", rules, s, cf.text(s),
                         "the put removed", feats | {"put:inline", f"put-at:{cf.line(s)}"},
                         [_remove_stmt(cf, s)])
        if s.type in cs.EXITS:
            break
    if not path or path[-1].type != "goto_statement":
        return None
    goto = path[-1]
    target = cs.labels(cf, rc.fn).get(cs.goto_label(cf, goto))
    if target is None:
        return None
    inner = target.named_children[-1] if target.named_children else None
    if inner is None or not _is_put_of(cf, inner, objs):
        return None
    block = target.parent
    items = cs.block_items(block) if block is not None else []
    after = items[items.index(target) + 1] if target in items and \
        items.index(target) + 1 < len(items) else None
    lab = cf.text(target.child_by_field_name("label"))
    if after is not None and after.type == "labeled_statement":
        new = f"goto {cf.text(after.child_by_field_name('label'))};"
    elif after is None and block is not None and block.parent is not None and \
            block.parent.type in ("for_statement", "while_statement", "do_statement"):
        new = "continue;"
    else:
        return None
    return _site(cf, rc.fn, "mismatch-put", "", rules, goto, f"goto {lab}; -> {cf.text(inner)}",
                 f"the mismatch path jumps past the put ({new})",
                 feats | {"put:label", f"put-at:{cf.line(inner)}"},
                 [Edit(goto.start_byte, goto.end_byte, cf.data[goto.start_byte:goto.end_byte],
                       new.encode())])


# --------------------------------------------------------------------------------------
# Operator 3: a speculative get turned into the plain get

def _plain_call(ctx: Context, name: str, call: Node) -> str:
    cf = ctx.cf
    args = [cf.text(a) for a in cs.call_args(call)]
    tmpl = SPEC_BOOL.get(name) or ctx.spec_bool.get(name, "")
    if not tmpl:
        return ""
    if name in ("page_ref_add_unless", "folio_ref_add_unless") and \
            (len(args) < 3 or args[2].strip() != "0"):
        return ""
    fn = tmpl.split("(")[0]
    if name in SPEC_BOOL_HELPERS and fn not in ctx.tree_has:
        return ""
    try:
        return tmpl.format(*args)
    except IndexError:
        return ""


def plain_get_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for fn in cf.functions:
        for name, call in cs.calls(cf, fn.body):
            if not is_spec_get(ctx, name) or fn.name == name:
                continue
            obj = spec_object(ctx, name, call)
            args = cs.call_args(call)
            node = args[0] if name not in ctx.spec_ptr and args else None
            feats = object_features(cf, fn, obj, call.start_byte, node) if obj else set()
            feats.add(f"get:{name}")
            edit, how = (_ptr_plain(ctx, name, call) if name in ctx.spec_ptr
                         else _bool_plain(ctx, name, call))
            if edit is None:
                continue
            yield _site(cf, fn, "plain-get", "", ["try-get-without-ref"], call,
                        cf.text(call), how, feats, [edit])


def _ptr_plain(ctx: Context, name: str, call: Node) -> tuple[Edit | None, str]:
    """``folio = try_grab_folio_fast(page, refs, flags);`` -> the non-speculative grab
    of the same object and count."""
    cf = ctx.cf
    var = assigned_var(cf, call)
    stmt = cs.statement_of(call)
    if not var or stmt.type != "expression_statement":
        return None, ""
    args = [cf.text(a) for a in cs.call_args(call)]
    if not args:
        return None, ""
    page, refs = args[0], (args[1] if len(args) > 1 else "1")
    flags = args[2] if len(args) > 2 else ""
    kind = ctx.spec_ptr[name]
    derive = f"page_folio({page})" if kind == "folio" else f"compound_head({page})"
    if kind == "folio" and flags and ctx.plain_grab:
        new = f"{var} = {derive};\n{_ind(cf, stmt)}if ({ctx.plain_grab}({var}, {refs}, " \
              f"{flags}))\n{_ind(cf, stmt)}\t{var} = NULL;"
    elif flags and ctx.plain_grab_page and refs.strip() == "1":
        new = f"{var} = {derive};\n{_ind(cf, stmt)}if (!{ctx.plain_grab_page}({page}, " \
              f"{flags}))\n{_ind(cf, stmt)}\t{var} = NULL;"
    elif kind == "folio":
        new = f"{var} = {derive};\n{_ind(cf, stmt)}folio_ref_add({var}, {refs});"
    else:
        new = f"{var} = {derive};\n{_ind(cf, stmt)}page_ref_add({var}, {refs});"
    how = new.split("\n")[-1].strip() if "NULL" not in new else \
        re.sub(r"\s+", " ", new.split("\n", 1)[1].strip())
    return Edit(stmt.start_byte, stmt.end_byte, cf.data[stmt.start_byte:stmt.end_byte],
                new.encode()), how


def _ind(cf: CFile, node: Node) -> str:
    return cs.indent_of(cf.data, node.start_byte).decode()


def _bool_plain(ctx: Context, name: str, call: Node) -> tuple[Edit | None, str]:
    cf = ctx.cf
    plain = _plain_call(ctx, name, call)
    if not plain:
        return None, ""
    # climb through parentheses / likely() / '!' to the full condition or statement
    node, neg = call, False
    while node.parent is not None:
        p = node.parent
        if p.type == "parenthesized_expression":
            node = p
            continue
        if p.type == "argument_list" and p.parent is not None and \
                cs.call_name(cf, p.parent) in cs.TRANSPARENT_CALLS:
            node = p.parent
            continue
        if cs.is_not(cf, p) is not None:
            neg = not neg
            node = p
            continue
        break
    parent = node.parent
    stmt = cs.statement_of(call)
    ind = _ind(cf, stmt)
    what = f"{plain}"
    if parent is not None and parent.type in ("if_statement", "while_statement") and \
            parent.child_by_field_name("condition") == node:
        cons, alt = cs.then_else(parent) if parent.type == "if_statement" else \
            (parent.child_by_field_name("body"), None)
        if parent.type == "while_statement":
            if not neg:
                return None, ""
            return _replace(cf, parent, f"{plain};"), what
        taken = alt if neg else cons     # the branch the get's success takes
        body = f"\n{ind}" + _branch_text(cf, taken).decode() if taken is not None else ""
        return _replace(cf, parent, f"{plain};{body}"), what
    # if (A || !get(x)) S;  ->  if (A) S; get(x);
    if parent is not None and neg and cs.binary_op(cf, parent) == "||":
        top = parent
        up = top.parent
        while up is not None and (cs.binary_op(cf, up) == "||" or
                                  up.type == "parenthesized_expression"):
            top = up
            if up.type == "parenthesized_expression" and up.parent is not None and \
                    up.parent.type == "if_statement":
                break
            up = up.parent
        ifs = top.parent
        if ifs is not None and ifs.type == "if_statement" and \
                parent.child_by_field_name("right") == node and \
                cs.then_else(ifs)[1] is None and \
                cs.exits(cs.body_statements(cs.then_else(ifs)[0])):
            cond = ifs.child_by_field_name("condition")
            rest = cs.without(cf, cond, {(node.start_byte, node.end_byte)}, "||") \
                if cond is not None else None
            if rest is None or cond is None:
                return None, ""
            text = cf.data[ifs.start_byte:ifs.end_byte].decode()
            c0, c1 = cond.start_byte - ifs.start_byte, cond.end_byte - ifs.start_byte
            new = text[:c0] + rest + text[c1:] + f"\n{ind}{plain};"
            return _replace(cf, ifs, new), what
        return None, ""
    if parent is not None and parent.type == "assignment_expression" and \
            parent.parent is not None and parent.parent.type == "expression_statement" and \
            not neg:
        lhs = cf.text(parent.child_by_field_name("left"))
        st = parent.parent
        return _replace(cf, st, "{ " + f"{plain}; {lhs} = true; " + "}"
                        if _needs_braces(st) else f"{plain};\n{ind}{lhs} = true;"), what
    if parent is not None and parent.type == "return_statement" and not neg:
        return _replace(cf, parent, "{ " + f"{plain}; return true; " + "}"
                        if _needs_braces(parent) else f"{plain};\n{ind}return true;"), what
    if parent is not None and parent.type == "conditional_expression" and \
            parent.child_by_field_name("condition") == node and \
            parent.parent is not None and parent.parent.type == "return_statement":
        val = cf.text(parent.child_by_field_name("alternative" if neg else "consequence"))
        ret = parent.parent
        return _replace(cf, ret, f"{plain};\n{ind}return {val};"), what
    return None, ""


def _needs_braces(stmt: Node) -> bool:
    return stmt.parent is not None and stmt.parent.type != "compound_statement"


def _replace(cf: CFile, node: Node, new: str) -> Edit:
    return Edit(node.start_byte, node.end_byte, cf.data[node.start_byte:node.end_byte],
                new.encode())


# --------------------------------------------------------------------------------------
# Operators 4 and 5: arch_make_*_accessible()

def _accessible_unit(cf: CFile, call: Node) -> list[Node]:
    stmt = cs.statement_of(call)
    unit = [stmt]
    var = assigned_var(cf, call)
    parent = stmt.parent
    items = cs.block_items(parent) if parent is not None and \
        parent.type == "compound_statement" else []
    if var and stmt in items and items.index(stmt) + 1 < len(items):
        nxt = items[items.index(stmt) + 1]
        if re.search(r"\b" + re.escape(var) + r"\b", cf.text(
                nxt.child_by_field_name("condition") if nxt.type == "if_statement" and
                nxt.child_by_field_name("condition") is not None else nxt)):
            unit.append(nxt)
    # the whole guard when it holds nothing else: if (flags & FOLL_PIN) { ... }
    if parent is not None and parent.type == "compound_statement" and items == unit and \
            parent.parent is not None and parent.parent.type == "if_statement" and \
            cs.then_else(parent.parent)[1] is None:
        return [parent.parent]
    return unit


def _unit_edit(cf: CFile, unit: list[Node]) -> Edit:
    if len(unit) == 1:
        return _remove_stmt(cf, unit[0])
    s, e = cs.line_range(cf.data, unit[0].start_byte, unit[-1].end_byte)
    return Edit(s, e, cf.data[s:e], b"")


def accessible_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for fn in cf.functions:
        for name, call in cs.calls(cf, fn.body, ACCESSIBLE):
            unit = _accessible_unit(cf, call)
            feats = {f"call:{name}"}
            if "FOLL_PIN" in cf.text(unit[0]) and unit[0].type == "if_statement":
                feats.add("foll-pin-guard")
            args = cs.call_args(call)
            if args:
                feats |= object_features(cf, fn, _obj_text(cf, args[0]), call.start_byte)
            text = " ".join(cf.text(u) for u in unit)
            yield _site(cf, fn, "accessible", "", ["io-without-accessible"], call, text,
                        "removed with its error handling", feats, [_unit_edit(cf, unit)])


def accessible_order_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for fn in cf.functions:
        for name, call in cs.calls(cf, fn.body, ACCESSIBLE):
            args = cs.call_args(call)
            if not args:
                continue
            x = _obj_text(cf, args[0])
            unit = _accessible_unit(cf, call)
            deps, _, _ = derivation(cf, fn, x, call.start_byte)
            marker = None
            for mname, m in cs.calls(cf, fn.body, PENDING | set(ctx.spec_ptr)):
                if m.start_byte >= unit[0].start_byte:
                    break
                ids = {_obj_text(cf, a) for a in cs.call_args(m)} | {assigned_var(cf, m)}
                if ids & ({x} | deps):
                    marker = (mname, m)
            if marker is None:
                continue
            mname, m = marker
            mstmt = cs.statement_of(m)
            anchor = _sibling_before(mstmt, unit[0])
            if anchor is None:
                continue
            moved = cf.data[unit[0].start_byte:unit[-1].end_byte].decode()
            assigned = assigned_var(cf, m)
            margs = [cf.text(a) for a in cs.call_args(m)]
            if assigned == x and margs:          # folio = try_grab_folio_fast(page, ...)
                derive = f"page_folio({margs[0]})" if name.endswith("folio_accessible") \
                    else margs[0]
                moved = re.sub(re.escape(name) + r"\(\s*" + re.escape(x) + r"\s*\)",
                               f"{name}({derive})", moved)
            moved = _drop_puts(moved, {x} | ({margs[0]} if margs else set()) |
                               _aliases(cf, fn, x, call.start_byte))
            ind_old = cs.indent_of(cf.data, unit[0].start_byte).decode()
            ind_new = cs.indent_of(cf.data, anchor.start_byte).decode()
            moved = "\n".join(
                (ind_new + ln[len(ind_old):] if ln.startswith(ind_old) else ln)
                if i else ln for i, ln in enumerate(moved.split("\n")))
            ins = Edit(anchor.start_byte, anchor.start_byte, b"",
                       (moved + "\n" + ind_new).encode())
            yield _site(cf, fn, "accessible-order", "", ["io-without-accessible"], call,
                        " ".join(cf.text(u) for u in unit),
                        f"moved before {mname}() (line {cf.line(m)})",
                        {f"call:{name}", f"marker:{mname}"} | (
                            {"foll-pin-guard"} if "FOLL_PIN" in cf.text(unit[0]) else set()),
                        [ins, _unit_edit(cf, unit)])


def _sibling_before(marker_stmt: Node, unit_first: Node) -> Node | None:
    """The statement, in the innermost block holding both, that contains the marker."""
    anc = []
    n: Node | None = marker_stmt
    while n is not None:
        anc.append(n)
        n = n.parent
    n = unit_first
    while n is not None:
        if n.type == "compound_statement" and n in anc:
            i = anc.index(n)
            return anc[i - 1] if i > 0 else None
        n = n.parent
    return None


def _drop_puts(text: str, objs: set[str]) -> str:
    """Before the get there is no reference to drop: the moved error handling loses its
    put of the object."""
    out = []
    for ln in text.split("\n"):
        m = re.match(r"\s*(\w+)\(\s*([\w>.-]+)\s*[,)]", ln)
        if m and m.group(1) in PUTS and m.group(2) in objs and ln.rstrip().endswith(";"):
            continue
        out.append(ln)
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# Operator 6: the sync between unpublish and teardown

def sync_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for fn in cf.functions:
        calls = list(cs.calls(cf, fn.body))
        for i, (name, call) in enumerate(calls):
            if name not in SYNCS:
                continue
            later = [(n, c) for n, c in calls[i + 1:] if n in TEARDOWNS]
            if not later:
                continue
            tname, tcall = later[0]
            unpub = [(n, c) for n, c in calls[:i] if n in UNPUBLISH]
            others = [n for n, c in calls if n in SYNCS and c != call and
                      (unpub[-1][1].start_byte if unpub else fn.start) < c.start_byte
                      < tcall.start_byte]
            if others:
                continue
            stmt = cs.statement_of(call)
            unit = stmt
            if stmt.parent is not None and stmt.parent.type == "if_statement" and \
                    cs.then_else(stmt.parent)[1] is None:
                unit = stmt.parent
            elif stmt.parent is not None and stmt.parent.type == "compound_statement" and \
                    cs.block_items(stmt.parent) == [stmt] and stmt.parent.parent is not None \
                    and stmt.parent.parent.type == "if_statement" and \
                    cs.then_else(stmt.parent.parent)[1] is None:
                unit = stmt.parent.parent
            feats = {f"sync:{name}", f"teardown:{tname}",
                     f"unpublish:{unpub[-1][0]}" if unpub else "unpublish:caller"}
            if unit is not stmt:
                feats.add("conditional-sync")
            yield _site(cf, fn, "sync", "", ["hotplug-teardown-unsynced"], call, cf.text(unit),
                        f"removed (between {unpub[-1][0] + '()' if unpub else 'the caller'}"
                        f" and {tname}() line {cf.line(tcall)})", feats,
                        [_remove_stmt(cf, unit)])


# --------------------------------------------------------------------------------------
# Operator 7: a freeze replaced by an exact count check

def freeze_sites(ctx: Context) -> Iterator[Site]:
    cf = ctx.cf
    for fn in cf.functions:
        for name, call in cs.calls(cf, fn.body, set(FREEZES)):
            args = cs.call_args(call)
            if len(args) != 2:
                continue
            obj, cnt = cf.text(args[0]), cf.text(args[1])
            simple = args[1].type in ("identifier", "number_literal", "call_expression",
                                      "field_expression") or (
                args[1].type == "binary_expression" and
                cs.binary_op(cf, args[1]) in ("+", "-", "*", "/"))
            if not simple:
                cnt = f"({cnt})"
            count = FREEZES[name]
            node, negated = call, False
            p = call.parent
            if p is not None and cs.is_not(cf, p) is not None:
                node, negated = p, True
            new = f"{count}({obj}) {'!=' if negated else '=='} {cnt}"
            outer = node.parent
            if outer is not None and outer.type not in (
                    "parenthesized_expression", "argument_list", "init_declarator",
                    "assignment_expression", "return_statement", "expression_statement") \
                    and cs.binary_op(cf, outer) not in ("&&", "||"):
                new = f"({new})"
            in_assert = any(ASSERTS.match(cs.call_name(cf, a)) for a in _ancestors(call)
                            if a.type == "call_expression") or _feeds_assert(cf, call)
            # an assertion on the exact count is spurious-refcount-warn; one whose
            # success branch acts on exclusivity may be reported as the racy decision
            rules = ["spurious-refcount-warn", "racy-refcount-check"] if in_assert else \
                ["racy-refcount-check"]
            yield _site(cf, fn, "freeze", "", rules, call, cf.text(node), new,
                        {f"freeze:{name}"} | ({"in-assert"} if in_assert else set()),
                        [_replace(cf, node, new)])


def _feeds_assert(cf: CFile, call: Node) -> bool:
    """``ret = freeze(...); VM_BUG_ON(!ret);``"""
    var = assigned_var(cf, call)
    stmt = cs.statement_of(call)
    block = stmt.parent
    if not var or block is None or block.type != "compound_statement":
        return False
    items = cs.block_items(block)
    nxt = items[items.index(stmt) + 1] if items.index(stmt) + 1 < len(items) else None
    if nxt is None or nxt.type != "expression_statement" or not nxt.named_children:
        return False
    e = nxt.named_children[0]
    return e.type == "call_expression" and bool(ASSERTS.match(cs.call_name(cf, e))) and \
        var in cs.identifiers(cf, e)


def _ancestors(node: Node) -> Iterator[Node]:
    up = node.parent
    while up is not None:
        yield up
        up = up.parent


# --------------------------------------------------------------------------------------
# Operator 8: a put on an error path

def _acquired(cf: CFile, fn: Function, objs: set[str], before: int) -> str:
    """The API that took the reference on one of ``objs`` before ``before``, if any."""
    found = ""
    for name, call in cs.calls(cf, fn.body):
        if call.start_byte >= before:
            break
        args = cs.call_args(call)
        took = (name in REF_RETURNING and assigned_var(cf, call) in objs) or \
            (name in GETS and bool(args) and _obj_text(cf, args[0]) in objs) or \
            (name in GUP_OUT and any(re.sub(r"^&", "", _obj_text(cf, a)) in objs
                                     for a in args[1:]))
        if took:
            found = found or name
    return found


DERIVE = re.compile(r"^(page_folio|compound_head|folio_page|pfn_folio|virt_to_folio)\(|"
                    r"^&\s*\w+\s*->\s*page$")


def _aliases(cf: CFile, fn: Function, obj: str, before: int) -> set[str]:
    """``obj`` and the page/folio it is derived from or that is derived from it
    (``folio = page_folio(page)``, ``&folio->page``): one object.  A plain copy
    (``new_page = old_page``) does not make the copy's reference this one's."""
    out = {obj}
    rhs = last_assignment(cf, fn, obj, before)
    if rhs is not None and DERIVE.match(re.sub(r"\s+", "", cf.text(cs.strip(cf, rhs)))):
        out.add(_obj_text(cf, rhs))
    for n in cf.nodes(fn.body):
        if n.start_byte >= before:
            break
        if n.type in ("assignment_expression", "init_declarator"):
            right = n.child_by_field_name("right") or n.child_by_field_name("value")
            left = n.child_by_field_name("left") or n.child_by_field_name("declarator")
            if right is None or left is None:
                continue
            text = re.sub(r"\s+", "", cf.text(cs.strip(cf, right)))
            if DERIVE.match(text) and _obj_text(cf, right) == obj:
                lt = cf.text(left).lstrip("*").strip()
                if re.fullmatch(r"\w+", lt):
                    out.add(lt)
    return {o for o in out if re.fullmatch(r"\w+", o)}


def _error_exit(cf: CFile, fn: Function, stmt: Node) -> str:
    """How the straight line after ``stmt`` in its block ends in an error, or ''."""
    block = stmt.parent
    if block is None or block.type != "compound_statement":
        return ""
    items = cs.block_items(block)
    rest = items[items.index(stmt) + 1:]
    seen_err_assign = False
    prior = items[:items.index(stmt)]
    for s in prior + rest:
        if s.type == "expression_statement" and re.search(
                r"\w+\s*=\s*(-\s*E[A-Z0-9]+|ERR_PTR\(|PTR_ERR\(|VM_FAULT_(OOM|SIGBUS|"
                r"HWPOISON|SIGSEGV|FALLBACK))", cf.text(s)):
            seen_err_assign = True
    guard = block.parent if block.parent is not None and \
        block.parent.type == "if_statement" else None
    guard_err = False
    if guard is not None:
        cond = cf.text(guard.child_by_field_name("condition"))
        guard_err = bool(re.fullmatch(
            r"\(\s*(unlikely\()?\s*(ret|rc|r|err|error|status|res|\w+_(ret|err|error))"
            r"\s*(<\s*0\s*)?\)?\s*\)", cond) or re.search(r"\bIS_ERR(_OR_NULL)?\(", cond))
    for s in rest:
        if s.type == "return_statement":
            val = cf.text(s.named_children[0]).strip() if s.named_children else ""
            val = re.sub(r"^\((.*)\)$", r"\1", val)
            if ERRNO.match(val) or val.startswith(("ERR_PTR(", "ERR_CAST(")):
                return f"return {val}"
            if re.fullmatch(r"VM_FAULT_\w+(\s*\|\s*VM_FAULT_\w+)*", val) and \
                    not set(re.findall(r"VM_FAULT_\w+", val)) <= GOOD_FAULT:
                return f"return {val}"
            if re.fullmatch(r"\w+", val) and (seen_err_assign or guard_err) and \
                    val not in ("NULL", "true", "false", "0"):
                return f"return {val}"
            return ""
        if s.type == "goto_statement":
            lab = cs.goto_label(cf, s)
            if ERROR_LABEL.search(lab) or seen_err_assign or guard_err:
                return f"goto {lab}"
            return ""
        if s.type in ("break_statement", "continue_statement", "if_statement",
                      "for_statement", "while_statement", "do_statement", "switch_statement",
                      "labeled_statement", "compound_statement"):
            return ""
    return ""


def _iterator_body(cf: CFile, stmt: Node) -> bool:
    """``list_for_each_entry(...) put(x);``: tree-sitter reads the macro as a statement
    of its own, and the put as the next one; it is the loop's body."""
    prev = stmt.prev_named_sibling
    while prev is not None and prev.type == "comment":
        prev = prev.prev_named_sibling
    if prev is None or prev.type != "expression_statement" or not prev.named_children:
        return False
    e = prev.named_children[0]
    return e.type == "call_expression" and bool(ITERATOR.search(cs.call_name(cf, e))) and \
        not cf.text(prev).rstrip().endswith(";")


def error_put_sites(ctx: Context, exclude: set[tuple[str, int]]) -> Iterator[Site]:
    cf = ctx.cf
    for fn in cf.functions:
        for name, call in cs.calls(cf, fn.body, PUTS):
            stmt = cs.statement_of(call)
            if stmt.type != "expression_statement" or \
                    cs.strip(cf, stmt.named_children[0]) != call:
                continue
            args = cs.call_args(call)
            if not args or _iterator_body(cf, stmt):
                continue
            obj = _obj_text(cf, args[0])
            if not re.fullmatch(r"\w+", obj):
                continue
            unit = stmt
            # if (folio) folio_put(folio);  -> the whole if
            p = stmt.parent
            if p is not None and p.type == "compound_statement" and \
                    cs.block_items(p) == [stmt] and p.parent is not None and \
                    p.parent.type == "if_statement":
                p = p.parent
            if p is not None and p.type == "if_statement" and cs.then_else(p)[1] is None and \
                    re.fullmatch(r"\(\s*!?\s*(IS_ERR_OR_NULL\()?\s*" + re.escape(obj) +
                                 r"\s*\)?\s*\)", cf.text(p.child_by_field_name("condition"))):
                unit = p
            how = ""
            label = unit.parent if unit.parent is not None and \
                unit.parent.type == "labeled_statement" else None
            if label is not None:
                lab = cf.text(label.child_by_field_name("label"))
                if ERROR_LABEL.search(lab):
                    how = f"at error label {lab}:"
            if not how:
                how = _error_exit(cf, fn, unit)
            if not how:
                continue
            aliases = _aliases(cf, fn, obj, call.start_byte)
            acq = _acquired(cf, fn, aliases, call.start_byte)
            if not acq or (cf.rel, cf.line(call)) in exclude:
                continue
            edit = (_replace(cf, unit, ";") if label is not None else _remove_stmt(cf, unit))
            yield _site(cf, fn, "error-put", "", ["page-ref-leak"], call, cf.text(unit),
                        f"removed ({how}; reference from {acq}())",
                        {f"put:{name}", f"acquired:{acq}"} | _held_by(cf, fn, aliases) | (
                            {"error-label"} if label is not None else set()), [edit])


def _held_by(cf: CFile, fn: Function, objs: set[str]) -> set[str]:
    """Where else the function puts the object (page-ref-leak's documented limits): on a
    list, to a function pointer (a parameter or an ops table), as a computed address into
    a longer-lived object."""
    text = cf.text(fn.body)
    sig = fn.signature(cf.data)
    names = "|".join(re.escape(o) for o in sorted(objs))
    pointers = re.findall(r"\(\s*\*\s*(\w+)\s*\)\s*\(", sig)
    out = set()
    if re.search(rf"\blist_(add|add_tail|move|move_tail)\s*\(\s*&\s*({names})->\w+", text):
        out.add("held:list")
    callee = "|".join([r"->\s*\w+", *(rf"\b{re.escape(p)}" for p in pointers)])
    if re.search(rf"(?:{callee})\s*\([^;]*\b({names})\b", text):
        out.add("handover:fnptr")
    if re.search(rf"->[\w.>-]+\s*=\s*(page_address|folio_address|kmap)\s*\(\s*({names})\s*\)",
                 text):
        out.add("stored:address")
    return out


# --------------------------------------------------------------------------------------

OPERATORS = ("recheck", "mismatch-put", "plain-get", "accessible", "accessible-order", "sync",
             "freeze", "error-put")
EXPECTED_RULES = {
    "recheck": "speculative-get-unvalidated", "mismatch-put": "speculative-ref-leak",
    "plain-get": "try-get-without-ref", "accessible": "io-without-accessible",
    "accessible-order": "io-without-accessible", "sync": "hotplug-teardown-unsynced",
    "freeze": "racy-refcount-check / spurious-refcount-warn", "error-put": "page-ref-leak",
}
CORE_DIRS = ("mm", "virt/kvm", "arch/x86/kvm")
IO_PATHS = ("fs/splice.c", "fs/pipe.c", "lib/iov_iter.c", "block", "fs/iomap",
            "fs/direct-io.c")
SCOPE: dict[str, tuple[str, ...]] = dict.fromkeys(OPERATORS, CORE_DIRS)
SCOPE.update({"plain-get": CORE_DIRS + IO_PATHS, "accessible": CORE_DIRS + IO_PATHS,
              "accessible-order": CORE_DIRS + IO_PATHS})
# The names a file must spell for an operator to look at it (a cheap pre-filter).
NEEDS = {
    "recheck": SPEC_PRIMITIVES | {"try_grab_folio", "try_get_folio", "try_grab_compound_head",
                                  "try_get_compound_head", "try_grab_folio_fast"},
    "plain-get": SPEC_PRIMITIVES | set(SPEC_BOOL_HELPERS),
    "accessible": ACCESSIBLE, "accessible-order": ACCESSIBLE, "sync": SYNCS,
    "freeze": set(FREEZES), "error-put": PUTS,
}
NEEDS["mismatch-put"] = NEEDS["recheck"]
NEEDS["plain-get"] = NEEDS["plain-get"] | NEEDS["recheck"]


def scan_file(ctx: Context, operators: Iterable[str]) -> list[Site]:
    ops = list(operators)
    out: list[Site] = []
    for op in ops:
        if op == "recheck":
            out += recheck_sites(ctx)
        elif op == "mismatch-put":
            out += mismatch_put_sites(ctx)
        elif op == "plain-get":
            out += plain_get_sites(ctx)
        elif op == "accessible":
            out += accessible_sites(ctx)
        elif op == "accessible-order":
            out += accessible_order_sites(ctx)
        elif op == "sync":
            out += sync_sites(ctx)
        elif op == "freeze":
            out += freeze_sites(ctx)
        elif op == "error-put":
            mismatch = {(s.file, int(f.split(":")[1])) for s in mismatch_put_sites(ctx)
                        for f in s.features if f.startswith("put-at:")}
            out += error_put_sites(ctx, mismatch)
    return out
