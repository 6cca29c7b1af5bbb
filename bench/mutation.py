#!/usr/bin/env python3
"""Mutation benchmark: does each kref-lint rule notice when real kernel code stops doing
what the rule demands?  (Not a test: it prints a table; tests/test_mutation.py runs a
subset against tests/data/mutation-thresholds.toml.)

For every kernel corpus version asked for, an independent site scanner
(bench/mutation_sites.py, tree-sitter queries of our own, no analyzer code) finds the
places where correct code does what a rule demands; each operator removes exactly that
one thing; the mutant is analyzed *in the tree's context* by the installed ``kref-lint``
console script, as a black box (``--format sarif --no-cache``).  A site is caught when
the mutated function gets the rule's finding and the unmutated one has none -- or when a
new finding of the rule in another function of the file has a code flow that *starts* at
the mutated function's summary, i.e. exists only because of the mutation (``JUDGED``: the
mutated function now returns an object it judged exclusive without freezing it, and its
caller's use of that judgement is what racy-refcount-check reports).

A few sites' mutants are correct code (the kernel itself does it that way elsewhere):
tests/data/mutation-not-bugs.toml names them with the kernel reason.  They are not in the
recall denominator; the benchmark runs them all the same (even in a ``--limit`` subset)
and checks the opposite: a finding on such a mutant is a *false alarm*.

Mutants never touch the corpus: each batch runs in a private overlay of the tree (a
temporary directory mirroring it with symlinks, where only the files under analysis are
regular files), at the file's real path, so includes, the tree root and the kernel
version resolve as in the tree.  A batch holds at most one mutant per file; the first
batch is the unmutated files themselves.

Usage:
  bench/mutation.py [--kernel 6.12,...] [--tree DIR] [--operator OP,...] [--limit N]
                    [--frontend treesitter|auto|clang] [-j N] [--markdown FILE]
                    [--json FILE] [--list-sites] [--show-diff]
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# run as a script, bench/ is sys.path[0] and its bench.py would shadow the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench import csyntax as cs  # noqa: E402 (after the sys.path fix above)
from bench import mutation_sites as ms  # noqa: E402 (after the sys.path fix above)
from bench.mutation_sites import OPERATORS, Site  # noqa: E402 (after the sys.path fix above)

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

NOT_BUGS = REPO / "tests" / "data" / "mutation-not-bugs.toml"

# Miss reasons, in the order they are decided.
REASONS = (
    "analyzer-error",            # the mutant's file crashed / timed out the analyzer
    "rule-not-implemented",      # kref-lint has no such rule (yet)
    "mutant-does-not-parse",     # the mutated function has new parse errors/degradation
    "unmutated-already-reported",  # the unmutated function already has the finding
    "finding-elsewhere",         # a new finding of the rule, but in another function
    "expect-fn",                 # a documented known limit of the rule applies
    "no-finding",                # silence
)

# Known limits, from each rule's `kref-lint explain RULE` ("Known limits") and the
# issues that plan to lift them: (operator, feature, why).  A miss whose site has the
# feature is classified expect-fn with that reason (it still counts as a miss).
KNOWN_LIMITS: tuple[tuple[str, str, str], ...] = (
    ("recheck", "origin:param",
     ("object handed over by a parameter with nothing derived to re-check: 'only the "
      "membership of a parameter's page is known' (issue 12 a)")),
    ("recheck", "origin:pfn", ("page of a PFN walk re-checked by another field or "
     "through a helper (issue 12 c)")),
    ("recheck", "origin:xarray-iter", "xarray iteration (issue 12 d)"),
    ("mismatch-put", "origin:param", "object derived from a parameter (issue 12 a)"),
    ("mismatch-put", "origin:pfn", "object found by a PFN walk (issue 12 c)"),
    ("mismatch-put", "origin:xarray-iter", "xarray iteration (issue 12 d)"),
    ("plain-get", "spinlock-taken", ("a get under a spinlock is taken as pinned by it "
     "(hugetlb_lock, the LRU lock): 'a spinlock that pins the membership' (issue 12 a)")),
    ("plain-get", "origin:pfn", ("a PFN walk's page is assumed held unless the function "
     "re-checks it after the get: pfn_to_page() also serves pages that are held (issue 12 "
     "c, g)")),
    ("plain-get", "origin:param", ("a parameter's object is assumed held unless the "
     "function re-checks it after the get (issue 12 a)")),
    ("plain-get", "origin:snapshot-param",
     "page of a page-table entry passed by value, not re-checked after the get (issue 12 b)"),
    ("plain-get", "origin:xarray-iter", "xarray iteration (issue 12 d)"),
    ("plain-get", "xarray-rcu-in-caller", ("'RCU-style lookups count as lockless only inside "
     "an rcu_read_lock() section opened in the same function' unless re-checked after the "
     "get (try-get-without-ref)")),
    ("plain-get", "origin:list", ("object found on a list under a lock: not a modeled "
     "lockless origin")),
    ("accessible", "foll-pin-guard", ("the GUP provider contract (FOLL_PIN pages handed "
     "out) is not modeled (issue 13 a)")),
    ("accessible-order", "foll-pin-guard", ("the GUP provider contract (FOLL_PIN pages "
     "handed out) is not modeled (issue 13 a)")),
    ("sync", "unpublish:caller", ("the unpublish step is in a caller: 'a wait done by the "
     "caller ... is not seen' (issue 13 c)")),
    ("error-put", "held:list", ("references put on a list count as handed over "
     "(page-ref-leak: 'References put on a list ...')")),
    ("error-put", "handover:fnptr", ("handed to a function pointer, the reference is the "
     "callee's (page-ref-leak)")),
    ("error-put", "stored:address", ("an address computed from the page stored in a "
     "longer-lived object owns it (page-ref-leak)")),
)




@dataclass(frozen=True)
class NotBug:
    """A site whose mutant is correct code (see tests/data/mutation-not-bugs.toml)."""
    operator: str
    file: str
    function: str
    kernels: tuple[str, ...]
    reason: str
    evidence: str

    def names(self, site: Site) -> bool:
        return (site.operator, site.file, site.function) == (self.operator, self.file,
                                                              self.function)


def load_not_bugs(path: Path = NOT_BUGS) -> list[NotBug]:
    """The entries of ``path``, checked: known operator, every field given."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SystemExit(f"mutation: {path}: {e}") from None
    out = []
    for i, e in enumerate(data.get("site", []), 1):
        keys = {"operator", "file", "function", "kernels", "reason", "evidence"}
        if set(e) != keys or not all(e[k] for k in keys) or e["operator"] not in OPERATORS:
            raise SystemExit(f"mutation: {path.name}: entry {i} needs exactly "
                             f"{', '.join(sorted(keys))} (a known operator, none empty)")
        out.append(NotBug(e["operator"], e["file"], e["function"], tuple(e["kernels"]),
                          " ".join(e["reason"].split()), e["evidence"]))
    return out


