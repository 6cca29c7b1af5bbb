"""No way to lose or hide a result (issue 16): a run where a file was not analyzed never
exits 0, non-regular files never block, links are labelled for what they are, ``-o``
writes through links and honours the umask, a worker's stderr never reaches the user,
and signals exit as a shell reports them, cleaned up.  Real fifos, real signals, real
subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

from analyzer.pipeline.options import FileTask, Options
from analyzer.pipeline.plan import Plan
from analyzer.pipeline.run import run_plan
from tests.conftest import CACHE_DIR, FIXTURES, REPO, run_cli

GOOD_FINDING = "good.c:31:14: warning: try_get_page() on 'page'"
INCOMPLETE = "not analyzed (listed above): the report is incomplete (exit 2)"


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    shutil.copy(FIXTURES / "tryget" / "pipe_kvm.c", d / "good.c")
    shutil.copy(FIXTURES / "include" / "kernel.h", d / "kernel.h")
    return d


def _errors(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if l.startswith("kref-lint: error: ")]


def test_a_timeout_exits_2_with_the_other_findings_written(tree, tmp_path):
    shutil.copy(FIXTURES / "tryget" / "gup_fast.c", tree / "slow.c")
    out = tmp_path / "out.sarif"
    r = run_cli("--no-cache", "-j", "2", "--format", "sarif", "-o", str(out), str(tree),
                env={"KREF_LINT_INJECT": "hang:slow.c", "KREF_LINT_TIMEOUT": "3"})
    assert r.returncode == 2, r.stderr
    assert any("slow.c" in l and "timed out" in l for l in _errors(r.stderr)), r.stderr
    assert _errors(r.stderr)[-1] == f"kref-lint: error: 1 file {INCOMPLETE}; it has every " \
                                    "finding of the files that were"
    results = json.loads(out.read_text())["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in results] == ["good.c"]                  # written, complete for the rest


def test_quiet_still_says_the_run_is_incomplete(tree):
    os.mkfifo(tree / "pipe.c")
    r = run_cli("-q", str(tree), str(tree / "pipe.c"), timeout=60)
    assert r.returncode == 2
    assert GOOD_FINDING in r.stdout
    assert any("pipe.c" in l and "(a fifo), not analyzed [unreadable]" in l
               for l in _errors(r.stderr)), r.stderr
    assert INCOMPLETE in r.stderr


def test_a_fifo_named_on_the_command_line_is_an_error_and_never_blocks(tree):
    fifo = tree / "named.c"
    os.mkfifo(fifo)
    started = time.monotonic()
    r = run_cli(str(fifo), timeout=60)
    assert time.monotonic() - started < 50
    assert r.returncode == 2 and r.stdout == ""
    assert "Traceback" not in r.stderr
    assert any(l.endswith("named.c: not a regular file or directory (a fifo), not analyzed "
                          "[unreadable]") for l in _errors(r.stderr)), r.stderr


def test_a_fifo_in_a_directory_is_reported_as_skipped(tree):
    os.mkfifo(tree / "x.c")
    r = run_cli("--show-diagnostics", str(tree), timeout=60)
    assert r.returncode == 1, r.stderr                      # good.c's finding; complete
    assert GOOD_FINDING in r.stdout
    assert any(l.startswith("kref-lint: warning: ") and "x.c: not a regular file or "
               "directory (a fifo), not analyzed [skipped]" in l
               for l in r.stderr.splitlines()), r.stderr
    quiet = run_cli(str(tree), timeout=60)                  # summarized, not silent
    assert "1 file skipped" in quiet.stderr, quiet.stderr


def test_a_file_replaced_by_a_fifo_after_discovery_fails_without_blocking(tree):
    """The plan saw a regular file; by the time the worker opens it, it is a fifo (nobody
    ever writes to it): the file fails, open() does not block, the other file finishes."""
    victim = tree / "late.c"
    os.mkfifo(victim)
    plan = Plan([str(tree / "good.c"), str(victim)],
                [FileTask(str(tree / "good.c")), FileTask(str(victim))])
    started = time.monotonic()
    for jobs in (1, 2):
        good, late = run_plan(plan, Options(frontend="treesitter"), jobs)
        assert good.findings and not good.stats.failed_files
        assert late.stats.failed_files == 1
        assert [(n.level, n.kind, n.message) for n in late.notifications] == [
            ("error", "not-regular", "not a regular file (a fifo), not analyzed")]
    assert time.monotonic() - started < 60


def test_a_second_link_to_a_visited_directory_is_not_a_loop(tree):
    sub = tree / "sub"
    sub.mkdir()
    shutil.copy(tree / "good.c", sub / "inner.c")
    os.symlink("sub", tree / "zlink")                      # a sibling link: no loop
    os.symlink("..", sub / "up")                           # a loop
    r = run_cli("--show-diagnostics", str(tree))
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert any(l.startswith("kref-lint: note: ") and "zlink: " in l and "directory already "
               "walked under another path (through a symlink)" in l
               and l.endswith("[duplicate-directory]") for l in lines), r.stderr
    assert not any("zlink" in l and "loop" in l for l in lines), r.stderr
    assert any(l.startswith("kref-lint: warning: ") and "up: symlink loop: a link to its "
               "own enclosing directory" in l for l in lines), r.stderr
    assert r.stdout.count("try_get_page() on 'page'") == 2   # good.c and sub/inner.c, once


def test_output_through_a_symlink_keeps_the_link(tree, tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.txt"
    os.symlink(target, link)
    r = run_cli("-o", str(link), str(tree))
    assert r.returncode == 1, r.stderr
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert GOOD_FINDING in target.read_text()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640   # an existing file keeps its mode


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_output_file_honours_the_umask(tree, tmp_path, mask, mode):
    out = tmp_path / f"new-{mask:o}.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR}
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "-o", str(out), str(tree)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: os.umask(mask))
    assert r.returncode == 1, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == mode


def _prepared_tree(tmp_path):
    """A kernel-shaped tree that is prepared (autoconf.h) and has a compile database
    listing only mm/built.c."""
    root = tmp_path / "linux"
    (root / "include" / "generated").mkdir(parents=True)
    (root / "include" / "generated" / "autoconf.h").write_text(
        "#define CONFIG_X86 1\n#define CONFIG_X86_64 1\n")
    (root / "mm").mkdir()
    (root / "Kbuild").write_text("")
    shutil.copy(FIXTURES / "tryget" / "pipe_kvm.c", root / "mm" / "built.c")
    shutil.copy(FIXTURES / "tryget" / "pipe_kvm.c", root / "mm" / "other.c")
    shutil.copy(FIXTURES / "include" / "kernel.h", root / "include" / "kernel.h")
    (root / "compile_commands.json").write_text(json.dumps([{
        "directory": str(root), "file": "mm/built.c",
        "arguments": ["cc", "-I", "include", "-c", "mm/built.c"]}]))
    return root


def test_clang_frontend_outside_the_compile_database_is_exit_2_with_the_right_reason(
        tmp_path):
    root = _prepared_tree(tmp_path)
    r = run_cli("--frontend", "clang", "mm/other.c", cwd=root)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"kref-lint: error: --frontend clang: no compile flags: mm/other.c "
                        f"is not in {root}/compile_commands.json (not built in this "
                        "configuration)\n")
    # with a file that has flags beside it: that one is analyzed and reported, exit 2
    r = run_cli("--frontend", "clang", "mm/", cwd=root)
    assert r.returncode == 2, r.stderr
    assert "mm/built.c:31:14: warning: try_get_page()" in r.stdout
    assert "other.c" not in r.stdout
    assert any("mm/other.c: --frontend clang: not in the compile database" in l
               for l in _errors(r.stderr)), r.stderr
    assert INCOMPLETE in r.stderr


def test_a_tu_with_fatal_errors_and_no_function_counts_as_failed(tmp_path):
    root = _prepared_tree(tmp_path)
    # names an API (the pre-filter lets it through), defines nothing clang could read
    (root / "mm" / "built.c").write_text('#include "no/such/header.h"\n/* ptep_get_lockless() folio_try_get() folio_ref_count() try_get_page() */\n')
    r = run_cli("--frontend", "clang", "--format", "json", "--no-cache", "mm/built.c",
                cwd=root)
    assert r.returncode == 2, r.stderr
    doc = json.loads(r.stdout)
    assert doc["statistics"]["failed_files"] == 1
    [diag] = [d for d in doc["diagnostics"] if d["level"] == "error"]
    assert diag["kind"] == "parse-failed" and "no function read" in diag["message"]
    assert "'no/such/header.h' file not found" in diag["message"]
    assert "recovered" not in r.stderr + r.stdout


def test_a_workers_stderr_goes_into_the_notification_not_to_the_user(tree):
    """What a worker writes on fd 2 (libclang's ``LLVM ERROR: out of memory`` / ``crash
    detected during parsing``; simulated here by a real write(2) in the worker) is the
    file's notification, never the user's stderr -- also when the worker then dies."""
    shutil.copy(tree / "good.c", tree / "noisy.c")
    shutil.copy(tree / "good.c", tree / "dies.c")
    r = run_cli("--no-cache", "-j", "2", "--format", "json", str(tree),
                env={"KREF_LINT_INJECT": "stderr:noisy.c;stderr:dies.c;crash:dies.c"})
    assert r.returncode == 2, r.stderr
    out = r.stderr.replace("kref-lint: ", "")
    assert "LLVM ERROR" not in "\n".join(l for l in out.splitlines() if "dies.c" not in l)
    doc = json.loads(r.stdout)
    by_file = {d["path"]: d for d in doc["diagnostics"]}
    assert by_file["noisy.c"]["kind"] == "frontend-output"
    assert by_file["noisy.c"]["message"] == ("the frontend printed: LLVM ERROR: out of "
                                             "memory | libclang: crash detected during "
                                             "parsing")
    # it then died: what it printed says why, and names the limit to raise
    assert by_file["dies.c"]["kind"] == "memory"
    assert by_file["dies.c"]["message"].startswith("out of memory (worker bound ")
    assert by_file["dies.c"]["message"].endswith("; it printed: LLVM ERROR: out of memory | "
                                                 "libclang: crash detected during parsing")
    assert {f["path"] for f in doc["findings"]} == {"good.c", "noisy.c"}


def _spawn(args, tmp_path, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR,
           "TMPDIR": str(tmp_path / "tmp"), **(env or {})}
    os.makedirs(env["TMPDIR"], exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "analyzer.cli", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_workers(proc, n=1, timeout=60.0):
    """Until ``proc`` has ``n`` child processes (its workers are busy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
                kids = fh.read().split()
        except OSError:
            kids = []
        if len(kids) >= n:
            time.sleep(1.0)                  # the file is handed to the worker
            return [int(k) for k in kids]
        time.sleep(0.2)
    raise AssertionError("no worker started")


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_signals_exit_as_a_shell_reports_them_and_leave_no_worker(tree, tmp_path, sig,
                                                                   code, word):
    shutil.copy(tree / "good.c", tree / "stuck.c")
    proc = _spawn(["--no-cache", "-j", "2", str(tree)], tmp_path,
                  {"KREF_LINT_INJECT": "hang:stuck.c"})
    kids = _wait_for_workers(proc, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1].startswith(f"kref-lint: {word}"), err
    assert "Traceback" not in err and "Aborted" not in err
    time.sleep(0.5)
    assert not [k for k in kids if _alive(k)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False
