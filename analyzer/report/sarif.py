"""SARIF 2.1.0 output, built with the ``sarif-om`` object model.

One run, tool ``kref-lint``.  The driver carries ``informationUri``, ``semanticVersion``
and a reportingDescriptor for every rule: its documentation (``help`` text and Markdown,
``helpUri``), its level, and the properties GitHub code scanning reads -- ``tags`` (the
rule's own, ``security`` and ``external/cwe/cwe-N``), ``security-severity``,
``problem.severity``, ``precision`` (see :mod:`analyzer.report.taxonomy`).

Each finding becomes a result located relative to ``%SRCROOT%`` (the tree root; the log
does not record where that was on the analyzing machine, so it is portable -- a viewer
resolves it against its workspace, code scanning against the checkout), with the origin
site(s) as ``relatedLocations``, the path as one ``codeFlow``, and two partial
fingerprints: ``krefLint/v1`` (survives unrelated line shifts; what ``--baseline``
matches) and ``primaryLocationLineHash`` computed as GitHub's upload action computes it.
Every notification becomes a ``toolExecutionNotification`` of ``invocations[0]``; a git
tree's remote and commit become ``versionControlProvenance`` mapped to ``%SRCROOT%``.

``check-patch`` logs (:func:`build_patch_sarif`) report lines of the files *after* the
patch that adds each finding, which the tree does not hold: those file versions are
embedded as ``run.artifacts`` (``contents.text``, the patch in ``properties``) and every
location in them refers to its artifact by ``index``; ``versionControlProvenance`` names
the tree's commit and the run's properties the series' ``base-commit``.

Serialization is our own (:func:`to_json`), not sarif-om's: sarif-om gives many attributes
sentinel defaults (``-1`` indices, ``"en-US"``, ``"warning"``) and its usual serializer
drops any value equal to the default, so an explicit ``"level": "warning"`` would vanish.
Here objects are created with :func:`_obj`, which leaves every attribute it is not given at
``None``; :func:`to_json` then emits exactly the attributes that are not ``None`` -- what
the builder set, whatever its value.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import attr
import sarif_om as om

from analyzer.ir import Span
from analyzer.report.taxonomy import classification, problem_severity
from analyzer.result import Finding, Notification, Step
from analyzer.results.baseline import Entry
from analyzer.results.identity import FINGERPRINT_KEY, LINE_HASH_KEY, fingerprints, relative_to_root
from analyzer.results.patches import SeriesResult
from analyzer.results.run import RunInfo, RunResult
from analyzer.rule import Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "kref-lint"
SRCROOT = "%SRCROOT%"


def information_uri() -> str:
    """The project's home page (``[project.urls] Homepage`` in pyproject.toml)."""
    try:
        for entry in metadata.metadata("kref-lint").get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if label.strip().lower() == "homepage" and url.strip():
                return url.strip()
    except metadata.PackageNotFoundError:
        pass
    return _HOMEPAGE


#: Used when kref-lint runs from a checkout that is not installed; the same as
#: pyproject.toml's (a test keeps them equal).
_HOMEPAGE = "https://github.com/kref-lint/kref-lint"


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


# --------------------------------------------------------------------------- locations
def root_uri(root: str) -> str:
    """``root`` as an absolute, percent-encoded ``file://`` URI ending with ``/``."""
    uri = Path(os.path.abspath(root)).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _message(text: str):
    return _obj(om.Message, text=text)


