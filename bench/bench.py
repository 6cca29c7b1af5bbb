#!/usr/bin/env python3
"""kref-lint benchmark on the real kernel corpus (not a test: run it and read the table).

Side by side, in one run, on the TUs of mm/ and virt/kvm/ in the corpus that
scripts/kernel-corpus sets up (compile_commands.json):

  (a) clang -fsyntax-only over the same TUs, same flags, same parallelism: the floor
  (b) kref-lint --frontend clang, cold cache
  (c) the same, warm cache
  (d) after touching one .c file (mm/gup.c)
  (e) after touching include/linux/mm.h
  (f) kref-lint --frontend treesitter over mm/ + virt/kvm/, cold and warm

For each: wall time, CPU time (user+sys of the whole process tree), peak memory (the
largest sum of RSS over the process tree, sampled every 20 ms) and the ratio of wall time
to the floor.  "Touching" appends a comment (content changes, as with an edit) and the
file is restored afterwards.

Usage: bench/bench.py [--tree DIR] [-j N] [--markdown FILE] [--no-floor] [--no-touch]
Needs a clang binary for (a) (`apt-get install clang`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzer.pipeline.flags import clean_command  # noqa: E402


def _tree_rss(root_pid: int) -> int:
    """Sum of RSS (bytes) of root_pid and all its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root_pid]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def measure(cmd: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Run cmd; wall, CPU of the process tree, peak tree RSS."""
    before = os.times()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    done.set()
    t.join()
    wall = time.monotonic() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    return {"wall": wall, "cpu": cpu, "peak": peak, "rc": proc.returncode,
            "stdout": out, "stderr": err}


def floor(tree: Path, jobs: int) -> dict:
    """clang -fsyntax-only over every TU of the compile database, `jobs` at a time."""
    clang = shutil.which("clang") or next(
        (shutil.which(f"clang-{v}") for v in range(20, 13, -1) if shutil.which(f"clang-{v}")),
        None)
    if clang is None:
        raise SystemExit("bench: no clang binary for the floor; apt-get install clang")
    entries = json.loads((tree / "compile_commands.json").read_text())
    cmds = []
    for e in entries:
        argv = e.get("arguments") or e["command"].split()
        args = clean_command(argv, e["directory"], e["file"])
        cmds.append([clang, "-fsyntax-only", "-w", *args, e["file"]])
    rejected = _rejected_by(cmds[0], tree)
    cmds = [[a for a in c if a not in rejected] for c in cmds]
    before = os.times()
    start = time.monotonic()
    failures = 0
    peak = 0
    done = threading.Event()
    me = os.getpid()
    own = _tree_rss(me)

    def sample():                      # our children only: the tree minus this process
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(me) - own)
            time.sleep(0.02)

    def one(cmd):
        nonlocal failures
        r = subprocess.run(cmd, cwd=tree, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        failures += r.returncode != 0

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, cmds))
    done.set()
    t.join()
    wall = time.monotonic() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    return {"wall": wall, "cpu": cpu, "peak": max(peak, 0), "rc": failures,
            "tus": len(cmds), "clang": clang, "rejected": sorted(rejected)}


def _rejected_by(cmd: list[str], tree: Path) -> set[str]:
    """Arguments this clang binary refuses (it may be older than the libclang wheel):
    code-generation options that do not change what -fsyntax-only parses."""
    import re

    rejected: set[str] = set()
    for _ in range(8):
        r = subprocess.run([a for a in cmd if a not in rejected], cwd=tree,
                           capture_output=True, text=True)
        new = set(re.findall(r"unknown argument: '([^']+)'", r.stderr))
        new |= set(re.findall(r"'(-f[^']+)' hasn't been enabled", r.stderr))
        if not new:
            break
        rejected |= new
    return rejected


def appended(path: Path):
    """Context manager: path gets a trailing comment, restored afterwards."""
    class _Touch:
        def __enter__(self):
            self.orig = path.read_bytes()
            path.write_bytes(self.orig + b"\n/* kref-lint bench */\n")

        def __exit__(self, *exc):
            path.write_bytes(self.orig)
    return _Touch()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip (a) (no clang binary); the ratio column is then empty")
    ap.add_argument("--no-touch", action="store_true",
                    help="skip (d) and (e), which append to files of the tree")
    args = ap.parse_args()
    tree = args.tree
    if tree is None:
        r = subprocess.run([str(REPO / "scripts" / "kernel-corpus")], capture_output=True,
                           text=True, check=True)
        tree = Path(r.stdout.strip().splitlines()[-1])
    kref = [sys.executable, "-m", "analyzer.cli", "-j", str(args.jobs)]
    env = {"PYTHONPATH": str(REPO)}
    rows = []
    fl = None
    if not args.no_floor:
        fl = floor(tree, args.jobs)
        rows.append(("(a) clang -fsyntax-only (floor)", fl,
                     f"{fl['tus']} TUs, {fl['rc']} failed, {Path(fl['clang']).name}; "
                     f"dropped for this clang: {' '.join(fl['rejected']) or 'nothing'}"))
    with tempfile.TemporaryDirectory() as cache:
        cenv = {**env, "KREF_LINT_CACHE_DIR": cache}
        clang_cmd = kref + ["--frontend", "clang", "mm/", "virt/kvm/"]
        for label in ("(b) clang mode, cold cache", "(c) clang mode, warm cache"):
            rows.append((label, measure(clang_cmd, tree, cenv), ""))
        if not args.no_touch:
            with appended(tree / "mm" / "gup.c"):
                rows.append(("(d) one .c touched (mm/gup.c)", measure(clang_cmd, tree, cenv),
                             ""))
            with appended(tree / "include" / "linux" / "mm.h"):
                rows.append(("(e) include/linux/mm.h touched", measure(clang_cmd, tree, cenv),
                             ""))
    with tempfile.TemporaryDirectory() as cache:
        tenv = {**env, "KREF_LINT_CACHE_DIR": cache}
        ts_cmd = kref + ["--frontend", "treesitter", "mm/", "virt/kvm/"]
        rows.append(("(f) tree-sitter mode, cold", measure(ts_cmd, tree, tenv), ""))
        rows.append(("(f) tree-sitter mode, warm", measure(ts_cmd, tree, tenv), ""))
    table = ["| scenario | wall s | CPU s | peak MiB | wall / floor | notes |",
             "|---|---:|---:|---:|---:|---|"]
    for label, m, note in rows:
        summary = note or (m["stderr"].strip().splitlines() or [""])[-1]
        ratio = f"{m['wall'] / fl['wall']:.2f}" if fl else "-"
        table.append(f"| {label} | {m['wall']:.1f} | {m['cpu']:.1f} | "
                     f"{m['peak'] / 2**20:.0f} | {ratio} | {summary} |")
    text = "\n".join(table) + f"\n\n{args.jobs} jobs, {os.cpu_count()} cores, tree {tree}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
