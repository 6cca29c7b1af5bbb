"""Worker isolation (injected crash, hang, memory blow-up) and the result cache."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from analyzer.pipeline.cache import ResultCache
from analyzer.pipeline.options import Options
from analyzer.pipeline.run import analyze_files
from tests.conftest import FIXTURES, REPO, run_cli


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    shutil.copytree(FIXTURES / "tryget", d)
    shutil.copytree(FIXTURES / "include", tmp_path / "include")
    return d


def _notes(err: str, name: str) -> list[str]:
    """Tool diagnostics about ``name`` (stderr, never in the findings' format)."""
    return [l for l in err.splitlines() if l.startswith("kref-lint: ") and name in l]


@pytest.mark.parametrize("inject, reason, kind, limit", [
    ("crash:gup_fast.c", "crashed on this file (SIGSEGV)", "worker-crash", "30"),
    ("hang:gup_fast.c", "timed out after 3 s", "timeout", "3"),
    ("oom:gup_fast.c", "out of memory", "memory", "30"),
])
def test_a_failing_file_becomes_a_notification_and_others_finish(tree, inject, reason, kind,
                                                                  limit):
    started = time.monotonic()
    r = run_cli("-j", "2", "--no-cache", str(tree),
                env={"KREF_LINT_INJECT": inject, "KREF_LINT_TIMEOUT": limit,
                     "KREF_LINT_WORKER_MEMORY": str(1536 * 2**20)})
    assert time.monotonic() - started < 60
    assert "Traceback" not in r.stderr and "Fatal Python error" not in r.stderr
    assert r.returncode == 2                   # findings written, but a file is missing
    notes = _notes(r.stderr, "gup_fast.c")
    assert any(n.startswith("kref-lint: error: ") and reason in n and n.endswith(f"[{kind}]")
               for n in notes), r.stderr
    assert "gup_fast.c" not in r.stdout                     # that file: no results
    assert "pagecache.c:16:17: warning:" in r.stdout        # every other file: all of them
    assert "pipe_kvm.c:31:14: warning:" in r.stdout


def test_pool_keeps_order_and_replaces_dead_workers(tree, monkeypatch):
    monkeypatch.setenv("KREF_LINT_INJECT", "crash:pagecache.c")
    paths = sorted(str(p) for p in tree.glob("*.c"))
    out = analyze_files(paths, Options(frontend="treesitter"), jobs=2)
    assert [o.path for o in out] == paths
    crashed = [o for o in out if o.stats.failed_files]
    assert [o.path for o in crashed] == [str(tree / "pagecache.c")]
    assert all(o.findings for o in out if not o.stats.failed_files)


def test_a_crashing_worker_dumps_no_traceback(tree):
    """With faulthandler on in the parent (pytest, PYTHONFAULTHANDLER), a worker that
    crashes is reported once, as its file's notification: no 'Fatal Python error' dump
    on the user's terminal."""
    code = ("from analyzer.pipeline.options import Options\n"
            "from analyzer.pipeline.run import analyze_files\n"
            f"out = analyze_files([{str(tree / 'pagecache.c')!r}], Options(), jobs=2)\n"
            "print(out[0].notifications[0].kind)\n")
    r = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], cwd=REPO,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO),
                            "KREF_LINT_INJECT": "crash:pagecache.c"})
    assert r.returncode == 0 and r.stdout == "worker-crash\n", r.stdout + r.stderr
    assert "Fatal Python error" not in r.stderr and r.stderr == "", r.stderr


def test_cache_reuses_results_and_notices_changes(tree, tmp_path):
    cache = ResultCache(tmp_path / "cache", salt="t")
    paths = sorted(str(p) for p in tree.glob("*.c"))
    opts = Options(frontend="treesitter")
    first = analyze_files(paths, opts, 1, cache)
    assert (cache.hits, cache.misses) == (0, len(paths))
    cache = ResultCache(tmp_path / "cache", salt="t")
    again = analyze_files(paths, opts, 1, cache)
    assert (cache.hits, cache.misses) == (len(paths), 0)
    assert [o.findings for o in again] == [o.findings for o in first]
    # touching one file re-analyzes exactly that file
    victim = tree / "pipe_kvm.c"
    victim.write_text(victim.read_text() + "\n/* touched */\n")
    cache = ResultCache(tmp_path / "cache", salt="t")
    analyze_files(paths, opts, 1, cache)
    assert (cache.hits, cache.misses) == (len(paths) - 1, 1)
    # different options are a different key
    cache = ResultCache(tmp_path / "cache", salt="t")
    analyze_files(paths, Options(frontend="treesitter", ignore=frozenset({"x"})), 1, cache)
    assert cache.hits == 0


def test_cache_tracks_included_headers(tree, tmp_path):
    header = tmp_path / "include" / "kernel.h"
    cache = ResultCache(tmp_path / "cache", salt="t")
    path = str(tree / "pipe_kvm.c")
    outcome = analyze_files([path], Options(), 1, None)[0]
    key = cache.key(path, "k")
    cache.put(key, outcome, (str(header),))
    assert cache.get(key) is not None
    header.write_text(header.read_text() + "\n/* changed */\n")
    assert ResultCache(tmp_path / "cache", salt="t").get(key) is None


def test_corrupt_or_interrupted_entries_are_misses(tree, tmp_path):
    cache = ResultCache(tmp_path / "cache", salt="t")
    path = str(tree / "pipe_kvm.c")
    key = cache.key(path)
    cache.put(key, analyze_files([path], Options(), 1, None)[0])
    entry = next((tmp_path / "cache").rglob("*.pickle"))
    entry.write_bytes(entry.read_bytes()[:20])              # a torn write
    (entry.parent / ".tmp-leftover").write_bytes(b"partial")  # an interrupted writer
    assert cache.get(key) is None and not entry.exists()


def test_cli_uses_the_cache_and_no_cache_bypasses_it(tree, tmp_path):
    env = {"KREF_LINT_CACHE_DIR": str(tmp_path / "c")}
    a = run_cli(str(tree), env=env)
    assert any((tmp_path / "c").rglob("*.pickle"))
    b = run_cli(str(tree), env=env)
    assert a.stdout == b.stdout and a.returncode == b.returncode == 1
    shutil.rmtree(tmp_path / "c")
    run_cli("--no-cache", str(tree), env=env)
    # no result is written; pass 1's cache (by content, kept with --no-cache) is inside
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["pass1"]


_TASK_KEY = ("from analyzer.pipeline.options import FileTask; print(FileTask('include/x.h', "
             "report_only=frozenset(f'inline_{i}' for i in range(40))).cache_key())")


def test_a_tasks_cache_key_is_the_same_in_every_process():
    # a header task's report_only is a set: its repr follows the string hashing of the
    # process, and a key built from it never hit the cache of an earlier run
    keys = {subprocess.run([sys.executable, "-c", _TASK_KEY], cwd=REPO, check=True,
                           capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert len(keys) == 1


def test_a_tasks_cache_key_tells_every_field_apart():
    import dataclasses

    from analyzer.pipeline.options import FileTask
    base = FileTask("a.c")
    changed = {"path": "b.c", "frontend": "clang", "args": ("-DX",),
               "flags_origin": "compile_commands", "unless_covered": True,
               "prefilter": True, "report_only": frozenset({"f"})}
    assert set(changed) == {f.name for f in dataclasses.fields(FileTask)}
    keys = {dataclasses.replace(base, **{k: v}).cache_key() for k, v in changed.items()}
    assert len(keys | {base.cache_key()}) == len(changed) + 1
    assert FileTask("a.c", report_only=frozenset()).cache_key() != base.cache_key()
