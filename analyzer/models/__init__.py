"""API models: declarative facts about kernel APIs, loaded from ``rules/*.toml``.

Every kernel API name the checkers care about lives in those files, never in checker
logic.  Each file is a set of TOML tables ``[<section>.<api>]``; the sections and their
keys are dataclasses (:mod:`analyzer.models.schema`): the core ones in
:mod:`analyzer.models.core`, a checker's own in its file.  A file that does not fit it is a :class:`ModelError` naming
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

import analyzer.models.core  # noqa: F401  (registers the core sections)
from analyzer import kversion
from analyzer.errors import ModelError
from analyzer.ir import fast_init, fast_pickle
from analyzer.models.schema import SECTIONS, Key, Section, section_order

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def sections() -> dict[str, type[Section]]:
    """Every registered section: the core ones and those of the checkers imported so far
    (whoever loads rule files imports the checkers' registry, ``checkers``, first: the
    pipeline does; this package never imports upwards)."""
    return SECTIONS


def schema() -> dict[str, dict[str, Key]]:
    """section -> TOML key -> its spec."""
    return {name: cls.schema() for name, cls in sections().items()}


def section_docs() -> dict[str, str]:
    return {name: cls.doc() for name, cls in sections().items()}


@fast_pickle
@fast_init
@dataclass(frozen=True, slots=True)
class Model:
    """One fact: ``section`` about ``api`` with the given values (defaults filled)."""

    section: str
    api: str
    values: tuple[tuple[str, Any], ...]
    source: str = ""
    spec: Any = field(default=None, compare=False, hash=False, repr=False)

    @staticmethod
    def make(section: str, api: str, values: dict[str, Any], source: str = "") -> Model:
        """A fact with its typed entry (``spec``: the section's dataclass)."""
        cls = sections().get(section)
        if cls is not None and "when" in cls.schema() and "when" not in values:
            values = {**values, "when": "always"}        # as a rule file's entry reads
        spec = cls.build(values) if cls is not None else None
        return Model(section, api, tuple(sorted(values.items(), key=lambda kv: kv[0])),
                     source, spec)

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


@dataclass
class Models:
    """All loaded facts, indexed by section then API name."""

    by_section: dict[str, dict[str, Model]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    _names_cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    #: File-wide facts the pipeline derives from the analyzed file's text
    #: (analyzer/engine/stores.py: ``stored``, ``callers``, ``null_without``), by (section,
    #: name): looked up by the checkers that want them, never models of a call (no event,
    #: no effect on escape, pre-filters or the set of known APIs).
    derived: dict[tuple[str, str], Model] = field(default_factory=dict)
    #: Bumped by each add_summary; the sections it added to; an overlay's parent and the
    #: parent's generation when the overlay was made (see :meth:`_unchanged_parent`).
    _generation: int = field(default=0, repr=False, compare=False)
    _changed: set[str] = field(default_factory=set, repr=False, compare=False)
    _parent: tuple[Models, int] | None = field(default=None, repr=False, compare=False)

    def overlay(self) -> Models:
        """A copy whose additions (function summaries) leave this one untouched.  It
        starts with this one's lookups already made (the per-call index, the name sets):
        one overlay per analyzed function or file must not rebuild them."""
        ov = Models({k: dict(v) for k, v in self.by_section.items()}, list(self.files),
                    derived=dict(self.derived))
        cache = ov._names_cache
        cache.update(self._names_cache)
        cache["<of>"] = dict(self._index())     # add_summary inserts into it
        ov._parent = (self, self._generation)
        return ov

    def fact(self, section: str, name: str | None) -> Model | None:
        """A file-wide derived fact (see ``derived``)."""
        return self.derived.get((section, name)) if name is not None else None

    def add_summary(self, m: Model) -> bool:
        """Add a summarized fact unless a rule file already models that API there.  The
        lookups made so far are updated, not dropped: a new API in one section changes
        that section's name sets by itself (if it matches) and the identifiers by its
        name, nothing else."""
        table = self.by_section.setdefault(m.section, {})
        if m.api in table:
            return False
        table[m.api] = m
        self._generation += 1
        self._changed.add(m.section)
        cache = self._names_cache
        for key in list(cache):
            if key == m.section:
                cache[key] = cache[key] | {m.api}
            elif isinstance(key, tuple) and key[0] == m.section:
                if all(m.get(k) == v for k, v in key[1:]):
                    cache[key] = cache[key] | {m.api}
            elif isinstance(key, tuple) and key[0] == "*union" and any(
                    (s if isinstance(s, str) else s[0]) == m.section for s in key[1]):
                del cache[key]
        named = {m.api} | ({m.get("step")} if m.section == "iterator" and m.get("step")
                           else set())
        if "*" in cache:
            cache["*"] = cache["*"] | named
        if "*known" in cache and getattr(sections().get(m.section), "KNOWS", True):
            cache["*known"] = cache["*known"] | named
        index = cache.get("<of>")
        if index is not None:               # keep the per-call index: insert, in order
            order = section_order()
            index[m.api] = tuple(sorted((*index.get(m.api, ()), m),
                                        key=lambda x: order.get(x.section, len(order))))
        return True

    def _index(self) -> dict[str, tuple[Model, ...]]:
        """API -> its models in the sections' order of dispatch."""
        index = self._names_cache.get("<of>")
        if index is None:
            order = section_order()
            table: dict[str, list[Model]] = {}
            for section in sorted(self.by_section, key=lambda s: order.get(s, len(order))):
                for name, m in self.by_section[section].items():
                    table.setdefault(name, []).append(m)
            index = self._names_cache["<of>"] = {k: tuple(v) for k, v in table.items()}
        return index

    def of(self, api: str | None) -> tuple[Model, ...]:
        """Every model of ``api``, in the sections' order of dispatch (one lookup per
        call: the engine's)."""
        if api is None:
            return ()
        got: tuple[Model, ...] = self._index().get(api, ())
        return got

    def get(self, section: str, api: str | None) -> Model | None:
        if api is None:
            return None
        return self.by_section.get(section, {}).get(api)

    def entries(self, section: str) -> list[Section]:
        """The typed entries of one section (rule files and summaries)."""
        return [m.spec for m in self.by_section.get(section, {}).values()
                if m.spec is not None]

    def names(self, section: str, **match: Any) -> frozenset[str]:
        """The APIs modeled in ``section``; with ``match``, only those whose entry has
        these values (``names("acquire", kind="speculative")``)."""
        cache = (section, *sorted(match.items())) if match else section
        got = self._names_cache.get(cache)
        if got is None:
            parent = self._unchanged_parent(section)
            if parent is not None:          # the same set: made once, there
                got = parent.names(section, **match)
            else:
                got = frozenset(n for n, m in self.by_section.get(section, {}).items()
                                if all(m.get(k) == v for k, v in match.items()))
            self._names_cache[cache] = got
        return got

    def union(self, specs: Iterable[str | tuple[str, dict[str, Any]]]) -> frozenset[str]:
        """The APIs of several sections, each a section or ``(section, match)`` as
        :meth:`names` takes them (a checker's starter sections)."""
        specs = tuple(specs)
        key = ("*union", specs if all(isinstance(s, str) for s in specs) else tuple(
            s if isinstance(s, str) else (s[0], tuple(sorted(s[1].items()))) for s in specs))
        got = self._names_cache.get(key)
        if got is None:
            got = self._names_cache[key] = frozenset().union(*(
                self.names(s) if isinstance(s, str) else self.names(s[0], **s[1])
                for s in specs))
        return got

    def _unchanged_parent(self, section: str | None) -> Models | None:
        """The models this overlay was made from, when neither has changed ``section``
        (None: any section) since: a lookup there is this one's."""
        if self._parent is None:
            return None
        parent, generation = self._parent
        if parent._generation != generation or (
                self._changed if section is None else section in self._changed):
            return None
        return parent

    def iterators(self) -> dict[str, IteratorModel]:
        return {
            name: IteratorModel(m.get("cursor"), m.get("step"), tuple(m.get("step_args", ())))
            for name, m in self.by_section.get("iterator", {}).items()
        }

    def identifiers(self, knowing: bool = False) -> frozenset[str]:
        """Every API name any model mentions (for cheap pre-filters); ``knowing``: only
        those of sections that say what the callee does to its arguments (``KNOWS``,
        :mod:`analyzer.models.schema`): the calls the engine treats as known."""
        tag = "*known" if knowing else "*"
        got = self._names_cache.get(tag)
        if got is not None:
            return got
        parent = self._unchanged_parent(None)
        if parent is not None:
            got = self._names_cache[tag] = parent.identifiers(knowing)
            return got
        out: set[str] = set()
        kinds = sections()
        for section, table in self.by_section.items():
            if knowing and not getattr(kinds.get(section), "KNOWS", True):
                continue
            out.update(table)
            if section == "iterator":
                out.update(m.get("step") for m in table.values() if m.get("step"))
        self._names_cache[tag] = frozenset(out)
        return self._names_cache[tag]

    def knows(self, api: str | None) -> bool:
        """Whether some model of ``api`` says what the callee does to its arguments."""
        return api is not None and api in self.identifiers(knowing=True)

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
        # ``^[ \t]*needle(?!\w)`` (the lookahead for a needle ending in a word character)
        # found by ``str.find``: a regular expression compiled per model cost most of
        # loading the rules
        tail = needle[-1:].isalnum() or needle.endswith("_")
        at = text.find(needle, offset) if needle else -1
        while at >= 0:
            line = text.rfind("\n", 0, at) + 1
            end = at + len(needle)
            if (line >= offset and not text[line:at].strip(" \t")
                    and not (tail and end < len(text) and _WORD.match(text, end))):
                return text.count("\n", 0, line) + 1
            at = text.find(needle, at + 1)
    return 0


_WORD = re.compile(r"\w")


def _check_value(key: str, spec: Key, value: Any) -> str | None:
    if isinstance(value, bool) and bool not in spec.types:
        return f"expected {spec.types[0].__name__}, got a boolean"
    if not isinstance(value, spec.types):
        return f"expected {spec.types[0].__name__}, got {type(value).__name__}"
    if spec.choices and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}, got {value!r}"
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return "must not be negative"
    if isinstance(value, list) and not all(isinstance(v, int) and v >= 0 for v in value):
        return "must be a list of argument indexes"
    return None


def parse_models(text: str, source: str, kernel: str | None = None) -> list[Model]:
    """Validate one rule file's text and return its facts for kernel version ``kernel``
    ("X.Y"; None: unknown, see :mod:`analyzer.kversion`); raise ModelError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: invalid TOML: {exc}") from None
    chosen = kversion.select(data, kversion.parse(kernel) if kernel else None, source, text)
    out: list[Model] = []
    known_sections = schema()
    for section, table in data.items():
        if section not in known_sections:
            line = _line_of(text, f"[{section}.", f"[{section}]", section)
            known = ", ".join(sorted(known_sections))
            raise ModelError(f"{source}:{line}: unknown section '{section}' (known: {known})")
        if not isinstance(table, dict):
            raise ModelError(f"{source}:{_line_of(text, section)}: '{section}' must be a table")
        keys = known_sections[section]
        for api, entry in table.items():
            where = f"{section}.{api}"
            line = _line_of(text, f"[{where}]", f"{api} =", api)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api):
                raise ModelError(f"{source}:{line}: '{where}': not a C identifier")
            for variant, vline in kversion.variants(entry, text, section, api, line):
                if not isinstance(variant, dict):
                    raise ModelError(f"{source}:{vline}: '{where}' must be a table of keys")
                _check_entry(variant, keys, where, source, text, vline)
                if variant is chosen.get((section, api)):
                    values = {k: v for k, v in variant.items() if k not in kversion.KEYS}
                    out.append(Model.make(section, api, values, source))
    return out


def _check_entry(entry: dict, keys: dict[str, Key], where: str, source: str, text: str,
                 line: int) -> None:
    """One model table (one version variant) against its section's keys."""
    for key, value in entry.items():
        if key not in keys and key not in kversion.KEYS:
            known = ", ".join(sorted(keys)) or "none"
            kline = _line_of(text, key, start=line) or line
            raise ModelError(
                f"{source}:{kline}: '{where}': unknown key '{key}' (known: {known})")
        problem = key in keys and _check_value(key, keys[key], value)
        if problem:
            kline = _line_of(text, key, start=line) or line
            raise ModelError(f"{source}:{kline}: '{where}.{key}': {problem}")
    for key, spec in keys.items():
        if spec.required and key not in entry:
            raise ModelError(f"{source}:{line}: '{where}': missing required key '{key}'")


#: (text, source, kernel) -> what parse_models gave: a run loads its rule files more than
#: once (the settings check them before any work, each pass loads them), and a Model is
#: immutable
_PARSED: dict[tuple[str, str, str | None], tuple[Model, ...]] = {}


def load_models(extra: Iterable[str | Path] = (), builtin: bool = True,
                kernel: str | None = None) -> Models:
    """Load the built-in rules/*.toml (sorted) and then each extra file in order, each
    model in its variant for kernel version ``kernel`` ("X.Y", None: unknown)."""
    paths: list[Path] = sorted(RULES_DIR.glob("*.toml")) if builtin else []
    paths += [Path(p) for p in extra]
    models = Models()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: cannot read rule file: {exc}") from None
        key = (text, str(path), kernel)
        parsed = _PARSED.get(key)
        if parsed is None:
            parsed = _PARSED[key] = tuple(parse_models(text, str(path), kernel))
        for m in parsed:
            models.by_section.setdefault(m.section, {})[m.api] = m
        models._names_cache.clear()
        models._generation += 1
        models.files.append(str(path))
    return models
