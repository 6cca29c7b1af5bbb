"""Shared test helpers: where the repo and its fixtures are, and how to run the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import checkers  # noqa: F401  (registers the checkers' model sections for load_models())

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"


# The tests' result cache: private to this test session, never the user's.
CACHE_DIR = tempfile.mkdtemp(prefix="kref-lint-test-cache-")


def run_cli(*args: str, cwd: str | os.PathLike | None = None, timeout: int = 300,
            env: dict | None = None):
    """Run ``kref-lint`` as a user would (a subprocess of this interpreter)."""
    cmd = [sys.executable, "-m", "analyzer.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR,
           **(env or {})}
    return subprocess.run(cmd, cwd=cwd or REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def sarif_validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


# The kernel corpora scripts/kernel-corpus sets up (Debian's linux-source-V packages).
KERNELS = ("5.10", "6.1", "6.12", "7.2")
# The ones whose triage the default test run (and so CI) compares: the current LTS the
# rules were written for and the oldest LTS, the API shape furthest from it (cheapest of
# the older trees to set up and analyze; see README, "A real kernel corpus").
CI_KERNELS = ("6.12", "5.10")


def corpus_kernels() -> tuple[str, ...]:
    """The versions the corpus tests run on: CI_KERNELS, or KREF_CORPUS_KERNELS
    (``all`` or a comma-separated list, e.g. ``7.2,6.1``)."""
    want = os.environ.get("KREF_CORPUS_KERNELS", "").strip()
    if not want:
        return CI_KERNELS
    got = KERNELS if want == "all" else tuple(v.strip() for v in want.split(",") if v.strip())
    unknown = [v for v in got if v not in KERNELS]
    if unknown:
        raise pytest.UsageError(f"KREF_CORPUS_KERNELS: unknown kernel(s) {unknown}; "
                                f"want some of {KERNELS} or 'all'")
    return got


def corpus_tree(kernel: str = "6.12", stage: str = "") -> Path:
    """The real kernel corpus, set up (or found cached) by the project's own script."""
    args = [str(REPO / "scripts" / "kernel-corpus"), "--kernel", kernel]
    args += ["--stage", stage] if stage else []
    r = subprocess.run(args, capture_output=True, text=True, timeout=3600,
                       stdin=subprocess.DEVNULL, check=False)
    assert r.returncode == 0, f"kernel-corpus --kernel {kernel} failed:\n{r.stderr[-3000:]}"
    return Path(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """linux-source-6.12, unpacked (no build)."""
    tree = corpus_tree("6.12", "unpack")
    assert (tree / "mm" / "gup.c").is_file() and (tree / "virt" / "kvm").is_dir()
    return tree


@pytest.fixture(scope="session")
def built_tree() -> Path:
    """linux-source-6.12 configured, prepared, with compile_commands.json (mm/, virt/kvm/,
    arch/x86/kvm/)."""
    tree = corpus_tree("6.12")
    assert (tree / "compile_commands.json").is_file()
    return tree


def pytest_collection_modifyitems(items):
    """Every test that uses a real kernel corpus is marked `corpus` (`-m "not corpus"` is
    the fast loop), whether it says so itself or through the corpus fixtures."""
    for item in items:
        if {"kernel_tree", "built_tree"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.corpus)
