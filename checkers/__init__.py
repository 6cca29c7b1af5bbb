"""The checkers, one module per bug class.  ``ALL`` is the explicit, ordered registry:
adding a checker means adding it here, nowhere else."""
from __future__ import annotations

from checkers.accessible import AccessibleChecker
from checkers.hotplug import HotplugChecker
from checkers.leak import LeakChecker
from checkers.refcheck import RefcheckChecker
from checkers.speculative import SpeculativeChecker
from checkers.tryget import TryGetChecker

ALL = (TryGetChecker, HotplugChecker, AccessibleChecker, SpeculativeChecker,
       RefcheckChecker, LeakChecker)


def all_rules():
    """Every rule of every checker, in registry order."""
    return tuple(rule for cls in ALL for rule in cls.rules)
