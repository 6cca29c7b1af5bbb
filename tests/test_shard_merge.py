"""``--shard K/N`` and ``kref-lint merge``: N shards merged are byte for byte the log one
run writes (same results and fingerprints, same diagnostics, rules and invocation), on
the fixtures and on a real kernel directory."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from analyzer.errors import ToolError
from analyzer.pipeline.shard import Shard, assign, parse_shard, select
from tests.conftest import FIXTURES, run_cli


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    shutil.copytree(FIXTURES, d)
    (d / "tryget" / "broken.c").write_text("int f(void)\n{\n\tif (x) {\n\t\tg();\n\n"
                                            "int h(void) { return 1; }\n}}}\nFOO(1) BAR(\n"
                                            "/* folio_ref_count */\n")
    (d / "tryget" / "blob.c").write_bytes(bytes(range(256)) * 8)    # a failing file
    return d


def _run(*args, cwd=None):
    r = run_cli("--no-cache", *args, cwd=cwd)
    assert r.returncode in (0, 1, 2) and "Traceback" not in r.stderr, r.stderr
    return r


def _merge(tmp_path, texts: list[str], suffix: str):
    paths = []
    for i, text in enumerate(texts, 1):
        p = tmp_path / f"shard{i}.{suffix}"
        p.write_text(text)
        paths.append(str(p))
    out = tmp_path / f"merged.{suffix}"
    r = run_cli("merge", *paths, "-o", str(out))
    return r, out.read_text()


@pytest.mark.parametrize("fmt", ["sarif", "json"])
@pytest.mark.parametrize("n", [2, 3])
def test_shards_merged_equal_one_run(tree, tmp_path, fmt, n):
    args = ("--format", fmt, "--frontend", "treesitter", str(tree))
    whole = _run(*args)
    shards = [_run(*args, "--shard", f"{k}/{n}") for k in range(1, n + 1)]
    assert all(s.stdout for s in shards)
    r, merged = _merge(tmp_path, [s.stdout for s in shards], fmt)
    assert merged == whole.stdout                              # byte for byte
    assert r.returncode == whole.returncode == 2, r.stderr     # blob.c: incomplete
    # every file in exactly one shard, none empty
    key = "results" if fmt == "sarif" else "findings"
    counts = []
    for s in shards:
        doc = json.loads(s.stdout)
        counts.append(len(doc["runs"][0][key] if fmt == "sarif" else doc[key]))
    total = json.loads(whole.stdout)
    assert sum(counts) == len(total["runs"][0][key] if fmt == "sarif" else total[key])
    assert all(counts)


def test_shards_with_a_baseline_merge_to_the_baselined_run(tree, tmp_path):
    base = tmp_path / "base.sarif"
    _run("--format", "sarif", "-o", str(base), "--frontend", "treesitter", str(tree))
    (tree / "tryget" / "pipe_kvm.c").unlink()                 # its finding becomes absent
    args = ("--format", "sarif", "--frontend", "treesitter", "--baseline", str(base),
            str(tree))
    whole = _run(*args)
    states = [x.get("baselineState") for x in json.loads(whole.stdout)["runs"][0]["results"]]
    assert "absent" in states and "unchanged" in states
    shards = [_run(*args, "--shard", f"{k}/3").stdout for k in (1, 2, 3)]
    _, merged = _merge(tmp_path, shards, "sarif")
    assert merged == whole.stdout


def test_shards_of_an_auto_run_merge_too(tree, tmp_path):
    """The default frontend: its routing note is planned over every file, so each shard
    says the same and the merge keeps it once."""
    whole = _run("--format", "json", str(tree))
    shards = [_run("--format", "json", "--shard", f"{k}/2", str(tree)).stdout
              for k in (1, 2)]
    _, merged = _merge(tmp_path, shards, "json")
    assert merged == whole.stdout
    assert any(d["kind"] == "frontend" and d["path"] is None
               for d in json.loads(merged)["diagnostics"])


def test_the_split_is_deterministic_and_balanced_by_size(tmp_path):
    files = []
    for i, size in enumerate([900, 500, 400, 300, 200, 100, 100, 0]):
        p = tmp_path / f"f{i}.c"
        p.write_bytes(b"x" * size)
        files.append(str(p))
    a = assign(files, 3, str(tmp_path))
    assert a == assign(list(reversed(files)), 3, str(tmp_path))     # order-free
    load = {k: sum(os.path.getsize(f) for f in files if a[f] == k) for k in (1, 2, 3)}
    assert sorted(load.values()) == [800, 800, 900]
    parts = [select(files, Shard(k, 3), str(tmp_path)) for k in (1, 2, 3)]
    assert set().union(*parts) == set(files) and sum(map(len, parts)) == len(files)


@pytest.mark.parametrize("bad", ["0/2", "3/2", "x", "1/0", "1-2"])
def test_a_bad_shard_is_a_usage_error(tree, bad):
    with pytest.raises(ToolError):
        parse_shard(bad)
    r = run_cli("--shard", bad, str(tree))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("kref-lint: error: --shard ") and r.stderr.count("\n") == 1


def test_logs_of_different_runs_are_refused(tree, tmp_path):
    a = _run("--format", "sarif", "--select", "try-get-without-ref", str(tree)).stdout
    b = _run("--format", "sarif", str(tree)).stdout
    (tmp_path / "a.sarif").write_text(a)
    (tmp_path / "b.sarif").write_text(b)
    r = run_cli("merge", str(tmp_path / "a.sarif"), str(tmp_path / "b.sarif"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("kref-lint: error: ") and "not a shard of the same run" in \
        r.stderr and r.stderr.count("\n") == 1
    (tmp_path / "c.sarif").write_text("{not json")
    r = run_cli("merge", str(tmp_path / "c.sarif"))
    assert r.returncode == 2 and "not JSON" in r.stderr


def test_shards_of_a_kernel_directory_merge_to_one_run(kernel_tree, tmp_path):
    args = ("--format", "sarif", "--frontend", "treesitter", "-j", "2", "mm/")
    whole = _run(*args, cwd=kernel_tree)
    assert json.loads(whole.stdout)["runs"][0]["results"]
    shards = [_run(*args, "--shard", f"{k}/2", cwd=kernel_tree).stdout for k in (1, 2)]
    r, merged = _merge(tmp_path, shards, "sarif")
    assert merged == whole.stdout
    assert r.returncode == whole.returncode
