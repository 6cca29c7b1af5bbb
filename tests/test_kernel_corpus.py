"""kref-lint over real kernel source: Debian's linux-source-<V> packages (5.10, 6.1, 6.12,
7.2), set up by the project's own scripts/kernel-corpus (cached outside the repo between
runs), analyzed as a kernel developer would: ``mm/ virt/kvm/ arch/x86/kvm/``, in auto mode
(libclang with the tree's compile database, tree-sitter for the rest) and in tree-sitter mode.

Every finding is triaged in tests/data/corpus-findings-<V>.txt; the runs are compared with it
exactly. The default run covers tests.conftest.CI_KERNELS (6.12 and 5.10);
KREF_CORPUS_KERNELS=all covers all four. These tests are part of CI: if a corpus cannot be
set up, they fail, they do not skip.
"""
from __future__ import annotations

import collections
import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import KERNELS, REPO, corpus_kernels, corpus_tree, run_cli

DATA = REPO / "tests" / "data"
PATHS = ("mm/", "virt/kvm/", "arch/x86/kvm/")
MODES = ("auto", "treesitter")
VERDICTS = ("TP", "FP", "LIMIT")
# A triage line's mode column: found in both modes, or in only one of them.
TRIAGE_MODES = ("both",) + MODES
BAD_NOTES = ("worker-crash", "timeout", "memory", "internal-error", "budget", "compile-db")

CORPUS = [pytest.param(v, marks=pytest.mark.corpus) for v in corpus_kernels()]


def triage_file(kernel: str) -> Path:
    return DATA / f"corpus-findings-{kernel}.txt"


def triaged_package(kernel: str) -> str:
    """The Debian package version scripts/kernel-corpus prefers for KERNEL (its TRIAGED)."""
    script = (REPO / "scripts" / "kernel-corpus").read_text()
    m = re.search(rf"^\s*{re.escape(kernel)}\)\s.*?TRIAGED=(\S+)", script, re.MULTILINE | re.DOTALL)
    assert m, f"scripts/kernel-corpus has no TRIAGED version for {kernel}"
    return m.group(1)


def parse_triage(kernel: str):
    """(package version from the header, Counter of (mode, rule, path, function),
    verdicts {(mode, rule, path, function): [verdict, ...]})."""
    package, entries, verdicts = None, collections.Counter(), collections.defaultdict(list)
    for n, raw in enumerate(triage_file(kernel).read_text().splitlines(), 1):
        m = re.match(r"#\s*package:\s*(\S+)\s+(\S+)\s*$", raw)
        if m:
            assert m.group(1) == f"linux-source-{kernel}", (n, raw)
            package = m.group(2)
        line, _, comment = raw.partition("#")
        if not line.strip():
            continue
        fields = line.split()
        assert len(fields) == 4, f"{triage_file(kernel).name}:{n}: want 4 fields: {raw}"
        assert fields[0] in TRIAGE_MODES, f"{triage_file(kernel).name}:{n}: mode {fields[0]}"
        verdict = re.match(r"\s*(TP|FP|LIMIT)\b[^:]*:\s*\S", comment)
        assert verdict, f"{triage_file(kernel).name}:{n}: want '# TP|FP|LIMIT: why'"
        key = tuple(fields)
        entries[key] += 1
        verdicts[key].append(verdict.group(1))
    return package, entries, verdicts


def expected(kernel: str, mode: str) -> collections.Counter:
    _, entries, _ = parse_triage(kernel)
    out = collections.Counter()
    for (m, rule, path, function), n in entries.items():
        if m in ("both", mode):
            out[(rule, path, function)] += n
    return out


def findings(log) -> collections.Counter:
    seen = collections.Counter()
    for res in log["runs"][0]["results"]:
        loc = res["locations"][0]
        seen[(res["ruleId"], loc["physicalLocation"]["artifactLocation"]["uri"],
              loc["logicalLocations"][0]["name"])] += 1
    return seen


