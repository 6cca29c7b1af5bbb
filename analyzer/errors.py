"""The one error type the command line turns into ``exit 2`` and a one-line message.

Every layer raises a subclass for input the user must fix (a bad configuration file, an
unknown revision, a patch that does not apply, a path that does not exist, ...); the
command line catches :class:`ToolError` once and prints ``kref-lint: error: MESSAGE``.
Anything else that escapes is a bug in kref-lint: it is still one line and exit 2 (see
:mod:`analyzer.cli`), never a traceback.
"""
from __future__ import annotations


class ToolError(Exception):
    """Input or usage the user must fix; ``str(exc)`` is the whole message (one line)."""


class ModelError(Exception):
    """A rule file that cannot be used; the message names file, line and key."""
