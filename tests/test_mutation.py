"""The mutation benchmark on real kernel code, as CI's ratchet: bench/mutation.py on the
subset that tests/data/mutation-thresholds.toml names, on the 6.12 corpus (every operator)
and on older corpora for the operators their tables name (5.10: the accessible ones).  Per
operator, the scanner still finds its sites and the rule still notices at least the recorded share
of the mutants; the unmutated code is clean at every site; every mutant parses and the
analyzer never fails on one."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.mutation_sites import OPERATORS
from tests.conftest import REPO, corpus_tree

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

pytestmark = pytest.mark.corpus

THRESHOLDS = REPO / "tests" / "data" / "mutation-thresholds.toml"
VERSION = "6.12"


@pytest.fixture(scope="module")
def ratchet() -> dict:
    return tomllib.loads(THRESHOLDS.read_text())


@pytest.fixture(scope="module")
def benchmark(kernel_tree, ratchet, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("mutation") / "mutation.json"
    subset = ratchet["subset"]
    r = subprocess.run(
        [sys.executable, str(REPO / "bench" / "mutation.py"), "--tree", str(kernel_tree),
         "--limit", str(subset["limit"]), "--frontend", subset["frontend"], "-j", "2",
         "--json", str(out), "-q"],
        capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())["versions"][VERSION]


def test_the_ratchet_covers_every_operator(ratchet):
    assert set(ratchet[VERSION]["recall"]) == set(OPERATORS)
    assert set(ratchet[VERSION]["sites"]) == set(OPERATORS)


@pytest.mark.parametrize("operator", OPERATORS)
def test_recall_does_not_drop(benchmark, ratchet, operator):
    row = benchmark["table"][operator]
    assert row["sites"] >= ratchet[VERSION]["sites"][operator], (
        f"{operator}: the scanner found {row['sites']} sites")
    missed = [f"{o['file']}:{o['line']} {o['function']}(): {o['reason']} {o['detail']}"
              for o in benchmark["sites"] if o["operator"] == operator and not o["caught"]]
    assert row["recall"] >= ratchet[VERSION]["recall"][operator] - 1e-9, (
        f"{operator}: recall {row['caught']}/{row['sites']}; missed:\n" + "\n".join(missed))


def test_unmutated_code_is_clean_at_every_site(benchmark):
    dirty = [f"{o['id']}: {o['detail']}" for o in benchmark["sites"]
             if o["reason"] == "unmutated-already-reported"]
    assert dirty == []


OLDER = ("5.10",)


@pytest.fixture(scope="module", params=OLDER)
def older(request, ratchet, tmp_path_factory) -> tuple[str, dict]:
    """The benchmark on an older corpus, for the operators its ratchet tables name."""
    version, subset = request.param, ratchet["subset"]
    out = tmp_path_factory.mktemp("mutation-" + version) / "mutation.json"
    r = subprocess.run(
        [sys.executable, str(REPO / "bench" / "mutation.py"), "--tree",
         str(corpus_tree(version, "unpack")), "--limit", str(subset["limit"]), "--frontend",
         subset["frontend"], "--operator", ",".join(ratchet[version]["recall"]), "-j", "2",
         "--json", str(out), "-q"],
        capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return version, json.loads(out.read_text())["versions"][version]


def test_recall_does_not_drop_on_older_kernels(older, ratchet):
    version, got = older
    for operator, recall in ratchet[version]["recall"].items():
        row = got["table"][operator]
        assert row["sites"] >= ratchet[version]["sites"][operator], (version, operator, row)
        assert row["recall"] >= recall - 1e-9, (version, operator, row)
    assert [o["id"] for o in got["sites"] if o["reason"] == "unmutated-already-reported"] == []


def test_every_mutant_parses_and_is_analyzed(benchmark):
    broken = [f"{o['id']}: {o['reason']} {o['detail']}" for o in benchmark["sites"]
              if o["reason"] in ("mutant-does-not-parse", "analyzer-error")]
    assert broken == []
    assert benchmark["stats"]["invocations"] >= 2          # the baseline and the mutants
