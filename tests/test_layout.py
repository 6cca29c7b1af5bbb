"""The application's layout by mode holds: arrows point down only, no import cycle, none
hidden in a function, and every module imports on its own in a fresh interpreter.

Layers (DESIGN.md), top to bottom; a layer may import the ones listed for it:

    cli       -> modes
    modes     -> pipeline, report, results, inputs, vcs, core
    report    -> results, core vocabulary (analyzer.result, analyzer.rule, analyzer.ir)
    pipeline  -> results, core
    results   -> inputs, core vocabulary
    inputs, vcs -> (nothing of ours but analyzer.errors)
"""
from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import REPO

APP = ("cli", "modes", "pipeline", "report", "results", "inputs", "vcs", "errors")
VOCABULARY = {"analyzer.result", "analyzer.rule", "analyzer.ir"}
ALLOWED = {
    "cli": {"modes", "errors"},
    "modes": {"pipeline", "report", "results", "inputs", "vcs", "errors", "core"},
    "report": {"results", "vocabulary"},
    "pipeline": {"results", "errors", "core"},
    "results": {"inputs", "errors", "vocabulary"},
    "inputs": {"errors"},
    "vcs": {"errors"},
    "errors": set(),
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in ("analyzer", "checkers", "rules"):
        for f in sorted((REPO / pkg).rglob("*.py")):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


MODULES = _modules()


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "analyzer" and len(parts) > 1 and parts[1] in APP:
        return parts[1]
    if module in VOCABULARY:
        return "vocabulary"
    if module == "analyzer":
        return "version"            # analyzer/__init__.py: __version__, for everyone
    return "core"


def _resolve(name: str) -> str:
    """The project module ``name`` is (or is in)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function or class body) for ``module``."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    out = []

    def visit(node, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.ClassDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    if _resolve(a.name):
                        out.append((_resolve(a.name), child.lineno, nested))
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for a in child.names:       # `from analyzer.modes import check`: a module
                    target = _resolve(f"{child.module}.{a.name}") or _resolve(child.module)
                    if target:
                        out.append((target, child.lineno, nested))
            visit(child, inner)

    visit(tree, False)
    return [(m, line, nested) for m, line, nested in out if m != module]


def test_the_application_packages_exist():
    for pkg in ("modes", "pipeline", "report", "results", "inputs", "vcs"):
        assert (REPO / "analyzer" / pkg / "__init__.py").is_file(), pkg
    for gone in ("analyze", "patch", "gitdiff", "baseline", "suppress", "config", "discover",
                 "flags", "cache", "pool", "modes"):
        assert not (REPO / "analyzer" / f"{gone}.py").exists(), f"analyzer/{gone}.py is back"


def test_no_project_import_is_hidden_in_a_function():
    hidden = [f"{m}:{line}: imports {target} inside a function"
              for m in MODULES if layer(m) in APP
              for target, line, nested in imports(m) if nested]
    assert not hidden, "\n".join(hidden)


def test_arrows_point_down_only():
    wrong = []
    for m in MODULES:
        mine = layer(m)
        for target, line, _ in imports(m):
            theirs = layer(target)
            if theirs in (mine, "version"):
                continue
            allowed = ALLOWED.get(mine)
            if allowed is None:                       # the core: never an application layer
                ok = theirs in ("core", "vocabulary") or (theirs == "errors")
            else:
                ok = theirs in allowed or (theirs == "vocabulary" and "core" in allowed)
            if not ok:
                wrong.append(f"{m}:{line}: {mine} imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {m: sorted({t for t, _, _ in imports(m)}) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            # a package's __init__ importing its own submodule is how packages work
            if t.startswith(m + "."):
                continue
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                dfs(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "\n".join(cycles)


def test_every_module_imports_alone():
    """In a fresh interpreter each: an import cycle or a missing dependency of a module
    cannot hide behind another module having been imported first."""
    def one(module: str) -> tuple[str, int, str]:
        r = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
        return module, r.returncode, r.stderr[-400:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [f"{m}: {err}" for m, rc, err in pool.map(one, sorted(MODULES)) if rc]
    assert not failed, "\n".join(failed)
