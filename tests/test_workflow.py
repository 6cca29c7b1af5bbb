"""The kernel developer's workflow around the analysis: exit codes and one-line errors,
diagnostics kept apart from findings, progress on a terminal, output files, .gitignore
and exclude patterns, --statistics, --format json, and GitHub's line hash."""
from __future__ import annotations

import json
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from analyzer.results.identity import line_hashes
from tests.conftest import CACHE_DIR, FIXTURES, REPO, run_cli
from tests.modes_util import BUGGY, HEADER, commit_all, init_repo, kernel_tree

GOOD = FIXTURES / "tryget" / "pipe_kvm.c"
BROKEN = ("int f(void)\n{\n\tif (x) {\n\t\tg();\n\nint h(void) { return 1; }\n}}}\n"
          "/* names folio_ref_count(): parsed, not skipped by the pre-filter */\n")


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    shutil.copy(GOOD, d / "good.c")
    shutil.copy(FIXTURES / "include" / "kernel.h", d / "kernel.h")
    return d


# --------------------------------------------------------------------------- exit codes
def _write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


MISUSE = [
    # (arguments, what the one line must say); {t} is a scratch directory
    ((), "missing argument 'PATH...'"),
    (("--format", "xml", "fixtures/"), "Invalid value for '--format'"),
    (("--jobs", "0", "fixtures/"), "Invalid value for '-j' / '--jobs'"),
    (("--bogus", "fixtures/"), "No such option '--bogus'"),
    (("fixtures/", "{t}/nope"), "no such file or directory: {t}/nope"),
    (("-o", "{t}/missing/dir/out.txt", "fixtures/"), "cannot write {t}/missing/dir/out.txt"),
    (("-o", "{t}", "fixtures/"), "Invalid value for '--output'"),
    (("--exclude", "[z-a].c", "fixtures/"), "--exclude: invalid pattern '[z-a].c'"),
    (("--select", "try-get-without-rf", "fixtures/"),
     "unknown rule 'try-get-without-rf' (did you mean 'try-get-without-ref'?)"),
    (("--ignore", "speculative-get", "fixtures/"),
     "(did you mean 'speculative-get-unvalidated'?)"),
    (("--rules", "{t}/bad.toml", "fixtures/"), "bad rule file"),
    (("--config", "{t}/kref.toml", "fixtures/"), "unknown key 'selekt' (did you mean 'select'?)"),
    (("--baseline", "{t}/not.json", "fixtures/"), "is not JSON"),
    (("--diff", "HEAD", "--baseline", "x.sarif"), "cannot be combined"),
    (("--statistics", "--format", "sarif", "fixtures/"), "--statistics is a text report"),
    (("--frontend", "clang", "{t}/plain.c"), "--frontend clang: no compile flags"),
    (("explain", "try-get"), "unknown rule 'try-get' (did you mean 'try-get-without-ref'?)"),
    (("check-patch", "{t}/missing.patch"), "cannot read {t}/missing.patch"),
    (("check-patch", "{t}/empty.patch"), "is empty: no patch to check"),
    (("check-patch", "{t}/plain.c", "--from", "nobody"), "--from: not a mail address"),
    (("-D__KERNEL__", "-I.", "-nostdinc"), "no C source file in the checker's arguments"),
    (("-D__KERNEL__", "-I.", "{t}/absent.c"), "no such file: {t}/absent.c"),
]


@pytest.mark.parametrize("args, message", MISUSE, ids=lambda v: " ".join(v)[:40]
                         if isinstance(v, tuple) else None)
def test_misuse_is_exit_2_with_one_line(tmp_path, args, message):
    _write(tmp_path, "bad.toml", "[lockless_read]\nnot toml = = =\n")
    _write(tmp_path, "kref.toml", 'selekt = ["x"]\n')
    _write(tmp_path, "not.json", "{nope")
    _write(tmp_path, "plain.c", "int f(void) { return 0; }\n")
    _write(tmp_path, "empty.patch", "")
    t = str(tmp_path)
    r = run_cli(*(a.replace("{t}", t) for a in args), cwd=REPO)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kref-lint: error: "), r.stderr
    assert message.replace("{t}", t) in lines[0]


