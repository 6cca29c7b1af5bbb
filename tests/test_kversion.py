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


# ------------------------------------------------------------------ model selection
VERSIONED = """
[[acquire.grab]]            # old: a speculative get that returns the object
until = "6.10"
arg = 0
kind = "speculative"
when = "nonzero"
returns_object = true
[[acquire.grab]]            # new: a pin of an object the caller holds, 0 = success
since = "6.10"
arg = 0
kind = "pin"
when = "zero"
needs_ref = true

[acquire.old_get]           # an API only older trees have
until = "5.18"
arg = 0
kind = "speculative"
when = "nonzero"

[acquire.new_get]
since = "6.11"
arg = 0
kind = "plain"

[acquire.always]
arg = 0
kind = "plain"

[lockless_read.gone_here]   # another section's model of a name current trees still have
until = "6.10"
arg = 0
[release.gone_here]
arg = 0
"""


def models_for(kernel):
    from analyzer.models import Models, parse_models

    out = Models()
    for m in parse_models(VERSIONED, "t.toml", kernel):
        out.by_section.setdefault(m.section, {})[m.api] = m
    return out


@pytest.mark.parametrize("kernel, kind, present", [
    ("5.10", "speculative", {"old_get", "always", "grab"}),
    ("6.9", "speculative", {"always", "grab"}),
    ("6.10", "pin", {"always", "grab"}),          # since is inclusive, until exclusive
    ("6.12", "pin", {"always", "grab", "new_get"}),
    (None, "pin", {"always", "grab", "new_get", "old_get"}),
])
def test_each_version_gets_the_variant_that_holds_in_it(kernel, kind, present):
    m = models_for(kernel)
    assert set(m.names("acquire")) == present
    grab = m.get("acquire", "grab")
    assert grab.get("kind") == kind
    assert grab.get("when") == ("zero" if kind == "pin" else "nonzero")
    assert bool(grab.get("returns_object")) == (kind == "speculative")


def test_unknown_version_is_the_newest_models():
    """Unknown: each name's latest variant; an old-only model of a name that newer trees
    still define (in another section) is left out, an old-only name is kept."""
    m = models_for(None)
    assert m.get("lockless_read", "gone_here") is None
    assert m.get("release", "gone_here") is not None
    assert m.get("acquire", "old_get") is not None
    assert models_for("6.1").get("lockless_read", "gone_here") is not None


def test_selection_changes_the_models_fingerprint():
    assert models_for("5.10").fingerprint() != models_for("6.12").fingerprint()


def test_the_built_in_rules_load_for_every_supported_version():
    from analyzer.models import load_models

    for k in ("5.10", "6.1", "6.12", "7.2", None):
        assert load_models(kernel=k).names("acquire")


@pytest.mark.parametrize("text, message", [
    ('[acquire.a]\narg = 0\nkind = "plain"\nsince = "6.x"\n',
     "t.toml:4: 'acquire.a.since': expected a kernel version string \"X.Y\", got '6.x'"),
    ('[acquire.a]\narg = 0\nkind = "plain"\nsince = 6.1\n',
     "t.toml:4: 'acquire.a.since': expected a kernel version string \"X.Y\", got 6.1"),
    ('[acquire.a]\narg = 0\nkind = "plain"\nsince = "6.10"\nuntil = "6.10"\n',
     "t.toml:1: 'acquire.a': since = '6.10' is not before until = '6.10'"),
    ('[[acquire.a]]\narg = 0\nkind = "plain"\nuntil = "6.10"\n'
     '[[acquire.a]]\narg = 0\nkind = "pin"\nsince = "6.9"\n',
     "t.toml:1: 'acquire.a': version ranges overlap at 6.9"),
    ('[[acquire.a]]\narg = 0\nkind = "plain"\nuntil = "6.10"\n'
     '[[acquire.a]]\narg = 0\nkind = "pin"\n',
     "t.toml:5: 'acquire.a': variant 2 of 2 has neither since nor until"),
    ('[[acquire.a]]\narg = 0\nkind = "plain"\nuntil = "6.10"\n'
     '[[acquire.a]]\narg = 0\nkind = "bogus"\nsince = "6.10"\n',
     "'acquire.a.kind': must be one of"),
])
def test_bad_ranges_are_errors_in_every_version(text, message):
    """A range error does not depend on the analyzed version: the file is wrong."""
    from analyzer.models import ModelError, parse_models

    for kernel in ("5.10", "6.12", None):
        with pytest.raises(ModelError) as exc:
            parse_models(text, "t.toml", kernel)
        assert message in str(exc.value), str(exc.value)


