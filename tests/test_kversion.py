"""The analyzed kernel's version (analyzer/kversion.py): parsed, detected from the tree's
top-level Makefile, given with --kernel-version or in .kref-lint.toml."""
from __future__ import annotations

import pytest

from analyzer import kversion
from tests.conftest import run_cli

MAKEFILE = """# SPDX-License-Identifier: GPL-2.0
VERSION = {v}
PATCHLEVEL = {p}
SUBLEVEL = 7
EXTRAVERSION = -rc1
NAME = Test
"""


def kernel_tree(root, v=5, p=10):
    (root / "mm").mkdir(parents=True)
    (root / "Makefile").write_text(MAKEFILE.format(v=v, p=p))
    (root / "mm" / "Makefile").write_text("obj-y := a.o\n")      # kbuild's, not the top one
    (root / "mm" / "a.c").write_text("int f(void) { return 0; }\n")
    return root


@pytest.mark.parametrize("text, want", [("6.10", (6, 10)), ("v6.10.3", (6, 10)),
                                        ("5.10.262", (5, 10)), ("6.12-rc1", (6, 12)),
                                        (" 7.2 ", (7, 2))])
def test_parse(text, want):
    assert kversion.parse(text) == want


@pytest.mark.parametrize("text", ["6", "six.ten", "6.x", "", "6.10a"])
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="not a kernel version"):
        kversion.parse(text)


def test_detect_walks_up_to_the_top_level_makefile(tmp_path):
    tree = kernel_tree(tmp_path / "linux", 6, 1)
    for start in (tree / "mm" / "a.c", tree / "mm", tree):
        assert kversion.detect([str(start)]) == ((6, 1), str(tree / "Makefile"))


def test_detect_ignores_makefiles_that_are_not_a_kernel_s(tmp_path):
    (tmp_path / "Makefile").write_text("VERSION = 3\nall:\n\ttrue\n")   # no PATCHLEVEL
    (tmp_path / "x.c").write_text("")
    got = kversion.detect([str(tmp_path / "x.c")])
    assert got is None or got[1] != str(tmp_path / "Makefile")


def test_resolve_explicit_wins_over_the_makefile(tmp_path):
    tree = kernel_tree(tmp_path / "linux", 5, 10)
    assert kversion.resolve("6.12", [str(tree / "mm")]).version == (6, 12)
    found = kversion.resolve(None, [str(tree / "mm")])
    assert (found.version, found.text) == ((5, 10), "5.10")
    assert "kernel 5.10" in found.describe() and "Makefile" in found.describe()


def test_unknown_version_describes_itself():
    k = kversion.KernelVersion()
    assert k.text is None and "newest" in k.describe()


def test_option_and_config_errors_are_one_line_exit_2(tmp_path):
    tree = kernel_tree(tmp_path / "linux")
    r = run_cli("--kernel-version", "six", "mm/", cwd=tree)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "kref-lint: error: --kernel-version: not a kernel version: 'six' (write X.Y, e.g. 6.12)"]
    (tree / ".git").mkdir()
    (tree / ".kref-lint.toml").write_text('kernel-version = "5.x"\n')
    r = run_cli("mm/", cwd=tree)
    assert r.returncode == 2 and "'kernel-version' in" in r.stderr
    (tree / ".kref-lint.toml").write_text("kernel-version = 5.1\n")
    r = run_cli("mm/", cwd=tree)
    assert r.returncode == 2 and "'kernel-version' must be a string" in r.stderr


def test_settings_take_the_flag_then_the_config_then_the_makefile(tmp_path):
    from analyzer.modes.settings import settings

    tree = kernel_tree(tmp_path / "linux", 5, 10)
    (tree / ".git").mkdir()
    start = [str(tree / "mm")]

    def kernel(**kw):
        return settings(None, False, start, select=None, ignore=None, rule_files=(), jobs=1,
                        **kw).kernel
    assert kernel().version == (5, 10)
    (tree / ".kref-lint.toml").write_text('kernel-version = "6.1"\n')
    assert kernel().version == (6, 1) and "kernel-version" in kernel().origin
    assert kernel(kernel_version="7.2").version == (7, 2)


def test_the_version_is_part_of_the_cache_key():
    from analyzer.pipeline.options import Options

    assert Options(kernel_version="5.10").cache_salt() != Options().cache_salt()


def test_sarif_run_says_which_kernel_version_the_models_are_for(tmp_path):
    import json

    tree = kernel_tree(tmp_path / "linux", 5, 10)
    out = tmp_path / "run.sarif"
    r = run_cli("--format", "sarif", "-o", str(out), "--no-cache", "mm/", cwd=tree)
    assert r.returncode == 0, r.stderr
    props = json.loads(out.read_text())["runs"][0]["properties"]
    assert props == {"kernelVersion": "5.10", "kernelVersionOrigin": str(tree / "Makefile")}
    r = run_cli("--format", "sarif", "-o", str(out), "--no-cache", "--kernel-version", "7.2",
                "mm/", cwd=tree)
    props = json.loads(out.read_text())["runs"][0]["properties"]
    assert props == {"kernelVersion": "7.2", "kernelVersionOrigin": "--kernel-version"}
