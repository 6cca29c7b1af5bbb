"""The forward dataflow engine that drives every checker (a package):

* :mod:`~analyzer.engine.api` -- the checker API: hooks, typed events, :class:`Context`;
* :mod:`~analyzer.engine.keys` -- access paths and typed keys (ghost state, tags, aliases);
* :mod:`~analyzer.engine.effects` -- outcomes, the normal form of conditions, how
  conditional effects are decided on branch edges;
* :mod:`~analyzer.engine.fixpoint` -- the CFG walk to a fixpoint and the final
  reporting pass;
* :mod:`~analyzer.engine.values` / :mod:`~analyzer.engine.ownership` -- value
  correlation and the hand-over policy of references (who owns one after a call, a
  store, an assignment or a return).

A checker is a small state machine (see ``checkers/``): it subscribes to the events of
the model sections it cares about and reads and writes *typestates* of tracked objects
through the :class:`Context`.
"""
from __future__ import annotations

from analyzer.engine import fixpoint
from analyzer.engine.api import (
    Checker,
    Compared,
    Context,
    Escape,
    Event,
    Facts,
    FlagTest,
    Handover,
    Held,
    Link,
    Move,
    Origin,
    Recheck,
    Source,
    Trail,
)
from analyzer.engine.effects import (
    NEG,
    NONNEG,
    NONPOS,
    NONZERO,
    POS,
    ZERO,
    ZERO_LITERALS,
    Effect,
    Test,
    effect_holds,
)
from analyzer.engine.fixpoint import (
    FunctionResult,
    analyze_function,
    analyze_function_full,
    called_names,
    walk_exprs,
)
from analyzer.engine.keys import Alias, Attached, Ghost, Key, Tag, access_key, strip

__all__ = ["NEG", "NONNEG", "NONPOS", "NONZERO", "POS", "ZERO", "ZERO_LITERALS", "Alias",
           "Attached", "Checker", "Compared", "Context", "Effect", "Escape", "Event", "Facts",
           "FlagTest", "FunctionResult", "Ghost", "Handover", "Held", "Key", "Link", "Move",
           "Origin", "Recheck", "Source", "Tag", "Test", "Trail",
           "access_key", "analyze_function", "analyze_function_full", "called_names",
           "effect_holds", "fixpoint", "strip", "walk_exprs"]