def not_bug_reasons(sites: list[Site], version: str, operators: Iterable[str],
                    entries: list[NotBug]) -> dict[str, str]:
    """Site id -> why its mutant is correct code, for ``version``'s scan of
    ``operators``; an entry naming no site of a kernel it lists is an error."""
    out: dict[str, str] = {}
    ops = set(operators)
    for e in entries:
        if version not in e.kernels or e.operator not in ops:
            continue
        hit = [s for s in sites if e.names(s)]
        if not hit:
            raise SystemExit(f"mutation: {NOT_BUGS.name}: {e.operator} {e.file} "
                             f"{e.function}() names no site on {version} (stale entry)")
        out.update((s.id, e.reason) for s in hit)
    return out


# --------------------------------------------------------------------------------------
# Corpora

def kernel_version(tree: Path) -> str:
    try:
        head = (tree / "Makefile").read_text(errors="replace")[:2000]
    except OSError:
        return "?"
    v = re.search(r"^VERSION\s*=\s*(\d+)", head, re.MULTILINE)
    p = re.search(r"^PATCHLEVEL\s*=\s*(\d+)", head, re.MULTILINE)
    return f"{v.group(1)}.{p.group(1)}" if v and p else "?"


def corpus_tree(version: str, stage: str) -> Path:
    """The tree of ``version`` from scripts/kernel-corpus (--kernel once it exists)."""
    script = REPO / "scripts" / "kernel-corpus"
    attempts = [["--kernel", version, "--stage", stage]]
    if version == "6.12":                         # the script before it knew --kernel
        attempts.append(["--stage", stage])
    last = ""
    for extra in attempts:
        r = subprocess.run([str(script), *extra], capture_output=True, text=True, check=False,
                           stdin=subprocess.DEVNULL, timeout=7200)
        if r.returncode == 0 and r.stdout.strip():
            tree = Path(r.stdout.strip().splitlines()[-1])
            if kernel_version(tree) == version:
                return tree
            last = f"kernel-corpus gave {tree} (version {kernel_version(tree)})"
        else:
            last = (r.stderr.strip().splitlines() or ["failed"])[-1]
    raise SystemExit(f"mutation: no corpus for kernel {version}: {last}")