def notifications(log) -> list:
    return log["runs"][0]["invocations"][0]["toolExecutionNotifications"]


_RUNS: dict = {}


def corpus_run(kernel: str, mode: str, tmp_path_factory):
    """kref-lint over PATHS of KERNEL's corpus in MODE (once per session): the CLI's
    result, its SARIF log and the tree."""
    if (kernel, mode) not in _RUNS:
        tree = corpus_tree(kernel, "" if mode == "auto" else "unpack")
        out = tmp_path_factory.mktemp(f"corpus-{kernel}-{mode}") / "run.sarif"
        r = run_cli("--frontend", mode, "--no-cache", "-j", "2", "--format", "sarif",
                    "--output", str(out), *PATHS, cwd=tree, timeout=2400)
        assert r.returncode in (0, 1), r.stderr[-3000:]
        _RUNS[kernel, mode] = (r, json.loads(out.read_text()), tree)
    return _RUNS[kernel, mode]


# ------------------------------------------------------------------ the triage files
@pytest.mark.parametrize("kernel", KERNELS)
def test_triage_file_is_well_formed_for_the_triaged_package(kernel):
    """Every version has a triage file; each line is `<mode> <rule> <path> <function>  #
    TP|FP|LIMIT: why`, with a known rule id, and the file says which package version was
    triaged: the one scripts/kernel-corpus prefers."""
    from checkers import all_rules

    package, entries, _ = parse_triage(kernel)
    assert package == triaged_package(kernel), (package, triaged_package(kernel))
    known = {r.id for r in all_rules()}
    assert {rule for _, rule, _, _ in entries} <= known
    for _, _, path, _ in entries:
        assert path.startswith(PATHS) or path.startswith(("include/", "arch/x86/include/")), path


def test_the_old_single_version_triage_files_are_gone():
    """The per-version files replaced corpus-findings.txt and frontend-differences.txt."""
    assert not (DATA / "corpus-findings.txt").exists()
    assert not (DATA / "frontend-differences.txt").exists()


# ------------------------------------------------------------------ the real runs
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel", CORPUS)
def test_tree_analyzed_without_crash(kernel, mode, tmp_path_factory, sarif_validator):
    r, log, tree = corpus_run(kernel, mode, tmp_path_factory)
    sarif_validator.validate(log)
    assert "Traceback" not in r.stderr
    package = (tree / ".kref-corpus" / "package").read_text().split()
    assert package == [f"linux-source-{kernel}", triaged_package(kernel)], (
        f"the corpus is {package}, the triage is for {triaged_package(kernel)}: re-triage")
    m = re.search(r"(\d+) files, (\d+) functions, (\d+) statements? degraded", r.stderr)
    files, functions, degraded = map(int, m.groups())
    sources = [p for d in PATHS for p in (tree / d).rglob("*") if p.suffix in (".c", ".h")]
    assert files >= len(sources) - 2, (files, len(sources))     # every file of the paths
    # the pre-filter reads but does not parse files naming no API a checker starts from
    skipped = re.search(r"(\d+) not parsed \(no API of interest\)", r.stderr)
    parsed = files - (int(skipped.group(1)) if skipped else 0)
    assert 0 < parsed <= files
    assert functions >= 20 * parsed, (functions, parsed)
    assert degraded <= functions // 100                        # under 1 statement in 100
    bad = [n for n in notifications(log) if n["level"] == "error"
           or n["descriptor"]["id"].split("/", 1)[1] in BAD_NOTES]
    assert not bad, bad


