"""Every file is analyzed under a limit whatever ``-j`` says, ``check-patch`` included;
the limit is CPU time, so load on the machine cannot cost a finding; a wall-clock
backstop catches a worker stuck without computing.  Real workers, real RLIMIT_CPU, real
competing processes."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import CACHE_DIR, FIXTURES, REPO, run_cli
from tests.modes_util import CORRECT, HEADER, HELPER, commit_all, git, init_repo, kernel_tree


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    shutil.copytree(FIXTURES / "tryget", d)
    shutil.copytree(FIXTURES / "include", tmp_path / "include")
    return d


def _errors(stderr: str, name: str) -> list[str]:
    return [l for l in stderr.splitlines() if l.startswith("kref-lint: error: ") and name in l]


def test_one_job_honours_the_cpu_time_limit(tree):
    started = time.monotonic()
    r = run_cli("-j", "1", "--no-cache", str(tree), timeout=300,
                env={"KREF_LINT_INJECT": "hang:gup_fast.c", "KREF_LINT_TIMEOUT": "3"})
    assert time.monotonic() - started < 200      # the spin never ends: the limit ended it
    assert r.returncode == 2, r.stderr
    assert any("timed out after 3 s of CPU time, not analyzed" in l and l.endswith("[timeout]")
               for l in _errors(r.stderr, "gup_fast.c")), r.stderr
    assert "pagecache.c:16:17: warning:" in r.stdout and "pipe_kvm.c:31:14:" in r.stdout
    assert "gup_fast.c" not in r.stdout


def test_the_wall_clock_backstop_catches_a_worker_that_is_stuck(tree):
    r = run_cli("-j", "1", "--no-cache", str(tree), timeout=120,
                env={"KREF_LINT_INJECT": "sleep:gup_fast.c", "KREF_LINT_TIMEOUT": "30",
                     "KREF_LINT_WALL_TIMEOUT": "3"})
    assert r.returncode == 2, r.stderr
    assert any("timed out after 3 s of wall-clock time (the backstop" in l
               for l in _errors(r.stderr, "gup_fast.c")), r.stderr
    assert "pipe_kvm.c:31:14:" in r.stdout


def test_load_on_the_machine_does_not_cost_a_finding(tree):
    """The file needs 2 s of CPU and is allowed 4; kref-lint and three busy processes
    share one CPU, so it takes far more than 4 s of wall-clock time: it still finishes,
    with its finding (a wall-clock limit would have lost it)."""
    pin = lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # noqa: E731
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin)
            for _ in range(3)]
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR,
               "KREF_LINT_INJECT": "spin:pipe_kvm.c", "KREF_LINT_TIMEOUT": "4"}
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "analyzer.cli", "-j", "1", "--no-cache",
                            str(tree)], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=300, preexec_fn=pin)
        elapsed = time.monotonic() - started
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert elapsed > 6, elapsed                   # the load was real
    assert r.returncode == 1, r.stderr
    assert "pipe_kvm.c:31:14: warning: try_get_page()" in r.stdout
    assert "timed out" not in r.stderr


@pytest.fixture
def one_file_patch(tmp_path):
    repo = init_repo(kernel_tree(tmp_path / "linux"))
    gup = repo / "mm" / "gup.c"
    gup.write_text(HEADER + HELPER + CORRECT)
    commit_all(repo, "base")
    gup.write_text(gup.read_text().replace("return nr;", "return nr > 0 ? nr : 0;"))
    commit_all(repo, "mm/gup: clamp")
    patch = tmp_path / "one.patch"
    patch.write_text(git(repo, "format-patch", "-1", "--stdout"))
    git(repo, "checkout", "-q", "HEAD~1")
    return repo, patch


def test_check_patch_of_one_file_honours_the_limit(one_file_patch):
    repo, patch = one_file_patch
    started = time.monotonic()
    r = run_cli("check-patch", "--format", "text", "--tree", str(repo), str(patch),
                timeout=300, env={"KREF_LINT_INJECT": "hang:gup.c", "KREF_LINT_TIMEOUT": "3"})
    assert time.monotonic() - started < 200      # the spin never ends: the limit ended it
    assert r.returncode == 2, r.stdout + r.stderr
    assert any("timed out after 3 s of CPU time" in l for l in _errors(r.stderr, "gup.c")), \
        r.stderr
    assert "the report is incomplete (exit 2)" in r.stderr


def test_sigterm_during_check_patch_removes_its_temporary_directory(one_file_patch,
                                                                     tmp_path):
    repo, patch = one_file_patch
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR,
           "TMPDIR": str(tmp), "KREF_LINT_INJECT": "sleep:gup.c"}
    proc = subprocess.Popen([sys.executable, "-m", "analyzer.cli", "check-patch", "--tree",
                             str(repo), str(patch)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not glob.glob(str(tmp / "kref-lint-patch-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert glob.glob(str(tmp / "kref-lint-patch-*"))
    time.sleep(2.0)                                  # in the worker, on gup.c
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == "kref-lint: terminated (SIGTERM)", err
    assert glob.glob(str(tmp / "kref-lint-patch-*")) == []
    assert "Traceback" not in err