def scope_files(tree: Path, paths: Iterable[str]) -> list[str]:
    out: set[str] = set()
    for p in paths:
        full = tree / p
        if full.is_file():
            out.add(p)
        elif full.is_dir():
            for f in full.rglob("*"):
                if f.suffix in (".c", ".h") and f.is_file() and not f.is_symlink():
                    out.add(str(f.relative_to(tree)))
    return sorted(out)


# --------------------------------------------------------------------------------------
# Scanning

def scan(tree: Path, operators: Iterable[str]) -> list[Site]:
    ops = [o for o in OPERATORS if o in set(operators)]
    by_file: dict[str, list[str]] = defaultdict(list)
    for op in ops:
        for rel in scope_files(tree, ms.SCOPE[op]):
            by_file[rel].append(op)
    defined: set[str] = set()
    loaded: dict[str, cs.CFile] = {}
    for rel, file_ops in sorted(by_file.items()):
        data = (tree / rel).read_bytes()
        needs = set().union(*(ms.NEEDS[o] for o in file_ops))
        if not any(n.encode() in data for n in needs):
            continue
        loaded[rel] = cs.load(rel, data)
        defined |= {f.name for f in loaded[rel].functions}
    sites: list[Site] = []
    for rel, cf in loaded.items():
        ctx = ms.context(cf, frozenset(defined))
        sites += ms.scan_file(ctx, by_file[rel])
    sites.sort(key=lambda s: (OPERATORS.index(s.operator), s.file, s.line, s.variant))
    return sites


def limit_sites(sites: list[Site], limit: int) -> list[Site]:
    """At most ``limit`` sites per operator, spread over files deterministically (the
    sites whose id hashes lowest), so a subset is stable and not one file's."""
    if limit <= 0:
        return sites
    by_op: dict[str, list[Site]] = defaultdict(list)
    for s in sites:
        by_op[s.operator].append(s)
    keep: set[str] = set()
    for op_sites in by_op.values():
        ranked = sorted(op_sites, key=lambda s: hashlib.sha256(s.id.encode()).hexdigest())
        keep |= {s.id for s in ranked[:limit]}
    return [s for s in sites if s.id in keep]


def diff(tree: Path, site: Site) -> str:
    old = (tree / site.file).read_bytes()
    new = ms.mutate(old, site)
    return "".join(difflib.unified_diff(
        old.decode("utf-8", "replace").splitlines(True),
        new.decode("utf-8", "replace").splitlines(True),
        f"a/{site.file}", f"b/{site.file}", n=2))


# --------------------------------------------------------------------------------------
# The overlay: the tree, seen through symlinks, with the analyzed files as our own copies

