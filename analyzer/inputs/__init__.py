"""Untrusted input, parsed before anything touches a tree: patch mail and mbox series
(:mod:`analyzer.inputs.mbox`) and unified diffs (:mod:`analyzer.inputs.diff`)."""
from __future__ import annotations

from analyzer.errors import ToolError


class PatchError(ToolError):
    """Input that cannot be checked (exit 2): the message names the patch and why."""
