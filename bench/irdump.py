#!/usr/bin/env python3
"""Dump the IR of every function a frontend lowers, to compare two revisions of a frontend.

Not a test: run it on a revision before a frontend change and after, and diff the dumps.
Each function is one line: the file (relative to the tree), the function's name and the
``repr`` of its ``Function`` (spans included, so a moved span shows too); each file also
gets one line with its degraded count and its parse errors.

    bench/irdump.py --tree ~/.cache/kref-lint/corpus/linux-source-6.12 mm/ -o before.ir
    bench/irdump.py --tree ... --frontend clang mm/ -o before-clang.ir   # compile database

The revision that runs is the one this script sits in (its repository is put first on
``sys.path``), so a copy of an old checkout dumps the old frontend.
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import checkers  # noqa: E402,F401  (registers the checkers' own model sections)
from analyzer.models import load_models  # noqa: E402

_STATE: dict = {}


def _init(tree: str, frontend: str) -> None:
    m = load_models()
    _STATE.update(tree=tree, frontend=frontend, iterators=m.iterators(),
                  known=m.identifiers())
    if frontend == "clang":
        from analyzer.pipeline.flags import clean_command, load_compile_commands
        db = load_compile_commands(os.path.join(tree, "compile_commands.json"))
        _STATE["db"] = {f: clean_command(argv, d, f) for f, (argv, d) in db.items()}


def _dump(rel: str) -> str:
    tree = _STATE["tree"]
    path = os.path.join(tree, rel)
    lines = []
    if _STATE["frontend"] == "clang":
        from analyzer.frontend import clang
        args = _STATE["db"].get(os.path.realpath(path))
        if args is None:
            return ""
        tu = clang.parse_tu(path, args, _STATE["iterators"], _STATE["known"])
        files = tu.files
    else:
        from analyzer.frontend import treesitter
        with open(path, "rb") as fh:
            files = (treesitter.parse_source(path, fh.read(), _STATE["iterators"]),)
    for sf in files:
        name = os.path.relpath(sf.path, tree)
        lines.append(f"{name}\t<file>\tdegraded={sf.degraded}\terrors={list(sf.errors)!r}")
        for fn in sf.functions:
            lines.append(f"{name}\t{fn.name}\t{fn!r}".replace(tree + "/", ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="directories or files, relative to --tree")
    ap.add_argument("--tree", required=True)
    ap.add_argument("--frontend", choices=("treesitter", "clang"), default="treesitter")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    tree = os.path.abspath(os.path.expanduser(a.tree))
    exts = (".c",) if a.frontend == "clang" else (".c", ".h")
    rels = []
    for p in a.paths:
        full = os.path.join(tree, p)
        if os.path.isfile(full):
            rels.append(os.path.relpath(full, tree))
            continue
        for d, dirs, files in os.walk(full):
            dirs.sort()
            rels += [os.path.relpath(os.path.join(d, f), tree) for f in sorted(files)
                     if f.endswith(exts)]
    with ProcessPoolExecutor(a.jobs, initializer=_init, initargs=(tree, a.frontend)) as ex, \
            open(a.output, "w") as out:
        for text in ex.map(_dump, rels, chunksize=4):
            out.write(text)
    print(f"{len(rels)} files -> {a.output}")


if __name__ == "__main__":
    main()