class Overlay:
    """A private directory that mirrors ``tree``: every entry a symlink into it, except
    the directories on the way to a file we analyze (real directories of symlinks) and
    those files (regular files we write).  Nothing is ever written through a link, and
    removing the overlay never follows one: the corpus is only read."""

    def __init__(self, tree: Path, frontend: str):
        self.tree = tree.resolve()
        self.root = Path(tempfile.mkdtemp(prefix="kref-mutation-"))
        self._materialized: set[Path] = set()
        self._link_children(self.root, self.tree)
        self._materialized.add(self.root)
        if frontend != "treesitter":
            self._compile_db()

    def _link_children(self, at: Path, src: Path) -> None:
        for entry in os.scandir(src):
            if entry.name == "compile_commands.json":
                continue
            os.symlink(os.path.join(src, entry.name), at / entry.name)

    def _dir(self, rel: Path) -> Path:
        here = self.root
        for part in rel.parts:
            here = here / part
            if here in self._materialized:
                continue
            if not here.is_symlink():
                raise RuntimeError(f"overlay: {here} is not a link into the tree")
            here.unlink()
            here.mkdir()
            self._link_children(here, self.tree / here.relative_to(self.root))
            self._materialized.add(here)
        return here

    def put(self, rel: str, data: bytes) -> None:
        path = self._dir(Path(rel).parent) / Path(rel).name
        if path.is_symlink() or path.exists():
            path.unlink()
        with open(path, "xb") as fh:               # a new regular file, never a link
            fh.write(data)

    def restore(self, rel: str) -> None:
        path = self.root / rel
        if path.exists() and not path.is_symlink():
            path.unlink()
            os.symlink(self.tree / rel, path)

    def _compile_db(self) -> None:
        """The tree's compile database, relocated to the overlay (same flags, relative
        include paths now resolve through the overlay's links)."""
        src = self.tree / "compile_commands.json"
        if not src.is_file():
            raise SystemExit(f"mutation: {src} missing (run scripts/kernel-corpus without "
                             "--stage, or use --frontend treesitter)")
        out = []
        for e in json.loads(src.read_text()):
            e = dict(e)
            if os.path.realpath(e.get("directory", "")) == str(self.tree):
                e["directory"] = str(self.root)
            f = e.get("file", "")
            if os.path.isabs(f) and os.path.realpath(f).startswith(str(self.tree) + os.sep):
                e["file"] = str(self.root / os.path.relpath(os.path.realpath(f), self.tree))
            out.append(e)
        (self.root / "compile_commands.json").write_text(json.dumps(out))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)       # does not follow symlinks


# --------------------------------------------------------------------------------------
# Running kref-lint, as a user does

def kref_lint_command() -> list[str]:
    """The installed console script next to this interpreter (else on PATH)."""
    local = Path(sys.executable).parent / "kref-lint"
    if local.is_file():
        return [str(local)]
    found = shutil.which("kref-lint")
    if found:
        return [found]
    raise SystemExit("mutation: no kref-lint console script (pip install -e .)")


@dataclass
class Run:
    """Findings and notifications of one kref-lint invocation, by file."""
    findings: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    notes: dict[str, list[tuple[str, int, str]]] = field(default_factory=lambda:
                                                          defaultdict(list))
    rules: set[str] = field(default_factory=set)
    error: str = ""
    seconds: float = 0.0
    #: per file: (rule, function, message of the code flow's first step) of each finding
    origins: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))


#: The first code-flow step of a finding reported in a caller because the called function
#: returns an object it judged exclusive with an unfrozen count (checkers/refcheck.py).
JUDGED = "{}() returns it unfrozen"


def run_kref_lint(root: Path, files: list[str], frontend: str, jobs: int,
                  timeout: int = 3600) -> Run:
    out = root / ".kref-mutation.sarif"
    cmd = kref_lint_command() + ["--format", "sarif", "--no-cache", "--no-config",
                                 "-j", str(jobs), "--frontend", frontend, "-o", str(out),
                                 *files]
    start = time.monotonic()
    try:
        r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return Run(error=f"kref-lint timed out after {timeout}s", seconds=timeout)
    run = Run(seconds=time.monotonic() - start)
    if r.returncode not in (0, 1) or "Traceback" in r.stderr or not out.is_file():
        run.error = (f"exit {r.returncode}: " +
                     " | ".join(r.stderr.strip().splitlines()[-3:]))[:500]
        return run
    log = json.loads(out.read_text())
    out.unlink()
    sarif = log["runs"][0]
    run.rules = {d["id"] for d in sarif["tool"]["driver"].get("rules", [])}
    for res in sarif.get("results", []):
        loc = res["locations"][0]
        uri = loc["physicalLocation"]["artifactLocation"]["uri"]
        fn = (loc.get("logicalLocations") or [{}])[0].get("name", "")
        run.findings[uri][(res["ruleId"], fn)] += 1
        flow = ((res.get("codeFlows") or [{}])[0].get("threadFlows") or [{}])[0]
        first = (flow.get("locations") or [{}])[0].get("location", {})
        run.origins[uri][(res["ruleId"], fn, first.get("message", {}).get("text", ""))] += 1
    for inv in sarif.get("invocations", []):
        for n in inv.get("toolExecutionNotifications", []):
            kind = n["descriptor"]["id"].split("/", 1)[-1]
            for loc in n.get("locations") or []:
                pl = loc["physicalLocation"]
                run.notes[pl["artifactLocation"]["uri"]].append(
                    (kind, pl.get("region", {}).get("startLine", 0), n["message"]["text"]))
    return run


