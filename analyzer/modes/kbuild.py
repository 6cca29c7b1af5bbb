"""``make C=1 CHECK=kref-lint`` / ``make C=2 CHECK=kref-lint mm/``: kref-lint as kbuild's
source checker, the way sparse and Smatch run.

kbuild runs ``$(CHECK) $(CHECKFLAGS) $(c_flags) FILE.c`` for every C file it compiles
(``C=1``) or every C file of the targets (``C=2``), from the top of the tree.  On 6.12
x86_64 that is::

    kref-lint -D__linux__ -Dlinux -D__STDC__ -Dunix -D__unix__ -Wbitwise -Wno-return-void
      -Wno-unknown-attribute -D__x86_64__ --arch=x86_64 -mlittle-endian -m64
      -Wp,-MMD,mm/.gup.o.d -nostdinc -I./arch/x86/include ... -include
      ./include/linux/kconfig.h ... -D__KERNEL__ ... -O2 ... -Wall ... -DKBUILD_MODNAME='"gup"'
      mm/gup.c

Those are the libclang flags, exactly as the build uses them, cleaned the way compile
database entries are (:func:`analyzer.pipeline.flags.clean_command`: warnings,
dependency output and gcc-only flags dropped), with sparse's own flags translated
(``--arch=`` and ``-m32``/``-m64`` become clang's ``--target=``; ``-mlittle-endian``,
``-mbig-endian`` go).  The file is analyzed with libclang in an isolated worker, with the
inline functions of the headers in its own directory (``mm/internal.h``); findings in
those headers are reported with each TU that includes them, as gcc and sparse do.

Diagnostics go to stderr in gcc's format (sparse's stream), nothing to stdout.  The exit
code is sparse's: 0 whatever was found, so the build goes on; 2 when kref-lint itself
cannot run (bad arguments, no libclang, a bad rule file), which stops ``make``.  The
opt-in ``-Wsparse-error`` (sparse's spelling; e.g. ``make C=2 CF=-Wsparse-error``) or
``--fail-on-findings`` turns findings into ``error:`` lines and the exit code into 1 when
there is one, or when the file could not be analyzed.

kref-lint's own options may be given too (``CHECK="kref-lint --select RULE"``):
``--select``, ``--ignore``, ``--rules``, ``--config``, ``--no-config``, ``--no-cache``,
``--show-path``, ``--show-diagnostics``, ``-q``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from analyzer.frontend import clang
from analyzer.modes.console import Console
from analyzer.modes.settings import UsageError, settings, split_ids
from analyzer.pipeline.cache import ResultCache, default_dir
from analyzer.pipeline.flags import clean_command
from analyzer.pipeline.options import Loaded, Options
from analyzer.pipeline.plan import make_plan
from analyzer.pipeline.run import run_plan
from analyzer.report.text import diagnostic_line, format_findings
from analyzer.results.run import RunResult

#: sparse's --arch names (kbuild passes $(ARCH)) -> clang target for 64 / 32 bits
_TARGETS = {
    "x86_64": ("x86_64-linux-gnu", "i386-linux-gnu"),
    "x86": ("x86_64-linux-gnu", "i386-linux-gnu"),
    "i386": ("x86_64-linux-gnu", "i386-linux-gnu"),
    "arm64": ("aarch64-linux-gnu", "arm-linux-gnueabi"),
    "aarch64": ("aarch64-linux-gnu", "arm-linux-gnueabi"),
    "arm": ("aarch64-linux-gnu", "arm-linux-gnueabi"),
    "riscv": ("riscv64-linux-gnu", "riscv32-linux-gnu"),
    "riscv64": ("riscv64-linux-gnu", "riscv32-linux-gnu"),
    "powerpc": ("powerpc64le-linux-gnu", "powerpc-linux-gnu"),
    "ppc64": ("powerpc64le-linux-gnu", "powerpc-linux-gnu"),
    "s390": ("s390x-linux-gnu", "s390-linux-gnu"),
    "s390x": ("s390x-linux-gnu", "s390-linux-gnu"),
    "loongarch": ("loongarch64-linux-gnu", "loongarch32-linux-gnu"),
    "mips": ("mips64-linux-gnuabi64", "mips-linux-gnu"),
    "sparc": ("sparc64-linux-gnu", "sparc-linux-gnu"),
}
#: sparse options that take a separate value and mean nothing to clang
_SPARSE_WITH_VALUE = frozenset({"-gcc-base-dir", "-multiarch-dir", "-arch"})
#: kref-lint's own flags (no value) and options (a value) in kbuild mode
_OWN_FLAGS = frozenset({"--fail-on-findings", "--no-cache", "--no-config", "--show-path",
                        "--show-diagnostics", "-q", "--quiet"})
_OWN_VALUES = frozenset({"--select", "--ignore", "--rules", "--config"})


def looks_like_kbuild(args: Sequence[str]) -> bool:
    """Whether a command line is a compiler's (kbuild's CHECK invocation): kref-lint's
    own options never look like these."""
    return any(a.startswith(("-D", "-I", "--arch=", "-Wp,")) or a in ("-include", "-nostdinc")
               for a in args)


@dataclass
class KbuildArgs:
    sources: list[str] = field(default_factory=list)
    compiler: list[str] = field(default_factory=list)     # as kbuild passed them
    fail: bool = False
    flags: set[str] = field(default_factory=set)          # kref-lint's own flags given
    values: dict[str, list[str]] = field(default_factory=dict)


def parse_args(argv: Sequence[str]) -> KbuildArgs:
    out = KbuildArgs()
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        name, eq, value = a.partition("=")
        if a in _OWN_FLAGS:
            out.flags.add("--quiet" if a == "-q" else a)
        elif name in _OWN_VALUES:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"{a} needs a value")
                value, i = argv[i], i + 1
            out.values.setdefault(name, []).append(value)
        elif a == "-Wsparse-error":
            out.fail = True
        elif a == "-Wno-sparse-error":
            out.fail = False
        elif a in _SPARSE_WITH_VALUE:
            i += 1
        elif not a.startswith("-") and a.endswith(".c"):
            out.sources.append(a)
        else:
            out.compiler.append(a)
    if "--fail-on-findings" in out.flags:
        out.fail = True
    if not out.sources:
        raise UsageError("no C source file in the checker's arguments (kbuild passes it "
                         "last: kref-lint [FLAGS] FILE.c)")
    return out


def clang_flags(compiler: Sequence[str], cwd: str, source: str) -> list[str]:
    """kbuild's flags as libclang's: sparse's translated, the rest cleaned like a compile
    database entry's (relative paths made absolute against ``cwd``)."""
    arch, bits, rest = None, 64, []
    for a in compiler:
        if a.startswith("--arch="):
            arch = a.split("=", 1)[1]
        elif a in ("-m32", "-m64"):
            bits = 32 if a == "-m32" else 64
            rest.append(a)
        elif a in ("-mlittle-endian", "-mbig-endian"):
            continue
        else:
            rest.append(a)
    args = clean_command(["cc", *rest], cwd, source)
    if arch is not None and not any(a.startswith(("--target=", "-target")) for a in args):
        targets = _TARGETS.get(arch)
        if targets is not None:
            args.insert(0, f"--target={targets[0] if bits == 64 else targets[1]}")
    return args


