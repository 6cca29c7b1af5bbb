"""hotplug-teardown-unsynced: memmap or page tables freed after being unpublished, with no
wait for the lockless walkers that may still be inside them.

GUP-fast walks page tables and touches ``struct page`` with only interrupts disabled.
Whoever hides a page table or a memmap range from new walkers (the *unpublish* step:
clearing a pmd/pud, collapsing a pmd, removing a pfn range from its zone) must wait for
the walkers already inside (an RCU grace period, an IPI) before freeing it (the
*teardown*).  The models name the three kinds of calls and what each is about
(``what``: memmap, page table); a sync waits for every kind.

Tracked, per function: each unpublished entry (keyed on its access path: ``pmd++`` ends
its story) is ``UNPUBLISHED`` until a sync; the ghost ``entry KIND`` says whether this
function has synced or unpublished KIND yet.
Reported: a teardown of KIND reachable while an entry of KIND (a page table: the one that
pointed to it, ``engine.tables``) may be ``UNPUBLISHED``, once, where the unpublish is;
not a memmap no walker reaches (an ``[unwalked]`` pgmap type tested on the path).

Summaries carry the story up the call graph: a function that tears down before any sync
or unpublish of its own "tears down without sync" (``teardown`` with the chain in
``trail``), one that leaves an entry unpublished at its exit "unpublishes", one that waits
"syncs".  A call applies them in that order: teardown check, sync, unpublish.

No walker is in the tables of a private mm (``[private]`` mm_alloc(), never attached);
the callers' waits (``[callers]``) count, so does a percpu_ref kill-and-wait for the memmap.
Known limits: see ``limits`` below.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from analyzer.engine import Checker, Context, Event, FlagTest, Ghost, Key, Tag, Trail
from analyzer.engine.stores import made_only_by, owner
from analyzer.engine.tables import deferred, remember, table_entry
from analyzer.ir import Expr, Name, Span
from analyzer.models.schema import Section, arg_section, option, register
from analyzer.result import Step
from analyzer.rule import Rule


# ------------------------------------------------------------------ model sections
@register
@dataclass(frozen=True, slots=True)
class Teardown(Section):
    """frees of memmap or page tables that lockless walkers may touch"""

    NAME: ClassVar[str] = "teardown"
    OBJ: ClassVar[str | None] = None
    what: str | None = option(str, doc="what is freed (memmap, page table)")
    deferred: bool | None = option(bool, doc="frees after a grace period itself: no sync")
    unpublished: bool | None = option(bool, doc="what it frees the caller hid (a zap list, "
                                      "a remapped vmemmap): a sync must precede it")
    arg: int | None = option(int, doc="argument naming what is freed: a page table is "
                             "matched with the entry cleared (engine.tables); an element "
                             "of a batch (tables[i]) was queued for a deferred free")
    entry: int | None = option(int, doc="summaries: argument naming the entry whose table "
                               "it frees")
    mm: int | None = option(int, doc="argument naming the mm whose page table it frees: "
                                  "none of a private mm (see [private])")
    via: str | None = option(str, doc="summaries: the teardown API the call chain ends in")
    trail: tuple[Step, ...] | None = option(tuple, doc="summaries: the steps down to it")


@register
@dataclass(frozen=True, slots=True)
class Sync(Section):
    """waits for lockless walkers (RCU grace period, IPI)"""

    NAME: ClassVar[str] = "sync"
    OBJ: ClassVar[str | None] = None
    what: str | None = option(str, doc="how it waits for walkers (rcu, ipi)")


@register
@dataclass(frozen=True, slots=True)
class Unpublish(Section):
    """steps that hide memory or page tables from new walkers"""

    NAME: ClassVar[str] = "unpublish"
    what: str | None = option(str, doc="what becomes unreachable for new walkers")
    arg: int | None = option(int, doc="argument naming the cleared entry (pmd)")
    via: str | None = option(str, doc="summaries: the unpublish API the chain ends in")
    trail: tuple[Step, ...] | None = option(tuple, doc="summaries: the steps down to it")

arg_section("private", "allocators of an address space no task runs (mm_alloc()): until "
            "it is attached, no lockless walker is in its page tables", event=None,
            escapes=False, required=False)
arg_section("ref_kill", "kills a percpu_ref: its tryget_live() fails from then on",
            escapes=False)
arg_section("ref_wait", "waits for the release of a killed percpu_ref (the completion its "
            "release callback completes)", escapes=False)
arg_section("attach", "calls that make a task run on an address space (kthread_use_mm())",
            event=None, escapes=False)
arg_section("unwalked", "memory types (value [flag]s of pgmap->type) whose memmap no "
            "lockless walker reaches", event=None, escapes=False, required=False)


PAGE_TABLE = "page table"          # matched by object: the entry that pointed to it


class Walk(Enum):
    FRESH = "nothing synced or unpublished yet"
    OWNED = "unpublished by this function"
    UNPUBLISHED = "unpublished, no sync since"
    SYNCED = "lockless walkers waited for"
    REPORTED = "teardown already reported"


HOTPLUG_TEARDOWN_UNSYNCED = Rule(
    id="hotplug-teardown-unsynced",
    name="HotplugTeardownUnsynced",
    summary="memmap or page table freed after being unpublished without waiting for "
            "lockless walkers",
    what="""
