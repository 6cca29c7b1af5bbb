"""Bad input never loses other results: each case gets a clear notification naming the
file and the reason, no traceback, and the good file beside it is still analyzed."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import FIXTURES, run_cli

GOOD = FIXTURES / "tryget" / "pipe_kvm.c"
GOOD_FINDING = "pipe_kvm.c:31:14: warning: try_get_page() on 'page'"


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    shutil.copy(GOOD, d / "good.c")
    shutil.copy(FIXTURES / "include" / "kernel.h", d / "kernel.h")
    return d


def check(tree, *, name: str, reason: str, extra_args=(), code: int = 1):
    """The good file's finding on stdout; the diagnostic about ``name`` on stderr (listed
    with --show-diagnostics), never on stdout.  ``code``: 1 (the good file's finding), 2
    when ``name`` could not be analyzed at all (the run is incomplete)."""
    r = run_cli("--show-diagnostics", *extra_args, str(tree))
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stdout.splitlines() == [l for l in r.stdout.splitlines() if ": warning: " in l]
    assert "good.c:31:14: warning: try_get_page() on 'page'" in r.stdout
    notes = [l for l in r.stderr.splitlines() if name in l and l.startswith("kref-lint: ")]
    assert any(reason in l for l in notes), r.stderr
    return r


def test_nonexistent_path_is_a_usage_error(tree):
    r = run_cli(str(tree), str(tree / "nope"))
    assert r.returncode == 2
    assert "no such file or directory" in r.stderr and "nope" in r.stderr
    assert "Traceback" not in r.stderr


def test_empty_file(tree):
    (tree / "empty.c").write_bytes(b"")
    check(tree, name="empty.c", reason="empty file")


def test_binary_file(tree):
    (tree / "blob.c").write_bytes(bytes(range(256)) * 64)
    check(tree, name="blob.c", reason="binary file", code=2)


def test_invalid_utf8_is_still_analyzed(tree):
    src = GOOD.read_bytes().replace(b"/* A pipe buffer", b"/* \xff\xfe caf\xe9 A pipe buffer")
    (tree / "latin1.c").write_bytes(src)
    r = check(tree, name="latin1.c", reason="invalid UTF-8")
    assert "latin1.c:31:14: warning: try_get_page()" in r.stdout    # analyzed anyway


def test_unbalanced_braces(tree):
    (tree / "broken.c").write_text("int f(void)\n{\n\tif (x) {\n\t\tg();\n\n"
                                   "int h(void) { return 1; }\n}}}\n/* folio_ref_count */\n")
    check(tree, name="broken.c", reason="opaque")


def test_fifty_thousand_line_generated_file(tree):
    lines = [f"int gen_{i}(int x) {{ return x + {i}; }}" for i in range(50_000)]
    lines.append("/* names folio_ref_count(), so it is parsed, not pre-filtered */")
    (tree / "gen.c").write_text("\n".join(lines) + "\n")
    r = run_cli(str(tree))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "good.c:31:14" in r.stdout
    funcs = int(r.stderr.split(" functions")[0].rsplit(" ", 1)[1])
    assert funcs == 50_000 + 5            # every generated function, plus good.c's 5


def test_deeply_nested_parentheses(tree):
    deep = "(" * 5000 + "x" + ")" * 5000
    (tree / "deep.c").write_text(f"int deep(int x)\n{{\n\treturn {deep};\n}}\n"
                                 "/* folio_ref_count */\n")
    r = run_cli(str(tree))
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert "good.c:31:14" in r.stdout


def test_symlink_loop(tree):
    os.symlink(tree, tree / "loop")                   # a directory loop
    os.symlink("self.c", tree / "self.c")             # a file that points at itself
    r = check(tree, name="self.c", reason="symlink loop, not analyzed [skipped]")  # found: exit 1
    assert any(l.startswith("kref-lint: warning: ") and "loop: symlink loop: a link to its "
               "own enclosing directory" in l and l.endswith("[symlink-loop]")
               for l in r.stderr.splitlines()), r.stderr


def test_unreadable_file(tree, monkeypatch):
    secret = tree / "secret.c"
    secret.write_text("int f(void) { return 0; }\n")
    secret.chmod(0)
    if os.geteuid() != 0:
        check(tree, name="secret.c", reason="cannot read file: Permission denied", code=2)
        return
    # Root reads any file whatever its mode, and an unprivileged user cannot run this
    # interpreter here: make the kernel's answer for this one file EACCES, in process
    # (workers are forked from it, and inherit the answer).
    from click.testing import CliRunner

    from analyzer.cli import main

    real_open = os.open

    def guarded_open(file, *args, **kwargs):
        if os.fspath(file) == str(secret):
            raise PermissionError(13, "Permission denied", str(secret))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    r = CliRunner().invoke(main, ["-j", "1", str(tree)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert r.exit_code == 2                        # secret.c was not analyzed
    assert "good.c:31:14: warning: try_get_page()" in r.stdout
    assert any(l.startswith("kref-lint: error: ") and
               "secret.c: cannot read file: Permission denied [unreadable]" in l
               for l in r.stderr.splitlines()), r.stderr