def main(argv: Sequence[str]) -> int:
    """Check the file(s) kbuild names; the exit code (see the module doc)."""
    kb = parse_args(argv)
    console = Console(quiet="--quiet" in kb.flags,
                      show_diagnostics="--show-diagnostics" in kb.flags)
    cwd = os.getcwd()
    sources = [os.path.abspath(s) for s in kb.sources]
    missing = [s for s, a in zip(kb.sources, sources) if not os.path.isfile(a)]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    if not clang.available():
        raise UsageError("libclang cannot be loaded (pip install libclang): kbuild mode "
                         "reads the file with the build's flags through libclang")
    conf = settings(_one(kb, "--config"), "--no-config" in kb.flags, sources,
                    select=split_ids(kb.values["--select"]) if "--select" in kb.values
                    else None,
                    ignore=split_ids(kb.values["--ignore"]) if "--ignore" in kb.values
                    else None,
                    rule_files=kb.values.get("--rules", ()), jobs=1)
    failed = found = False
    cache = None if "--no-cache" in kb.flags else ResultCache(default_dir(), salt="kbuild")
    for source, given in zip(sources, kb.sources):
        options = Options(conf.rule_files, frozenset(conf.select) if conf.select else None,
                          frozenset(conf.ignore), "clang",
                          clang_args=tuple(clang_flags(kb.compiler, cwd, given)),
                          header_roots=(os.path.dirname(source),),
                          kernel_version=conf.kernel.text)
        run = _analyze(source, options, cache)
        level = "error" if kb.fail else "warning"
        text = format_findings(run.findings, cwd, run.lines, "--show-path" in kb.flags,
                               level=level)
        sys.stderr.write(text)
        for n in run.notifications:
            if n.level == "error" or console.show_diagnostics:
                print(diagnostic_line(n, cwd), file=sys.stderr)
        found = found or bool(run.findings)
        failed = failed or bool(run.stats.failed_files)
    return 1 if kb.fail and (found or failed) else 0


def _one(kb: KbuildArgs, name: str) -> str | None:
    values = kb.values.get(name) or []
    return values[-1] if values else None


def _analyze(source: str, options: Options, cache: ResultCache | None) -> RunResult:
    headers = _local_headers(os.path.dirname(source))
    plan = make_plan([source], options, Loaded(options), prefilter_headers=headers)
    outcomes = run_plan(plan, options, 1, cache)
    return RunResult.from_outcomes(outcomes, os.path.dirname(source), plan.notes)


def _local_headers(directory: str) -> list[str]:
    try:
        return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                      if n.endswith(".h"))
    except OSError:
        return []