Finds a memmap or page-table teardown (`arch_remove_memory()`, `vmemmap_free()`,
`pte_free()`, `pmd_free()`, a deposit, ...) reachable after the step that unpublished it
(`remove_pfn_range_from_zone()`, `pmd_clear()`, `pmdp_collapse_flush()`, ...) with no
sync against lockless walkers in between (`synchronize_rcu()`,
`tlb_remove_table_sync_one()`, an IPI). The two may sit in different functions of the
file: reported once, where the unpublish is, the code flow following the calls down.
For page tables a sync *before* the unpublish does not count; for the memmap a sync
anywhere before the teardown does (seed 002's `synchronize_rcu()` after
`mem_hotplug_begin()`), in the function or in every caller of a static one, and so does
a percpu_ref kill then wait for its release (`memunmap_pages()`: GUP-fast's devmap path
must hold the pgmap reference). Teardowns of what the *caller* unpublished
(`kvm_mmu_free_shadow_page()`, `__tlb_remove_table()`, HugeTLB `vmemmap_remap_free()`)
need a sync (`kvm_flush_remote_tlbs()` for KVM) before them, on some path.
""",
    why="""
GUP-fast (and other lockless walkers) walk the page tables and dereference `struct page`
with only interrupts disabled: no lock, no reference. Hiding a page table or a memmap
range from *new* walkers does nothing for the ones already inside; the freeing side must
wait for them, with an RCU grace period (an IRQs-off section is an RCU read-side section)
or an IPI that cannot be delivered until they re-enable interrupts.

    CPU 0 (GUP-fast, IRQs off)            CPU 1 (hot-remove / collapse)
    pmd = pmdp_get_lockless(pmdp)
    ptep = pte_offset_map(&pmd, addr)
                                           pmd_clear(pmdp)      /* unpublish */
                                           pte_free(mm, table)  /* no sync: freed */
                                           ... page reused by someone else
    pte = ptep_get_lockless(ptep)          /* reads freed memory */
    folio = try_grab_folio_fast(pte_page(pte))  /* refcount of a random struct page */

With `synchronize_rcu()` or `tlb_remove_table_sync_one()` in between, CPU 1 cannot free
the table until CPU 0 has left the walk. Likewise `arch_remove_memory()` frees the
`struct page` array a walker may be about to `folio_try_get()` (seed 002).
""",
    example="""
_pmd = pmdp_collapse_flush(vma, addr, pmd);    /* walkers may still be in the table */
pte_free(mm, pmd_pgtable(_pmd));
""",
    instead="""
_pmd = pmdp_collapse_flush(vma, addr, pmd);
tlb_remove_table_sync_one();                    /* IPI: wait for IRQs-off walkers */
pte_free(mm, pmd_pgtable(_pmd));
/* or let RCU free it: pte_free_defer(mm, pmd_pgtable(_pmd)); */
""",
    limits="""
