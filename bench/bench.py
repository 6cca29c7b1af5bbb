#!/usr/bin/env python3
"""kref-lint benchmark on the real kernel corpus (not a test: run it and read the table).

Side by side, in one run, on the TUs of mm/ and virt/kvm/ in the corpus that
scripts/kernel-corpus sets up (the ones its compile_commands.json lists: what the
configuration builds):

  (a) clang -fsyntax-only over those TUs, same flags, same parallelism: the floor
  (b) kref-lint --frontend clang over the same TUs, cold cache
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

The whole-tree scenario (issue 16), instead of the above:

  bench/bench.py --whole-tree [--tree DIR] [-j 2] [--before SRC] [--markdown FILE]

runs kref-lint --frontend treesitter over every .c/.h file of the tree (DIR; default the
newest corpus, 7.2 when it is there), cold (an empty cache) then warm, and reports wall,
CPU, peak RSS -- both the largest single process (``getrusage(RUSAGE_CHILDREN)
.ru_maxrss`` of a fresh wrapper) and the sampled sum over the process tree -- files,
functions, degraded statements, parse coverage (parsed files without a parse-error
diagnostic), diagnostics (grouped as printed, and in total), findings and the exit code,
against the targets (3 min cold, 20 s warm, 512 MiB).  ``--before SRC``: the same
scenario with another kref-lint checkout (its source directory) first, side by side.

The tree-wide summaries scenario (issue 11):

  bench/bench.py --summaries [--tree DIR] [-j 2] [--markdown FILE]

on a hard-link copy of the tree (DIR; default the 6.12 corpus; the corpus itself is never
written): pass 1 alone (``kref-lint summarize``) over mm/ virt/kvm/ arch/x86/kvm/ and what
they include and call, cold (an empty cache), warm, and after an edit of mm/gup.c; then
the whole tree-sitter check of the same paths warm and after the same edit (the one-file
incremental re-run).  Wall and CPU seconds (a loaded machine: read CPU), against the
targets (15 s cold, 1 s warm, 3 s incremental).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
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


#: What the clang and tree-sitter scenarios analyze (the floor: its TUs).
PATHS = ("mm/", "virt/kvm/")


def built(tree: Path) -> list[dict]:
    """The compile database's entries of the TUs under ``PATHS`` (what the configuration
    builds: clang mode is given exactly these, a file it does not build has no flags)."""
    entries = json.loads((tree / "compile_commands.json").read_text())
    return [e for e in entries if os.path.relpath(
        os.path.join(e["directory"], e["file"]), tree).startswith(PATHS)]


def floor(tree: Path, jobs: int) -> dict:
    """clang -fsyntax-only over the TUs of :func:`built`, `jobs` at a time, each with its
    own arguments."""
    clang = shutil.which("clang") or next(
        (shutil.which(f"clang-{v}") for v in range(20, 13, -1) if shutil.which(f"clang-{v}")),
        None)
    if clang is None:
        raise SystemExit("bench: no clang binary for the floor; apt-get install clang")
    cmds = []
    for e in built(tree):
        argv = e.get("arguments") or shlex.split(e["command"])   # -DKBUILD_MODNAME='"kvm"'
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


#: A fresh process per measurement, so RUSAGE_CHILDREN's ru_maxrss is this run's: the
#: peak RSS of the largest process of its tree (kref-lint or one of its workers).
_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{u.ru_maxrss} {u.ru_utime + u.ru_stime}')\n"
    "sys.exit(rc)\n")

WHOLE_TARGETS = {"cold": 180.0, "warm": 20.0, "rss": 512 * 2**20}


def measure_rusage(cmd: list[str], cwd: Path, env: dict) -> dict:
    """measure(), plus the largest process's peak RSS (bytes) from RUSAGE_CHILDREN."""
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as out:
        m = measure([sys.executable, "-c", _RUSAGE_WRAPPER, out.name, *cmd], cwd, env)
        got = out.read().split()                     # empty: the wrapper was killed
    m["maxrss"] = int(got[0]) * 1024 if got else 0   # Linux: KiB
    return m


