"""Shared test helpers: where the repo and its fixtures are, and how to run the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

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


def _corpus(stage: str) -> Path:
    """The real kernel corpus, set up (or found cached) by the project's own script."""
    args = [str(REPO / "scripts" / "kernel-corpus")] + (["--stage", stage] if stage else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=3600,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"kernel-corpus failed:\n{r.stderr[-3000:]}"
    return Path(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """linux-source-6.12, unpacked (no build)."""
    tree = _corpus("unpack")
    assert (tree / "mm" / "gup.c").is_file() and (tree / "virt" / "kvm").is_dir()
    return tree


@pytest.fixture(scope="session")
def built_tree() -> Path:
    """The corpus configured, prepared and with compile_commands.json (mm/, virt/kvm/)."""
    tree = _corpus("")
    assert (tree / "compile_commands.json").is_file()
    return tree