def test_an_internal_error_is_one_line_too(tmp_path):
    """A bug escaping the modes: still exit 2 and one line; the traceback on request."""
    code = ("import sys, analyzer.modes.check as c\n"
            "def boom(*a): raise RuntimeError('boom')\n"
            "c.main = boom\n"
            "sys.argv = ['kref-lint', 'fixtures/']\n"
            "from analyzer.cli import run\nrun()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "kref-lint: internal error: RuntimeError: boom (a bug in kref-lint; "
        "KREF_LINT_DEBUG=1 shows the traceback)"]
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**env, "KREF_LINT_DEBUG": "1"}, timeout=120)
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_exit_codes_of_runs(tree):
    assert run_cli(str(tree)).returncode == 1                       # a finding
    assert run_cli("--ignore", "try-get-without-ref", str(tree)).returncode == 0


# --------------------------------------------------------------------------- diagnostics
def test_diagnostics_are_not_findings(tree):
    (tree / "broken.c").write_text(BROKEN)
    r = run_cli(str(tree))
    assert r.returncode == 1
    # stdout: findings only, in gcc's format
    assert r.stdout.splitlines() == [
        f"{tree}/good.c:31:14: warning: try_get_page() on 'page' that holds no reference "
        "(found by the lockless read at line 28); its count may be zero or frozen "
        "[try-get-without-ref]"]
    # stderr: one line summarizes the diagnostics, nothing lists them
    assert ("kref-lint: 1 file with degraded statements, 1 with parse problems "
            "(--show-diagnostics lists them)") in r.stderr.splitlines()
    assert "broken.c" not in r.stderr
    r = run_cli("--show-diagnostics", str(tree))
    listed = [line for line in r.stderr.splitlines() if "broken.c" in line]
    assert listed and all(line.startswith(("kref-lint: warning: ", "kref-lint: note: "))
                          for line in listed)
    assert "--show-diagnostics lists them" not in r.stderr
    # -q: findings and errors only
    (tree / "blob.c").write_bytes(bytes(range(256)) * 8)
    r = run_cli("-q", str(tree))
    assert r.returncode == 2 and len(r.stdout.splitlines()) == 1    # incomplete run
    assert r.stderr.splitlines() == [
        f"kref-lint: error: {tree}/blob.c: binary file (NUL bytes), not analyzed [binary]",
        "kref-lint: error: 1 file not analyzed (listed above): the report is incomplete "
        "(exit 2); it has every finding of the files that were"]


def test_sarif_keeps_every_diagnostic_as_a_notification(tree, tmp_path, sarif_validator):
    (tree / "broken.c").write_text(BROKEN)
    out = tmp_path / "o.sarif"
    r = run_cli("-q", "--format", "sarif", "-o", str(out), str(tree))
    assert r.returncode == 1 and r.stdout == "" and r.stderr == ""
    log = json.loads(out.read_text())
    sarif_validator.validate(log)
    kinds = {n["descriptor"]["id"] for n in
             log["runs"][0]["invocations"][0]["toolExecutionNotifications"]}
    assert {"kref-lint/parse-error", "kref-lint/degraded", "kref-lint/frontend"} <= kinds


