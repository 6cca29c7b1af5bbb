"""THE generic test: every fixture, through every available frontend, gives exactly the
findings its annotations say, line by line.

Annotations (on the reported line, as a C comment):
  // expect: RULE[, RULE]    exactly these findings on this line
  // expect@+N: RULE          the same, for the line N below
  // expect-fn: RULE          a known false negative: must NOT be reported (yet)
  // expect-fp: RULE          a known false positive: must be reported
Every unannotated line must stay silent, so every ok_ function is a negative test.
A fixture written for one kernel version's API shapes says so (``kref-lint-kernel: X.Y``
in its header comment) and is read with that version's models; the others with the
newest (no version).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.pipeline.file import Analyzer
from analyzer.pipeline.options import Options
from checkers import all_rules
from tests.conftest import FIXTURES

KERNEL = re.compile(r"kref-lint-kernel:\s*(\S+)")
ANNOTATION = re.compile(r"//\s*expect(?P<kind>-fn|-fp)?(?:@\+(?P<off>\d+))?:\s*(?P<rules>[\w\-, ]+)")
FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*.c"))
FRONTENDS = ["treesitter", "clang"]
#: How libclang compiles a fixture: no kernel tree, only the stub header.
CLANG_ARGS = ("-xc", "-std=gnu11", "-I", str(FIXTURES / "include"))
RULE_IDS = {r.id for r in all_rules()}


def annotations(path: Path):
    expected, fns = set(), set()
    for no, line in enumerate(path.read_text().splitlines(), 1):
        for m in ANNOTATION.finditer(line):
            target = no + int(m.group("off") or 0)
            for rule in (r.strip() for r in m.group("rules").split(",")):
                assert rule in RULE_IDS, f"{path.name}:{no}: unknown rule {rule!r}"
                (fns if m.group("kind") == "-fn" else expected).add((target, rule))
    return expected, fns


_ANALYZERS: dict[tuple[str, str | None], Analyzer] = {}


def kernel_of(path: Path) -> str | None:
    m = KERNEL.search(path.read_text()[:2000])
    return m.group(1) if m else None


def analyzer_for(frontend: str, kernel: str | None = None) -> Analyzer:
    if (frontend, kernel) not in _ANALYZERS:
        if frontend == "clang":
            options = Options(frontend="clang", clang_args=CLANG_ARGS, kernel_version=kernel)
        else:
            options = Options(frontend=frontend, kernel_version=kernel)
        _ANALYZERS[frontend, kernel] = Analyzer(options)
    return _ANALYZERS[frontend, kernel]


def test_there_are_fixtures_for_every_rule_shipped():
    covered = set()
    for path in FIXTURE_FILES:
        exp, _fns = annotations(path)
        covered |= {r for _, r in exp}
    assert covered == RULE_IDS, f"rules without a positive fixture: {RULE_IDS - covered}"


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture(path: Path, frontend: str):
    outcome = analyzer_for(frontend, kernel_of(path)).analyze_file(str(path))
    errors = [n for n in outcome.notifications if n.level == "error"]
    assert not errors, errors
    assert outcome.stats.degraded == 0, "fixtures must parse cleanly"
    seen = {(f.span.line, f.rule_id) for f in outcome.findings}
    expected, known_fn = annotations(path)
    problems = [f"{path.name}:{line}: expected but not seen: {rule}"
                for line, rule in sorted(expected - seen)]
    problems += [f"{path.name}:{line}: seen but not expected: {rule} "
                 f"({next(f.message for f in outcome.findings if (f.span.line, f.rule_id) == (line, rule))})"
                 for line, rule in sorted(seen - expected)]
    problems += [f"{path.name}:{line}: known false negative is now reported "
                 f"(promote the marker to expect:): {rule}"
                 for line, rule in sorted(known_fn & seen)]
    assert not problems, "\n".join(problems)


def test_fixture_functions_are_named_bad_or_ok():
    """Every scenario is a bad_/ok_/fn_/fp_ function, so the intent is visible."""
    for path in FIXTURE_FILES:
        text = path.read_text()
        for m in re.finditer(r"^[a-z][\w\s\*]*?\b(\w+)\([^;]*?\)\s*\{", text, re.M | re.S):
            name = m.group(1)
            assert name.startswith(("bad_", "ok_", "fn_", "fp_")) or "static" in m.group(0), \
                f"{path.name}: {name}"