- A page table is matched with the cleared entry that pointed to it; a table whose entry
  is unknown (a parameter of a function that is no helper of the caller) is matched with
  none.  A private `mm_alloc()` mm's members are matched by name, not struct type.
- The pgmap whose type was tested (`[unwalked]`: device-private) is not matched with the
  one whose memmap is freed.
- Summaries stay within a file: an unpublish in one file and the teardown in another
  (offline_pages() then, much later, try_remove_memory()) is not seen.
- A callee that syncs on some path counts; a caller's wait is seen for a static function
  when every caller calls it after the wait (in text order, the ref and the completion
  not matched by object there). A percpu_ref kill-and-wait counts for the memmap only
  while GUP-fast holds get_dev_pagemap() for every such page (until 6.0).
- A table taken from a batch (`batch->tables[i]`) is taken as freed by its RCU callback.
- Kernel page tables (`pte_free_kernel()`) are not modeled: GUP-fast walks user ones.
- `mem_hotplug_begin()` is a lock, not an unpublish step (hot-add error paths).
""",
    precision="medium",
    tags=("correctness", "memory-hotplug", "page-tables", "mm"),
)


class HotplugChecker(Checker):
    rules = (HOTPLUG_TEARDOWN_UNSYNCED,)

    starter_sections = ("teardown", "unpublish", "sync")

    # ------------------------------------------------------------------ hooks
    def on_entry(self, ctx: Context) -> None:
        for section in ("teardown", "unpublish"):
            for m in ctx.models.entries(section):
                ctx.set(ctx.ghost("entry", _kind(m)), Walk.FRESH)
        # Every caller waited before the call: a sync, or a percpu_ref kill and wait.
        c = ctx.models.fact("callers", ctx.function.name)
        seen = set(c.get("before") or ()) if c is not None else set()
        if seen & ctx.models.names("sync"):
            ctx.set(ctx.ghost("synced"), Walk.SYNCED)
        if seen & ctx.models.names("ref_kill") and seen & ctx.models.names("ref_wait"):
            ctx.set(ctx.ghost("quiesced"), Walk.SYNCED)

    def on_ref_kill(self, ctx: Context, ev: Event[Section]) -> None:
        ctx.set(ctx.ghost("killed", owner(ctx, ev.obj) or ""), Walk.SYNCED)

    def on_ref_wait(self, ctx: Context, ev: Event[Section]) -> None:
        if ctx.may_be(ctx.ghost("killed", owner(ctx, ev.obj) or ""), Walk.SYNCED):
            ctx.set(ctx.ghost("quiesced"), Walk.SYNCED)

    def on_flag(self, ctx: Context, ev: FlagTest) -> None:
        if ev.flag in ctx.models.names("unwalked"):  # pgmap->type == MEMORY_DEVICE_PRIVATE
            ctx.set(ctx.ghost("unwalked"), Walk.SYNCED if ev.set else Walk.FRESH)

    def on_assign(self, ctx: Context, target: str, value: Expr, span: Span) -> None:
        remember(ctx, target, value, ("unpublish",))   # pgtable = pmd_pgtable(_pmd)

    def on_teardown(self, ctx: Context, ev: Event[Teardown]) -> None:
        mm, kind = ctx.arg(ev.call, ev.m.mm), _kind(ev.m)
        if ev.m.deferred or made_only_by(ctx, mm, ctx.models.names("private"),
                                         ctx.models.names("attach")) or (
                kind == "memmap" and ctx.must_be(ctx.ghost("unwalked"), Walk.SYNCED)):
            return
        via, chain, table = ev.m.via, ev.m.trail or (), ctx.arg(ev.call, ev.m.arg)
        entry = table_entry(ctx, table, ("unpublish",)) or ctx.place(
            ctx.arg(ev.call, ev.m.entry))
        step = Step(ev.span, f"{ev.api}() tears down the {kind}" if not chain else
                    f"{ev.api}() tears down the {kind} without a sync")
        pending = [(k, s[Walk.UNPUBLISHED]) for k, s in ctx.tracked()   # a page table: the
                   if _unpublished(k) == kind and Walk.UNPUBLISHED in s  # one its entry held
                   and (kind != PAGE_TABLE or getattr(k, "path", None) == entry)]
        if kind == "memmap" and ctx.may_be(ctx.ghost("synced"), Walk.SYNCED) | ctx.may_be(
                ctx.ghost("quiesced"), Walk.SYNCED):    # anywhere before the teardown
            pending = []
        if ev.m.unpublished and not chain and not ctx.may_be(ctx.ghost("synced"),
                                                             Walk.SYNCED) \
                and not deferred(ctx, table):
            pending = [(Tag(f"<{ev.api}()>", "unpublished", kind), ())]
        if pending:
            self._report(ctx, ev, kind, step, pending)
        if ctx.may_be(ctx.ghost("entry", kind), Walk.FRESH):
            # Summary: this function tears down before any sync or unpublish of its own.
            params = ctx.function.params
            named = {"mm": mm.id if isinstance(mm, Name) else None, "entry": entry,
                     "arg": table.id if isinstance(table, Name) else None}
            ctx.summarize("teardown", what=kind, via=via or ev.api, trail=(step, *chain),
                          **{k: params.index(v) for k, v in named.items() if v in params})

    def on_sync(self, ctx: Context, ev: Event[Sync]) -> None:
        ctx.set(ctx.ghost("synced"), Walk.SYNCED)
        for k, _ in ctx.tracked():
            if _unpublished(k) is not None:
                ctx.replace(k, Walk.UNPUBLISHED, Walk.SYNCED)
            elif isinstance(k, Ghost) and k.name == "entry":
                ctx.replace(k, Walk.FRESH, Walk.SYNCED)
        ctx.summarize("sync", what=ev.m.what or "sync")

    def on_unpublish(self, ctx: Context, ev: Event[Unpublish]) -> None:
        kind = _kind(ev.m)
        entry = ctx.place(ctx.arg(ev.call, ev.m.arg))
        what = (f"{ev.api}() unpublished '{entry}'" if entry is not None
                else f"{ev.api}() unpublished the {kind}")
        step = Step(ev.span, what)
        ctx.set(Tag(entry or f"<{ev.api}()>", "unpublished", kind), Walk.UNPUBLISHED,
                (step, *(ev.m.trail or ())))
        ctx.replace(ctx.ghost("entry", kind), Walk.FRESH, Walk.OWNED)

    def on_exit(self, ctx: Context) -> None:
        # Summary: an entry still unpublished at exit is the caller's to sync.
        params = ctx.function.params
        for k, states in ctx.tracked():
            kind = _unpublished(k)
            if kind is None or Walk.UNPUBLISHED not in states:
                continue
            assert isinstance(k, Tag)
            values: dict[str, object] = {"what": kind, "trail": states[Walk.UNPUBLISHED]}
            if k.path in params:
                values["arg"] = params.index(k.path)
            ctx.summarize("unpublish", **values)

    # ------------------------------------------------------------------ reports
    def _report(self, ctx: Context, ev: Event[Teardown], kind: str, step: Step,
                pending: list[tuple[Key, Trail]]) -> None:
        _k, trail = min(pending, key=lambda p: (p[1][0].span.line if p[1] else 0, str(p[0])))
        via, chain = ev.m.via, ev.m.trail or ()
        through = f" (via {via}())" if via and via != ev.api else ""
        after = (f"after {trail[0].message} at line {trail[0].span.line}, with no sync "
                 "against lockless walkers in between" if trail else
                 "that its caller unpublished, with no sync against lockless walkers "
                 "before it in this function")
        ctx.report(HOTPLUG_TEARDOWN_UNSYNCED, ev.span,
                   f"{ev.api}() tears down the {kind}{through} {after}",
                   trail + ((step, *chain) if chain else ()), trail[:1])
        for k, _ in pending:
            ctx.replace(k, Walk.UNPUBLISHED, Walk.REPORTED)


def _kind(m: Teardown | Unpublish | Section) -> str:
    return getattr(m, "what", None) or "memory"


def _unpublished(k: Key) -> str | None:
    """The kind of an unpublished entry's key (it rides on the entry's access path, so
    that reassigning or advancing it, ``pmd++``, ends the story)."""
    return k.arg if isinstance(k, Tag) and k.name == "unpublished" else None
