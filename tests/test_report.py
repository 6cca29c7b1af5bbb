"""The SARIF and text writers, on findings, notifications and rules built by hand."""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import jsonschema
import pytest
import sarif_om as om

from analyzer.ir import Span
from analyzer.report.sarif import SRCROOT, _obj, build_sarif, to_json, write_sarif
from analyzer.report.text import diagnostic_line, diagnostics_summary, format_findings, summary_line
from analyzer.result import Finding, Notification, Step
from analyzer.results.baseline import Comparison
from analyzer.results.identity import FINGERPRINT_KEY, fingerprint, fingerprints
from analyzer.results.outcome import Stats
from analyzer.results.run import RunInfo, RunResult
from analyzer.rule import Rule

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

RULE_A = Rule(
    id="fake-rule-a", name="FakeRuleA", summary="finds fake problem a",
    what="Reports a.", why="Because a.", example="bad_a();", instead="good_a();",
    limits="None known.", level="warning", precision="high", tags=("correctness",))
RULE_B = Rule(
    id="fake-rule-b", name="FakeRuleB", summary="finds fake problem b",
    what="Reports b.", why="Because b.", example="bad_b();", instead="good_b();",
    limits="Many.", level="error", precision="medium", tags=("concurrency", "mm"))
RULES = [RULE_A, RULE_B]


@pytest.fixture
def root(tmp_path) -> str:
    return str(tmp_path / "linux tree")          # a space: URIs must be percent-encoded


def span(root: str, rel: str, line: int, col: int = 5, length: int = 10) -> Span:
    return Span(f"{root}/{rel}", line, col, line, col + length)


def make_finding(root: str, rule: str = "fake-rule-b", line: int = 10,
                 snippet: str = "folio_get(folio);", function: str = "bad_fn",
                 rel: str = "mm/gup.c", message: str = "msg") -> Finding:
    origin = Step(span(root, rel, line - 3, 9), "'folio' read locklessly here")
    get = Step(span(root, rel, line - 1, 9), "speculative reference taken here")
    use = Step(span(root, rel, line), "used here")
    return Finding(rule_id=rule, message=message, span=span(root, rel, line),
                   function=function, trail=(origin, get, use), related=(origin,),
                   snippet=snippet)


def notifications(root: str) -> list[Notification]:
    return [
        Notification("cannot parse file", file=f"{root}/mm/broken.c", line=7,
                     level="error", kind="parse-error"),
        Notification("analysis budget exceeded in 'huge_fn'", file=f"{root}/mm/huge.c",
                     level="warning", kind="budget"),
        Notification("no compile_commands.json; using tree-sitter", level="note",
                     kind="discover"),
    ]


def build(root: str, findings: list[Finding], command_line: str = "",
          automation_id=None, baseline_states=None, notes=None) -> dict:
    run = RunResult(root, findings, notifications=notifications(root) if notes is None
                    else notes)
    if baseline_states is not None:
        run.comparison = Comparison("old.sarif", baseline_states, [], [], [])
    return build_sarif(run, RULES, RunInfo("0.1.0", command_line, automation_id))


def format_text(findings, root, show_path=False):
    return format_findings(findings, root, {}, show_path)


def validate(log: dict) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(log)


# --------------------------------------------------------------------------- SARIF
def test_sarif_validates_against_the_official_schema(root):
    findings = [make_finding(root), make_finding(root, rule="fake-rule-a", line=40),
                make_finding(root, rel="outside/../../elsewhere.c")]
    log = build(root, findings, command_line="kref-lint check mm/",
                automation_id="ci/nightly/", baseline_states={})
    validate(log)
    # what write_sarif writes is the same document
    out = io.StringIO()
    write_sarif(log, out)
    assert out.getvalue().endswith("}\n")
    assert json.loads(out.getvalue()) == log


def test_sarif_header_tool_and_run(root):
    log = build(root, [make_finding(root)], command_line="kref-lint check .",
                automation_id="ci/nightly/")
    assert list(log)[:2] == ["$schema", "version"]
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    run, = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "kref-lint" and driver["version"] == "0.1.0"
    assert driver["semanticVersion"] == "0.1.0"
    assert driver["informationUri"].startswith("https://")
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["automationDetails"] == {"id": "ci/nightly/"}
    # portable: what %SRCROOT% is, not where it was
    assert set(run["originalUriBaseIds"][SRCROOT]) == {"description"}
    assert "linux tree" not in json.dumps(log) and "linux%20tree" not in json.dumps(log)
    assert "versionControlProvenance" not in run          # not a git tree
    invocation, = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["commandLine"] == "kref-lint check ."


