"""The model sections of ``rules/leak.toml`` (page-ref-leak, ``checkers/leak.py``): the
references lookups, allocations and GUP hand out, the drops, counts, borrowers and
hand-overs beyond the core sections, and what says "no object" (error tests and values)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from analyzer.models.schema import WHEN, Section, arg_section, option, register, when_key


@register
@dataclass(frozen=True, slots=True)
class RefSource(Section):
    """lookups, allocations and GUP that return or fill in referenced objects"""
    NAME: ClassVar[str] = "ref_source"
    arg: int | None = option(int, doc="argument that receives the referenced object (&page, "
                                      "pages[], a batch); absent: the result is the object")
    when: str = when_key()
    flag_arg: int | None = option(int, doc="argument of flags: a reference only when it names "
                                           "flag")
    flag: str | None = option(str, doc="the flag that asks for a reference (FOLL_GET)")

    @property
    def counted(self) -> bool:
        """A tri-state API: the result counts the references it filled in."""
        return self.when == "positive"


RefRelease = arg_section("ref_release", "drops of references beyond the shared `release` "
                         "(arrays, batches, pfns)", arg_doc="argument whose reference(s) it drops")
RefCount = arg_section("ref_count", "the count argument of counted gets and puts "
                       "(folio_ref_add, folio_put_refs)", arg_doc="argument giving how many "
                       "references an acquire, ref_source or release takes/drops",
                       hands_over=False)


@register
@dataclass(frozen=True, slots=True)
class RefBorrow(Section):
    """calls that use an object without taking its reference over"""
    NAME: ClassVar[str] = "ref_borrow"
    OBJ: ClassVar[str | None] = None
    args: tuple[int, ...] | None = option(list, doc="arguments it uses without keeping their "
                                                    "reference (absent: all)")


@register
@dataclass(frozen=True, slots=True)
class RefHandover(Section):
    """calls that take a reference over on one result and leave it the caller's on the
    other (filemap_add_folio: in the page cache on 0, still the caller's on an error)"""
    NAME: ClassVar[str] = "ref_handover"
    HANDS_OVER: ClassVar[bool] = False
    arg: int | None = option(int, required=True)
    kept: str = option(str, required=True, choices=WHEN,
                       doc="the result on which the caller still holds the reference")


@register
@dataclass(frozen=True, slots=True)
class RefErrorTest(Section):
    """tests after which a result holds no object (IS_ERR, is_error_pfn)"""
    NAME: ClassVar[str] = "ref_error_test"
    HANDS_OVER: ClassVar[bool] = False
    arg: int | None = option(int, required=True)
    when: str = when_key("result meaning 'no object'")
    null: bool | None = option(bool, doc="NULL is 'no object' too (IS_ERR_OR_NULL)")


@register
@dataclass(frozen=True, slots=True)
class RefErrorValue(Section):
    """return values that signal failure (ERR_PTR, VM_FAULT_OOM)"""
    NAME: ClassVar[str] = "ref_error_value"
    HANDS_OVER: ClassVar[bool] = False
    OBJ: ClassVar[str | None] = None


@register
@dataclass(frozen=True, slots=True)
class RefCarrier(Section):
    """values that map an object (mk_pte): installing them hands it over"""
    NAME: ClassVar[str] = "ref_carrier"
    HANDS_OVER: ClassVar[bool] = False
    OBJ: ClassVar[str | None] = "from_"
    from_: int | None = option(int, required=True, toml="from",
                               doc="argument whose object the result maps")


@register
@dataclass(frozen=True, slots=True)
class RefRaw(Section):
    """raw count increments that are no reference of the caller's own to drop"""
    NAME: ClassVar[str] = "ref_raw"
    OBJ: ClassVar[str | None] = None
