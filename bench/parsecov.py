#!/usr/bin/env python3
"""Parse coverage of the tree-sitter frontend over a tree, with the damage listed.

Not a test: it parses every ``.c``/``.h`` file under the given paths (no pre-filter, no
checkers: the frontend alone) and writes one JSON line per file with damage -- its parse
errors (line, message, the source line) and its degraded statements (function, line,
the first line of the statement) -- then prints the coverage:

* files without a parse-error notification / files parsed;
* functions without a degraded statement / functions.

    bench/parsecov.py --tree ~/.cache/kref-lint/corpus/linux-source-7.2 . -o damage.jsonl
    bench/parsecov.py --tree ... mm/ fs/ -o damage.jsonl --top 40   # the commonest lines

The revision that runs is the one this script sits in (as bench/irdump.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import checkers  # noqa: E402,F401  (registers the checkers' model sections)
from analyzer.ir import OpaqueStmt, walk  # noqa: E402
from analyzer.models import load_models  # noqa: E402

_STATE: dict = {}
_MAX_BYTES = 16 * 1024 * 1024


def _init(tree: str) -> None:
    _STATE.update(tree=tree, iterators=load_models().iterators())


def _line(lines: list[bytes], n: int) -> str:
    return lines[n - 1].decode("utf-8", "replace").strip()[:160] if 0 < n <= len(lines) else ""


def _one(rel: str) -> dict:
    from analyzer.frontend import treesitter
    path = os.path.join(_STATE["tree"], rel)
    with open(path, "rb") as fh:
        data = fh.read(_MAX_BYTES + 1)
    out: dict = {"file": rel, "functions": 0, "degraded_functions": 0}
    if len(data) > _MAX_BYTES or b"\0" in data[:8192] or not data.strip():
        out["skipped"] = True
        return out
    sf = treesitter.parse_source(path, data, _STATE["iterators"])
    lines = data.split(b"\n")
    out["functions"] = len(sf.functions)
    errors = []
    for e in sf.errors:
        head, _, msg = e.partition(": ")
        n = int(head.split()[1]) if head.startswith("line ") else 0
        errors.append([n, msg, _line(lines, n)])
    degraded = []
    for fn in sf.functions:
        if not fn.degraded:
            continue
        out["degraded_functions"] += 1
        stmts = [x for x in walk(fn.body) if isinstance(x, OpaqueStmt) and x.degraded]
        for s in stmts:
            degraded.append([fn.name, s.span.line, s.text.split("\n")[0].strip()[:160]])
        if not stmts:
            degraded.append([fn.name, fn.span.line, "<opaque expression>"])
    if errors:
        out["errors"] = errors
    if degraded:
        out["degraded"] = degraded
    return out


def _files(tree: str, paths: list[str]) -> list[str]:
    rels = []
    for p in paths:
        full = os.path.normpath(os.path.join(tree, p))
        if os.path.isfile(full):
            rels.append(os.path.relpath(full, tree))
            continue
        for d, dirs, files in os.walk(full):
            dirs.sort()
            for f in sorted(files):
                fp = os.path.join(d, f)
                if f.endswith((".c", ".h")) and os.path.isfile(fp) and not os.path.islink(fp):
                    rels.append(os.path.relpath(fp, tree))
    return rels


_WORD = re.compile(r"[A-Za-z_]\w*")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", help="directories or files, relative to --tree "
                    "(default: the whole tree)")
    ap.add_argument("--again", metavar="JSONL",
                    help="parse the damaged files of an earlier -o output again")
    ap.add_argument("--tree", required=True)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-o", "--output", help="JSON lines, one per damaged file")
    ap.add_argument("--top", type=int, default=25, help="show the N commonest first words")
    a = ap.parse_args()
    tree = os.path.abspath(os.path.expanduser(a.tree))
    rels = _files(tree, a.paths or ([] if a.again else ["."]))
    if a.again:
        with open(a.again, encoding="utf-8") as fh:
            rels += [json.loads(line)["file"] for line in fh]
    files = functions = bad_files = degraded_functions = 0
    kinds: Counter = Counter()
    words_e: Counter = Counter()
    words_d: Counter = Counter()
    with open(a.output or os.devnull, "w", encoding="utf-8") as sink, \
            ProcessPoolExecutor(a.jobs, initializer=_init, initargs=(tree,)) as ex:
        for r in ex.map(_one, rels, chunksize=64):
            if r.get("skipped"):
                continue
            files += 1
            functions += r["functions"]
            degraded_functions += r["degraded_functions"]
            if r.get("errors"):
                bad_files += 1
            for _, m, src in r.get("errors", ()):
                kinds[m.split("'")[0]] += 1
                w = _WORD.match(src)
                words_e[w.group() if w else src[:12]] += 1
            for _, _, src in r.get("degraded", ()):
                w = _WORD.match(src)
                words_d[w.group() if w else src[:12]] += 1
            if r.get("errors") or r.get("degraded"):
                sink.write(json.dumps(r) + "\n")
    print(f"files parsed: {files}; with a parse-error notification: {bad_files} "
          f"({100 * (files - bad_files) / max(files, 1):.2f}% without)")
    print(f"functions: {functions}; with a degraded statement: {degraded_functions} "
          f"({100 * (functions - degraded_functions) / max(functions, 1):.2f}% without)")
    print("error kinds:", dict(kinds.most_common()))
    print("first word of error lines:", words_e.most_common(a.top))
    print("first word of degraded statements:", words_d.most_common(a.top))


if __name__ == "__main__":
    main()
