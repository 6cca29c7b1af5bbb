"""``--shard K/N``: which of a run's files this machine analyzes.

The split is deterministic and balanced by file size: every discovered file is given,
largest first (ties by path), to the shard with the fewest bytes so far (ties: the lowest
number) -- the same on every machine that sees the same tree, whatever the order or the
machine.  Each file is in exactly one shard, and a file's analysis does not depend on the
other files of its run (tree-sitter; for libclang see the README), so the shards' logs,
merged by ``kref-lint merge`` (:mod:`analyzer.results.merge`), are the log one run writes.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from analyzer.errors import ToolError


class ShardError(ToolError):
    """A ``--shard`` that is not K/N with 1 <= K <= N (exit 2)."""


@dataclass(frozen=True)
class Shard:
    index: int                      # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise ShardError(f"--shard {text}: expected K/N (this machine's shard K of N, "
                         "1 <= K <= N)")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= index <= count:
        raise ShardError(f"--shard {text}: K must be between 1 and N")
    return Shard(index, count)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def assign(files: Iterable[str], count: int, root: str = "") -> dict[str, int]:
    """file -> its shard (1..count): largest first to the least loaded shard.  Paths
    are compared relative to ``root``, so machines with the tree in different places
    split it the same way."""
    files = list(files)
    rel = {f: os.path.relpath(f, root) if root else f for f in files}
    size = {f: _size(f) for f in files}
    load = [0] * count
    out: dict[str, int] = {}
    for f in sorted(files, key=lambda f: (-size[f], rel[f])):
        k = min(range(count), key=lambda i: (load[i], i))
        load[k] += size[f] + 1              # +1: empty files are spread too
        out[f] = k + 1
    return out


def select(files: Iterable[str], shard: Shard, root: str = "") -> set[str]:
    """The files of ``shard``."""
    return {f for f, k in assign(files, shard.count, root).items() if k == shard.index}
