"""The tree-sitter pre-filter: a file that names no API any checker starts from is not
parsed (it cannot have a finding; a whole tree is mostly such files) -- the findings are
exactly those of parsing everything, on the fixtures and on a kernel directory."""
from __future__ import annotations

import json
import shutil

from tests.conftest import FIXTURES, run_cli


def _json(*args, cwd=None):
    r = run_cli("--no-cache", "--format", "json", "--frontend", "treesitter", *args, cwd=cwd)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_a_file_naming_no_starter_is_not_parsed(tmp_path):
    shutil.copy(FIXTURES / "tryget" / "pipe_kvm.c", tmp_path / "good.c")
    (tmp_path / "driver.c").write_text("static int probe(int x)\n{\n\treturn x + 1;\n}\n"
                                       "FOO BAR(\n")
    doc = _json(str(tmp_path))
    assert doc["statistics"]["not_parsed"] == 1 and doc["statistics"]["files"] == 2
    assert not [d for d in doc["diagnostics"] if d["path"] == "driver.c"]
    every = _json("--no-prefilter", str(tmp_path))
    assert every["statistics"]["not_parsed"] == 0
    assert every["statistics"]["functions"] == doc["statistics"]["functions"] + 1
    assert [d for d in every["diagnostics"] if d["path"] == "driver.c"]
    assert every["findings"] == doc["findings"]


def _findings(doc):
    return [(f["path"], f["line"], f["rule"], f["message"], f["fingerprint"])
            for f in doc["findings"]]


def test_the_fixtures_findings_do_not_change():
    assert _findings(_json(str(FIXTURES))) == _findings(_json("--no-prefilter", str(FIXTURES)))


def test_a_kernel_directorys_findings_do_not_change(kernel_tree):
    fast = _json("-j", "2", "mm/", "virt/kvm/", cwd=kernel_tree)
    every = _json("-j", "2", "--no-prefilter", "mm/", "virt/kvm/", cwd=kernel_tree)
    assert fast["findings"] and _findings(fast) == _findings(every)
    assert fast["statistics"]["not_parsed"] > 0


def test_a_huge_file_naming_no_api_is_not_a_failure(tmp_path):
    """linux-6.12 has a 24 MB generated register header: it names no API, so it is not
    parsed and the run is complete; the same size naming one is too large (exit 2)."""
    shutil.copy(FIXTURES / "tryget" / "pipe_kvm.c", tmp_path / "good.c")
    line = b"#define REG_SH_MASK_0123456789 0x00000001L\n"
    (tmp_path / "regs.h").write_bytes(line * (17 * 2**20 // len(line) + 1))
    r = run_cli("--no-cache", "--frontend", "treesitter", str(tmp_path))
    assert r.returncode == 1, r.stderr
    assert "1 not parsed (no API of interest)" in r.stderr
    (tmp_path / "regs.h").write_bytes(line * (17 * 2**20 // len(line) + 1)
                                      + b"/* folio_ref_count */\n")
    r = run_cli("--no-cache", "--frontend", "treesitter", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert any(l.startswith("kref-lint: error: ") and "regs.h: file too large" in l
               and l.endswith("[too-large]") for l in r.stderr.splitlines()), r.stderr
