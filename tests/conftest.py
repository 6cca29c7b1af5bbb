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
