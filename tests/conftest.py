"""Shared test helpers: where the repo and its fixtures are, and how to run the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"


def run_cli(*args: str, cwd: str | os.PathLike | None = None, timeout: int = 300):
    """Run ``kref-lint`` as a user would (a subprocess of this interpreter)."""
    cmd = [sys.executable, "-m", "analyzer.cli", *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(cmd, cwd=cwd or REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def sarif_validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)