def test_rule_descriptors(root):
    driver = build(root, [])["runs"][0]["tool"]["driver"]
    assert [d["id"] for d in driver["rules"]] == ["fake-rule-a", "fake-rule-b"]
    b = driver["rules"][1]
    assert b["name"] == "FakeRuleB"
    assert b["shortDescription"] == {"text": "finds fake problem b"}
    assert b["fullDescription"] == {"text": "Reports b."}
    assert b["help"] == {"text": RULE_B.text(), "markdown": RULE_B.markdown()}
    assert b["defaultConfiguration"] == {"level": "error"}
    assert b["helpUri"].startswith(driver["informationUri"])
    # not a classified rule: no CWE tags, no security-severity
    assert b["properties"] == {"precision": "medium", "problem.severity": "error",
                               "tags": ["concurrency", "mm"]}


def test_result_fields(root):
    log = build(root, [make_finding(root, rule="fake-rule-a")])
    result, = log["runs"][0]["results"]
    assert result["ruleId"] == "fake-rule-a"
    assert result["level"] == "warning"            # explicit, although the schema default
    assert result["message"] == {"text": "msg"}
    location, = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "mm/gup.c", "uriBaseId": SRCROOT}
    assert physical["region"] == {"startLine": 10, "startColumn": 5, "endLine": 10,
                                  "endColumn": 15, "snippet": {"text": "folio_get(folio);"}}
    assert location["logicalLocations"] == [{"name": "bad_fn", "kind": "function"}]
    assert "baselineState" not in result


def test_rule_index_points_to_the_rule(root):
    findings = [make_finding(root, rule="fake-rule-b", line=10),
                make_finding(root, rule="fake-rule-a", line=20),
                make_finding(root, rule="not-a-listed-rule", line=30)]
    run = build(root, findings)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_line = {r["locations"][0]["physicalLocation"]["region"]["startLine"]: r
               for r in run["results"]}
    for line in (10, 20):
        result = by_line[line]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert by_line[10]["level"] == "error"         # the rule's level
    assert "ruleIndex" not in by_line[30] and by_line[30]["level"] == "warning"


def test_uris_are_relative_to_srcroot(root):
    inside = make_finding(root, rel="mm/sub dir/x.c")
    outside = make_finding("/somewhere/else", rel="y.c")
    run = build(root, [inside, outside])["runs"][0]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert {"uri": "mm/sub%20dir/x.c", "uriBaseId": SRCROOT} in uris
    assert {"uri": "file:///somewhere/else/y.c"} in uris
    for result in run["results"]:
        for step in result["codeFlows"][0]["threadFlows"][0]["locations"]:
            art = step["location"]["physicalLocation"]["artifactLocation"]
            assert not art["uri"].startswith("/")


def test_code_flow_follows_the_trail(root):
    finding = make_finding(root)
    result, = build(root, [finding])["runs"][0]["results"]
    code_flow, = result["codeFlows"]
    thread_flow, = code_flow["threadFlows"]
    got = [(tfl["location"]["physicalLocation"]["region"]["startLine"],
            tfl["location"]["message"]["text"]) for tfl in thread_flow["locations"]]
    assert got == [(s.span.line, s.message) for s in finding.trail]
    assert got[0] == (7, "'folio' read locklessly here")


def test_code_flow_without_trail_is_the_finding(root):
    finding = dataclasses.replace(make_finding(root), trail=())
    result, = build(root, [finding])["runs"][0]["results"]
    tfl, = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert tfl["location"]["physicalLocation"]["region"]["startLine"] == 10
    assert tfl["location"]["message"] == {"text": "msg"}


def test_related_locations(root):
    result, = build(root, [make_finding(root)])["runs"][0]["results"]
    related, = result["relatedLocations"]
    assert related["id"] == 1
    assert related["message"] == {"text": "'folio' read locklessly here"}
    assert related["physicalLocation"]["region"]["startLine"] == 7
    assert related["physicalLocation"]["artifactLocation"]["uriBaseId"] == SRCROOT


def test_notifications_in_tool_execution_notifications(root):
    invocation = build(root, [])["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    got = {n["descriptor"]["id"]: n for n in invocation["toolExecutionNotifications"]}
    assert set(got) == {"kref-lint/parse-error", "kref-lint/budget", "kref-lint/discover"}
    parse = got["kref-lint/parse-error"]
    assert parse["level"] == "error"
    assert parse["message"] == {"text": "cannot parse file"}
    assert parse["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": "mm/broken.c", "uriBaseId": SRCROOT},
        "region": {"startLine": 7}}}]
    budget = got["kref-lint/budget"]
    assert budget["level"] == "warning"            # explicit, although the schema default
    assert "region" not in budget["locations"][0]["physicalLocation"]
    assert "locations" not in got["kref-lint/discover"]


def test_no_notifications_still_an_explicit_list(root):
    log = build(root, [], notes=[])
    run = log["runs"][0]
    assert run["results"] == []
    assert run["invocations"][0]["toolExecutionNotifications"] == []
    assert "commandLine" not in run["invocations"][0]
    validate(log)


