"""Compile flags for the libclang frontend: cleaning a gcc build's commands, finding the
compile database, synthesizing flags for a prepared tree -- and both ways against the real
kernel corpus (scripts/kernel-corpus)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.pipeline import flags
from analyzer.pipeline.flags import FlagResolver, clean_command, synthesize

KBUILD_CMD = (
    "gcc -Wp,-MMD,mm/.gup.o.d -nostdinc -I./arch/x86/include -I./include "
    "-include ./include/linux/kconfig.h -D__KERNEL__ -Werror -std=gnu11 -O2 "
    "-mpreferred-stack-boundary=3 -mindirect-branch=thunk-extern -mindirect-branch-register "
    "-fno-allow-store-data-races -fconserve-stack -falign-jumps=1 -Wno-dangling-pointer "
    "-Wimplicit-fallthrough=5 -mrecord-mcount -fmin-function-alignment=16 "
    "-DKBUILD_MODNAME='\"gup\"' -c -o mm/gup.o mm/gup.c")


def test_clean_command_keeps_what_the_preprocessor_needs(tmp_path):
    import shlex

    args = clean_command(shlex.split(KBUILD_CMD), str(tmp_path), "mm/gup.c")
    assert args == ["-nostdinc", f"-I{tmp_path}/arch/x86/include", f"-I{tmp_path}/include",
                    "-include", f"{tmp_path}/include/linux/kconfig.h", "-D__KERNEL__",
                    "-std=gnu11", "-O2", '-DKBUILD_MODNAME="gup"', "-w"]


def test_cross_compiler_becomes_a_target():
    args = clean_command(["aarch64-linux-gnu-gcc", "-c", "x.c", "-o", "x.o"], "/t", "x.c")
    assert args == ["--target=aarch64-linux-gnu", "-w"]


def test_output_and_dependency_flags_dropped():
    argv = ["cc", "-MD", "-MF", "x.d", "-MT", "x.o", "-MQx", "-S", "-E", "-pipe",
            "-save-temps", "-Wa,--noexecstack", "-o", "x.o", "x.c", "-DX=1"]
    assert clean_command(argv, "/t", "x.c") == ["-DX=1", "-w"]


def _libclang_diagnostics(flag: str) -> list[str]:
    import clang.cindex as ci

    tu = ci.Index.create().parse("t.c", [flag], unsaved_files=[("t.c", b"int x;\n")])
    return [str(d) for d in tu.diagnostics]


@pytest.mark.parametrize("flag", sorted(flags.GCC_ONLY_FLAGS) + [
    "-mindirect-branch=thunk-extern", "-mpreferred-stack-boundary=3",
    "-mincoming-stack-boundary=3", "-fmin-function-alignment=16", "-falign-jumps=1",
    "-falign-labels=1", "--param=asan-stack=1", "-fasan-shadow-offset=0x1",
    "-fstrub=disable", "-fzero-init-padding-bits=all", "-fcallgraph-info=su",
    "-fdump-ipa-clones"])
def test_every_listed_gcc_flag_is_one_clang_complains_about(flag):
    """The list holds what libclang rejects or warns about, and nothing else."""
    assert flags._gcc_only(flag)
    assert _libclang_diagnostics(flag), f"{flag} is fine with clang: take it off the list"


@pytest.mark.parametrize("flag", ["-mfunction-return=thunk-extern", "-mskip-rax-setup",
                                  "-fpatchable-function-entry=16,16", "-mcmodel=kernel",
                                  "-ftrivial-auto-var-init=zero", "-fno-PIE"])
def test_kernel_flags_clang_accepts_are_kept(flag):
    assert not flags._gcc_only(flag)
    assert _libclang_diagnostics(flag) == []


def _fake_tree(root: Path, arch_symbol: str = "CONFIG_X86_64") -> Path:
    (root / "include" / "generated").mkdir(parents=True)
    (root / "include" / "generated" / "autoconf.h").write_text(f"#define {arch_symbol} 1\n")
    (root / "include" / "linux").mkdir()
    for h in ("kconfig.h", "compiler_types.h"):
        (root / "include" / "linux" / h).write_text("")
    for d in ("mm", "virt/kvm"):
        (root / d).mkdir(parents=True)
    (root / "mm" / "gup.c").write_text("int x;\n")
    (root / "virt" / "kvm" / "kvm_main.c").write_text("int y;\n")
    return root


def test_resolution_order(tmp_path):
    tree = _fake_tree(tmp_path)
    gup = str(tree / "mm" / "gup.c")
    r = FlagResolver()
    got = r.resolve(gup)
    assert got.origin == "synthesized" and got.source == str(tree)
    (tree / "compile_commands.json").write_text(json.dumps([
        {"directory": str(tree), "file": "mm/gup.c", "command": "gcc -DFROM_DB -c mm/gup.c"}]))
    got = FlagResolver().resolve(gup)
    assert got.origin == "compile_commands" and got.args == ("-DFROM_DB", "-w")
    # a file the database does not know: the prepared tree still gives flags
    got = FlagResolver().resolve(str(tree / "virt" / "kvm" / "kvm_main.c"))
    assert got.origin == "synthesized"
    # an explicit database wins over the one found by walking up
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps([{"directory": str(tree), "file": gup,
                                  "arguments": ["cc", "-DOTHER", gup]}]))
    assert FlagResolver(str(other)).resolve(gup).args == ("-DOTHER", "-w")


def test_no_flags_and_why(tmp_path):
    (tmp_path / "x.c").write_text("int x;\n")
    r = FlagResolver()
    assert r.resolve(str(tmp_path / "x.c")) is None
    assert "no compile_commands.json" in r.why_not(str(tmp_path / "x.c"))
    (tmp_path / "compile_commands.json").write_text("{broken")
    r = FlagResolver()
    assert r.resolve(str(tmp_path / "x.c")) is None
    assert r.errors and "cannot read compile database" in r.errors[0]


def test_synthesized_flags(tmp_path):
    tree = _fake_tree(tmp_path)
    args = synthesize(str(tree / "virt" / "kvm" / "kvm_main.c"), str(tree))
    assert args[0] == "-nostdinc"
    assert ["-include", str(tree / "include/linux/kconfig.h")] == args[
        args.index("-include"):args.index("-include") + 2]
    for needed in ("-D__KERNEL__", "-mcmodel=kernel", '-DKBUILD_MODNAME="kvm"',
                   '-DKBUILD_BASENAME="kvm_main"', "-w"):
        assert needed in args
    assert str(tree / "arch/x86/kvm") in args and str(tree / "arch/x86/include/generated") in args
    assert synthesize(str(tree / "mm" / "gup.c"), str(_fake_tree(tmp_path / "t2",
                                                                  "CONFIG_ALPHA"))) is None


# ---------------------------------------------------------------------- the real corpus
@pytest.fixture(scope="module")
def corpus(built_tree) -> Path:
    return built_tree


SAMPLE = ("mm/gup.c", "mm/filemap.c", "mm/memory_hotplug.c", "virt/kvm/kvm_main.c")


def test_corpus_database_flags_parse_without_errors(corpus):
    from analyzer.frontend import clang
    from analyzer.models import load_models

    db = json.loads((corpus / "compile_commands.json").read_text())
    r = FlagResolver()
    for e in db:                                  # every entry resolves through the DB
        got = r.resolve(e["file"])
        assert got is not None and got.origin == "compile_commands", e["file"]
        assert not any(flags._gcc_only(a) or a.startswith("-W") for a in got.args)
    m = load_models()
    for rel in SAMPLE:
        res = clang.parse_tu(str(corpus / rel), r.resolve(str(corpus / rel)).args,
                             m.iterators(), m.identifiers())
        assert (res.errors, res.flag_problems) == (0, ()), res.diagnostics
        assert len(res.files[0].functions) > 20


def test_corpus_synthesized_flags_parse_without_errors(corpus):
    """``make defconfig && make prepare`` is enough: no compile database needed."""
    from analyzer.frontend import clang
    from analyzer.models import load_models

    r = FlagResolver(compile_commands=str(corpus / "no-such-compile_commands.json"))
    m = load_models()
    for rel in SAMPLE:
        got = r.resolve(str(corpus / rel))
        assert got is not None and got.origin == "synthesized"
        res = clang.parse_tu(str(corpus / rel), got.args, m.iterators(), m.identifiers())
        assert (res.errors, res.flag_problems) == (0, ()), res.diagnostics
