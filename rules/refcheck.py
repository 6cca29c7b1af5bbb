"""The model sections of ``rules/refcheck.toml`` (racy-refcount-check and
spurious-refcount-warn, ``checkers/refcheck.py``): assertions, count writes, freezes and
unfreezes, exclusive actions and exclusions, judged returns and collections."""
from __future__ import annotations

from dataclasses import dataclass

from analyzer.models.schema import ArgSection, arg_section, option, register

Warn = arg_section("warn", "WARN_ON()-style assertions", arg_doc="the asserted condition",
                   hands_over=False)
SetRefcount = arg_section("set_refcount", "calls that overwrite a reference count", "exclusive")
Unfreeze = arg_section("unfreeze", "refcount unfreezes")    # after: the write sees the freeze
ExclusiveAction = arg_section("exclusive_action", "actions that assume no other reference "
                              "can exist", "exclusive", arg_doc="argument assumed to have "
                              "no other reference")
Freeze = arg_section("freeze", "refcount freezes (ref_freeze: succeeds only at the expected "
                     "count)", conditional=True)
Exclusion = arg_section("exclusion", "calls that exclude speculative references",
                        arg_doc="argument it excludes speculative references on", required=False)
JudgedReturn = arg_section("judged_return", "functions returning an object judged exclusive by an "
                           "unfrozen exact count (hugetlb allocation)", required=False)


@register
@dataclass(frozen=True, slots=True)
class Collect(ArgSection):
    """calls that put an object into a batch or list (that a batch free then frees)"""
    NAME = "collect"
    carrier: int | None = option(int, required=True, doc="argument receiving the object")