def test_baseline_states(root):
    new, old = make_finding(root, line=10), make_finding(root, line=50, snippet="put(x);")
    old_fp = dict(fingerprints([old], root))[old]
    results = build(root, [new, old], baseline_states={old_fp: "unchanged"})["runs"][0]["results"]
    states = {r["locations"][0]["physicalLocation"]["region"]["startLine"]: r["baselineState"]
              for r in results}
    assert states == {10: "new", 50: "unchanged"}


def test_output_is_deterministic(root):
    findings = [make_finding(root, line=n, snippet=f"s{n};") for n in (30, 10, 20)]
    a = build(root, findings)
    b = build(root, list(reversed(findings)))
    assert json.dumps(a) == json.dumps(b)
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"]
             for r in a["runs"][0]["results"]]
    assert lines == [10, 20, 30]


# --------------------------------------------------------------------------- fingerprints
def result_fingerprint(root: str, finding: Finding) -> str:
    result, = build(root, [finding])["runs"][0]["results"]
    return result["partialFingerprints"][FINGERPRINT_KEY]


def test_fingerprint_survives_line_shift_and_reindent(root):
    base = make_finding(root, line=10, snippet="folio_get(folio);")
    moved = make_finding(root, line=40, snippet="folio_get(folio);")
    reindented = dataclasses.replace(base, snippet="\t\tfolio_get(folio);  ")
    spaced = dataclasses.replace(base, snippet="if (x)   folio_get(folio);")
    spaced2 = dataclasses.replace(base, snippet="if (x) \t folio_get(folio);")
    fp = fingerprint(base, root, 0)
    assert fp == fingerprint(moved, root, 0)
    assert fp == fingerprint(reindented, root, 0)
    assert fingerprint(spaced, root, 0) == fingerprint(spaced2, root, 0)
    assert result_fingerprint(root, base) == result_fingerprint(root, moved) == fp
    assert len(fp) == 64 and int(fp, 16) >= 0


def test_fingerprint_changes_with_snippet_rule_function_file_occurrence(root):
    base = make_finding(root)
    fp = fingerprint(base, root, 0)
    others = [
        dataclasses.replace(base, snippet="folio_put(folio);"),
        dataclasses.replace(base, rule_id="fake-rule-a"),
        dataclasses.replace(base, function="other_fn"),
        make_finding(root, rel="mm/other.c"),
    ]
    for other in others:
        assert fingerprint(other, root, 0) != fp
    assert fingerprint(base, root, 1) != fp


def test_fingerprint_independent_of_root_location(tmp_path):
    a = make_finding(str(tmp_path / "a"))
    b = make_finding(str(tmp_path / "b"))
    assert fingerprint(a, str(tmp_path / "a"), 0) == fingerprint(b, str(tmp_path / "b"), 0)


def test_fingerprint_occurrence_counts_identical_statements(root):
    first = make_finding(root, line=10)
    second = make_finding(root, line=20)            # same rule, function, snippet
    fps = [fp for _, fp in fingerprints([second, first], root)]
    assert fps == [fingerprint(first, root, 0), fingerprint(second, root, 1)]
    assert len(set(fps)) == 2
    # both move down together: unchanged
    shifted = [fp for _, fp in fingerprints(
        [make_finding(root, line=40), make_finding(root, line=50)], root)]
    assert shifted == fps


# --------------------------------------------------------------------------- serializer
def test_serializer_keeps_values_equal_to_defaults():
    region = _obj(om.Region, start_line=1, start_column=1, char_offset=-1)
    assert to_json(region) == {"charOffset": -1, "startColumn": 1, "startLine": 1}
    invocation = _obj(om.Invocation, execution_successful=False,
                      tool_execution_notifications=[])
    assert to_json(invocation) == {"executionSuccessful": False,
                                   "toolExecutionNotifications": []}
    config = _obj(om.ReportingConfiguration, enabled=True, level="warning", rank=0.0)
    assert to_json(config) == {"enabled": True, "level": "warning", "rank": 0.0}


def test_serializer_skips_only_unset():
    # attributes not given are None, not sarif-om's sentinels (-1, "en-US", "fail")
    assert to_json(_obj(om.Result, message=_obj(om.Message, text="m"))) == \
        {"message": {"text": "m"}}
    # sarif-om objects built the usual way keep their defaults explicitly
    assert to_json(om.ThreadFlowLocation())["executionOrder"] == -1
    with pytest.raises(TypeError):
        to_json(object())


def test_start_column_one_is_emitted(root):
    finding = dataclasses.replace(make_finding(root), span=Span(f"{root}/a.c", 1, 1, 1, 2))
    region = build(root, [finding])["runs"][0]["results"][0]["locations"][0][
        "physicalLocation"]["region"]
    assert region["startLine"] == 1 and region["startColumn"] == 1