def whole_tree(tree: Path, jobs: int, src: Path) -> list[tuple[str, dict]]:
    """Cold then warm tree-sitter runs of kref-lint (from ``src``) over all of ``tree``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="kref-lint-bench-") as tmp:
        env = {"PYTHONPATH": str(src), "KREF_LINT_CACHE_DIR": os.path.join(tmp, "cache")}
        report = os.path.join(tmp, "run.json")
        cmd = [sys.executable, "-m", "analyzer.cli", "--frontend", "treesitter", "-j",
               str(jobs), "--format", "json", "-o", report, "--no-config", "."]
        for label in ("cold", "warm"):
            m = measure_rusage(cmd, tree, env)
            try:
                with open(report, encoding="utf-8") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError):
                doc = {}
            m["label"] = label
            m["doc"] = doc
            rows.append((label, m))
    return rows


def _whole_row(who: str, label: str, m: dict) -> str:
    doc = m.get("doc") or {}
    st = doc.get("statistics", {})
    diags = doc.get("diagnostics", [])
    parse_files = {d["path"] for d in diags if d.get("kind") == "parse-error"}
    files = st.get("files", 0)
    parsed = files - st.get("not_parsed", 0)          # the pre-filter's are not read
    coverage = (f"{100 * (parsed - len(parse_files)) / parsed:.2f}% of {parsed}"
                if parsed else "-")
    target = WHOLE_TARGETS[label]
    ok = "yes" if m["wall"] <= target and m["maxrss"] <= WHOLE_TARGETS["rss"] else "no"
    return (f"| {who} | {label} | {m['wall']:.1f} | {m['cpu']:.1f} | "
            f"{m['maxrss'] / 2**20:.0f} | {m['peak'] / 2**20:.0f} | {files} | "
            f"{st.get('functions', 0)} | {st.get('degraded_statements', 0)} | {coverage} | "
            f"{len(diags)} | {sum(st.get('by_diagnostic', {}).values())} | "
            f"{st.get('findings', 0)} | {m['rc']} | {ok} |")


def whole_main(args) -> int:
    tree = args.tree
    if tree is None:
        base = Path.home() / ".cache" / "kref-lint" / "corpus"
        tree = next((base / f"linux-source-{v}" for v in ("7.2", "6.12")
                     if (base / f"linux-source-{v}" / "Makefile").exists()), None)
        if tree is None:
            raise SystemExit("bench: no corpus tree; give --tree or run scripts/kernel-corpus")
    sources = ([("before", args.before)] if args.before else []) + [("this", REPO)]
    table = ["| kref-lint | cache | wall s | CPU s | peak RSS MiB (largest process) | "
             "peak RSS MiB (tree sum) | files | functions | degraded stmts | "
             "parsed files w/o parse error | diagnostics shown | diagnostics total | findings | "
             "exit | within target |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for who, src in sources:
        for label, m in whole_tree(tree, args.jobs, src):
            table.append(_whole_row(who, label, m))
            print(table[-1], flush=True)
    text = "\n".join(table) + (
        f"\n\nwhole tree {tree}, tree-sitter, -j {args.jobs}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end; targets: cold <= "
        f"{WHOLE_TARGETS['cold']:.0f} s, warm <= {WHOLE_TARGETS['warm']:.0f} s, "
        f"peak RSS <= {WHOLE_TARGETS['rss'] // 2**20} MiB\n")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


SUMMARY_TARGETS = {"summarize cold": 15.0, "summarize warm": 1.0,
                   "check incremental (mm/gup.c edited)": 3.0}
SUMMARY_PATHS = ("mm/", "virt/kvm/", "arch/x86/kvm/")


def _link_tree(tree: Path, dest: Path) -> None:
    """A hard-link copy of what pass 1 reads (writes go to fresh files, never through
    a link: see _edit)."""
    for d in ("mm", "virt", "include", "kernel", "lib", "block", "fs", "arch"):
        if (tree / d).is_dir():
            subprocess.run(["cp", "-al", str(tree / d), str(dest / d)], check=True)
    for f in ("Makefile", "Kbuild", ".config"):
        if (tree / f).is_file():
            shutil.copy2(tree / f, dest / f)


def _edit(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()                                    # break the hard link first
    path.write_bytes(data + b"\n/* kref-lint bench */\n")


def summaries_main(args) -> int:
    tree = args.tree or (Path.home() / ".cache" / "kref-lint" / "corpus" /
                         "linux-source-6.12")
    rows = ["| step | wall s | CPU s | target s | exit |", "|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="kref-lint-bench-") as tmp:
        work = Path(tmp) / "linux"
        work.mkdir()
        _link_tree(tree, work)
        env = {"PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": os.path.join(tmp, "cache")}
        art = os.path.join(tmp, "summaries.json")
        summ = [sys.executable, "-m", "analyzer.cli", "summarize", "-j", str(args.jobs),
                "--no-config", "-o", art, *SUMMARY_PATHS]
        check = [sys.executable, "-m", "analyzer.cli", "--frontend", "treesitter", "-j",
                 str(args.jobs), "--no-config", "--format", "json", "-o",
                 os.path.join(tmp, "run.json"), *SUMMARY_PATHS]
        steps = [("summarize cold", summ, None), ("summarize warm", summ, None),
                 ("summarize after editing mm/gup.c", summ, "mm/gup.c"),
                 ("check cold (pass 1 warm)", check, None), ("check warm", check, None),
                 ("check incremental (mm/gup.c edited)", check, "mm/gup.c")]
        for label, cmd, edit in steps:
            if edit:
                _edit(work / edit)
            m = measure(cmd, work, env)
            target = SUMMARY_TARGETS.get(label)
            rows.append(f"| {label} | {m['wall']:.2f} | {m['cpu']:.2f} | "
                        f"{target if target is not None else '-'} | {m['rc']} |")
            print(rows[-1], flush=True)
            if m["rc"] not in (0, 1):
                print(m["stderr"][-2000:], file=sys.stderr)
    text = "\n".join(rows) + (
        f"\n\n{tree} ({', '.join(SUMMARY_PATHS)}), tree-sitter, -j {args.jobs}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end\n")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip (a) (no clang binary); the ratio column is then empty")
    ap.add_argument("--no-touch", action="store_true",
                    help="skip (d) and (e), which append to files of the tree")
    ap.add_argument("--whole-tree", action="store_true",
                    help="the whole-tree tree-sitter scenario (see the module doc)")
    ap.add_argument("--before", type=Path, metavar="SRC",
                    help="--whole-tree: also run the kref-lint checkout at SRC, first")
    ap.add_argument("--summaries", action="store_true",
                    help="the tree-wide summaries scenario (see the module doc)")
    args = ap.parse_args()
    if args.whole_tree:
        return whole_main(args)
    if args.summaries:
        return summaries_main(args)
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
        cenv = {**env, "KREF_LINT_CACHE_DIR": os.path.join(cache, "results")}  # its pass1/ inside
        clang_cmd = kref + ["--frontend", "clang", *sorted(
            os.path.relpath(os.path.join(e["directory"], e["file"]), tree) for e in built(tree))]
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
        tenv = {**env, "KREF_LINT_CACHE_DIR": os.path.join(cache, "results")}
        ts_cmd = kref + ["--frontend", "treesitter", *PATHS]
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
