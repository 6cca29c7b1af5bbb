"""Keys of the engine's state: access paths, and typed keys for state that is no object.

* An **access path** (``folio``, ``vmf->page``, ``*ptep``, ``pages[i]``) is a ``str``: the
  canonical rendering of an lvalue-like expression (:func:`access_key`).
* A :class:`Ghost` is per-function state about no object (``Ghost("lock", "spin")``: is a
  spinlock held; ``Ghost("entry", "memmap")``: has this function unpublished a memmap).
* A :class:`Tag` is state that rides on an access path (``Tag("pmd", "unpublished",
  "page table")``): assigning or advancing the path (``pmd = ...``, ``pmd++``) ends it.
* An :class:`Alias` says that two paths name one object (``Alias("folio", "page")`` after
  ``folio = page_folio(page)``); it rides on its first path.
* An :class:`Attached` is an object handed to a carrier for later use (a page added to a
  bio, checked when the bio is submitted); it rides on no path.

Typed keys render as the strings older code spelled by hand (``<lock:spin>``,
``pmd[<unpublished page table>]``, ``folio.<alias>page``, ``<io bio>page``): messages and
deterministic orders (``sorted(keys, key=str)``) are unchanged, and no checker slices one.
"""
from __future__ import annotations

from dataclasses import dataclass

from analyzer import ir
from analyzer.ir import AddrOf, Call, Deref, Expr, Index, Literal, Member, Name, fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Ghost:
    name: str
    arg: str = ""

    @property
    def path(self) -> str | None:
        return None

    def __str__(self) -> str:
        return f"<{self.name}:{self.arg}>"


@fast_init
@dataclass(frozen=True, slots=True)
class Tag:
    path: str
    name: str
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.path}[<{self.name} {self.arg}>]"


@fast_init
@dataclass(frozen=True, slots=True)
class Alias:
    a: str
    b: str

    @property
    def path(self) -> str:
        return self.a

    def __str__(self) -> str:
        return f"{self.a}.<alias>{self.b}"


@fast_init
@dataclass(frozen=True, slots=True)
class Attached:
    carrier: str
    obj: str

    @property
    def path(self) -> str | None:
        return None

    def __str__(self) -> str:
        return f"<io {self.carrier}>{self.obj}"


Key = str | Ghost | Tag | Alias | Attached


def depends_on(key: Key, base: Key) -> bool:
    """Whether ``key`` loses its state when ``base`` does: ``base`` itself, a path through
    it (``base->f``, ``*base``, ``base[i]``), or a typed key riding on such a path."""
    if key == base:
        return True
    if not isinstance(key, str):
        path = key.path
        return path is not None and isinstance(base, str) and depends_on(path, base)
    if not isinstance(base, str):
        return False
    k = key.lstrip("*&")
    return k == base or k.startswith((base + "->", base + ".", base + "["))


def root_variable(path: str) -> str:
    """The variable an access path starts from: ``pages[i]`` and ``*p->f`` -> ``pages``,
    ``p``."""
    p = path.lstrip("*&")
    for i, ch in enumerate(p):
        if ch in ".[" or p.startswith("->", i):
            return p[:i]
    return p


def is_computed(path: str) -> bool:
    """Whether an access path goes through a call's result (``page_folio(p)``,
    ``pages[idx(i)]``): it names no place of its own."""
    return "(" in path


def element_owner(path: str) -> str | None:
    """The path an element or member address belongs to: ``pages[i]`` -> ``pages``,
    ``&folio->page`` -> ``folio``; None for anything else."""
    if path.endswith("]") and "[" in path:
        return path[:path.rindex("[")]
    if path.startswith("&") and path.endswith("->page"):
        return path[1:-len("->page")]
    return None


# --------------------------------------------------------------------------- access paths
def strip(e: Expr, transparent: frozenset[str]) -> Expr:
    """``e`` without value-preserving wrappers (``unlikely(x)`` -> ``x``)."""
    while isinstance(e, Call) and e.callee in transparent and e.args:
        e = e.args[0]
    return e


def access_key(e: Expr | None, transparent: frozenset[str] = frozenset()) -> str | None:
    """The canonical access path of ``e`` or None when it designates no trackable place.

    Iterative, so deeply nested expressions cannot exhaust the Python stack."""
    if e is None:
        return None
    # Post-order over an explicit stack; each frame renders one node once its
    # children are rendered.
    out: list[str | None] = []
    stack: list[tuple[Expr, bool]] = [(strip(e, transparent), False)]
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            kids = _key_children(node)
            for k in reversed(kids):
                stack.append((strip(k, transparent), False))
            continue
        n = len(_key_children(node))
        parts = out[len(out) - n:] if n else []
        del out[len(out) - n:]
        out.append(_render(node, parts))
    return out[0]


def _key_children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, (Member, Deref, AddrOf, Index, Call)):
        return ir.children(e)  # type: ignore[return-value]
    return ()


def _render(e: Expr, parts: list[str | None]) -> str | None:
    if isinstance(e, Name):
        return e.id
    if isinstance(e, Literal):
        return e.text
    if any(p is None for p in parts):
        return None
    if isinstance(e, Member):
        return f"{parts[0]}{'->' if e.arrow else '.'}{e.field}"
    if isinstance(e, Deref):
        return f"*{parts[0]}"
    if isinstance(e, AddrOf):
        return f"&{parts[0]}"
    if isinstance(e, Index):
        return f"{parts[0]}[{parts[1]}]"
    if isinstance(e, Call) and e.callee:
        return f"{e.callee}({', '.join(p for p in parts if p is not None)})"
    return None
