"""kref-lint as kbuild's checker: ``make C=1/C=2 CHECK=kref-lint``.

The argument list below is what kbuild 6.12 passes for mm/gup.o on x86_64 (seen with
``make V=1 C=2 CHECK=echo mm/gup.o``): CHECKFLAGS (sparse's), then the C flags, then the
file.  The real build runs at the end, on the corpus."""
from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.modes.kbuild import clang_flags, looks_like_kbuild, parse_args
from tests.conftest import CACHE_DIR, FIXTURES, run_cli

KBUILD_6_12 = ["-D__linux__", "-Dlinux", "-D__STDC__", "-Dunix", "-D__unix__", "-Wbitwise", "-Wno-return-void", "-Wno-unknown-attribute", "-D__x86_64__", "--arch=x86_64", "-mlittle-endian", "-m64", "-Wp,-MMD,mm/.gup.o.d", "-nostdinc", "-I./arch/x86/include", "-I./arch/x86/include/generated", "-I./include", "-I./arch/x86/include/uapi", "-I./arch/x86/include/generated/uapi", "-I./include/uapi", "-I./include/generated/uapi", "-include", "./include/linux/compiler-version.h", "-include", "./include/linux/kconfig.h", "-include", "./include/linux/compiler_types.h", "-D__KERNEL__", "-fmacro-prefix-map=./=", "-Werror", "-std=gnu11", "-fshort-wchar", "-funsigned-char", "-fno-common", "-fno-PIE", "-fno-strict-aliasing", "-mno-sse", "-mno-mmx", "-mno-sse2", "-mno-3dnow", "-mno-avx", "-fcf-protection=branch", "-fno-jump-tables", "-m64", "-falign-jumps=1", "-falign-loops=1", "-mno-80387", "-mno-fp-ret-in-387", "-mpreferred-stack-boundary=3", "-mskip-rax-setup", "-mtune=generic", "-mno-red-zone", "-mcmodel=kernel", "-Wno-sign-compare", "-fno-asynchronous-unwind-tables", "-mindirect-branch=thunk-extern", "-mindirect-branch-register", "-mindirect-branch-cs-prefix", "-mfunction-return=thunk-extern", "-fno-jump-tables", "-fpatchable-function-entry=16,16", "-fno-delete-null-pointer-checks", "-O2", "-fno-allow-store-data-races", "-fstack-protector-strong", "-fomit-frame-pointer", "-ftrivial-auto-var-init=zero", "-fno-stack-clash-protection", "-falign-functions=16", "-fno-strict-overflow", "-fno-stack-check", "-fconserve-stack", "-fno-builtin-wcslen", "-Wall", "-Wextra", "-Wundef", "-Werror=implicit-function-declaration", "-Wframe-larger-than=2048", "-Wimplicit-fallthrough=5", '-DKBUILD_MODFILE="mm/gup"', '-DKBUILD_BASENAME="gup"', '-DKBUILD_MODNAME="gup"', "-D__KBUILD_MODNAME=kmod_gup", "mm/gup.c"]


def test_kbuilds_arguments_become_libclang_flags():
    assert looks_like_kbuild(KBUILD_6_12)
    assert not looks_like_kbuild(["--select", "try-get-without-ref", "mm/"])
    kb = parse_args(KBUILD_6_12)
    assert kb.sources == ["mm/gup.c"] and not kb.fail
    args = clang_flags(kb.compiler, "/linux", "mm/gup.c")
    assert args[0] == "--target=x86_64-linux-gnu"              # from --arch= and -m64
    for kept in ("-nostdinc", "-D__KERNEL__", "-D__x86_64__", "-std=gnu11", "-m64",
                 "-mcmodel=kernel", '-DKBUILD_MODNAME="gup"', "-I/linux/arch/x86/include",
                 "-I/linux/include"):
        assert kept in args, kept
    inc = [args[i + 1] for i, a in enumerate(args) if a == "-include"]
    assert inc == ["/linux/include/linux/compiler-version.h",
                   "/linux/include/linux/kconfig.h", "/linux/include/linux/compiler_types.h"]
    for dropped in ("--arch=x86_64", "-mlittle-endian", "-Wp,-MMD,mm/.gup.o.d", "-Werror",
                    "-Wbitwise", "-Wall", "-fconserve-stack", "-mindirect-branch-register",
                    "-mpreferred-stack-boundary=3", "mm/gup.c"):
        assert dropped not in args, dropped
    assert args[-1] == "-w"
    # 32-bit and other architectures
    assert clang_flags(["--arch=x86", "-m32"], "/", "a.c")[0] == "--target=i386-linux-gnu"
    assert clang_flags(["--arch=arm64", "-mlittle-endian", "-m64"], "/", "a.c")[0] == \
        "--target=aarch64-linux-gnu"
    # the opt-in and kref-lint's own options, anywhere
    kb = parse_args(["--select", "try-get-without-ref", *KBUILD_6_12, "-Wsparse-error"])
    assert kb.fail and kb.values["--select"] == ["try-get-without-ref"]


