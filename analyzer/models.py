"""API models: declarative facts about kernel APIs, loaded from ``rules/*.toml``.

Every kernel API name the checkers care about lives in those files, never in checker
logic.  Each file is a set of TOML tables ``[<section>.<api>]``; the sections and their
keys are the schema below.  A file that does not fit it is a :class:`ModelError` naming
the file, the line and the key.  Later files override earlier ones per ``(section, api)``,
so ``--rules FILE`` can add or correct a model.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

WHEN = ("always", "nonzero", "zero", "positive")
ACQUIRE_KINDS = ("plain", "speculative", "pin")
LOCK_KINDS = ("spin", "rcu", "sleep")


class ModelError(Exception):
    """A rule file that cannot be used; the message names file, line and key."""


@dataclass(frozen=True, slots=True)
class Key:
    """Schema of one key: its Python type(s), whether required, allowed values."""

    types: tuple
    required: bool = False
    choices: tuple = ()
    doc: str = ""


# section -> key -> Key.  Each section's docstring is in SECTION_DOCS.
SCHEMA: dict[str, dict[str, Key]] = {
    "transparent": {"arg": Key((int,), True, doc="argument whose value the call yields")},
    "iterator": {
        "cursor": Key((int,), doc="macro argument assigned on every iteration"),
        "step": Key((str,), doc="call the macro performs to produce the cursor"),
        "step_args": Key((list,), doc="macro arguments passed to that call"),
    },
    "lockless_read": {
        "arg": Key((int,), doc="argument read through (the source to re-check)"),
        "deref_only": Key((bool,), doc="only when that argument is spelled *p"),
        "rcu": Key((bool,), doc="a lookup that is lockless only when no spinlock is held"),
        "value": Key((bool,), doc="the result is a value (a PTE), not a pointer to an object"),
    },
    "reread": {"arg": Key((int,), True, doc="argument re-read (the source)")},
    "derive": {"from": Key((int,), True, doc="argument the result is derived from"),
               "value": Key((bool,), doc="the result is a value (a PFN, a PTE pointer), "
                                         "not the object that holds the count")},
    "acquire": {
        "arg": Key((int,), True, doc="argument whose object gains a reference"),
        "kind": Key((str,), True, ACQUIRE_KINDS),
        "when": Key((str,), False, WHEN, "return value on which it holds"),
        "returns_object": Key((bool,), doc="the result designates the referenced object"),
        "needs_ref": Key((bool,), doc="the caller must already hold a reference"),
    },
    "release": {"arg": Key((int,), True),
                "partial": Key((bool,), doc="drops some of several references (a count)")},
    "lock": {"kind": Key((str,), True, LOCK_KINDS), "when": Key((str,), False, WHEN),
             "arg": Key((int,), doc="argument locked, for an object lock (folio_lock)")},
    "unlock": {"kind": Key((str,), True, LOCK_KINDS), "arg": Key((int,))},
    # references taken and not dropped (page-ref-leak)
    "ref_source": {
        "arg": Key((int,), doc="argument that receives the referenced object (&page, "
                               "pages[], a batch); absent: the result is the object"),
        "when": Key((str,), False, WHEN, "return value on which it holds"),
        "flag_arg": Key((int,), doc="argument of flags: a reference only when it names flag"),
        "flag": Key((str,), doc="the flag that asks for a reference (FOLL_GET)"),
    },
    "ref_release": {"arg": Key((int,), True, doc="argument whose reference(s) it drops")},
    "ref_count": {"arg": Key((int,), True, doc="argument giving how many references an "
                                               "acquire, ref_source or release takes/drops")},
    "ref_borrow": {"args": Key((list,), doc="arguments it uses without keeping their "
                                            "reference (absent: all)")},
    "ref_error_test": {"arg": Key((int,), True), "when": Key((str,), False, WHEN,
                                                         "result meaning 'no object'"),
                       "null": Key((bool,), doc="NULL is 'no object' too (IS_ERR_OR_NULL)")},
    "ref_error_value": {},
    "ref_carrier": {"from": Key((int,), True, doc="argument whose object the result maps")},
    "ref_raw": {},
    # speculative references
    "revalidate": {"arg": Key((int,), True, doc="argument whose source it re-checks"),
                   "when": Key((str,), False, WHEN, "return value meaning 'still valid'")},
    # I/O on possibly-secure pages
    "make_accessible": {"arg": Key((int,), True), "when": Key((str,), False, WHEN)},
    "io_start": {"arg": Key((int,), True, doc="argument whose page I/O is started on"),
                 "carrier": Key((int,), doc="argument (a bio) that carries the page to a "
                                            "later io_submit; absent: the I/O starts here")},
    "io_submit": {"arg": Key((int,), True, doc="the carrier whose pages I/O starts on")},
    "writeback_start": {"arg": Key((int,), True), "when": Key((str,), False, WHEN),
                        "accessible": Key((bool,), doc="then makes it accessible, too")},
    "guest_source": {
        "arg": Key((int,), doc="argument that receives the pages (else the result)"),
        "field": Key((str,), doc="the page is this field of that argument (buf->page)"),
        "accessible": Key((bool,), doc="already made accessible (FOLL_PIN)"),
        "when": Key((str,), False, WHEN),
    },
    "not_secure": {"arg": Key((int,), True), "when": Key((str,), False, WHEN)},
    "writeback_end": {"arg": Key((int,), True)},
    "private_alloc": {"arg": Key((int,), doc="argument that receives it (else the result)")},
    # teardown against lockless walkers
    "teardown": {"what": Key((str,), doc="what is freed (memmap, page table)"),
                 "deferred": Key((bool,), doc="frees only after a grace period or IPI itself "
                                              "(tlb_remove_table): needs no sync"),
                 "via": Key((str,), doc="summaries: the teardown API the call chain ends in"),
                 "trail": Key((tuple,), doc="summaries: the steps down to it (not for rule "
                                            "files)")},
    "unpublish": {"what": Key((str,), doc="what becomes unreachable for new walkers"),
                  "arg": Key((int,), doc="argument naming the cleared entry (pmd); "
                                         "reassigning it ends the story"),
                  "via": Key((str,), doc="summaries: the unpublish API the chain ends in"),
                  "trail": Key((tuple,), doc="summaries: the steps down to it")},
    "sync": {"what": Key((str,), doc="how it waits for walkers (rcu, ipi)")},
    # exact refcount decisions
    "refcount_read": {"arg": Key((int,), True, doc="argument whose count it returns")},
    "freeze": {"arg": Key((int,), True), "when": Key((str,), False, WHEN)},
    "unfreeze": {"arg": Key((int,), True)},
    "exclusive_action": {"arg": Key((int,), True,
                                    doc="argument assumed to have no other reference")},
    "set_refcount": {"arg": Key((int,), True)},
    "warn": {"arg": Key((int,), True, doc="argument holding the asserted condition")},
    "exclusion": {"arg": Key((int,), doc="argument it excludes speculative references on")},
}

SECTION_DOCS = {
    "transparent": "wrappers whose value is one argument's (likely, unlikely)",
    "iterator": "iterator macros that are loops (list_for_each_entry, xas_for_each)",
    "lockless_read": "reads of a pointer or entry without a lock or reference",
    "reread": "re-reads of a source for revalidation (ptep_get, xas_reload)",
    "derive": "results designating an object derived from an argument (pte_page)",
    "acquire": "calls that take a reference (plain, speculative, pin)",
    "release": "calls that drop a reference",
    "lock": "calls that take a lock (spin) or enter an RCU read-side section",
    "unlock": "calls that release them",
    "revalidate": "calls (or summarized helpers) that re-check a lockless source",
    "ref_source": "lookups, allocations and GUP that return or fill in referenced objects",
    "ref_release": "drops of references beyond the shared `release` (arrays, batches, pfns)",
    "ref_count": "the count argument of counted gets and puts (folio_ref_add, folio_put_refs)",
    "ref_borrow": "calls that use an object without taking its reference over",
    "ref_error_test": "tests after which a result holds no object (IS_ERR, is_error_pfn)",
    "ref_error_value": "return values that signal failure (ERR_PTR, VM_FAULT_OOM)",
    "ref_carrier": "values that map an object (mk_pte): installing them hands it over",
    "ref_raw": "raw count increments that are no reference of the caller's own to drop",
    "make_accessible": "arch_make_{page,folio}_accessible() and wrappers (0 = success)",
    "io_start": "calls that start I/O on a page or folio (or attach it to a bio)",
    "io_submit": "calls that submit a bio: I/O starts on the pages attached to it",
    "guest_source": "possibly secure (guest) pages, referenced: GUP, page cache, pipes",
    "not_secure": "tests after which a page cannot be secure (a folio not uptodate)",
    "writeback_start": "calls that set the writeback flag (I/O pending)",
    "writeback_end": "calls that end writeback",
    "private_alloc": "allocations the kernel owns (never secure/guest pages)",
    "teardown": "frees of memmap or page tables that lockless walkers may touch",
    "unpublish": "steps that hide memory or page tables from new walkers",
    "sync": "waits for lockless walkers (RCU grace period, IPI)",
    "refcount_read": "reads of an exact reference count",
    "freeze": "refcount freezes (ref_freeze: succeeds only at the expected count)",
    "unfreeze": "refcount unfreezes",
    "exclusive_action": "actions that assume no other reference can exist",
    "set_refcount": "calls that overwrite a reference count",
    "warn": "WARN_ON()/VM_BUG_ON()-style assertions",
    "exclusion": "calls that exclude speculative references",
}


@dataclass(frozen=True, slots=True)
class Model:
    """One fact: ``section`` about ``api`` with the given values (defaults filled)."""

    section: str
    api: str
    values: tuple[tuple[str, Any], ...]
    source: str = ""

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.values:
            if k == key:
                return v
        return default


@dataclass(frozen=True, slots=True)
class IteratorModel:
    cursor: int | None
    step: str | None
    step_args: tuple[int, ...]

    def loop(self, macro: str, args: tuple, body, span, call_span):
        """The ``IterLoop`` for ``macro(args) body``: every frontend builds it here, so
        they agree on the cursor and on the call the macro performs."""
        from analyzer.ir import Call, IterLoop

        cursor = args[self.cursor] if self.cursor is not None and 0 <= self.cursor < len(
            args) else None
        step = None
        if self.step:
            step = Call(self.step, tuple(args[i] for i in self.step_args if 0 <= i < len(args)),
                        None, call_span)
        return IterLoop(macro, args, cursor, step, body, span)


@dataclass
class Models:
    """All loaded facts, indexed by section then API name."""

    by_section: dict[str, dict[str, Model]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    _names_cache: dict[str, frozenset] = field(default_factory=dict, repr=False)

    def overlay(self) -> Models:
        """A copy whose additions (function summaries) leave this one untouched."""
        return Models({k: dict(v) for k, v in self.by_section.items()}, list(self.files))

    def add_summary(self, m: Model) -> bool:
        """Add a summarized fact unless a rule file already models that API there."""
        table = self.by_section.setdefault(m.section, {})
        if m.api in table:
            return False
        table[m.api] = m
        self._names_cache.clear()
        return True

    def get(self, section: str, api: str | None) -> Model | None:
        if api is None:
            return None
        return self.by_section.get(section, {}).get(api)

    def names(self, section: str) -> frozenset[str]:
        got = self._names_cache.get(section)
        if got is None:
            got = self._names_cache[section] = frozenset(self.by_section.get(section, {}))
        return got

    def iterators(self) -> dict[str, IteratorModel]:
        return {
            name: IteratorModel(m.get("cursor"), m.get("step"), tuple(m.get("step_args", ())))
            for name, m in self.by_section.get("iterator", {}).items()
        }

    def identifiers(self) -> frozenset[str]:
        """Every API name any model mentions (for cheap pre-filters)."""
        got = self._names_cache.get("*")
        if got is not None:
            return got
        out: set[str] = set()
        for section, table in self.by_section.items():
            out.update(table)
            if section == "iterator":
                out.update(m.get("step") for m in table.values() if m.get("step"))
        self._names_cache["*"] = frozenset(out)
        return self._names_cache["*"]

    def fingerprint(self) -> str:
        """A stable digest of every fact, for cache keys."""
        import hashlib

        h = hashlib.sha256()
        for section in sorted(self.by_section):
            for api, m in sorted(self.by_section[section].items()):
                h.update(repr((section, api, m.values)).encode())
        return h.hexdigest()[:16]


def _line_of(text: str, *needles: str, start: int = 0) -> int:
    """Best-effort line of the first needle (a table header or key) that starts a line of
    the TOML text at or after line ``start``."""
    offset = 0
    for _ in range(max(start - 1, 0)):
        offset = text.find("\n", offset) + 1
    for needle in needles:
        tail = r"(?!\w)" if needle[-1:].isalnum() or needle.endswith("_") else ""
        pat = re.compile(r"^[ \t]*" + re.escape(needle) + tail, re.M)
        m = pat.search(text, offset)
        if m:
            return text.count("\n", 0, m.start()) + 1
    return 0


def _check_value(key: str, spec: Key, value: Any) -> str | None:
    if isinstance(value, bool) and bool not in spec.types:
        return f"expected {spec.types[0].__name__}, got a boolean"
    if not isinstance(value, spec.types):
        return f"expected {spec.types[0].__name__}, got {type(value).__name__}"
    if spec.choices and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}, got {value!r}"
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return "must not be negative"
    if spec.types == (list,) and not all(isinstance(v, int) and v >= 0 for v in value):
        return "must be a list of argument indexes"
    return None


def parse_models(text: str, source: str) -> list[Model]:
    """Validate one rule file's text and return its facts; raise ModelError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: invalid TOML: {exc}") from None
    out: list[Model] = []
    for section, table in data.items():
        if section not in SCHEMA:
            line = _line_of(text, f"[{section}.", f"[{section}]", section)
            known = ", ".join(sorted(SCHEMA))
            raise ModelError(f"{source}:{line}: unknown section '{section}' (known: {known})")
        if not isinstance(table, dict):
            raise ModelError(f"{source}:{_line_of(text, section)}: '{section}' must be a table")
        schema = SCHEMA[section]
        for api, entry in table.items():
            where = f"{section}.{api}"
            line = _line_of(text, f"[{where}]", f"{api} =", api)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api):
                raise ModelError(f"{source}:{line}: '{where}': not a C identifier")
            if not isinstance(entry, dict):
                raise ModelError(f"{source}:{line}: '{where}' must be a table of keys")
            for key, value in entry.items():
                if key not in schema:
                    known = ", ".join(sorted(schema)) or "none"
                    kline = _line_of(text, key, start=line) or line
                    raise ModelError(
                        f"{source}:{kline}: '{where}': unknown key '{key}' (known: {known})")
                problem = _check_value(key, schema[key], value)
                if problem:
                    kline = _line_of(text, key, start=line) or line
                    raise ModelError(f"{source}:{kline}: '{where}.{key}': {problem}")
            for key, spec in schema.items():
                if spec.required and key not in entry:
                    raise ModelError(f"{source}:{line}: '{where}': missing required key '{key}'")
            values = dict(entry)
            if "when" in schema and "when" not in values:
                values["when"] = "always"
            out.append(Model(section, api, tuple(sorted(values.items(),
                                                        key=lambda kv: kv[0])), source))
    return out


def load_models(extra: Iterable[str | Path] = (), builtin: bool = True) -> Models:
    """Load the built-in rules/*.toml (sorted) and then each extra file in order."""
    paths: list[Path] = sorted(RULES_DIR.glob("*.toml")) if builtin else []
    paths += [Path(p) for p in extra]
    models = Models()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: cannot read rule file: {exc}") from None
        for m in parse_models(text, str(path)):
            models.by_section.setdefault(m.section, {})[m.api] = m
        models._names_cache.clear()
        models.files.append(str(path))
    return models