# ------------------------------------------------------------------ both shapes, real models
def findings_of(fixture: str, kernel: str | None) -> set[tuple[str, str]]:
    """(function, rule) of each finding the built-in models give FIXTURE at KERNEL."""
    from analyzer.pipeline.file import Analyzer
    from analyzer.pipeline.options import Options
    from tests.conftest import FIXTURES

    path = FIXTURES / "versions" / fixture
    outcome = Analyzer(Options(kernel_version=kernel)).analyze_file(str(path))
    return {(f.function, f.rule_id) for f in outcome.findings}


def test_try_grab_folio_is_read_in_the_shape_of_the_tree_s_version():
    """fixtures/versions/gup_6_1.c is right with the 6.1 models (tests/test_fixtures.py);
    with 6.12's, where try_grab_folio() pins a folio the caller holds, the old speculative
    grab is invisible and reads as a pin of a folio nobody holds, and try_grab_page()
    (gone in 6.10) is no pin at all."""
    old = findings_of("gup_6_1.c", "6.1")
    new = findings_of("gup_6_1.c", "6.12")
    assert ("bad_grab_folio_no_recheck", "speculative-get-unvalidated") in old - new
    assert ("bad_grab_folio_mismatch_keeps_ref", "speculative-ref-leak") in old - new
    assert ("ok_grab_folio_rechecked", "try-get-without-ref") in new - old
    assert ("bad_try_grab_page_on_lockless_page", "try-get-without-ref") in old - new
    # try_get_folio() has one meaning from 5.18 on
    assert ("bad_get_folio_no_recheck", "speculative-get-unvalidated") in old & new


def test_the_5_10_apis_are_known_in_5_10_and_not_after():
    got = findings_of("gup_5_10.c", "5.10")
    assert {("bad_gup_pte_no_recheck", "speculative-get-unvalidated"),
            ("bad_gup_pte_mismatch_keeps_ref", "speculative-ref-leak"),
            ("bad_find_get_entry_no_reload", "speculative-get-unvalidated")} <= got
    assert findings_of("gup_5_10.c", "6.12") == set()   # the names do not exist there


def test_the_5_10_io_apis_start_io_in_5_10_only():
    """kernel_sendpage() and the 5.10 page-cache and iov_iter lookups: known in 5.10
    (fixtures/versions/io_5_10.c), names that 6.12 does not have."""
    got = findings_of("io_5_10.c", "5.10")
    assert {f for f, _ in got} == {"bad_pipe_page_to_sendpage", "bad_cache_page_to_sendpage",
                                   "bad_cache_pages_to_sendpage", "bad_user_page_to_sendpage"}
    assert findings_of("io_5_10.c", "6.12") == set()


def test_rules_apis_lists_the_versions_and_marks_the_variant_used():
    r = run_cli("rules", "--apis", "--versioned", "--kernel-version", "6.1")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines()
             if " try_grab_folio " in line and " acquire " in line]
    assert len(lines) == 2
    assert lines[0].startswith("* ") and "5.18 <= v < 6.10" in lines[0]
    assert "kind=speculative" in lines[0]
    assert lines[1].startswith("  ") and "v >= 6.10" in lines[1] and "kind=pin" in lines[1]
    assert not any(" get_page " in line for line in r.stdout.splitlines())   # --versioned
    r = run_cli("rules", "--apis")
    newest = [line for line in r.stdout.splitlines()
              if " try_grab_folio " in line and " acquire " in line]
    assert newest[1].startswith("* ") and any(" get_page " in x for x in r.stdout.splitlines())
    r = run_cli("rules", "--apis", "--kernel-version", "x")
    assert r.returncode == 2 and r.stderr.startswith("kref-lint: error: --kernel-version")


def test_shmem_get_folio_s_out_parameter_moves_with_the_version():
    """page-ref-leak: the folio shmem_get_folio() references is at index 2 up to 6.11 and at
    index 3 from 6.12 (write_end came before it).  Each shape is a leak with its own
    version's models (tests/test_fixtures.py checks the lines); the 6.1 shape read with
    6.12's models gives nothing (index 3 is the sgp enumerator)."""
    leak = ("bad_shmem_read_poisoned", "page-ref-leak")
    assert leak in findings_of("leak_6_1.c", "6.1")
    assert leak not in findings_of("leak_6_1.c", "6.12")
    assert leak in findings_of("../leak/shmem.c", "6.12")


def test_a_constant_in_an_out_parameter_s_place_receives_no_reference():
    """The 6.12 shape of shmem_get_folio() read with 6.1's models (a wrong
    --kernel-version): index 2 is the literal write_end, which can hold no reference (it
    used to be reported as "'0' keeps ? references")."""
    assert findings_of("../leak/shmem.c", "6.1") == set()
