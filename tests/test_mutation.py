"""The mutation benchmark on real kernel code, as CI's ratchet: bench/mutation.py on the
subset that tests/data/mutation-thresholds.toml names, on the 6.12 corpus (every operator)
and on each older kernel the toml has a table for, for the operators that table names
(5.10, the oldest LTS: the speculative, accessible and error-put ones; 6.1: sync, freeze).
Per operator, the scanner still finds its sites and the rule still notices at least the recorded share
of the mutants; the unmutated code is clean at every site; the rule stays silent on the
mutants that are correct code (tests/data/mutation-not-bugs.toml); every mutant parses and
the analyzer never fails on one."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.mutation import load_not_bugs
from bench.mutation_sites import OPERATORS
from tests.conftest import REPO, corpus_tree

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

pytestmark = pytest.mark.corpus

THRESHOLDS = REPO / "tests" / "data" / "mutation-thresholds.toml"
VERSION = "6.12"
OLDER = "5.10"                     # the oldest LTS: the speculative operators at least
#: Every kernel the ratchet has a table for (6.12 every operator, the others theirs).
VERSIONS = [VERSION] + sorted(k for k in tomllib.loads(THRESHOLDS.read_text())
                              if k[0].isdigit() and k != VERSION)


@pytest.fixture(scope="module")
def ratchet() -> dict:
    return tomllib.loads(THRESHOLDS.read_text())


_RUNS: dict[str, dict] = {}


def run_benchmark(version: str, ratchet: dict, tmp_path_factory) -> dict:
    """The subset on ``version``'s corpus, for the operators its ratchet lists (once)."""
    if version not in _RUNS:
        out = tmp_path_factory.mktemp(f"mutation-{version}") / "mutation.json"
        subset = ratchet["subset"]
        ops = ",".join(ratchet[version]["recall"])
        r = subprocess.run(
            [sys.executable, str(REPO / "bench" / "mutation.py"), "--tree",
             str(corpus_tree(version, "unpack")), "--operator", ops,
             "--limit", str(subset["limit"]), "--frontend", subset["frontend"], "-j", "2",
             "--json", str(out), "-q"],
            capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
            check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        _RUNS[version] = json.loads(out.read_text())["versions"][version]
    return _RUNS[version]


@pytest.fixture(scope="module")
def benchmark(kernel_tree, ratchet, tmp_path_factory) -> dict:
    return run_benchmark(VERSION, ratchet, tmp_path_factory)


def test_the_ratchet_covers_every_operator(ratchet):
    assert set(ratchet[VERSION]["recall"]) == set(OPERATORS)
    assert set(ratchet[VERSION]["sites"]) == set(OPERATORS)


def test_the_older_kernel_ratchet_covers_the_speculative_operators(ratchet):
    assert {"recheck", "mismatch-put", "plain-get"} <= set(ratchet[OLDER]["recall"])
    assert set(ratchet[OLDER]["sites"]) == set(ratchet[OLDER]["recall"])


def _cases():
    data = tomllib.loads(THRESHOLDS.read_text())
    return [(v, op) for v in VERSIONS for op in OPERATORS
            if op in data.get(v, {}).get("recall", {})]


@pytest.mark.parametrize("version, operator", _cases())
def test_recall_does_not_drop(version, operator, ratchet, tmp_path_factory):
    bench = run_benchmark(version, ratchet, tmp_path_factory)
    row = bench["table"][operator]
    assert row["sites"] >= ratchet[version]["sites"][operator], (
        f"{operator}: the scanner found {row['sites']} sites")
    missed = [f"{o['file']}:{o['line']} {o['function']}(): {o['reason']} {o['detail']}"
              for o in bench["sites"] if o["operator"] == operator and not o["caught"]]
    assert row["recall"] >= ratchet[version]["recall"][operator] - 1e-9, (
        f"{operator}: recall {row['caught']}/{row['sites']}; missed:\n" + "\n".join(missed))


@pytest.mark.parametrize("version", VERSIONS)
def test_unmutated_code_is_clean_at_every_site(version, ratchet, tmp_path_factory):
    bench = run_benchmark(version, ratchet, tmp_path_factory)
    dirty = [f"{o['id']}: {o['detail']}" for o in bench["sites"]
             if o["reason"] == "unmutated-already-reported"]
    assert dirty == []


@pytest.mark.parametrize("version", VERSIONS)
def test_no_false_alarm_on_a_mutant_that_is_correct_code(version, ratchet, tmp_path_factory):
    """tests/data/mutation-not-bugs.toml: the rule stays silent where the mutant is what
    the kernel itself does (those sites are run even in the subset)."""
    bench = run_benchmark(version, ratchet, tmp_path_factory)
    alarms = [f"{o['id']}: {o['not_bug']}" for o in bench["sites"] if o["false_alarm"]]
    assert alarms == []
    listed = {(e.operator, e.file, e.function) for e in load_not_bugs()
              if version in e.kernels and e.operator in ratchet[version]["recall"]}
    assert {(o["operator"], o["file"], o["function"]) for o in bench["sites"]
            if o["not_bug"]} == listed


def test_every_mutant_parses_and_is_analyzed(benchmark):
    broken = [f"{o['id']}: {o['reason']} {o['detail']}" for o in benchmark["sites"]
              if o["reason"] in ("mutant-does-not-parse", "analyzer-error")]
    assert broken == []
    assert benchmark["stats"]["invocations"] >= 2          # the baseline and the mutants

