"""Page tables as objects: the entry through which a page table is reached.

A page table is torn down (``pte_free(mm, table)``) after the entry that pointed to it
was cleared (``pmd_clear(pmd)``); whether the two are about *one* table is decided by
that entry, named by the access path of its slot (``pmd``, ``pud``).  A table is
reached through an entry:

* by a ``[table_of]`` model (``pmd_pgtable(pmdval)``, ``pud_pgtable()``: ``given =
  "value"``, the argument is the entry's value; ``pmd_offset(pudp, addr)``,
  ``pte_offset_map(pmdp, addr)``: ``"slot"``, the argument points to the entry;
  ``page_ptdesc()``: ``"table"``, the same table in another type);
* an entry's value is ``*pmdp``, a re-read of it (``pmdp_get(pmdp)``: a ``reread`` or
  ``lockless_read`` model), or what a call of the ``cleared`` sections returns (the entry
  its ``arg`` names, as it was before: ``pmdp_collapse_flush()``);
* a variable holds either as assigned (:func:`remember`, from the checker's
  ``on_assign``): ``token = pmd_pgtable(*pmd); pmd_clear(pmd); ... token``.

A variable that may hold the table of one entry (on some path) counts as holding it.
Known limits: a table a parameter names is of no known entry (the caller's argument is
not followed, summaries carry the parameter instead); one that may be of two entries
has none.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from analyzer.engine.keys import Tag
from analyzer.ir import Call, Expr, Index, Name
from analyzer.models.schema import Section, option, register

if TYPE_CHECKING:
    from analyzer.engine.api import Context

#: Tags of a variable: the entry whose table it holds, the entry whose value it holds.
TABLE, VALUE = "table of", "entry value of"


@register
@dataclass(frozen=True, slots=True)
class TableOf(Section):
    """the page table an entry points to (pmd_pgtable(), pmd_offset())"""

    NAME: ClassVar[str] = "table_of"
    EVENT: ClassVar[str | None] = None
    OBJ: ClassVar[str | None] = None
    ESCAPES: ClassVar[bool] = False
    KNOWS: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument naming the entry")
    given: str = option(str, choices=("value", "slot", "table"), default="value",
                        doc="the argument is the entry's value, a pointer to the entry "
                            "(its slot), or the table itself in another type")



@register
@dataclass(frozen=True, slots=True)
class Container(Section):
    """container_of(): an object from its member (an RCU callback's rcu_head)"""

    NAME: ClassVar[str] = "container"
    EVENT: ClassVar[str | None] = None
    OBJ: ClassVar[str | None] = None
    ESCAPES: ClassVar[bool] = False
    member: int | None = option(int, required=True, doc="argument naming the member")


def table_entry(ctx: Context, e: Expr | None, cleared: tuple[str, ...] = ()) -> str | None:
    """The entry whose table ``e`` is (see the module docstring), else None."""
    for _ in range(8):
        e = ctx.strip(e) if e is not None else None
        if isinstance(e, Name):
            return _one(ctx, Tag(e.id, TABLE))
        m = ctx.spec("table_of", e.callee) if isinstance(e, Call) else None
        if m is None:
            return None
        assert isinstance(e, Call)
        a = ctx.arg(e, m.arg)
        if m.given == "slot":
            return ctx.place(a)
        if m.given == "value":
            return entry_value(ctx, a, cleared)
        e = a
    return None


def entry_value(ctx: Context, e: Expr | None, cleared: tuple[str, ...] = ()) -> str | None:
    """The entry whose value ``e`` is (``*pmdp``, ``pmdp_get(pmdp)``, a ``cleared``
    call's result, a variable holding one), else None."""
    e = ctx.strip(e) if e is not None else None
    if isinstance(e, Name):
        return _one(ctx, Tag(e.id, VALUE))
    if isinstance(e, Call) and (m := next((got for s in cleared
                                           if (got := ctx.spec(s, e.callee)) is not None),
                                          None)):
        return ctx.place(ctx.arg(e, getattr(m, "arg", None)))
    src = ctx.reread_source(e) if e is not None else None
    return src.key if src is not None and not src.membership else None


def remember(ctx: Context, target: str, value: Expr, cleared: tuple[str, ...] = ()) -> None:
    """``target = value``: what entry's table or value ``target`` now holds."""
    if (entry := table_entry(ctx, value, cleared)) is not None:
        ctx.set(Tag(target, TABLE), entry)
    elif not isinstance(value, Name) and (entry := entry_value(ctx, value, cleared)):
        ctx.set(Tag(target, VALUE), entry)
    elif isinstance(value, Name):
        ctx.copy_states(Tag(target, VALUE), Tag(value.id, VALUE))


def _one(ctx: Context, tag: Tag) -> str | None:
    got = ctx.states(tag)
    return next(iter(got)) if len(got) == 1 else None


def deferred(ctx: Context, e: Expr | None) -> bool:
    """A table already queued for a deferred free: an element of a batch (``tables[i]``), or
    what an RCU callback recovers from its rcu_head (``container_of(head, T, rcu)``)."""
    b = ctx.bound(e)
    m = ctx.spec("container", b.callee) if b is not None else None
    return isinstance(e, Index) or (m is not None and b is not None and "rcu" in (
        ctx.key(ctx.arg(b, m.member)) or ""))