# --------------------------------------------------------------------------------------
# One version

@dataclass
class Outcome:
    site: Site
    caught: bool = False
    reason: str = ""
    detail: str = ""
    also: list[str] = field(default_factory=list)   # other rules the function gained
    not_bug: str = ""             # the mutant is correct code: why (NOT_BUGS)

    @property
    def false_alarm(self) -> bool:
        """The rule reports a mutant that is correct code."""
        return bool(self.not_bug) and self.caught

    def as_json(self) -> dict:
        s = dataclasses.asdict(self.site)
        for k in ("edits", "fn_start", "fn_end"):
            s.pop(k)
        s["features"] = sorted(self.site.features)
        s.update(id=self.site.id, caught=self.caught, reason=self.reason,
                 detail=self.detail, also=self.also, not_bug=self.not_bug,
                 false_alarm=self.false_alarm)
        return s


def _parse_damage(original: bytes, mutant: bytes, site: Site) -> int:
    """New parse errors in the mutated function (our own tree-sitter check)."""
    before = cs.load(site.file, original)
    after = cs.load(site.file, mutant)
    old = [f for f in before.functions if f.name == site.function]
    new = [f for f in after.functions if f.name == site.function]
    if not old or not new:
        return 1 if old else 0
    return sum(cs.error_nodes(f.node) for f in new) - sum(cs.error_nodes(f.node) for f in old)


def _degraded(notes: list[tuple[str, int, str]]) -> int:
    total = 0
    for kind, _, text in notes:
        if kind == "degraded":
            m = re.match(r"(\d+)", text)
            total += int(m.group(1)) if m else 1
    return total


def batches(sites: list[Site]) -> list[list[Site]]:
    """Mutants grouped so that a batch holds at most one per file."""
    per_file: dict[str, list[Site]] = defaultdict(list)
    for s in sites:
        per_file[s.file].append(s)
    out: list[list[Site]] = []
    depth = max((len(v) for v in per_file.values()), default=0)
    for i in range(depth):
        out.append([v[i] for v in per_file.values() if len(v) > i])
    return out


def evaluate(tree: Path, sites: list[Site], frontend: str, jobs: int,
             progress=None) -> tuple[list[Outcome], dict]:
    progress = progress or (lambda msg: None)
    originals = {s.file: (tree / s.file).read_bytes() for s in sites}
    digest = {f: hashlib.sha256(d).hexdigest() for f, d in originals.items()}
    outcomes = {s.id: Outcome(s) for s in sites}
    mutants: dict[str, bytes] = {}
    for s in sites:
        try:
            mutants[s.id] = ms.mutate(originals[s.file], s)
        except ms.StaleSite:
            outcomes[s.id].reason, outcomes[s.id].detail = "mutant-does-not-parse", "stale"
    stats: dict = {"invocations": 0, "kref_lint_seconds": 0.0}
    overlay = Overlay(tree, frontend)
    try:
        files = sorted(originals)
        for f in files:
            overlay.put(f, originals[f])
        base = run_kref_lint(overlay.root, files, frontend, jobs)
        progress(f"baseline: {len(files)} unmutated files, {base.seconds:.1f}s")
        stats["invocations"] += 1
        stats["kref_lint_seconds"] += base.seconds
        if base.error:
            raise SystemExit(f"mutation: kref-lint failed on the unmutated files: "
                             f"{base.error}")
        todo = []
        for s in sites:
            if s.id not in mutants:
                continue
            if not set(s.rules) & base.rules:    # nothing to measure until it exists
                outcomes[s.id].reason = "rule-not-implemented"
                outcomes[s.id].detail = ", ".join(s.rules)
                continue
            todo.append(s)
        groups = batches(todo)
        for i, group in enumerate(groups, 1):
            for s in group:
                overlay.put(s.file, mutants[s.id])
            run = run_kref_lint(overlay.root, [s.file for s in group], frontend, jobs)
            stats["invocations"] += 1
            stats["kref_lint_seconds"] += run.seconds
            if run.error:                      # isolate the mutant that broke the run
                progress(f"batch {i}: {run.error}; re-running its files one by one")
                for s in group:
                    single = run_kref_lint(overlay.root, [s.file], frontend, jobs)
                    stats["invocations"] += 1
                    _judge(outcomes[s.id], base, single, originals[s.file], mutants[s.id])
            else:
                for s in group:
                    _judge(outcomes[s.id], base, run, originals[s.file], mutants[s.id])
            for s in group:
                overlay.put(s.file, originals[s.file])
            progress(f"batch {i}/{len(groups)}: {len(group)} mutants, {run.seconds:.1f}s")
    finally:
        overlay.close()
    for f in originals:          # the corpus is shared: prove we left it alone
        if hashlib.sha256((tree / f).read_bytes()).hexdigest() != digest[f]:
            raise SystemExit(f"mutation: {tree / f} changed during the run")
    stats["rules"] = sorted(base.rules)
    return [outcomes[s.id] for s in sites], stats


