"""SARIF 2.1.0 output, built with the ``sarif-om`` object model.

One run, tool ``kref-lint``: the driver carries a reportingDescriptor for every rule (its
documentation included), each finding becomes a result with a location relative to
``%SRCROOT%``, the origin site(s) as ``relatedLocations``, the path as one ``codeFlow`` and a
``partialFingerprints`` entry that survives unrelated line shifts; every notification
becomes a ``toolExecutionNotification`` of ``invocations[0]``.

Serialization is our own (:func:`to_json`), not sarif-om's: sarif-om gives many attributes
sentinel defaults (``-1`` indices, ``"en-US"``, ``"warning"``) and its usual serializer
drops any value equal to the default, so an explicit ``"level": "warning"`` would vanish.
Here objects are created with :func:`_obj`, which leaves every attribute it is not given at
``None``; :func:`to_json` then emits exactly the attributes that are not ``None`` -- what
the builder set, whatever its value.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Optional, TextIO
from urllib.parse import quote

import attr
import sarif_om as om

from analyzer.ir import Span
from analyzer.report.text import display_path, relative_to_root
from analyzer.result import Finding, Notification, Step
from analyzer.rule import Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "kref-lint"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "krefLint/v1"


# --------------------------------------------------------------------------- serializer
_SCALARS = frozenset({str, int, float, bool})
_PROPS: dict[type, dict[str, str]] = {}
_UNSET: dict[type, dict[str, None]] = {}


def _props(cls: type) -> dict[str, str]:
    """python attribute -> schema property name of a sarif-om class, cached per class."""
    props = _PROPS.get(cls)
    if props is None:
        if not attr.has(cls):
            raise TypeError(f"cannot serialize {cls.__name__} to SARIF")
        props = {a.name: a.metadata["schema_property_name"] for a in attr.fields(cls)}
        _PROPS[cls] = props
    return props


def to_json(obj):
    """The JSON-ready form of a sarif-om object (or list/dict/scalar holding them).

    Attributes and dict entries whose value is ``None`` are left out; nothing else is,
    ``0``, ``False``, ``[]`` and values equal to a schema default included.  (sarif-om
    classes are plain attrs classes, so their ``__dict__`` holds exactly the attributes,
    in declaration order; scalars are copied inline: this runs over every node of the log.)"""
    cls = type(obj)
    if cls in _SCALARS or obj is None:
        return obj
    if cls is list or cls is tuple:
        return [item if type(item) in _SCALARS else to_json(item) for item in obj]
    if cls is dict:
        return {key: value if type(value) in _SCALARS else to_json(value)
                for key, value in obj.items() if value is not None}
    props = _props(cls)
    return {props[name]: value if type(value) in _SCALARS else to_json(value)
            for name, value in vars(obj).items() if value is not None}


def _obj(cls: type, **values):
    """A sarif-om ``cls`` with exactly ``values`` set and every other attribute ``None``
    (not sarif-om's sentinel default), so that only what is set here is emitted."""
    unset = _UNSET.get(cls)
    if unset is None:
        unset = _UNSET[cls] = dict.fromkeys(_props(cls))
    return cls(**{**unset, **values})


# --------------------------------------------------------------------------- fingerprints
def normalize_snippet(snippet: str) -> str:
    """The reported statement without comments and without whitespace outside string and
    character literals: re-indenting or re-spacing the line (``if(x)`` / ``if (x)``), or
    adding a comment to it (a suppression, an ``expect:`` marker), is no change."""
    if "/" not in snippet and '"' not in snippet and "'" not in snippet:
        return "".join(snippet.split())
    out, i, n, quote = [], 0, len(snippet), None
    while i < n:
        c = snippet[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(snippet[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            out.append(c)
        elif snippet.startswith("//", i):
            break
        elif snippet.startswith("/*", i):
            end = snippet.find("*/", i + 2)
            if end < 0:
                break
            i = end + 1
        elif not c.isspace():
            out.append(c)
        i += 1
    return "".join(out)


def fingerprint(finding: Finding, root: str, occurrence: int) -> str:
    """The ``krefLint/v1`` partial fingerprint: a hex SHA-256 of the rule, the path relative
    to ``root``, the function, the normalized snippet and ``occurrence`` (how many findings
    with the same rule, path, function and snippet precede this one in sorted order).

    No line or column goes in, so lines added above the function, or re-indentation, keep
    the fingerprint; changing the reported statement or the rule changes it."""
    parts = (finding.rule_id, display_path(finding.span.file, root), finding.function,
             normalize_snippet(finding.snippet), str(occurrence))
    data = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def _sort_key(finding: Finding):
    return finding.sort_key() + (finding.function,)


def fingerprints(findings: Iterable[Finding], root: str) -> list[tuple[Finding, str]]:
    """Every finding with its fingerprint, in the deterministic output order."""
    seen: dict[tuple[str, str, str, str], int] = {}
    out = []
    for f in sorted(findings, key=_sort_key):
        key = (f.rule_id, display_path(f.span.file, root), f.function,
               normalize_snippet(f.snippet))
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        out.append((f, fingerprint(f, root, occurrence)))
    return out


# --------------------------------------------------------------------------- locations
def root_uri(root: str) -> str:
    """``root`` as an absolute, percent-encoded ``file://`` URI ending with ``/``."""
    uri = Path(os.path.abspath(root)).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _message(text: str):
    return _obj(om.Message, text=text)


@functools.lru_cache(maxsize=4096)
def _uri(path: str, root: str) -> tuple[str, Optional[str]]:
    """(uri, uriBaseId): relative to ``%SRCROOT%`` when under ``root``, else an absolute
    file URI and no base.  Percent-encoded.  Cached: a log names few files many times."""
    rel = relative_to_root(path, root)
    if rel is None:
        return Path(os.path.abspath(path)).as_uri(), None
    return quote(rel, safe="/"), SRCROOT


def _artifact(path: str, root: str):
    if not (os.path.isabs(path) and os.path.isabs(root)):   # the cache must not see cwd
        path, root = os.path.abspath(path), os.path.abspath(root)
    uri, base = _uri(path, root)
    return _obj(om.ArtifactLocation, uri=uri, uri_base_id=base)


def _region(span: Span, snippet: str = ""):
    """1-based lines and columns; ``end_*`` is exclusive in both ``Span`` and SARIF.
    Unknown parts (0) are left out; no region at all without a line."""
    if span.line < 1:
        return None
    region = _obj(om.Region, start_line=span.line)
    if span.col >= 1:
        region.start_column = span.col
    if span.end_line >= span.line:
        region.end_line = span.end_line
        if span.end_col >= 1:
            region.end_column = span.end_col
    if snippet:
        region.snippet = _obj(om.ArtifactContent, text=snippet)
    return region


def _location(span: Span, root: str, message: Optional[str] = None, id: Optional[int] = None,
              snippet: str = "", function: str = ""):
    physical = None
    if span.file:
        physical = _obj(om.PhysicalLocation, artifact_location=_artifact(span.file, root),
                        region=_region(span, snippet))
    logical = None
    if function:
        logical = [_obj(om.LogicalLocation, name=function, kind="function")]
    return _obj(om.Location, id=id, physical_location=physical, logical_locations=logical,
                message=_message(message) if message is not None else None)


# --------------------------------------------------------------------------- building blocks
def _descriptor(rule: Rule):
    """A rule's reportingDescriptor; its documentation is the rule's own text."""
    return _obj(
        om.ReportingDescriptor,
        id=rule.id,
        name=rule.name,
        short_description=_obj(om.MultiformatMessageString, text=rule.summary),
        full_description=_obj(om.MultiformatMessageString, text=rule.what.strip()),
        help=_obj(om.MultiformatMessageString, text=rule.text(), markdown=rule.markdown()),
        default_configuration=_obj(om.ReportingConfiguration, level=rule.level),
        properties={"precision": rule.precision, "tags": list(dict.fromkeys(rule.tags))},
    )


def _code_flow(finding: Finding, root: str):
    """One threadFlow: the trail in order, or just the finding when it has none."""
    steps = finding.trail or (Step(finding.span, finding.message),)
    locations = [_obj(om.ThreadFlowLocation, location=_location(s.span, root, message=s.message))
                 for s in steps]
    return _obj(om.CodeFlow, thread_flows=[_obj(om.ThreadFlow, locations=locations)])


def _result(finding: Finding, fp: str, rules: list[Rule], rule_index: dict[str, int],
            root: str, baseline_states: Optional[dict]):
    index = rule_index.get(finding.rule_id)
    level = rules[index].level if index is not None else "warning"
    related = [_location(s.span, root, message=s.message, id=i)
               for i, s in enumerate(finding.related, start=1)]
    result = _obj(
        om.Result,
        rule_id=finding.rule_id,
        rule_index=index,
        level=level,
        message=_message(finding.message),
        locations=[_location(finding.span, root, snippet=finding.snippet,
                             function=finding.function)],
        related_locations=related or None,
        code_flows=[_code_flow(finding, root)],
        partial_fingerprints={FINGERPRINT_KEY: fp},
    )
    if baseline_states is not None:
        result.baseline_state = baseline_states.get(fp, "new")
    if finding.suppression:
        result.suppressions = [{"kind": "inSource", "justification": finding.suppression}]
    return result


def _notification(note: Notification, root: str):
    locations = None
    if note.file:
        region = _obj(om.Region, start_line=note.line) if note.line > 0 else None
        physical = _obj(om.PhysicalLocation, artifact_location=_artifact(note.file, root),
                        region=region)
        locations = [_obj(om.Location, physical_location=physical)]
    return _obj(
        om.Notification,
        level=note.level,
        message=_message(note.message),
        descriptor=_obj(om.ReportingDescriptorReference, id=f"{TOOL_NAME}/{note.kind}"),
        locations=locations,
    )


def _notification_key(note: Notification):
    return (note.file, note.line, note.kind, note.message, note.level)


# --------------------------------------------------------------------------- public API
def build_sarif(findings: Iterable[Finding], notifications: Iterable[Notification],
                rules: list[Rule], root: str, tool_version: str, command_line: str = "",
                automation_id: Optional[str] = None,
                baseline_states: Optional[dict[str, str]] = None) -> dict:
    """The SARIF log of one run, as a JSON-ready dict.

    ``rules`` become ``tool.driver.rules`` in the given order (a result's ``ruleIndex``
    points into it; a finding whose rule is not listed gets no ``ruleIndex`` and level
    ``warning``).  Paths under ``root`` become URIs relative to ``%SRCROOT%``.

    ``baseline_states`` maps a ``krefLint/v1`` fingerprint (see :func:`fingerprints`) to a
    SARIF ``baselineState`` (``new``, ``unchanged``, ``updated``, ``absent``); when it is
    given, every result gets one, ``new`` for fingerprints it does not list.  When None
    (no baseline/diff mode) results carry no ``baselineState``.

    Results and notifications are sorted, so the same input gives the same output."""
    rule_index: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.id in rule_index:
            raise ValueError(f"duplicate rule id {rule.id!r}")
        rule_index[rule.id] = i

    driver = _obj(om.ToolComponent, name=TOOL_NAME, version=tool_version,
                  rules=[_descriptor(r) for r in rules])
    invocation = _obj(
        om.Invocation,
        execution_successful=True,        # the tool ran; per-file failures are notifications
        command_line=command_line or None,
        tool_execution_notifications=[_notification(n, root) for n in
                                      sorted(notifications, key=_notification_key)],
    )
    run = _obj(
        om.Run,
        tool=_obj(om.Tool, driver=driver),
        automation_details=(_obj(om.RunAutomationDetails, id=automation_id)
                            if automation_id is not None else None),
        invocations=[invocation],
        original_uri_base_ids={SRCROOT: _obj(om.ArtifactLocation, uri=root_uri(root))},
        column_kind="unicodeCodePoints",
        results=[_result(f, fp, rules, rule_index, root, baseline_states)
                 for f, fp in fingerprints(findings, root)],
    )
    log = to_json(_obj(om.SarifLog, schema_uri=SCHEMA_URI, version=SARIF_VERSION, runs=[run]))
    return {"$schema": log.pop("$schema"), "version": log.pop("version"), **log}


def write_sarif(log: dict, out: TextIO) -> None:
    """Write a log from :func:`build_sarif` as indented JSON with a final newline.
    (Atomic replacement of the output file is the caller's business.)"""
    json.dump(log, out, indent=2)
    out.write("\n")
