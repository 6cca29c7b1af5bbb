"""How a model section is declared: a frozen dataclass whose fields are the section's keys.

A section says what its entries mean to the engine::

    @register
    @dataclass(frozen=True, slots=True)
    class Teardown(Section):
        \"\"\"frees of memmap or page tables that lockless walkers may touch\"\"\"
        NAME: ClassVar[str] = "teardown"
        what: str | None = option(str, doc="what is freed (memmap, page table)")

* ``NAME`` is the TOML table (``[teardown.pte_free]``); the docstring is its one-line doc.
* ``EVENT`` (default: ``NAME``) is the event its calls produce: a checker subscribes with a
  hook ``on_<EVENT>(ctx, ev)``.  ``None``: a section that is only queried (``reread``).
* ``OBJ`` names the field holding the argument index of the event's object (``arg``).
* A ``when`` field makes the effect conditional; the engine decides it on the branch edge
  (:mod:`analyzer.engine.effects`).  ``ASSUMED``: the effect is assumed at the call and
  only the edge where it did not happen is told (``arch_make_folio_accessible()``).
* ``ESCAPES = False``: passing an object to such a call is no escape (a get, a put, a
  derivation only look at the object).
* ``KNOWS = False``: an entry says nothing about what the callee does to its arguments
  (it describes where an object comes from, or what a list's membership means, for the
  checker that declares the section): it does not make the call *known* to the engine
  (escape, forgetting ``&x`` after an unknown callee) nor keep the callee's summary
  from being used.  Only the sections' own checker hears about such calls.
* ``HANDS_OVER = False``: a call of such a section uses its arguments without taking their
  references over (a test, a lock, a count read, an assertion, a try-get: the hand-over
  policy of :mod:`analyzer.engine.ownership`).  Wider than ``ESCAPES = False``: a lock or a
  test *uses* the object, so it escapes, but keeps no reference of it.
* ``CARRIER``/``SUBMITTED_BY``: the event is deferred to the submission of a carrier (a
  page added to a bio is told when the bio is submitted; ``Event.attached`` is the step
  where it was added).

Core sections live in :mod:`analyzer.models.core`; a checker declares the sections only it
uses in its own file, or in ``rules/<its stem>.py`` beside its TOML when they are many
(``rules/leak.py``); the loader imports the checkers' registry to know them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

WHEN = ("always", "nonzero", "zero", "positive", "negative")


@dataclass(frozen=True, slots=True)
class Key:
    """Schema of one key: its Python type(s), whether required, allowed values."""

    types: tuple[type, ...]
    required: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""


def option(*types: type, required: bool = False, choices: tuple[str, ...] = (), doc: str = "",
        default: Any = None, toml: str | None = None) -> Any:
    """A section field: its TOML key (``toml``, default the field name), types, doc."""
    return dataclasses.field(default=default, metadata={
        "key": Key(types, required, choices, doc), "toml": toml})


def when_key(doc: str = "return value on which it holds") -> Any:
    return option(str, choices=WHEN, doc=doc, default="always")


class Section:
    """Base of every section's entry type."""

    NAME: ClassVar[str] = ""
    ARG_DOC: ClassVar[str] = ""
    EVENT: ClassVar[str | None] = ""        # "" -> NAME
    OBJ: ClassVar[str | None] = "arg"
    ASSUMED: ClassVar[bool] = False
    ESCAPES: ClassVar[bool] = True
    KNOWS: ClassVar[bool] = True
    HANDS_OVER: ClassVar[bool] = True
    OWNER: ClassVar[str] = "core"
    #: A field naming an argument that *carries* the object to a later submission
    #: (``bio_add_page(bio, page)``): where the entry sets it, the event is told not at
    #: the call but at the call of a ``SUBMITTED_BY`` section on that carrier.
    CARRIER: ClassVar[str | None] = None
    SUBMITTED_BY: ClassVar[str | None] = None

    @classmethod
    def event(cls) -> str | None:
        return cls.NAME if cls.EVENT == "" else cls.EVENT

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def schema(cls) -> dict[str, Key]:
        out = {_toml(f): f.metadata["key"] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if cls.ARG_DOC and "arg" in out:
            out["arg"] = dataclasses.replace(out["arg"], doc=cls.ARG_DOC)
        return out

    @classmethod
    def build(cls, values: dict[str, Any]) -> Section:
        by_toml = {_toml(f): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {by_toml[k]: (tuple(v) if isinstance(v, list) else v)
                  for k, v in values.items() if k in by_toml}
        return cls(**kwargs)

    def holds_on(self) -> str:
        """The return value on which the entry's effect holds (its ``when``; ``always``
        for a section without one)."""
        when: str = getattr(self, "when", "always")
        return when

    def conditional(self) -> bool:
        return self.holds_on() != "always"


@dataclass(frozen=True, slots=True)
class ArgSection(Section):
    """A section whose entries name one argument, the event's object (``arg = N``):
    subclass it with a ``NAME`` and a docstring only."""

    arg: int | None = option(int, required=True)


def arg_section(name: str, doc: str, event: str | None = "", escapes: bool = True,
                arg_doc: str = "", conditional: bool = False,
                required: bool = True, assumed: bool = False,
                knows: bool = True, hands_over: bool = True) -> type[ArgSection]:
    """Declare and register an :class:`ArgSection` in one line (``conditional``: with a
    ``when`` key; ``required=False``: ``arg`` may be left out)."""
    ns: dict[str, Any] = {"NAME": name, "EVENT": event, "ESCAPES": escapes, "ASSUMED": assumed,
                          "KNOWS": knows, "HANDS_OVER": hands_over, "__doc__": doc, "__module__": _caller_module()}
    extra: list[tuple[str, Any, Any]] = []
    if conditional:
        extra.append(("when", str, when_key()))
    if not required:
        extra.append(("arg", "int | None", option(int, doc=arg_doc)))
    title = "".join(w.title() for w in name.split("_"))
    cls = cast(type[ArgSection], dataclasses.make_dataclass(
        title, extra, bases=(ArgSection,), namespace=ns, frozen=True, slots=True))
    cls.__module__ = ns["__module__"]
    if arg_doc and required:
        cls.ARG_DOC = arg_doc
    return register(cls)


def _caller_module() -> str:
    import sys

    return sys._getframe(2).f_globals.get("__name__", __name__)


def _toml(f: dataclasses.Field[Any]) -> str:
    return f.metadata.get("toml") or f.name


SECTIONS: dict[str, type[Section]] = {}

S = TypeVar("S", bound=type[Section])


def register(cls: S) -> S:
    """Register a section type (the order of registration is the order of dispatch)."""
    if not cls.NAME:
        raise TypeError(f"{cls.__name__}: a section needs a NAME")
    if cls.__module__.startswith(("checkers.", "rules.")):   # checkers/X.py, rules/X.py
        cls.OWNER = cls.__module__.split(".")[1]
    SECTIONS[cls.NAME] = cls
    return cls


def section_order() -> dict[str, int]:
    return {name: i for i, name in enumerate(SECTIONS)}