@functools.lru_cache(maxsize=4096)
def _uri(path: str, root: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to ``%SRCROOT%`` when under ``root``, else an absolute
    file URI and no base.  Percent-encoded.  Cached: a log names few files many times."""
    rel = relative_to_root(path, root)
    if rel is None:
        return Path(os.path.abspath(path)).as_uri(), None
    return quote(rel, safe="/"), SRCROOT


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


@dataclass
class _Builder:
    """What every part of one log shares: the root, the rules, embedded artifacts."""

    root: str
    rules: list[Rule]
    rule_index: dict[str, int] = field(default_factory=dict)
    #: (absolute path, version key) -> index into run.artifacts (check-patch)
    artifact_index: dict[tuple[str, int], int] = field(default_factory=dict)
    artifacts: list = field(default_factory=list)
    version: int = 0            # the file version locations refer to (0: the tree's)

    def __post_init__(self) -> None:
        if not (os.path.isabs(self.root)):
            self.root = os.path.abspath(self.root)
        for i, rule in enumerate(self.rules):
            if rule.id in self.rule_index:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            self.rule_index[rule.id] = i

    def artifact(self, path: str):
        if not os.path.isabs(path):           # the lru cache must not see the cwd
            path = os.path.abspath(path)
        uri, base = _uri(path, self.root)
        index = self.artifact_index.get((path, self.version))
        return _obj(om.ArtifactLocation, uri=uri, uri_base_id=base, index=index)

    def location(self, span: Span, message: str | None = None, id: int | None = None,
                 snippet: str = "", function: str = ""):
        physical = None
        if span.file:
            physical = _obj(om.PhysicalLocation, artifact_location=self.artifact(span.file),
                            region=_region(span, snippet))
        logical = None
        if function:
            logical = [_obj(om.LogicalLocation, name=function, kind="function")]
        return _obj(om.Location, id=id, physical_location=physical, logical_locations=logical,
                    message=_message(message) if message is not None else None)

    def code_flow(self, finding: Finding):
        """One threadFlow: the trail in order, or just the finding when it has none."""
        steps = finding.trail or (Step(finding.span, finding.message),)
        locations = [_obj(om.ThreadFlowLocation,
                          location=self.location(s.span, message=s.message)) for s in steps]
        return _obj(om.CodeFlow, thread_flows=[_obj(om.ThreadFlow, locations=locations)])

    def result(self, finding: Finding, fp: str, line_hash: str = "",
               state: str | None = None):
        index = self.rule_index.get(finding.rule_id)
        level = self.rules[index].level if index is not None else "warning"
        related = [self.location(s.span, message=s.message, id=i)
                   for i, s in enumerate(finding.related, start=1)]
        prints = {FINGERPRINT_KEY: fp}
        if line_hash:
            prints[LINE_HASH_KEY] = line_hash
        result = _obj(
            om.Result,
            rule_id=finding.rule_id,
            rule_index=index,
            level=level,
            message=_message(finding.message),
            locations=[self.location(finding.span, snippet=finding.snippet,
                                     function=finding.function)],
            related_locations=related or None,
            code_flows=[self.code_flow(finding)],
            partial_fingerprints=prints,
            baseline_state=state,
        )
        if finding.suppression:
            result.suppressions = [{"kind": "inSource", "justification": finding.suppression}]
        return result

    def absent(self, entry: Entry):
        """A baseline result that is gone: the old log's, re-pointed into these rules,
        or built from the finding the baseline was computed from."""
        if isinstance(entry, Finding):
            return to_json(self.result(entry, _fingerprint_of(entry, self.root),
                                       state="absent"))
        r = copy.deepcopy(entry)
        r["baselineState"] = "absent"
        i = self.rule_index.get(str(r.get("ruleId")))
        if i is None:
            r.pop("ruleIndex", None)
        else:
            r["ruleIndex"] = i
        r.pop("rule", None)
        return r

    def notification(self, note: Notification):
        locations = None
        if note.file:
            region = _obj(om.Region, start_line=note.line) if note.line > 0 else None
            physical = _obj(om.PhysicalLocation, artifact_location=self.artifact(note.file),
                            region=region)
            locations = [_obj(om.Location, physical_location=physical)]
        return _obj(
            om.Notification,
            level=note.level,
            message=_message(note.message),
            descriptor=_obj(om.ReportingDescriptorReference, id=f"{TOOL_NAME}/{note.kind}"),
            locations=locations,
        )


def _fingerprint_of(finding: Finding, root: str) -> str:
    return fingerprints([finding], root)[0][1]


def descriptor(rule: Rule):
    """A rule's reportingDescriptor: its documentation is the rule's own text, its
    classification :mod:`analyzer.report.taxonomy`'s."""
    tags = list(dict.fromkeys(rule.tags))
    props: dict = {"precision": rule.precision, "problem.severity": problem_severity(rule.level)}
    cls = classification(rule.id)
    if cls is not None:
        tags = list(dict.fromkeys([*tags, *cls.tags()]))
        props["security-severity"] = cls.security_severity
    props["tags"] = tags
    return _obj(
        om.ReportingDescriptor,
        id=rule.id,
        name=rule.name,
        short_description=_obj(om.MultiformatMessageString, text=rule.summary),
        full_description=_obj(om.MultiformatMessageString, text=rule.what.strip()),
        help=_obj(om.MultiformatMessageString, text=rule.text(), markdown=rule.markdown()),
        help_uri=help_uri(rule.id),
        default_configuration=_obj(om.ReportingConfiguration, level=rule.level),
        properties=props,
    )


def help_uri(rule_id: str) -> str:
    """Where a rule's documentation is read on the web: the README's rule table (the
    full text is ``kref-lint explain RULE`` and the descriptor's ``help``)."""
    return f"{information_uri()}/blob/main/README.md#rules"


def _notification_key(note: Notification):
    return (note.file, note.line, note.kind, note.message, note.level)


def _run(b: _Builder, info: RunInfo, results: list, notifications: Iterable[Notification],
         properties: dict | None = None):
    driver = _obj(om.ToolComponent, name=TOOL_NAME, version=info.tool_version,
                  semantic_version=info.tool_version, information_uri=information_uri(),
                  rules=[descriptor(r) for r in b.rules])
    invocation = _obj(
        om.Invocation,
        execution_successful=True,        # the tool ran; per-file failures are notifications
        command_line=info.command_line or None,
        tool_execution_notifications=[b.notification(n) for n in
                                      sorted(notifications, key=_notification_key)],
    )
    provenance = None
    if info.provenance is not None and info.provenance.repository_uri:
        p = info.provenance
        provenance = [_obj(om.VersionControlDetails, repository_uri=p.repository_uri,
                           revision_id=p.revision, branch=p.branch or None,
                           mapped_to=_obj(om.ArtifactLocation, uri_base_id=SRCROOT))]
    return _obj(
        om.Run,
        tool=_obj(om.Tool, driver=driver),
        automation_details=(_obj(om.RunAutomationDetails, id=info.automation_id)
                            if info.automation_id is not None else None),
        invocations=[invocation],
        original_uri_base_ids={SRCROOT: _obj(om.ArtifactLocation, description=_message(
            "The root of the analyzed tree (its git top level or kernel source root); "
            "result URIs are relative to it."))},
        version_control_provenance=provenance,
        artifacts=b.artifacts or None,
        column_kind="unicodeCodePoints",
        results=results,
        properties=properties,
    )


def _log(run) -> dict:
    log = to_json(_obj(om.SarifLog, schema_uri=SCHEMA_URI, version=SARIF_VERSION, runs=[run]))
    return {"$schema": log.pop("$schema"), "version": log.pop("version"), **log}


# --------------------------------------------------------------------------- public API
def build_sarif(run: RunResult, rules: list[Rule], info: RunInfo) -> dict:
    """The SARIF log of one run, as a JSON-ready dict.

    ``rules`` become ``tool.driver.rules`` in the given order (a result's ``ruleIndex``
    points into it; a finding whose rule is not listed gets no ``ruleIndex`` and level
    ``warning``).  Active and suppressed findings are both results (suppressed ones with
    ``suppressions``).  Paths under ``run.root`` become URIs relative to ``%SRCROOT%``.
    With a baseline comparison every result gets a ``baselineState`` and the baseline's
    gone results follow as ``absent``; without one, results carry none.

    Results and notifications are sorted, so the same input gives the same output."""
    b = _Builder(run.root, list(rules))
    states = run.comparison.states if run.comparison is not None else None
    results = [b.result(f, fp, run.line_hashes.get((f.span.file, f.span.line), ""),
                        states.get(fp, "new") if states is not None else None)
               for f, fp in fingerprints([*run.findings, *run.suppressed], run.root)]
    log = _log(_run(b, info, results, run.notifications, info.properties))
    if run.comparison is not None and run.comparison.absent:
        log["runs"][0]["results"] += [b.absent(e) for e in run.comparison.absent]
    return log


def build_patch_sarif(result: SeriesResult, rules: list[Rule], info: RunInfo) -> dict:
    """The SARIF log of a ``check-patch`` run: each new finding a ``new`` result with its
    patch in ``properties`` (``patch``, ``patchIndex``, ``messageId``), located in the
    embedded version of its file after that patch (see the module doc)."""
    b = _Builder(result.tree, list(rules))
    for (index, rel), text in sorted(result.versions.items()):
        path = os.path.join(result.tree, *rel.split("/"))
        patch = result.series.patches[index - 1]
        b.artifact_index[(path, index)] = len(b.artifacts)
        uri, base = _uri(path, b.root)
        b.artifacts.append(_obj(
            om.Artifact, location=_obj(om.ArtifactLocation, uri=uri, uri_base_id=base),
            contents=_obj(om.ArtifactContent, text=text),
            hashes={"sha-256": hashlib.sha256(text.encode("utf-8", "surrogateescape"))
                    .hexdigest()},
            source_language="c", properties={"patch": patch.label, "patchIndex": index,
                                             "version": "after the patch"}))
    results = []
    for pf in sorted(result.findings, key=lambda pf: (pf.patch.index, pf.finding.sort_key())):
        b.version = pf.patch.index
        r = b.result(pf.finding, pf.fingerprint, pf.line_hash, "new")
        r.properties = {"patch": pf.patch.label, "patchIndex": pf.patch.index,
                        **({"messageId": pf.patch.message_id} if pf.patch.message_id else {})}
        results.append(r)
    b.version = 0
    props = {"series": result.series.name}
    if result.series.base_commit:
        props["baseCommit"] = result.series.base_commit
    return _log(_run(b, info, results, result.notifications, props))


def write_sarif(log: dict, out: TextIO) -> None:
    """Write a log from :func:`build_sarif` as indented JSON with a final newline.
    (Atomic replacement of the output file is the caller's business.)"""
    json.dump(log, out, indent=2)
    out.write("\n")


def dumps(log: dict) -> str:
    return json.dumps(log, indent=2) + "\n"