def _known_limit(site: Site) -> str:
    for op, feature, why in KNOWN_LIMITS:
        if op == site.operator and feature in site.features:
            return why
    return ""


def _through_summary(s: Site, base: Run, run: Run) -> str:
    """A caller with a new finding of the site's rules whose code flow starts at the
    mutated function's judged return (see ``JUDGED``), or ""."""
    before = base.origins.get(s.file, Counter())
    for (rule, fn, first), n in sorted(run.origins.get(s.file, Counter()).items()):
        if rule in s.rules and fn != s.function and first == JUDGED.format(s.function) \
                and n > before.get((rule, fn, first), 0):
            return fn
    return ""


def _judge(out: Outcome, base: Run, run: Run, original: bytes, mutant: bytes) -> None:
    s = out.site
    rules = set(s.rules)
    before = base.findings.get(s.file, Counter())
    after = run.findings.get(s.file, Counter())
    gained = [(rule, fn) for (rule, fn), n in after.items() if n > before.get((rule, fn), 0)]
    out.also = sorted({f"{rule}@{fn}" for rule, fn in gained if rule not in rules})
    in_fn = [r for r in rules if after.get((r, s.function), 0)]
    already = [r for r in rules if before.get((r, s.function), 0)]
    crashed = [t for k, _, t in run.notes.get(s.file, []) if k in (
        "worker-crash", "timeout", "memory", "internal-error", "budget")]
    if crashed:
        out.reason, out.detail = "analyzer-error", crashed[0]
    elif run.error:
        out.reason, out.detail = "analyzer-error", run.error
    elif not rules & (run.rules or base.rules):
        out.reason, out.detail = "rule-not-implemented", ", ".join(sorted(rules))
    elif already:
        out.reason = "unmutated-already-reported"
        out.detail = f"{already[0]} already reported in {s.function}() before the mutation"
    elif in_fn:
        out.caught = True
    elif via := _through_summary(s, base, run):
        out.caught, out.detail = True, f"reported in {via}() through {s.function}()'s summary"
    else:
        damage = _parse_damage(original, mutant, s)
        new_errors = [ln for k, ln, _ in run.notes.get(s.file, []) if k == "parse-error"]
        old_errors = [ln for k, ln, _ in base.notes.get(s.file, []) if k == "parse-error"]
        degraded = _degraded(run.notes.get(s.file, [])) - _degraded(base.notes.get(s.file, []))
        elsewhere = [fn for rule, fn in gained if rule in rules]
        why = _known_limit(s)
        if damage > 0 or len(new_errors) > len(old_errors) or degraded > 0:
            out.reason = "mutant-does-not-parse"
            out.detail = (f"{damage} new parse error(s) in the function" if damage > 0 else
                          f"kref-lint: {degraded} more degraded statement(s)" if degraded > 0
                          else "kref-lint: new parse error")
        elif elsewhere:
            out.reason = "finding-elsewhere"
            out.detail = f"in {', '.join(sorted(set(elsewhere)))}()"
        elif why:
            out.reason, out.detail = "expect-fn", why
        else:
            out.reason = "no-finding"


# --------------------------------------------------------------------------------------
# Reports