# --------------------------------------------------------------------------- progress
def _run_on_a_terminal(args, cwd, columns=100) -> tuple[int, str]:
    """Run kref-lint with stderr on a pseudo-terminal; (exit code, what it drew)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR}
    p = subprocess.Popen([sys.executable, "-m", "analyzer.cli", *args], cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    drawn = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:                      # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    return p.wait(timeout=60), drawn.decode("utf-8", "replace")


@pytest.mark.parametrize("columns", [100, 0])
def test_progress_on_a_terminal(columns):
    code, drawn = _run_on_a_terminal(["--no-cache", "-j", "1", "fixtures/"], REPO, columns)
    assert code == 1
    frames = [f for f in drawn.split("\r") if "file/s" in f or "?file/s" in f]
    assert frames, drawn
    total = len([p for p in FIXTURES.rglob("*") if p.suffix in (".c", ".h")])
    assert any(f"0/{total} " in f for f in frames)           # files done / total
    assert any("file/s]" in f and "<" in f for f in frames)   # rate, time left
    assert "kref-lint: " in frames[0]


def test_status_before_the_progress_bar_on_a_terminal():
    # walking and planning a whole tree takes seconds: a terminal sees what is going on
    code, drawn = _run_on_a_terminal(["--no-cache", "-j", "1", "fixtures/"], REPO)
    assert code == 1
    assert "kref-lint: finding files ..." in drawn
    found = drawn.index("files found; planning")
    assert found < drawn.index("file/s")                 # before the bar, which clears it
    assert "\x1b[K" in drawn[found:drawn.index("file/s")]


def test_no_progress_when_quiet_or_not_a_terminal():
    code, drawn = _run_on_a_terminal(["-q", "--no-cache", "fixtures/"], REPO)
    assert code == 1 and "file/s" not in drawn and drawn == ""
    r = run_cli("--no-cache", "fixtures/")                # stderr is a pipe
    assert "file/s" not in r.stderr and "\r" not in r.stderr


# --------------------------------------------------------------------------- output files
def _run_with_umask(mask: int, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR}
    return subprocess.run([sys.executable, "-m", "analyzer.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(mask))


def test_output_files_honour_the_umask(tmp_path):
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        out = tmp_path / f"report-{mask:o}.sarif"
        r = _run_with_umask(mask, "--format", "sarif", "-o", str(out), "fixtures/tryget/")
        assert r.returncode == 1, r.stderr
        assert stat.S_IMODE(out.stat().st_mode) == mode, (oct(mask), oct(out.stat().st_mode))
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    assert _run_with_umask(0o077, "-o", str(kept), "fixtures/tryget/").returncode == 1
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and "warning:" in kept.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "kept.txt", "report-2.sarif", "report-22.sarif", "report-77.sarif"]   # no temp left


def test_output_to_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(REPO), "KREF_LINT_CACHE_DIR": CACHE_DIR}
    p = subprocess.Popen([sys.executable, "-m", "analyzer.cli", "-o", str(fifo),
                          "fixtures/tryget/"], cwd=REPO, env=env)
    with open(fifo) as fh:
        text = fh.read()
    assert p.wait(timeout=120) == 1
    assert "warning:" in text and stat.S_ISFIFO(os.lstat(fifo).st_mode)


# --------------------------------------------------------------------------- file selection
def test_gitignore_is_honoured_in_a_git_tree(tmp_path):
    repo = init_repo(kernel_tree(tmp_path / "linux"))
    for rel in ("mm/gup.c", "mm/gup.mod.c", "build/mm/gup.c", "mm/keep.mod.c"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(HEADER.replace("../include", "../../include") + BUGGY)
    (repo / ".gitignore").write_text("*.mod.c\n/build/\n")
    (repo / "mm" / ".gitignore").write_text("!keep.mod.c\n")     # a deeper rule wins
    commit_all(repo, "base")

    def reported(*args, cwd=repo):
        r = run_cli("--no-cache", *args, cwd=cwd)
        assert r.returncode in (0, 1), r.stderr
        return sorted({line.split(":")[0] for line in r.stdout.splitlines()})

    assert reported(".") == ["mm/gup.c", "mm/keep.mod.c"]
    assert reported("mm/") == ["mm/gup.c", "mm/keep.mod.c"]         # rules above mm/ too
    assert reported("mm/gup.mod.c") == ["mm/gup.mod.c"]             # named: analyzed
    assert reported("--no-gitignore", ".") == [
        "build/mm/gup.c", "mm/gup.c", "mm/gup.mod.c", "mm/keep.mod.c"]


def test_gitignore_outside_a_git_tree_is_not_read(tmp_path):
    """Debian's linux-source tarballs end their .gitignore with '/*'."""
    root = kernel_tree(tmp_path / "linux")
    (root / "mm" / "gup.c").write_text(HEADER + BUGGY)
    (root / ".gitignore").write_text("/*\n!/debian/\n")
    r = run_cli("--no-cache", "mm/", cwd=root)
    assert r.returncode == 1 and r.stdout.startswith("mm/gup.c:")


def test_exclude_patterns_with_negation(tmp_path):
    root = kernel_tree(tmp_path / "linux")
    for name in ("gup.c", "util.c", "huge_test.c"):
        (root / "mm" / name).write_text(HEADER + BUGGY)
    r = run_cli("--no-cache", "--exclude", "mm/", "--exclude", "!mm/gup.c", "mm/", cwd=root)
    assert sorted({line.split(":")[0] for line in r.stdout.splitlines()}) == ["mm/gup.c"]
    r = run_cli("--no-cache", "--exclude", "*_test.c", "mm/", cwd=root)
    assert sorted({line.split(":")[0] for line in r.stdout.splitlines()}) == ["mm/gup.c",
                                                                        "mm/util.c"]
    (root / ".kref-lint.toml").write_text('exclude = ["mm/*.c", "!mm/util.c"]\n')
    r = run_cli("--no-cache", "mm/", cwd=root)
    assert sorted({line.split(":")[0] for line in r.stdout.splitlines()}) == ["mm/util.c"]
    (root / ".kref-lint.toml").write_text('exclude = ["[z-a].c"]\n')
    r = run_cli("mm/", cwd=root)
    assert r.returncode == 2 and "'exclude' in " in r.stderr and "[z-a].c" in r.stderr


# --------------------------------------------------------------------------- statistics
def test_statistics_counts_per_rule():
    r = run_cli("--statistics", "fixtures/")
    assert r.returncode == 1
    full = run_cli("fixtures/")
    counts: dict[str, int] = {}
    for line in full.stdout.splitlines():
        rule = line.rsplit("[", 1)[1].rstrip("]")
        counts[rule] = counts.get(rule, 0) + 1
    rows = [line.split("\t") for line in r.stdout.split("\n\n")[0].splitlines()]
    assert [(int(n), rule) for n, rule, _ in rows] == sorted(
        ((n, rule) for rule, n in counts.items()), key=lambda x: (-x[0], x[1]))
    assert all(summary for _, _, summary in rows)
    assert "\t[frontend]\tdiagnostic" in r.stdout


def test_statistics_show_the_parse_coverage(tmp_path):
    # one clean file, one with a top-level parse error, one with a degraded statement,
    # one the pre-filter does not parse
    (tmp_path / "ok.c").write_text("int a(struct page *p)\n{\n\treturn folio_ref_count(p);\n}\n")
    (tmp_path / "top.c").write_text("@@ junk @@;\nint b(void)\n{\n\treturn folio_ref_count(0);\n}\n")
    (tmp_path / "body.c").write_text("int c(void)\n{\n\tint x = folio_ref_count(0) @@ 1;\n"
                                     "\treturn x;\n}\nint d(void)\n{\n\treturn 0;\n}\n")
    (tmp_path / "skip.c").write_text("int e(void)\n{\n\treturn 0;\n}\n")
    r = run_cli("--frontend", "treesitter", "--no-cache", "--statistics", str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = [line.split("\t") for line in r.stdout.splitlines() if "parse coverage" in line]
    assert lines == [
        ["66.66%", "parse coverage", "files without a parse error (2 of 3 parsed files; "
         "1 not parsed: no API of interest)"],
        ["75.00%", "parse coverage", lines[1][2]]], r.stdout
    assert lines[1][2].startswith("functions without a degraded statement (3 of 4; ")
    doc = json.loads(run_cli("--frontend", "treesitter", "--no-cache", "--format", "json",
                             str(tmp_path)).stdout)
    assert doc["statistics"]["degraded_functions"] == 1


# --------------------------------------------------------------------------- JSON
def test_json_output_has_the_documented_shape(tree, tmp_path):
    schema = json.loads((REPO / "analyzer" / "report" / "kref-lint-json.schema.json")
                        .read_text())
    (tree / "broken.c").write_text(BROKEN)
    r = run_cli("--format", "json", str(tree))
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    jsonschema.Draft202012Validator(schema).validate(doc)
    (f,) = doc["findings"]
    assert (f["rule"], f["path"], f["line"], f["column"], f["display_column"]) == (
        "try-get-without-ref", "good.c", 31, 7, 14)
    assert f["function"] and f["snippet"].startswith("if (!try_get_page(page))")
    assert f["trail"][0]["message"] and f["related"]
    assert f["baseline_state"] is None and f["suppressed"] is None
    assert doc["statistics"]["findings"] == 1 and doc["statistics"]["by_rule"] == {
        "try-get-without-ref": 1}
    assert doc["statistics"]["by_diagnostic"]["parse-error"] >= 1
    assert {d["path"] for d in doc["diagnostics"] if d["path"]} == {"broken.c"}
    # under a baseline: every finding says whether it is new
    base = tmp_path / "base.sarif"
    run_cli("--format", "sarif", "-o", str(base), str(tree))
    doc = json.loads(run_cli("--format", "json", "--baseline", str(base), str(tree)).stdout)
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert [f["baseline_state"] for f in doc["findings"]] == ["unchanged"]
    assert doc["statistics"]["findings"] == 0


# --------------------------------------------------------------------------- line hash
#: primaryLocationLineHash values computed by github/codeql-action's own
#: src/fingerprints.ts (run with node) on these inputs.
GITHUB_HASHES = [
    (b"a\r\nb\rc\n\n  \t x\xc3\xa9\xf0\x9f\x98\x80 y\n\xff\xfez\n",
     {1: "24e85d94d002c4b4:1", 2: "5703c8f7cc1cdcf5:1", 3: "1bfae704907cd939:1",
      4: "39d07301529d2988:1", 5: "6300792af1966e3e:1", 6: "f6b4d013ff2d44dd:1",
      7: "c129715d7a2bc9a3:1"}),
    (b"/* " + b"x" * 150 + b" */\n" + b"".join(b"\tget_page(page%d);\n" % i for i in range(5)),
     {1: "be80c7d522e4697d:1", 2: "1a0d1168fb7c22e8:1", 3: "214aae5ec2cf5391:1",
      4: "713797e70572fd31:1", 5: "1c78882b476753c4:1", 6: "75e80f5ca1d5b7b6:1",
      7: "c129715d7a2bc9a3:1"}),
]


@pytest.mark.parametrize("data, expected", GITHUB_HASHES)
def test_line_hash_is_githubs(data, expected):
    assert line_hashes(data.decode("utf-8", "replace")) == expected
    assert line_hashes(data.decode("utf-8", "replace"), [2, 5]) == {
        2: expected[2], 5: expected[5]}


def test_line_hash_numbers_repeated_windows():
    got = line_hashes("x = 1;\n" * 30)
    assert [got[n] for n in (1, 2, 11, 12, 26, 31)] == [
        "328d6b27073dca64:1", "328d6b27073dca64:2", "328d6b27073dca64:11",
        "328d6b43927a4c38:1", "95d1a0c8b695c6a:1", "c129715d7a2bc9a3:1"]