@pytest.mark.parametrize("kernel", CORPUS)
def test_auto_mode_uses_the_compile_database_for_every_built_tu(kernel, tmp_path_factory):
    """Auto mode: each TU of compile_commands.json goes through libclang without a clang
    error; exactly the .c files the configuration does not build go to tree-sitter, said
    in one note; the pre-filter skips some TUs."""
    r, log, tree = corpus_run(kernel, "auto", tmp_path_factory)
    db = json.loads((tree / "compile_commands.json").read_text())
    in_db = {os.path.realpath(os.path.join(e["directory"], e["file"])) for e in db}
    assert {os.path.relpath(p, tree).split("/")[0] for p in in_db} == {"mm", "virt", "arch"}
    sources = [p for d in PATHS for p in (tree / d).rglob("*.c")]
    unbuilt = [p for p in sources if os.path.realpath(p) not in in_db]
    clang_errors = [n for n in notifications(log) if "clang error" in n["message"]["text"]
                    and n["descriptor"]["id"].endswith("parse-error")]
    assert not clang_errors, clang_errors
    fe = [n["message"]["text"] for n in notifications(log)
          if n["descriptor"]["id"] == "kref-lint/frontend"]
    assert fe == [(f"{len(unbuilt)} of {len(sources)} .c file(s) analyzed with tree-sitter: "
                   "not in the compile database (not built in this configuration)")], fe
    # the pre-filter did work (for clang TUs and tree-sitter files alike), but not on all
    m = re.search(r"(\d+) files, .*?(\d+) not parsed", r.stderr)
    assert m and 0 < int(m.group(2)) < int(m.group(1)), r.stderr[-500:]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel", CORPUS)
def test_findings_match_the_triage(kernel, mode, tmp_path_factory):
    _, log, _ = corpus_run(kernel, mode, tmp_path_factory)
    seen, want = findings(log), expected(kernel, mode)
    name = triage_file(kernel).name
    assert seen - want == collections.Counter(), f"new findings: triage them in {name}"
    assert want - seen == collections.Counter(), f"triaged findings no longer seen ({name})"


@pytest.mark.parametrize("kernel", CORPUS)
def test_mode_column_says_where_each_finding_is_seen(kernel, tmp_path_factory):
    """`both` lines are seen by both modes, `auto`/`treesitter` lines by that mode only:
    the differences between the frontends are exactly the explained ones."""
    auto = findings(corpus_run(kernel, "auto", tmp_path_factory)[1])
    ts = findings(corpus_run(kernel, "treesitter", tmp_path_factory)[1])
    _, entries, _ = parse_triage(kernel)
    only = {m: collections.Counter({k[1:]: n for k, n in entries.items() if k[0] == m})
            for m in TRIAGE_MODES}
    assert auto - ts == only["auto"] and ts - auto == only["treesitter"]


@pytest.mark.corpus
def test_seed_003_reintroduced_into_real_gup_fast_is_found(kernel_tree, tmp_path):
    """Turn GUP-fast's speculative grab back into the plain try_get_page() the seed-003
    thread is about, in a copy of the real mm/gup.c: exactly that line is reported."""
    src = (kernel_tree / "mm" / "gup.c").read_text()
    fn = src.index("static int gup_fast_pte_range(")
    grab = "folio = try_grab_folio_fast(page, 1, flags);\n\t\tif (!folio)"
    at = src.index(grab, fn)
    bad = ("if (!try_get_page(page))\n\t\t\tgoto pte_unmap;\n"
           "\t\tfolio = page_folio(page);\n\t\tif (!folio)")
    mutated = src[:at] + bad + src[at + len(grab):]
    (tmp_path / "gup.c").write_text(mutated)
    line = mutated.count("\n", 0, at) + 1
    r = run_cli("--select", "try-get-without-ref", str(tmp_path / "gup.c"))
    assert r.returncode == 1, r.stdout + r.stderr
    hits = [l for l in r.stdout.splitlines() if "warning:" in l]
    # text paths are relative to the working directory, else absolute (clickable); the
    # column is gcc's (two tabs and "if (!" before it)
    read_at = src.count("\n", 0, src.index("ptep_get_lockless(ptep)", fn)) + 1
    assert hits == [(f"{tmp_path / 'gup.c'}:{line}:22: warning: try_get_page() on 'page' "
                     f"that holds no reference (found by the lockless read at line {read_at})"
                     "; its count may be zero or frozen [try-get-without-ref]")], hits
