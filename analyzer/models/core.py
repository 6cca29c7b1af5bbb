"""The core sections: how values flow, where objects are found without a reference, and
the calls that take or drop references and locks.  Every checker may subscribe to their
events; a checker's own sections are declared in its file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from analyzer.models.schema import Section, option, register, when_key

ACQUIRE_KINDS = ("plain", "speculative", "pin")
LOCK_KINDS = ("spin", "rcu", "sleep")


@register
@dataclass(frozen=True, slots=True)
class Transparent(Section):
    """wrappers whose value is one argument's (likely, unlikely)"""

    NAME: ClassVar[str] = "transparent"
    HANDS_OVER: ClassVar[bool] = False
    EVENT: ClassVar[str | None] = None
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument whose value the call yields")


@register
@dataclass(frozen=True, slots=True)
class Publish(Section):
    """atomic stores that publish a value where other code finds it (cmpxchg(&slot, old,
    new), xchg(&slot, new)): the value is handed over as to an unknown callee; modeled so
    that both frontends see the call (libclang would see its inline-asm expansion)"""

    NAME: ClassVar[str] = "publish"
    EVENT: ClassVar[str | None] = None
    OBJ: ClassVar[str | None] = "value"
    value: int | None = option(int, required=True, doc="argument that is stored")


@register
@dataclass(frozen=True, slots=True)
class Iterator(Section):
    """iterator macros that are loops (list_for_each_entry, xas_for_each)"""

    NAME: ClassVar[str] = "iterator"
    EVENT: ClassVar[str | None] = None
    OBJ: ClassVar[str | None] = None
    cursor: int | None = option(int, doc="macro argument assigned on every iteration")
    step: str | None = option(str, doc="call the macro performs to produce the cursor")
    step_args: tuple[int, ...] | None = option(list, doc="macro arguments passed to that call")


@register
@dataclass(frozen=True, slots=True)
class LocklessRead(Section):
    """reads of a pointer or entry without a lock or reference"""

    NAME: ClassVar[str] = "lockless_read"
    HANDS_OVER: ClassVar[bool] = False
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, doc="argument read through (the source to re-check)",
                          default=0)
    deref_only: bool | None = option(bool, doc="only when that argument is spelled *p")
    rcu: bool | None = option(bool, doc="a lookup that is lockless only when no spinlock is "
                                     "held")
    value: bool | None = option(bool, doc="the result is a value (a PTE), not a pointer to an "
                                       "object")
    out: int | None = option(int, doc="the result is stored through this argument (*argN "
                                      "holds it after the call), not returned")


@register
@dataclass(frozen=True, slots=True)
class Reread(Section):
    """re-reads of a source for revalidation (ptep_get, xas_reload)"""

    NAME: ClassVar[str] = "reread"
    HANDS_OVER: ClassVar[bool] = False
    EVENT: ClassVar[str | None] = None
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument re-read (the source)")


@register
@dataclass(frozen=True, slots=True)
class Derive(Section):
    """results designating an object derived from an argument (pte_page)"""

    NAME: ClassVar[str] = "derive"
    HANDS_OVER: ClassVar[bool] = False
    OBJ: ClassVar[str | None] = "from_"
    ESCAPES: ClassVar[bool] = False
    from_: int | None = option(int, required=True, toml="from",
                            doc="argument the result is derived from")
    value: bool | None = option(bool, doc="the result is a value (a PFN, a PTE pointer), not "
                                       "the object that holds the count")
    out: int | None = option(int, doc="the result is stored through this argument (*argN "
                                      "holds it after the call), not returned")


@register
@dataclass(frozen=True, slots=True)
class Acquire(Section):
    """calls that take a reference (plain, speculative, pin)"""

    NAME: ClassVar[str] = "acquire"
    HANDS_OVER: ClassVar[bool] = False
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument whose object gains a reference")
    kind: str = option(str, required=True, choices=ACQUIRE_KINDS, default="plain")
    when: str = when_key()
    returns_object: bool | None = option(bool, doc="the result designates the referenced "
                                                "object")
    needs_ref: bool | None = option(bool, doc="the caller must already hold a reference")
    out: int | None = option(int, doc="the result is stored through this argument (*argN "
                                      "holds it after the call), not returned")


@register
@dataclass(frozen=True, slots=True)
class Release(Section):
    """calls that drop a reference"""

    NAME: ClassVar[str] = "release"
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True)
    partial: bool | None = option(bool, doc="drops some of several references (a count)")


@register
@dataclass(frozen=True, slots=True)
class Lock(Section):
    """calls that take a lock (spin) or enter an RCU read-side section"""

    NAME: ClassVar[str] = "lock"
    HANDS_OVER: ClassVar[bool] = False
    kind: str = option(str, required=True, choices=LOCK_KINDS, default="spin")
    when: str = when_key()
    arg: int | None = option(int, doc="argument locked, for an object lock (folio_lock)")


@register
@dataclass(frozen=True, slots=True)
class Unlock(Section):
    """calls that release them"""

    NAME: ClassVar[str] = "unlock"
    HANDS_OVER: ClassVar[bool] = False
    kind: str = option(str, required=True, choices=LOCK_KINDS, default="spin")
    arg: int | None = option(int)


@register
@dataclass(frozen=True, slots=True)
class Revalidate(Section):
    """calls (or summarized helpers) that re-check a lockless source"""

    NAME: ClassVar[str] = "revalidate"
    HANDS_OVER: ClassVar[bool] = False
    EVENT: ClassVar[str | None] = None      # the engine tells on_recheck (a Recheck)
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument whose source it re-checks")
    when: str = when_key("return value meaning 'still valid'")


@register
@dataclass(frozen=True, slots=True)
class RefcountRead(Section):
    """reads of an exact reference count"""

    NAME: ClassVar[str] = "refcount_read"
    HANDS_OVER: ClassVar[bool] = False
    EVENT: ClassVar[str | None] = None      # queried: Context.count_read()
    ESCAPES: ClassVar[bool] = False
    arg: int | None = option(int, required=True, doc="argument whose count it returns")


@register
@dataclass(frozen=True, slots=True)
class Flag(Section):
    """flag constants whose tests (``flags & FOLL_PIN``) are events (``on_flag``)"""

    NAME: ClassVar[str] = "flag"
    EVENT: ClassVar[str | None] = None
    OBJ: ClassVar[str | None] = None
    value: bool | None = option(bool, doc="a value, not a bit (an enumerator): tested with "
                                "``==`` (``pgmap->type == MEMORY_DEVICE_PRIVATE``)")