def summarize(outcomes: list[Outcome]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for op in OPERATORS:
        every = [o for o in outcomes if o.site.operator == op]
        mine = [o for o in every if not o.not_bug]       # the recall's denominator
        if not every:
            continue
        caught = sum(o.caught for o in mine)
        table[op] = {"rule": ms.EXPECTED_RULES[op], "sites": len(mine), "caught": caught,
                     "recall": round(caught / len(mine), 4) if mine else 1.0,
                     "unmutated_reported": sum(o.reason == "unmutated-already-reported"
                                               for o in every),
                     "not_bugs": len(every) - len(mine),
                     "false_alarms": sum(o.false_alarm for o in every)}
    return table


def text_report(results: dict) -> str:
    lines = []
    versions = list(results["versions"])
    ops = [op for op in OPERATORS if any(op in results["versions"][v]["table"]
                                         for v in versions)]
    head = f"{'operator':<17} {'rule':<46}" + "".join(f" {v:>17}" for v in versions)
    lines += [head, "-" * len(head)]
    for op in ops:
        row = f"{op:<17} {ms.EXPECTED_RULES[op]:<46}"
        for v in versions:
            t = results["versions"][v]["table"].get(op)
            row += f" {t['caught']:>3}/{t['sites']:<3} {100 * t['recall']:5.1f}%    " if t \
                else f" {'-':>17}"
        lines.append(row)
    for v in versions:
        data = results["versions"][v]
        misses = [o for o in data["sites"] if not o["caught"] and not o.get("not_bug")]
        lines.append("")
        real = [o for o in data["sites"] if not o.get("not_bug")]
        lines.append(f"kernel {v} ({data['tree']}, {data['frontend']}): {len(misses)} missed "
                     f"of {len(real)}, {data['seconds']:.0f}s "
                     f"({data['stats']['invocations']} kref-lint runs)")
        for reason in REASONS:
            group = [o for o in misses if o["reason"] == reason]
            if not group:
                continue
            lines.append(f"  {reason} ({len(group)}):")
            for o in group:
                extra = f" -- {o['detail']}" if o["detail"] else ""
                lines.append(f"    {_label(o)} {o['file']}:{o['line']} {o['function']}(): "
                             f"{o['what'][:70]}{extra}")
        correct = [o for o in data["sites"] if o.get("not_bug")]
        if correct:
            lines.append(f"  mutant is correct code, not counted ({len(correct)}; the rule "
                         "must stay silent):")
            for o in correct:
                verdict = "FALSE ALARM" if o["false_alarm"] else "silent"
                lines.append(f"    {_label(o)} {o['file']}:{o['line']} {o['function']}(): "
                             f"{o['what'][:70]} -- {verdict}: {o['not_bug']}")
    return "\n".join(lines)


def _label(o: dict) -> str:
    return o["operator"] + (f"[{o['variant']}]" if o["variant"] else "")


def markdown_report(results: dict) -> str:
    versions = list(results["versions"])
    out = ["# kref-lint mutation benchmark", "",
           (f"kref-lint {results['kref_lint']}, frontend {results['frontend']}, "
           f"{results['date']}. A site is caught when the mutated function gets the "
           "rule's finding and the unmutated one has none."), "",
           "| operator | rule | " + " | ".join(versions) + " |",
           "|---|---|" + "---|" * len(versions)]
    for op in OPERATORS:
        cells = []
        for v in versions:
            t = results["versions"][v]["table"].get(op)
            cells.append(f"{t['caught']}/{t['sites']} ({100 * t['recall']:.0f}%)" if t else "-")
        if any(c != "-" for c in cells):
            out.append(f"| {op} | `{ms.EXPECTED_RULES[op]}` | " + " | ".join(cells) + " |")
    for v in versions:
        data = results["versions"][v]
        out += ["", f"## {v}: every site", "",
                (f"Tree `{data['tree']}`; {data['seconds']:.0f}s, "
                f"{data['stats']['invocations']} kref-lint runs."), "",
                "| site | function | code | mutation | result |", "|---|---|---|---|---|"]
        for o in data["sites"]:
            res = "caught" if o["caught"] else f"**{o['reason']}** {o['detail']}"
            if o.get("not_bug"):
                res = (f"**FALSE ALARM** on correct code ({o['not_bug']})" if o["false_alarm"]
                       else f"silent, right: the mutant is correct code ({o['not_bug']})")
            if o["also"]:
                res += f" (also: {', '.join(o['also'])})"
            code = o["what"][:80].replace("|", "\\|")
            out.append(f"| {_label(o)} `{o['file']}:{o['line']}` | `{o['function']}` | `{code}` | "
                       f"{o['mutation'].replace('|', '/')} | {res.replace('|', '/')} |")
    return "\n".join(out) + "\n"


def write_atomic(path: str, text: str) -> None:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, target)