FIXTURE_ARGS = ("-D__linux__", "--arch=x86_64", "-m64", "-mlittle-endian", "-Wp,-MMD,x.d",
                "-std=gnu11", "-I", str(FIXTURES / "include"), "-Werror", "-Wall")


def test_checker_invocation_prints_gcc_style_to_stderr_and_exits_0(tmp_path):
    r = run_cli(*FIXTURE_ARGS, "--no-cache", "fixtures/tryget/gup_fast.c")
    assert r.returncode == 0, r.stderr                      # the build goes on
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines and all(re.match(r"^fixtures/tryget/gup_fast\.c:\d+:\d+: warning: .+ "
                                  r"\[try-get-without-ref\]$", line) for line in lines), lines
    assert "fixtures/tryget/gup_fast.c:16:14: warning: try_get_page() on 'page'" in r.stderr
    # the opt-in: findings are errors and fail the build, as sparse's -Wsparse-error
    r = run_cli(*FIXTURE_ARGS, "-Wsparse-error", "fixtures/tryget/gup_fast.c")
    assert r.returncode == 1
    assert all(": error: " in line for line in r.stderr.splitlines())
    r = run_cli("--fail-on-findings", *FIXTURE_ARGS, "fixtures/tryget/gup_fast.c")
    assert r.returncode == 1
    # a clean file, through the explicit `kbuild` command: silent, as sparse
    clean = tmp_path / "clean.c"
    clean.write_text('#include "kernel.h"\nint f(struct page *page)\n{\n'
                     '\treturn page_ref_count(page) > 0;\n}\n')
    r = run_cli("kbuild", *FIXTURE_ARGS, "-Wsparse-error", str(clean))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_checker_with_show_path_and_select():
    r = run_cli("--select", "try-get-without-ref", "--show-path", *FIXTURE_ARGS,
                "fixtures/tryget/gup_fast.c")
    notes = [line for line in r.stderr.splitlines() if ": note: " in line]
    assert notes and all(re.match(r"^fixtures/tryget/gup_fast\.c:\d+:\d+: note: ", line)
                         for line in notes)


@pytest.mark.corpus
def test_make_c2_check_kref_lint_on_the_corpus(built_tree):
    """The real thing: kbuild runs the installed kref-lint on mm/bootmem_info.o, whose
    racy-refcount-check finding is triaged (tests/data/corpus-findings.txt)."""
    script = Path(sys.executable).parent / "kref-lint"
    assert script.exists(), "kref-lint is not installed here: pip install '.[test]'"
    env = {**os.environ, "KREF_LINT_CACHE_DIR": CACHE_DIR}
    env.pop("PYTHONPATH", None)
    # the corpus is shared: build under its lock, as scripts/kernel-corpus does
    with open(built_tree.parent / f"{built_tree.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ok = subprocess.run(["make", "ARCH=x86_64", "C=2", f"CHECK={script}",
                             "mm/bootmem_info.o"], cwd=built_tree, env=env,
                            capture_output=True, text=True, timeout=1800,
                            stdin=subprocess.DEVNULL)
        failing = subprocess.run(["make", "ARCH=x86_64", "C=2", f"CHECK={script}",
                                  "CF=-Wsparse-error", "mm/bootmem_info.o"], cwd=built_tree,
                                 env=env, capture_output=True, text=True, timeout=1800,
                                 stdin=subprocess.DEVNULL)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "  CHECK   mm/bootmem_info.c" in ok.stdout
    warning = [line for line in ok.stderr.splitlines() if line.startswith("mm/bootmem_info.c:")]
    assert len(warning) == 1 and re.match(
        r"^mm/bootmem_info\.c:\d+:\d+: warning: free_reserved_page\(\) assumes no other "
        r"reference to 'page' after an unfrozen count check \(line \d+\).*"
        r" \[racy-refcount-check\]$", warning[0]), ok.stderr
    assert "Traceback" not in ok.stderr and "kref-lint: error" not in ok.stderr
    # CF=-Wsparse-error: the finding is an error and the build stops there
    assert failing.returncode != 0
    assert any(line.startswith("mm/bootmem_info.c:") and ": error: " in line
               for line in failing.stderr.splitlines()), failing.stderr