# --------------------------------------------------------------------------- text
def test_text_line_format(root):
    text = format_text([make_finding(root, rel="rel/path.c", rule="rule-id")], root)
    assert text == "rel/path.c:10:5: warning: msg [rule-id]\n"


def test_text_level_is_always_warning(root):
    text = format_text([make_finding(root, rule="fake-rule-b")], root)
    assert ": warning: " in text and "error" not in text


def test_text_outside_root_keeps_path(root):
    finding = make_finding("/else", rel="x.c", rule="r")
    assert format_text([finding], root) == "/else/x.c:10:5: warning: msg [r]\n"


def test_text_show_path_adds_notes_in_gccs_format(root):
    """gcc's own note lines: not indented, and the finding's own step not repeated."""
    text = format_text([make_finding(root, rel="rel/path.c", rule="rule-id")], root,
                       show_path=True)
    assert text.splitlines() == [
        "rel/path.c:10:5: warning: msg [rule-id]",
        "rel/path.c:7:9: note: 'folio' read locklessly here",
        "rel/path.c:9:9: note: speculative reference taken here",
    ]


def test_text_columns_count_tabs_as_gcc_does(root):
    """gcc and sparse print display columns: a tab advances to the next multiple of 8."""
    f = make_finding(root, rel="t.c", line=3, rule="r")
    f = dataclasses.replace(f, span=Span(f.span.file, 3, 3, 3, 10), trail=(
        Step(Span(f.span.file, 2, 2, 2, 5), "origin"), Step(Span(f.span.file, 3, 3, 3, 10),
                                                            "here")))
    lines = {(f.span.file, 3): "\t\tget_page(p);", (f.span.file, 2): "\tx = 1;"}
    text = format_findings([f], root, lines, show_path=True)
    assert text.splitlines() == ["t.c:3:17: warning: msg [r]", "t.c:2:9: note: origin"]
    from analyzer.results.identity import display_column
    assert display_column("a\tb", 3) == 9                 # "a" then a tab to column 9
    assert display_column("ab\t\tc", 5) == 17
    assert display_column("\u4e2d\u6587x", 3) == 5      # wide characters count 2
    assert display_column("e\u0301x", 3) == 2              # a combining accent counts 0
    assert display_column("", 4) == 4 and display_column("x", 0) == 0


def test_text_order_and_diagnostics_apart(root):
    findings = [make_finding(root, rel="mm/z.c", line=3, rule="b"),
                make_finding(root, rel="mm/a.c", line=12, rule="b"),
                make_finding(root, rel="mm/a.c", line=12, rule="a"),
                make_finding(root, rel="mm/a.c", line=4, rule="c")]
    text = format_text(findings, root)
    assert text.splitlines() == [
        "mm/a.c:4:5: warning: msg [c]",
        "mm/a.c:12:5: warning: msg [a]",
        "mm/a.c:12:5: warning: msg [b]",
        "mm/z.c:3:5: warning: msg [b]",
    ]
    assert format_text(list(reversed(findings)), root) == text
    # diagnostics never look like findings (a quickfix list or grep would count them)
    assert [diagnostic_line(n, root) for n in notifications(root)] == [
        "kref-lint: error: mm/broken.c:7: cannot parse file [parse-error]",
        "kref-lint: warning: mm/huge.c: analysis budget exceeded in 'huge_fn' [budget]",
        "kref-lint: note: no compile_commands.json; using tree-sitter [discover]",
    ]


def test_diagnostics_summary_is_one_line():
    notes = [Notification("x", f"/t/f{i}.c", 1, "warning", "parse-error") for i in range(3)]
    notes += [Notification("y", "/t/f0.c", 0, "note", "degraded"),
              Notification("z", "/t/f1.c", 0, "note", "degraded"),
              Notification("z", "/t/f1.c", 0, "error", "timeout"),     # errors: listed
              Notification("routing", "", 0, "note", "frontend")]      # run-level: listed
    assert diagnostics_summary(notes) == (
        "kref-lint: 3 files with parse problems, 2 with degraded statements "
        "(--show-diagnostics lists them)")
    assert diagnostics_summary(notes[-2:]) == ""


def test_text_empty():
    assert format_text([], "/") == ""


def test_summary_line():
    stats = Stats(files=12, functions=340, degraded=3)
    assert summary_line(stats, 2) == \
        "kref-lint: 12 files, 340 functions, 3 statements degraded, 2 findings"
    one = Stats(files=1, functions=1, degraded=0, failed_files=1)
    assert summary_line(one, 1) == \
        "kref-lint: 1 file, 1 function, 0 statements degraded, 1 file failed, 1 finding"