# --------------------------------------------------------------------------------------

def run_version(version: str, tree: Path, operators: list[str], limit: int, frontend: str,
                jobs: int, quiet: bool) -> dict:
    start = time.monotonic()

    def progress(msg: str) -> None:
        if not quiet:
            print(f"mutation {version}: {msg}", file=sys.stderr, flush=True)

    every = scan(tree, operators)
    correct = not_bug_reasons(every, version, operators, load_not_bugs())
    keep = {s.id for s in limit_sites([s for s in every if s.id not in correct], limit)}
    sites = [s for s in every if s.id in keep or s.id in correct]   # all correct ones
    progress(f"{len(sites)} sites in {time.monotonic() - start:.1f}s "
             f"({', '.join(f'{op} {n}' for op, n in Counter(s.operator for s in sites).items())})")
    outcomes, stats = evaluate(tree, sites, frontend, jobs, progress)
    for o in outcomes:
        o.not_bug = correct.get(o.site.id, "")
    return {"tree": str(tree), "frontend": frontend, "table": summarize(outcomes),
            "sites": [o.as_json() for o in outcomes], "stats": stats,
            "seconds": round(time.monotonic() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="6.12",
                    help="comma-separated corpus versions (scripts/kernel-corpus --kernel V)")
    ap.add_argument("--tree", action="append", default=[],
                    help="use this kernel tree instead of the corpus (may repeat; the "
                    "version comes from its Makefile)")
    ap.add_argument("--operator", default=",".join(OPERATORS),
                    help=f"comma-separated operators ({', '.join(OPERATORS)})")
    ap.add_argument("--limit", type=int, default=0,
                    help="at most N sites per operator (a stable spread; 0: all)")
    ap.add_argument("--frontend", "--mode", default="treesitter",
                    choices=("treesitter", "auto", "clang"),
                    help="kref-lint's --frontend (auto/clang use the compile database)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--markdown", metavar="FILE")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--list-sites", action="store_true",
                    help="only scan: print every site (with --show-diff, its mutant)")
    ap.add_argument("--show-diff", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    operators = [o.strip() for o in args.operator.split(",") if o.strip()]
    bad = [o for o in operators if o not in OPERATORS]
    if bad:
        ap.error(f"unknown operator {', '.join(bad)} (known: {', '.join(OPERATORS)})")
    versions = [v.strip() for v in args.kernel.split(",") if v.strip()]
    if args.tree:
        trees = {}
        for given in args.tree:
            tree = Path(given).resolve()
            if not (tree / "mm").is_dir():
                ap.error(f"--tree {tree}: not a kernel tree (no mm/)")
            trees[kernel_version(tree)] = tree
        if args.kernel != ap.get_default("kernel") and sorted(versions) != sorted(trees):
            ap.error(f"--tree gives {', '.join(trees)}, not {args.kernel}")
    else:
        stage = "unpack" if args.frontend == "treesitter" else "compdb"
        trees = {v: corpus_tree(v, stage) for v in versions}
    if args.list_sites:
        for v, tree in trees.items():
            every = scan(tree, operators)
            correct = not_bug_reasons(every, v, operators, load_not_bugs())
            for s in limit_sites(every, args.limit):
                tag = " (mutant is correct code)" if s.id in correct else ""
                print(f"{v} {s.id}: {s.what[:100]} -> {s.mutation} {sorted(s.features)}{tag}")
                if args.show_diff:
                    print(diff(tree, s))
        return 0
    results = {"kref_lint": _kref_lint_version(), "frontend": args.frontend,
               "date": time.strftime("%Y-%m-%d"), "operators": operators,
               "limit": args.limit, "versions": {}}
    for v, tree in trees.items():
        results["versions"][v] = run_version(v, tree, operators, args.limit, args.frontend,
                                             args.jobs, args.quiet)
    print(text_report(results))
    if args.json:
        write_atomic(args.json, json.dumps(results, indent=1) + "\n")
    if args.markdown:
        write_atomic(args.markdown, markdown_report(results))
    return 0


def _kref_lint_version() -> str:
    r = subprocess.run(kref_lint_command() + ["--version"], capture_output=True, text=True,
                       check=False)
    return r.stdout.strip().split()[-1] if r.returncode == 0 and r.stdout.strip() else "?"


if __name__ == "__main__":
    sys.exit(main())
