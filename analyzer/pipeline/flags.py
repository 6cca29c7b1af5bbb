"""Compile flags for the libclang frontend, per file.

Resolution order (:meth:`FlagResolver.resolve`):

1. ``compile_commands.json`` -- the file given explicitly (``--compile-commands``), else
   the first one found walking up from the analyzed file.  Its command for that file is
   cleaned for libclang (:func:`clean_command`): the compiler and the source are dropped,
   as are output and dependency flags (``-o``, ``-c``, ``-MD``, ``-Wp,-MMD,...``), every
   warning flag (``-W...``: a gcc build's ``-Werror`` plus gcc-only warning names would be
   errors to clang; ``-w`` is added instead, warnings never matter to the analysis), and
   the gcc-only flags clang rejects (:data:`GCC_ONLY_FLAGS` / :data:`GCC_ONLY_PREFIXES`,
   the one list, tested).  Relative include paths are made absolute against the entry's
   ``directory``; a cross compiler (``aarch64-linux-gnu-gcc``) becomes ``--target=``.
2. A *prepared* kernel tree (``include/generated/autoconf.h`` exists above the file,
   i.e. ``make defconfig && make prepare`` was run): flags synthesized the way Kbuild
   builds a C file (:func:`synthesize`): the arch and uapi include dirs (generated ones
   included), ``-include`` of ``compiler-version.h``, ``kconfig.h`` and
   ``compiler_types.h``, ``-D__KERNEL__``, ``-nostdinc``, ``-DKBUILD_MODNAME=...``.
3. ``None``: no way to build the file -- the caller uses tree-sitter, with the one note
   :meth:`FlagResolver.why_not` gives.

The kernel is built with ``-nostdinc`` and carries its own ``stddef.h``/``stdarg.h``, so the
builtin headers of clang's resource directory (which the ``libclang`` wheel does not ship)
are not needed; a compile database entry that relies on them fails to parse with a
"file not found" error, which the frontend reports.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass

__all__ = [
    "GCC_ONLY_FLAGS",
    "GCC_ONLY_PREFIXES",
    "CompileFlags",
    "FlagResolver",
    "clean_command",
    "find_compile_commands",
    "find_kernel_tree",
    "synthesize",
]

# ---------------------------------------------------------------------- the gcc-only list
#: gcc flags that clang rejects ("unknown argument") or warns about (and a build's
#: ``-Werror`` would turn the warning into an error).  Exact spellings.
GCC_ONLY_FLAGS = frozenset((
    # unknown to clang ("unknown argument" / "unsupported option")
    "-fconserve-stack", "-fno-allow-store-data-races", "-mindirect-branch-register",
    "-mrecord-mcount", "-fno-var-tracking-assignments", "-fno-ipa-sra", "-fno-ipa-cp-clone",
    "-fno-ipa-bit-cp", "-fno-ipa-icf", "-fno-partial-inlining", "-fno-tree-loop-im",
    "-fno-code-hoisting", "-fsched-pressure", "-fno-tree-switch-conversion",
    "-femit-struct-debug-baseonly", "-fno-guess-branch-probability", "-fno-crossjumping",
    "-fno-peephole2", "-fno-shrink-wrap", "-fno-delayed-branch", "-fdiagnostics-show-context",
    "-fmin-function-alignment", "-fanalyzer",
    # known but ignored with a warning ("optimization flag ... is not supported")
    "-falign-jumps", "-falign-loops", "-falign-labels", "-fno-gcse",
    "-fno-inline-functions-called-once", "-fno-reorder-blocks", "-fno-schedule-insns2",
    "-fsanitize-address-use-after-scope",
))
#: Prefixes of gcc-only flags that take a value (``-mindirect-branch=thunk-extern``).
#: ``-fplugin``: gcc plugins cannot be loaded into clang.
GCC_ONLY_PREFIXES = (
    "-mindirect-branch=", "-mpreferred-stack-boundary=", "-mincoming-stack-boundary=",
    "-fmin-function-alignment=", "-falign-jumps=", "-falign-labels=", "--param=",
    "-fasan-shadow-offset=", "-fstrub=", "-fzero-init-padding-bits=", "-fcallgraph-info",
    "-fdump-", "-fplugin=", "-fplugin-arg-",
)
#: Output and dependency flags, dropped; the value is how many arguments they consume.
_OUTPUT_FLAGS = {
    "-o": 1, "-MF": 1, "-MT": 1, "-MQ": 1, "-c": 0, "-S": 0, "-E": 0, "-M": 0, "-MM": 0,
    "-MD": 0, "-MMD": 0, "-MP": 0, "-MG": 0, "-pipe": 0, "-save-temps": 0, "-v": 0,
    "-fsyntax-only": 0, "--param": 1,
}
#: Flags whose (separate or joined) value is a path, made absolute.
_PATH_FLAGS = ("-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros",
               "-isysroot", "--sysroot")
_CROSS_GCC = re.compile(r"^(?P<triple>[\w.]+-[\w.]+-[\w.]+(?:-[\w.]+)?)-(?:gcc|cc)(?:-[\d.]+)?$")


def _gcc_only(arg: str) -> bool:
    if arg in GCC_ONLY_FLAGS:
        return True
    if arg.startswith(GCC_ONLY_PREFIXES):
        return True
    base = arg.split("=", 1)[0]
    return base in GCC_ONLY_FLAGS


@dataclass(frozen=True)
class CompileFlags:
    """What libclang gets for one file."""

    args: tuple[str, ...]
    origin: str              # "compile_commands" | "synthesized" | "explicit"
    source: str              # the compile_commands.json, or the kernel tree root
    directory: str           # the working directory the build used

    def describe(self) -> str:
        if self.origin == "compile_commands":
            return f"flags from {self.source}"
        if self.origin == "synthesized":
            return f"flags synthesized for the prepared kernel tree {self.source}"
        return "explicit flags"


# ---------------------------------------------------------------------- compile_commands
def clean_command(argv: list[str], directory: str, source: str | None = None) -> list[str]:
    """The flags of one compile command, made fit for libclang (see the module doc)."""
    out: list[str] = []
    if not argv:
        return out
    prog = os.path.basename(argv[0])
    m = _CROSS_GCC.match(prog)
    if m:
        out.append(f"--target={m.group('triple')}")
    src_real = os.path.realpath(os.path.join(directory, source)) if source else None
    i = 1
    n = len(argv)
    while i < n:
        a = argv[i]
        i += 1
        if a in _OUTPUT_FLAGS:
            i += _OUTPUT_FLAGS[a]
            continue
        if a.startswith(("-Wp,", "-Wa,", "-Wl,")):
            continue
        if a.startswith(("-W", "-pedantic")) or a == "-w":
            continue                               # every warning flag, -Werror included
        if a.startswith(("-MF", "-MT", "-MQ")) and len(a) > 3:
            continue
        if _gcc_only(a):
            continue
        if not a.startswith("-"):
            if src_real is not None and os.path.realpath(os.path.join(directory, a)) == src_real:
                continue                           # the source file itself
            if a.endswith((".c", ".o", ".s", ".S")):
                continue
            out.append(a)
            continue
        handled = False
        for flag in _PATH_FLAGS:
            if a == flag and i < n:
                out += [flag, _abs(argv[i], directory)]
                i += 1
                handled = True
                break
            if a.startswith(flag) and len(a) > len(flag) and flag in ("-I", "-isystem",
                                                                      "-iquote", "-idirafter"):
                out.append(flag + _abs(a[len(flag):], directory))
                handled = True
                break
            if a.startswith(flag + "="):
                out.append(f"{flag}={_abs(a[len(flag) + 1:], directory)}")
                handled = True
                break
        if not handled:
            out.append(a)
    out.append("-w")
    return out


def _abs(path: str, directory: str) -> str:
    return os.path.normpath(os.path.join(directory, path))


def find_compile_commands(path: str) -> str | None:
    """The nearest ``compile_commands.json`` in the directories above ``path``."""
    d = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    while True:
        cand = os.path.join(d, "compile_commands.json")
        if os.path.isfile(cand):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


class CompileDBError(Exception):
    """A compile_commands.json that cannot be read (the message says why)."""


def load_compile_commands(db: str) -> dict[str, tuple[list[str], str]]:
    """realpath of each file -> (argv, directory).  Raise CompileDBError."""
    try:
        with open(db, encoding="utf-8") as fh:
            entries = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompileDBError(f"{db}: cannot read compile database: {exc}") from None
    if not isinstance(entries, list):
        raise CompileDBError(f"{db}: not a JSON array of compile commands")
    out: dict[str, tuple[list[str], str]] = {}
    for e in entries:
        if not isinstance(e, dict) or "file" not in e:
            continue
        directory = str(e.get("directory") or os.path.dirname(db))
        if "arguments" in e and isinstance(e["arguments"], list):
            argv = [str(a) for a in e["arguments"]]
        elif isinstance(e.get("command"), str):
            try:
                argv = shlex.split(e["command"])
            except ValueError:
                continue
        else:
            continue
        f = os.path.realpath(os.path.join(directory, str(e["file"])))
        out.setdefault(f, (argv, directory))
    return out


# ---------------------------------------------------------------------- a prepared tree
_ARCHES = (                     # autoconf.h symbol -> (SRCARCH, extra flags)
    ("CONFIG_X86_64", "x86", ("-m64", "-mno-red-zone", "-mcmodel=kernel", "-mno-sse",
                              "-mno-mmx", "-mno-sse2", "-mno-3dnow", "-mno-avx",
                              "-mno-80387")),
    ("CONFIG_X86_32", "x86", ("-m32", "-mregparm=3", "-mno-sse", "-mno-mmx")),
    ("CONFIG_ARM64", "arm64", ("--target=aarch64-linux-gnu", "-mgeneral-regs-only")),
    ("CONFIG_ARM", "arm", ("--target=arm-linux-gnueabi",)),
    ("CONFIG_RISCV", "riscv", ("--target=riscv64-linux-gnu",)),
    ("CONFIG_PPC64", "powerpc", ("--target=powerpc64le-linux-gnu",)),
    ("CONFIG_S390", "s390", ("--target=s390x-linux-gnu",)),
    ("CONFIG_LOONGARCH", "loongarch", ("--target=loongarch64-linux-gnu",)),
)
#: Sources built as part of another directory's module (virt/kvm/ is compiled by
#: arch/<arch>/kvm/): extra include dir and module name.
_BUILT_ELSEWHERE = {"virt/kvm": ("arch/{arch}/kvm", "kvm")}


def find_kernel_tree(path: str) -> str | None:
    """The kernel tree above ``path`` that has been prepared (``make prepare``)."""
    d = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    while True:
        if os.path.isfile(os.path.join(d, "include", "generated", "autoconf.h")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _arch(tree: str) -> tuple[str, tuple[str, ...]] | None:
    try:
        with open(os.path.join(tree, "include", "generated", "autoconf.h"),
                  encoding="utf-8", errors="replace") as fh:
            defined = set(re.findall(r"^#define (CONFIG_\w+) ", fh.read(), re.M))
    except OSError:
        return None
    for sym, arch, extra in _ARCHES:
        if sym in defined:
            return arch, extra
    return None


def synthesize(path: str, tree: str) -> list[str] | None:
    """Kbuild-like flags for ``path`` in the prepared tree ``tree`` (None: unknown arch)."""
    arch = _arch(tree)
    if arch is None:
        return None
    srcarch, extra = arch
    t = tree
    rel = os.path.relpath(os.path.abspath(path), tree)
    stem = os.path.splitext(os.path.basename(path))[0]
    basename = re.sub(r"\W", "_", stem)
    modname = basename
    modfile = os.path.splitext(rel)[0]
    args = ["-nostdinc"]
    for d in (f"arch/{srcarch}/include", f"arch/{srcarch}/include/generated", "include",
              f"arch/{srcarch}/include/uapi", f"arch/{srcarch}/include/generated/uapi",
              "include/uapi", "include/generated/uapi"):
        args += ["-I", os.path.join(t, d)]
    for prefix, (inc, mod) in _BUILT_ELSEWHERE.items():
        if rel.startswith(prefix + "/"):
            args += ["-I", os.path.join(t, inc.format(arch=srcarch))]
            modname = mod
    reldir = os.path.dirname(rel)
    if reldir:
        args += ["-I", os.path.join(t, reldir)]
    for h in ("include/linux/compiler-version.h", "include/linux/kconfig.h",
              "include/linux/compiler_types.h"):
        if os.path.isfile(os.path.join(t, h)):
            args += ["-include", os.path.join(t, h)]
    args += ["-D__KERNEL__", "-std=gnu11", "-fshort-wchar", "-funsigned-char", "-fno-common",
             "-fno-PIE", "-fno-strict-aliasing", "-fno-delete-null-pointer-checks",
             "-fno-strict-overflow", "-O2", *extra,
             f'-DKBUILD_MODFILE="{modfile}"', f'-DKBUILD_BASENAME="{basename}"',
             f'-DKBUILD_MODNAME="{modname}"', f"-D__KBUILD_MODNAME=kmod_{modname}", "-w"]
    return args


# ---------------------------------------------------------------------- the resolver
class FlagResolver:
    """Resolves and caches flags for many files (one per worker process)."""

    def __init__(self, compile_commands: str | None = None, synthesize_flags: bool = True):
        self.explicit_db = os.path.abspath(compile_commands) if compile_commands else None
        self.synthesize_flags = synthesize_flags
        self._dbs: dict[str, dict] = {}
        self.errors: list[str] = []          # unreadable databases, once each

    def _db(self, db: str) -> dict:
        got = self._dbs.get(db)
        if got is None:
            try:
                got = load_compile_commands(db)
            except CompileDBError as exc:
                self.errors.append(str(exc))
                got = {}
            self._dbs[db] = got
        return got

    def database_for(self, path: str) -> str | None:
        return self.explicit_db or find_compile_commands(path)

    def resolve(self, path: str) -> CompileFlags | None:
        """Flags for ``path``, or None (see :meth:`why_not`)."""
        db = self.database_for(path)
        if db is not None:
            entry = self._db(db).get(os.path.realpath(path))
            if entry is not None:
                argv, directory = entry
                return CompileFlags(tuple(clean_command(argv, directory, path)),
                                    "compile_commands", db, directory)
        if self.synthesize_flags:
            tree = find_kernel_tree(path)
            if tree is not None:
                args = synthesize(path, tree)
                if args is not None:
                    return CompileFlags(tuple(args), "synthesized", tree, tree)
        return None

    def why_not(self, path: str) -> str:
        """The one note saying why :meth:`resolve` found no flags for ``path``."""
        db = self.database_for(path)
        tree = find_kernel_tree(path)
        if tree is not None and _arch(tree) is None:
            return (f"no compile flags: the kernel tree {tree} is for an architecture "
                    "kref-lint cannot synthesize flags for; give --compile-commands")
        if db is not None:
            shown = os.path.relpath(path)
            if shown.startswith(".."):
                shown = os.path.abspath(path)
            if tree is not None:
                # the database decides what this configuration builds (see the plan)
                return (f"no compile flags: {shown} is not in {db} (not built in this "
                        "configuration)")
            return (f"no compile flags: {shown} is not in {db} and no prepared kernel "
                    "tree (include/generated/autoconf.h) is above it")
        return ("no compile flags: no compile_commands.json above the file and no prepared "
                "kernel tree (run `make defconfig && make prepare`, or give "
                "--compile-commands)")
