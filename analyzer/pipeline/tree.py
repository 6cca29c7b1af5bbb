"""Pass 1 over the tree: which files it reads, and the summaries it computes from them
(:mod:`analyzer.summaries.compute`), cached between runs.

The files: the analyzed ones; every header they include, transitively (``#include``
resolved as kbuild does: the including file's directory for ``"x.h"``, then
``arch/$ARCH/include``, its ``generated``, ``include``, the ``uapi`` directories, and
``include/asm-generic`` for an ``asm/`` header kbuild generates); and the ``.c`` files of
the tree's API directories (``mm/``, ``virt/``, ``kernel/``, ``lib/``, ``block/``,
``fs/*.c``, ``arch/$ARCH/{mm,kvm}/``) that define a function the others call and whose
body names an API a checker starts from (``mm/gup.c`` for a driver's
``pin_user_pages()``), found by a textual index (kernel style: a body opens with ``{`` at
column 0), repeated until no file is added.  ``$ARCH``: the ``arch/X/`` of an analyzed
path, else the one ``.config`` selects, else x86.

Caching: what each file gives (its skeleton, its includes, its index entries) is kept
under its content digest, the digest under the file's identity (device, inode, size,
mtime and ctime: ``stat`` alone tells a warm run nothing changed); the functions' calls
and facts as :class:`~analyzer.summaries.compute.Pass1Cache` says.  Everything lives in
one file per analyzer/rules/kernel-version salt under the result cache, written
atomically.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import signal
import sys
import tempfile
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from analyzer import __version__
from analyzer.engine.origins import caller_origins
from analyzer.ir import Function
from analyzer.pipeline.cache import code_digest
from analyzer.pipeline.discover import read_source
from analyzer.pipeline.options import FileTask, Loaded, Options
from analyzer.summaries.compute import (
    FactStarters,
    FileInfo,
    Packed,
    Pass1Cache,
    Pass1Stats,
    Work,
    analyze_one,
    called_by,
    compute,
    pass1_starters,
    starter_names,
)
from analyzer.summaries.skeleton import FnSkeleton, lower_only, skeleton_and_seeds
from analyzer.summaries.table import CALLER_SECTIONS, Definition, SummaryTable

STATE_FORMAT = "kref-lint-pass1-6"
MAX_BYTES = 16 * 1024 * 1024

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_BODY = re.compile(rb"^\{", re.M)
_HEAD_NAME = re.compile(rb"([A-Za-z_][A-Za-z0-9_]*)\s*\($")
#: an identifier a ``(`` follows: every call a skeleton records, and every function
#: definition (``name(``, ``MACRO(``), is one -- except across a comment (below)
# (``\b`` before a word character is the lookbehind ``(?<!\w)``, bytes ``\s`` is
# ``[ \t\n\r\f\v]``; possessive on 3.11+: nothing to backtrack into, half the time)
_CALLISH = re.compile(rb"\b([A-Za-z_]\w*+)[\s\\]*+\(" if sys.version_info >= (3, 11)
                      else rb"\b([A-Za-z_]\w*)\b[\s\\]*\(")
_COMMENT_PAREN = re.compile(rb"\*/[ \t\n\r\f\v\\]*\(")


def tree_root(paths: Sequence[str]) -> str | None:
    """The kernel tree holding ``paths`` (a directory with a Makefile, include/linux/
    and mm/), or None."""
    for p in paths:
        d = os.path.realpath(p if os.path.isdir(p) else os.path.dirname(p) or ".")
        while True:
            if (os.path.isfile(os.path.join(d, "Makefile"))
                    and os.path.isdir(os.path.join(d, "include", "linux"))
                    and os.path.isdir(os.path.join(d, "mm"))):
                return d
            up = os.path.dirname(d)
            if up == d:
                break
            d = up
    return None


_CONFIG_ARCH = (("CONFIG_X86", "x86"), ("CONFIG_ARM64", "arm64"), ("CONFIG_S390", "s390"),
                ("CONFIG_PPC", "powerpc"), ("CONFIG_RISCV", "riscv"), ("CONFIG_ARM", "arm"),
                ("CONFIG_LOONGARCH", "loongarch"), ("CONFIG_MIPS", "mips"))


def arch_of(root: str, paths: Sequence[str]) -> str:
    for p in paths:
        rel = os.path.relpath(os.path.realpath(p), root).split(os.sep)
        if len(rel) > 1 and rel[0] == "arch" and os.path.isdir(os.path.join(root, "arch",
                                                                             rel[1])):
            return rel[1]
    try:
        config = Path(root, ".config").read_text(errors="replace")
    except OSError:
        config = ""
    for sym, arch in _CONFIG_ARCH:
        if re.search(rf"^{sym}=y$", config, re.M):
            return arch
    return "x86"


@dataclass
class Back:
    """What pass 1 keeps between runs and needs only when something changed (its own
    file, read on demand): the skeletons, the calls and facts of functions."""

    skeletons: dict[str, tuple[FnSkeleton, ...]] = field(default_factory=dict)
    cache: Pass1Cache = field(default_factory=Pass1Cache)


@dataclass
class State:
    """What pass 1 reads on every run: the files' stamps and what each file gives
    without parsing it, and the last results by their inputs (a warm run with nothing
    changed reads this only)."""

    stamps: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)
    includes: dict[str, tuple[tuple[bool, str], ...]] = field(default_factory=dict)
    index: dict[str, tuple[tuple[str, bool, bool], ...]] = field(default_factory=dict)
    #: digest -> the CRC-32s of the identifiers a ``(`` follows (sorted): which files may
    #: matter to pass 1 (:meth:`Pass1._seeds`, :meth:`Pass1._closure`) without parsing them
    idents: dict[str, array] = field(default_factory=dict)
    #: key of the inputs (every file that may be read, by digest) -> (definitions,
    #: stats, the files, the checked headers); the last few
    results: dict[str, tuple] = field(default_factory=dict)
    #: key of the files before the choice -> (the files whose skeletons the choice read,
    #: what it read of every file (:meth:`Pass1._shapes`), and what it chose: the files
    #: with the API definers and callers added, and those that matter); the last few
    choices: dict[str, tuple[frozenset[str], list[bytes], tuple[list[str], list[str]]]] = \
        field(default_factory=dict)
    #: (digest, skeleton read) -> what choosing the files reads of it (digested)
    shapes: dict[tuple[str, bool], bytes] = field(default_factory=dict)


RESULTS_KEPT = 4


@dataclass
class Pass1Result:
    table: SummaryTable
    stats: Pass1Stats
    files: list[str]


class _Files:
    """Digests of the files pass 1 reads (stat-memoized across runs).  The bytes are
    never kept: a whole tree is 1.4 GB."""

    def __init__(self, state: State):
        self.state = state
        self.restamped = 0                 # known paths given a new stamp

    def digest(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = self.state.stamps.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        data = self.read(path)
        if data is None:
            return None
        d = hashlib.sha256(data).hexdigest()
        self.restamped += hit is not None
        self.state.stamps[path] = (stamp, d)
        return d

    def unknown(self, paths: Sequence[str]) -> list[str]:
        """The paths whose stamp is not the one kept (to be read)."""
        out = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            hit = self.state.stamps.get(path)
            if hit is None or hit[0] != (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                         st.st_ctime_ns):
                out.append(path)
        return out

    def read(self, path: str) -> bytes | None:
        try:
            return read_source(path, MAX_BYTES)
        except OSError:
            return None


def header_tasks(table: SummaryTable, have: Sequence[str], prefilter: bool = True
                 ) -> list[FileTask]:
    """The tree-sitter tasks that check the headers the analyzed code calls into
    (``table.meta["checked"]``), each reporting the findings of those functions only;
    none for a file the run analyzes anyway."""
    have_real = {os.path.realpath(p) for p in have}
    out = []
    for rel, names in sorted(dict(table.meta.get("checked") or {}).items()):
        path = os.path.join(table.root, rel) if table.root else rel
        if os.path.realpath(path) in have_real or not os.path.isfile(path):
            continue
        out.append(FileTask(path, prefilter=prefilter, report_only=frozenset(names)))
    return out


class Pass1:
    """Pass 1 for one run: ``summarize(paths)``."""

    def __init__(self, options: Options, loaded: Loaded | None = None, jobs: int = 1,
                 cache_dir: Path | None = None):
        self.options = options
        self.loaded = loaded or Loaded(options)
        self.jobs = max(1, jobs)
        self.salt = repr((STATE_FORMAT, __version__, code_digest(),
                          self.loaded.models.fingerprint(), options.cache_salt()))
        self.state_file = (cache_dir /
                           f"{hashlib.sha256(self.salt.encode()).hexdigest()[:24]}.pickle"
                           if cache_dir is not None else None)
        self.state = self._load()
        self._back: Back | None = None
        self._pool: Any = None
        self._starters: FactStarters | None = None
        #: digest -> the words of ``_starters`` the file's text names
        self._words: dict[str, frozenset[str]] = {}
        #: path -> index -> its function naming a starter, lowered with the skeleton;
        #: each is taken out when compute() asks for it
        self._prelowered: dict[str, dict[int, Function | Packed]] = {}
        self.files = _Files(self.state)
        self._replaced = 0
        #: the files whose skeletons are read, while the choice is made (see _choose)
        self._reading: set[str] | None = None
        self._saved = self._shape()

    def _shape(self) -> tuple[int, ...]:
        """What :meth:`save` compares with the state as loaded: every change to the state
        adds an entry, but for a new stamp of a known path (counted by ``_Files``) and a
        new result or choice that may replace the oldest (counted here)."""
        st = self.state
        return (len(st.stamps), len(st.includes), len(st.index), len(st.idents),
                len(st.shapes), self._replaced, self.files.restamped)

    # -- persistence: State in one file, Back in another (read when needed)
    def _read(self, path: Path | None, kind: type):
        if path is None:
            return kind()
        try:
            with open(path, "rb") as fh:
                fmt, got = pickle.load(fh)
            if fmt == self.salt and isinstance(got, kind):
                return got
        except FileNotFoundError:
            pass
        except Exception:
            path.unlink(missing_ok=True)
        return kind()

    def _back_file(self) -> Path | None:
        return (self.state_file.with_suffix(".back.pickle")
                if self.state_file is not None else None)

    def _load(self) -> State:
        return self._read(self.state_file, State)

    @property
    def back(self) -> Back:
        if self._back is None:
            self._back = self._read(self._back_file(), Back)
        return self._back

    def save(self) -> None:
        """Write what changed (a warm run with nothing changed writes nothing)."""
        if self.state_file is None or (self._back is None and self._shape() == self._saved):
            return
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            if self._back is not None:
                self._write(self._back_file(), self._back)   # first: State may say less
            self._write(self.state_file, self.state)
        except OSError:
            pass

    def _write(self, path: Path | None, what: object) -> None:
        assert path is not None
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump((self.salt, what), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- the files
    def _scan(self, paths: Sequence[str]) -> None:
        """Read each file of ``paths`` not known by its stamp once, in the helpers: its
        digest, ``#include`` lines and identifiers (what :meth:`_Files.digest`,
        :meth:`_includes` and :meth:`_ident_hashes` would each read it for)."""
        todo = self.files.unknown(paths)
        if self.jobs < 2 or len(todo) <= 8:
            return                          # read one by one where they are needed
        # (the first use of the helpers in a run with files to read: forked now, while
        # this process is small; a warm run forks none)
        got = self._map(_scan_of, todo, 8, max(1, min(64, len(todo) // (self.jobs * 8))))
        for p, g in zip(todo, got):
            if g is None:
                continue
            stamp, d, includes, idents = g
            self.files.restamped += p in self.state.stamps
            self.state.stamps[p] = (stamp, d)
            self.state.includes.setdefault(d, includes)
            self.state.idents.setdefault(d, idents)

    def _includes(self, path: str, digest: str) -> tuple[tuple[bool, str], ...]:
        got = self.state.includes.get(digest)
        if got is None:
            data = self.files.read(path) or b""
            got = self.state.includes[digest] = _includes_in(data)
        return got

    def _headers(self, root: str, arch: str, sources: list[str],
                 shadow: Mapping[str, str]) -> list[str]:
        base = [os.path.join(root, "arch", arch, "include"),
                os.path.join(root, "arch", arch, "include", "generated"),
                os.path.join(root, "include"),
                os.path.join(root, "arch", arch, "include", "uapi"),
                os.path.join(root, "arch", arch, "include", "generated", "uapi"),
                os.path.join(root, "include", "uapi"),
                os.path.join(root, "include", "generated", "uapi")]
        seen = set(sources)
        work = list(sources)
        found: list[str] = []
        copy_of = {tree: copy for copy, tree in shadow.items()}
        resolved: dict[tuple[str, str], str | None] = {}
        while work:
            f = work.pop()
            d = self.files.digest(f)
            if d is None:
                continue
            here = os.path.dirname(f)
            mirror = [os.path.dirname(shadow[f])] if f in shadow else []
            for quoted, name in self._includes(f, d):
                key = (here if quoted else "", name)
                if key in resolved:
                    hit = resolved[key]
                else:
                    cands = ([os.path.join(h, name) for h in (here, *mirror)] if quoted
                             else []) + [os.path.join(b, name) for b in base]
                    if name.startswith("asm/"):
                        cands.append(os.path.join(root, "include", "asm-generic", name[4:]))
                    hit = next((os.path.normpath(c) for c in cands if os.path.isfile(c)), None)
                    hit = copy_of.get(hit, hit) if hit is not None else None
                    resolved[key] = hit
                if hit is not None and hit not in seen:
                    seen.add(hit)
                    found.append(hit)
                    work.append(hit)
        return sorted(found)

    def _indexes(self, paths: list[str], digests: dict[str, str],
                 starters: frozenset[str] | None) -> dict[str, tuple]:
        """Each file's :func:`_index_of` (in the pool for those not cached)."""
        todo = [p for p in paths if digests[p] not in self.state.index]
        got = self._map(_index_of, [(p, starters) for p in todo], 8,
                        max(1, len(todo) // (self.jobs * 8)))
        for p, g in zip(todo, got):
            self.state.index[digests[p]] = g
        return {p: self.state.index[digests[p]] for p in paths}

    def _api_files(self, root: str, arch: str) -> list[str]:
        out: list[str] = []
        for d in ("mm", "virt", "kernel", "lib", "block", f"arch/{arch}/mm",
                  f"arch/{arch}/kvm"):
            top = os.path.join(root, d)
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames.sort()
                out += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".c")]
        fs = os.path.join(root, "fs")
        if os.path.isdir(fs):
            out += sorted(os.path.join(fs, f) for f in os.listdir(fs) if f.endswith(".c"))
        return out

    def _skeletons(self, paths: list[str], digests: dict[str, str]) -> None:
        if self._reading is not None:
            self._reading.update(paths)
        todo = [p for p in paths if digests[p] not in self.back.skeletons]
        if not todo:
            return
        iterators = self.loaded.models.iterators()
        transparent = self.loaded.models.names("transparent")
        got = self._map(_skeleton_of, [(p, iterators, self._starters, transparent)
                                       for p in todo], 8,
                        max(1, len(todo) // (self.jobs * 8)))
        for p, (sk, seeds) in zip(todo, got):
            if seeds:                     # what compute() lowers of this file first
                self._prelowered[p] = seeds
            # one string object per name across the tree (the pool hands copies back)
            self.back.skeletons[digests[p]] = tuple(
                FnSkeleton(sys.intern(x.name), x.static,
                           tuple(sys.intern(t) for t in x.tokens)) for x in sk)

    def _lower(self, batch: Sequence[tuple[FileInfo, Sequence[int]]]
               ) -> list[dict[int, Function | Packed]]:
        iterators = self.loaded.models.iterators()
        transparent = self.loaded.models.names("transparent")
        out: list[dict[int, Function | Packed]] = [{} for _ in batch]
        jobs, where = [], []
        for k, (f, ix) in enumerate(batch):
            pre = self._prelowered.get(f.path)
            if pre is not None:           # lowered with its skeleton, from that parse
                out[k] = {i: pre.pop(i) for i in ix if i in pre}
                ix = [i for i in ix if i not in out[k]]
                if not pre:
                    del self._prelowered[f.path]
            if ix:
                jobs.append((f.path, tuple(ix), frozenset(f.functions[i].name for i in ix),
                             iterators, transparent))
                where.append(k)
        # the largest files first: the helpers end together
        order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j][1]))
        got = self._map(_lower_of, [jobs[j] for j in order], 1, 1)
        for j, one in zip(order, got):
            out[where[j]].update(one)
        return out

    def _stage(self, what: str) -> None:
        """KREF_LINT_DEBUG: each stage's end, with the CPU seconds so far of this
        process and of its helpers (live ones read from /proc), and the wall."""
        if not os.environ.get("KREF_LINT_DEBUG"):
            return
        t = os.times()
        helpers = t.children_user + t.children_system
        tick = os.sysconf("SC_CLK_TCK")
        for proc in getattr(self._pool, "_pool", ()):
            try:
                with open(f"/proc/{proc.pid}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                helpers += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        print(f"kref-lint: pass 1: {what}: CPU {t.user + t.system:.1f} s + helpers "
              f"{helpers:.1f} s, wall {time.monotonic():.1f}", file=sys.stderr, flush=True)

    # -- the helper processes
    def _helpers(self) -> Any:
        """The pool of helper processes (``jobs`` of them), forked once per pass: a fork
        copies the page tables of what this process holds, and every helper's resident
        size starts at it -- forked before the pass's structures exist, they stay small."""
        if self._pool is None:
            global _ANALYSIS
            _ANALYSIS = (self.loaded.models, self.loaded.checkers)
            self._pool = get_context("fork").Pool(self.jobs, initializer=_child)
        return self._pool

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any], serial: int,
             chunksize: int) -> list:
        """``[fn(x) for x in items]``, in the helpers when there are more than
        ``serial`` items."""
        if self.jobs > 1 and len(items) > serial:
            return self._helpers().map(fn, items, chunksize=chunksize)
        return [fn(x) for x in items]

    def _waves(self, works: Sequence[Work]) -> list:
        """Pass 1's waves of functions (none calls another), analyzed in the helpers."""
        models, checkers = self.loaded.models, self.loaded.checkers
        if self.jobs < 2 or len(works) < WAVE_MIN_PARALLEL:
            return [analyze_one(models, checkers, w) for w in works]
        return self._helpers().map(_analyze_work, works,
                                   chunksize=max(1, min(32, len(works) // (self.jobs * 4))))

    def close(self, kill: bool = False) -> None:
        if self._pool is not None:
            if kill:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    # -- the pass
    def summarize(self, paths: Sequence[str], roots: Sequence[str] = (),
                  shadow: Mapping[str, str] | None = None) -> Pass1Result:
        """See :meth:`_summarize`; the helper processes live as long as the call."""
        try:
            return self._summarize(paths, roots, shadow)
        except BaseException:
            self.close(kill=True)         # interrupted: the helpers stop now
            raise
        finally:
            self._prelowered.clear()
            self.close()

    def _summarize(self, paths: Sequence[str], roots: Sequence[str] = (),
                   shadow: Mapping[str, str] | None = None) -> Pass1Result:
        """Pass 1 for the analyzed files ``paths`` (``roots``: the paths as given, to
        find the tree and its architecture).  ``shadow``: copy -> the file of the tree it
        stands for (``--diff``'s files at REV, ``check-patch``'s patched files): the
        tree's version is not read, the copy is read where it would be."""
        sources = sorted({os.path.realpath(p) for p in paths})
        shadow = {os.path.realpath(c): os.path.realpath(t)
                  for c, t in (shadow or {}).items()}
        root = tree_root(list(roots) or sources)
        self._stage("start")
        self._scan([p for p in sources if p not in shadow.values()])
        self._stage(f"scan of {len(sources)} analyzed files")
        digests: dict[str, str] = dict.fromkeys(shadow.values(), "")   # never read
        universe = [p for p in sources if self._digest_into(p, digests)]
        starters = starter_names(self.loaded.models, self.loaded.checkers)
        self._starters = pass1_starters(self.loaded.models, self.loaded.checkers)
        if root is not None:
            arch = arch_of(root, list(roots) or sources)
            headers = [h for h in self._headers(root, arch, universe, shadow)
                       if self._digest_into(h, digests)]
            universe += headers
            api = [p for p in self._api_files(root, arch) if p not in digests]
            self._scan(api)
            api = [p for p in api if self._digest_into(p, digests)]
            self._stage(f"{len(headers)} headers, {len(api)} API files")
        else:
            arch, api = "", []
            root = os.path.commonpath(sources) if sources else ""
            if root and not os.path.isdir(root):
                root = os.path.dirname(root)
        # everything below depends on these files' contents only (and the salt)
        memo = hashlib.sha256(repr((root, arch, sources, sorted(shadow.items()),
                                    [(p, digests[p]) for p in universe],
                                    [(p, digests[p]) for p in api])).encode()).hexdigest()
        hit = self.state.results.get(memo)
        if hit is not None:
            defs, stats, universe, checked = hit
            return Pass1Result(SummaryTable(defs, root or "", self._meta(checked)),
                               stats, universe)
        universe, seeds = self._choose((root, arch, sources, sorted(shadow.items())),
                                       universe, sources, api, digests, starters)
        self._stage(f"seeds: {len(seeds)} of {len(universe)} files")
        relevant, defs, stats = self._closure(universe, seeds, digests, root or "")
        self._stage(f"compute: {len(relevant)} files, {stats.analyzed} functions analyzed")
        defs = self._all_rows(defs, universe, relevant, digests, root or "")
        self._stage(f"rows: {len(defs)} definitions")
        stats.files = len(universe)
        stats.relevant_files = len(relevant)
        checked = self._checked(root or "", sources, digests, universe)
        self._stage(f"{len(checked)} headers checked")
        self.state.results[memo] = (defs, stats, universe, checked)
        self._replaced += 1
        for old in list(self.state.results)[:-RESULTS_KEPT]:
            del self.state.results[old]
        return Pass1Result(SummaryTable(defs, root or "", self._meta(checked)), stats,
                           universe)

    def _choose(self, head: tuple, universe: list[str], sources: list[str], api: list[str],
                digests: dict[str, str], starters: frozenset[str] | None
                ) -> tuple[list[str], list[str]]:
        """The files pass 1 reads -- ``universe`` with the API files defining what it
        calls and those calling its functions (:meth:`_api_definers`,
        :meth:`_api_callers`) -- and those of them where a fact can begin
        (:meth:`_seeds`).
        The choice depends on what it reads of each file, not on the rest of the text:
        kept under ``head`` and the files, it is reused while every file gives what it
        gave (an edit inside a function body that calls nothing new, a comment)."""
        files = universe + api
        self._ident_hashes(files, digests)
        if api:
            self._indexes(api, digests, starters)
        key = hashlib.sha256(repr((head, universe, api)).encode()).hexdigest()
        kept = self.state.choices.get(key)
        if kept is not None and self._shapes(files, kept[0], digests) == kept[1]:
            return list(kept[2][0]), list(kept[2][1])
        self._reading = set()
        try:
            chosen = list(universe)
            if api:                      # (a whole tree has them all among its files)
                self._api_definers(chosen, api, digests, starters)
                self._stage("API definers")
                self._api_callers(chosen, sources, api, digests)
                self._stage("API callers")
            read = frozenset(self._reading)
            # where the choice read the skeletons (a tree's analyzed part, its headers
            # and API files), the files from which a starter is reachable are known
            # without parsing more: one compute() over them (the facts add none)
            first = set(self._relevant([p for p in chosen if p in read], digests,
                                       self._starters))
            first.update(self._seeds(chosen, digests, self._starters))
            seeds = [p for p in chosen if p in first]
        finally:
            self._reading = None
        self.state.choices[key] = (read, self._shapes(files, read, digests),
                                   (list(chosen), list(seeds)))
        self._replaced += 1
        for old in list(self.state.choices)[:-RESULTS_KEPT]:
            del self.state.choices[old]
        return chosen, seeds

    def _shapes(self, files: list[str], read: frozenset[str], digests: dict[str, str]
                ) -> list[bytes]:
        """What choosing the files reads of each of ``files`` (a digest each): its
        skeleton where the choice read it (those of ``read``), its index of definitions,
        its identifiers, and the words of its text where it names an iterator macro."""
        self._skeletons([p for p in files if p in read], digests)
        st = self._starters
        loops = ({zlib.crc32(m.encode()) for m in st.loops}
                 if st is not None and st.loops and st.words else set())
        out = []
        for p in files:
            d = digests[p]
            key = (d, p in read)
            got = self.state.shapes.get(key)
            if got is None:
                idents = self.state.idents.get(d)
                words = (sorted(self._text_words(p, digests))
                         if loops and idents is not None and not loops.isdisjoint(idents)
                         else [])
                h = hashlib.sha256(pickle.dumps(
                    (self.back.skeletons[d] if p in read else None, self.state.index.get(d),
                     words), pickle.HIGHEST_PROTOCOL))
                h.update(idents.tobytes() if idents is not None else b"-")
                got = self.state.shapes[key] = h.digest()[:16]
            out.append(got)
        return out

    def _meta(self, checked: dict[str, list[str]]) -> dict:
        return {"analyzer": __version__, "models": self.loaded.models.fingerprint(),
                "kernel_version": self.options.kernel_version, "checked": checked}

    def _api_definers(self, universe: list[str], api: list[str], digests: dict[str, str],
                      starters: frozenset[str] | None) -> None:
        """Add to ``universe`` the API files defining what it calls (and names a starter
        in that body), until none is new."""
        self._skeletons(universe, digests)
        defined = {s.name for p in universe for s in self.back.skeletons[digests[p]]}
        wanted = self._tokens(universe, digests) - defined
        index = self._indexes(api, digests, starters)
        added = True
        while added:                     # definers of what is called, until none is new
            added = False
            have = set(universe)
            new = [p for p in api if p not in have and any(
                hit and name in wanted for name, _, hit in index[p])]
            if new:
                self._skeletons(new, digests)
                universe += new
                defined |= {s.name for p in new for s in self.back.skeletons[digests[p]]}
                wanted = (wanted | self._tokens(new, digests)) - defined
                added = True

    def _text_words(self, path: str, digests: dict[str, str]) -> frozenset[str]:
        """The words of the run's :class:`FactStarters` the text of ``path`` names."""
        d = digests[path]
        got = self._words.get(d)
        if got is None:
            words = self._starters.words if self._starters is not None else frozenset()
            try:
                got = _words_in(read_source(path, MAX_BYTES), words)
            except OSError:
                got = frozenset()
            self._words[d] = got
        return got

    def _words_of(self, path: str, digests: dict[str, str]) -> frozenset[str]:
        """:meth:`_text_words` of a file where one of its functions names an iterator
        macro of the starters (elsewhere the words decide nothing)."""
        st = self._starters
        if st is None or not st.words or all(
                st.loops.isdisjoint(s.tokens) for s in self.back.skeletons[digests[path]]):
            return frozenset()
        return self._text_words(path, digests)

    def _api_callers(self, universe: list[str], sources: list[str], api: list[str],
                     digests: dict[str, str]) -> None:
        """Add to ``universe`` the API files that may pass a visible function of the
        analyzed files an object they hold no reference to (their ``unheld_calls``
        summaries, :meth:`SummaryTable.passed_unheld`): those naming such a function --
        one whose body names a get -- and an origin of an unheld object
        (:func:`~analyzer.engine.origins.caller_origins`), by their identifiers.
        Callers of callers are not followed (the fact crosses one file)."""
        models = self.loaded.models
        gets = models.names("acquire")
        have = set(universe)
        mine = [p for p in sources if p in digests]
        self._skeletons(mine, digests)
        names = {s.name for p in mine for s in self.back.skeletons[digests[p]]
                 if not s.static and not gets.isdisjoint(s.tokens)}
        rest = [p for p in api if p not in have]
        if not names or not rest:
            return
        self._ident_hashes(rest, digests)
        callee = {zlib.crc32(n.encode()) for n in names}
        origin = {zlib.crc32(n.encode()) for n in caller_origins(models)}
        new = [p for p in rest if not callee.isdisjoint(ids := set(self.state.idents[
            digests[p]])) and not origin.isdisjoint(ids)]
        if new:
            self._skeletons(new, digests)
            universe += new

    def _seeds(self, files: list[str], digests: dict[str, str],
               starters: FactStarters | None) -> list[str]:
        """The files of ``files`` (in their order) where a fact can begin: those naming a
        summary starter (:func:`~analyzer.summaries.compute.fact_starters`), or an
        iterator macro stepping with one, by their identifiers (:data:`_CALLISH`: a
        superset of what their functions call), and those whose text names a word of
        the starters with an iterator macro.  :meth:`_closure` adds the files that a
        fact found there reaches."""
        if starters is None:
            return list(files)
        self._ident_hashes(files, digests)
        want = self._named(starters.names)
        loops = self._loop_files(files, digests, starters)
        return [p for p in files
                if p in loops or not want.isdisjoint(self.state.idents[digests[p]])]

    def _loop_files(self, files: list[str], digests: dict[str, str],
                    starters: FactStarters) -> set[str]:
        """The files of ``files`` where an iterator macro can start a summary: they name
        one of the starters' iterator macros, and their text one of its words."""
        if not (starters.loops and starters.words):
            return set()
        loops = {zlib.crc32(m.encode()) for m in starters.loops}
        return {p for p in files if not loops.isdisjoint(self.state.idents[digests[p]])
                and self._text_words(p, digests)}

    def _named(self, names: Iterable[str]) -> set[int]:
        """The identifier hashes a file naming one of ``names`` holds: the name, or an
        iterator macro whose step it is."""
        steps: dict[str, list[str]] = {}
        for macro, it in self.loaded.models.iterators().items():
            if it.step:
                steps.setdefault(it.step, []).append(macro)
        return {zlib.crc32(m.encode()) for n in names for m in (n, *steps.get(n, ()))}

    def _relevant(self, files: list[str], digests: dict[str, str],
                  starters: FactStarters | None) -> list[str]:
        """The files of ``files`` from which a starter is reachable by name (in their
        order; :meth:`_choose` asks it where it has read their skeletons anyway, and
        :meth:`_closure` starts from them): those holding a function that may have a
        fact -- one naming a summary starter
        (:func:`~analyzer.summaries.compute.fact_starters`), or a function naming
        such a function where that call may reach it -- found by the files'
        identifiers (:data:`_CALLISH`), without parsing the others.

        A call reaches a definition of its own file, or one another file may see (a
        header's, a non-``static`` one of a ``.c`` file): so the names spread across
        files only through those, and a ``static`` function's name stays in its file
        (another file's call of that name reaches another function).  Every function
        that can have a fact, and every visible definition of its name (where a
        caller's resolution looks), are in these files (by name: a superset of what
        the call graph resolves); the summaries are those of all of ``files``, but for
        the rows of other files' definitions of the names with facts
        (:meth:`_all_rows`)."""
        if starters is None:
            return list(files)
        self._ident_hashes(files, digests)
        names: set[str] = set()                  # visible names that may have a fact
        #: token -> the functions of the chosen files naming it, as (file, index)
        callers: dict[str, list[tuple[int, int]]] = {}
        local: dict[int, dict[str, list[int]]] = {}     # file -> token -> its functions
        skels: dict[int, tuple[FnSkeleton, ...]] = {}
        marked: set[tuple[int, int]] = set()
        chosen: set[int] = set()
        pending = list(range(len(files)))
        frontier = sorted(starters.names)
        # files where an iterator macro starts a summary (their text names a word)
        loop_files = self._loop_files(files, digests, starters)
        cond = {i for i in pending if files[i] in loop_files}

        def mark(fi: int, si: int) -> None:
            work = [(fi, si)]
            while work:
                at = work.pop()
                if at in marked:
                    continue
                marked.add(at)
                s = skels[at[0]][at[1]]
                if not s.static or not files[at[0]].endswith(".c"):
                    frontier.append(s.name)      # visible: across files
                work.extend((at[0], j) for j in local[at[0]].get(s.name, ()))

        while frontier:
            fresh: list[str] = []
            while frontier:                      # the closure over what is read
                n = frontier.pop()
                if n in names:
                    continue
                names.add(n)
                fresh.append(n)
                for fi, si in callers.get(n, ()):
                    mark(fi, si)
            want = self._named(fresh)
            hit = [i for i in pending
                   if i in cond or not want.isdisjoint(self.state.idents[digests[files[i]]])]
            if not hit:
                break
            chosen.update(hit)
            hit_set = set(hit)
            pending = [i for i in pending if i not in hit_set]
            self._skeletons([files[i] for i in hit], digests)
            self._stage(f"closure: {len(chosen)} files, {len(names)} names, "
                        f"{len(marked)} functions")
            for fi in hit:
                sk = skels[fi] = self.back.skeletons[digests[files[fi]]]
                mine = local[fi] = {}
                for si, s in enumerate(sk):
                    for t in s.tokens:
                        callers.setdefault(t, []).append((fi, si))
                        mine.setdefault(t, []).append(si)
            for fi in hit:
                for si, s in enumerate(skels[fi]):
                    if not names.isdisjoint(s.tokens) or (
                            fi in cond and not starters.loops.isdisjoint(s.tokens)):
                        mark(fi, si)
        return [files[i] for i in sorted(chosen)]

    def _closure(self, files: list[str], seeds: list[str], digests: dict[str, str],
                 root: str) -> tuple[list[str], list[Definition], Pass1Stats]:
        """The files of ``files`` pass 1 reads, and what :func:`compute` gives for them:
        driven by the facts, bottom-up.  compute() runs over ``seeds``; each function
        there that gets a fact a caller in another file uses (:func:`~analyzer.
        summaries.table.crosses`, not a caller's section) and that another file can see
        (a header's, a non-``static`` one of a ``.c`` file) brings in the files naming
        it -- its callers, and the other definitions of its name, where a caller's
        resolution looks -- and compute() runs again over them all, until no file is
        new.  A function gets a fact only where a checker analyzes it: its body names a
        summary starter (its file is a seed) or a callee has such a fact (a same-file
        callee's: the same file; another file's: a visible function's, whose name
        brought the file in), so every function that can have a fact is in these files,
        with what decides it; and a file more changes no fact (a file naming no name with
        a fact calls no function with one, defines none, and no caller reaches it: the
        artifact over the reachable files, :meth:`_relevant`, is byte-identical on 6.12
        and 5.10).  Each round after the first is cheap: the facts are cached, and only
        the functions whose callees' facts changed are analyzed again.  Only the files
        from which a starter is *reachable* by name were read before, and on a whole
        tree that is half of it while few functions get a fact."""
        where = {p: i for i, p in enumerate(files)}
        relevant = list(seeds)
        spread: set[str] = set()
        analyzed = lowered = rounds = 0
        while True:
            self._skeletons(relevant, digests)
            infos = [FileInfo(p, os.path.relpath(p, root) if root else p, digests[p],
                              not p.endswith(".c"), self.back.skeletons[digests[p]],
                              self._words_of(p, digests))
                     for p in relevant]
            defs, stats = compute(infos, self._lower, self.loaded.models,
                                  self.loaded.checkers, self.back.cache, self.salt,
                                  self._waves)
            analyzed += stats.analyzed
            lowered += stats.lowered
            rounds += 1
            fresh = {d.name for d in defs if (d.header or not d.static) and any(
                m.section not in CALLER_SECTIONS for m in d.facts)} - spread
            self._stage(f"round {rounds}: {len(relevant)} files, {stats.lowered} lowered, "
                        f"{stats.analyzed} analyzed, {len(fresh)} names spread")
            if not fresh:
                break
            spread |= fresh
            want = self._named(fresh)
            have = set(relevant)
            new = [p for p in files if p not in have
                   and not want.isdisjoint(self.state.idents[digests[p]])]
            if not new:
                break
            relevant = sorted(have.union(new), key=where.__getitem__)
        stats.analyzed, stats.lowered = analyzed, lowered
        return relevant, defs, stats

    def _all_rows(self, defs: list[Definition], files: list[str], relevant: list[str],
                  digests: dict[str, str], root: str) -> list[Definition]:
        """``defs`` (what :func:`compute` gives for ``relevant``) with the rows of every
        definition of a name with facts in the other files of ``files``, in the order
        compute() over all of ``files`` gives them: the definitions of a name of a
        ``static`` function with facts, elsewhere (they have none: a function that can
        have a fact is in ``relevant``; and no caller there reaches them)."""
        named = {d.name for d in defs if d.facts}
        if not named:
            return defs
        chosen = set(relevant)
        want = {zlib.crc32(n.encode()) for n in named}
        extra = [p for p in files if p not in chosen
                 and not want.isdisjoint(self.state.idents[digests[p]])]
        self._skeletons(extra, digests)
        rows = [(s.name, p, s.static) for p in extra
                for s in self.back.skeletons[digests[p]] if s.name in named]
        if not rows:
            return defs
        by_file: dict[str, list[Definition]] = {}
        for d in defs:
            by_file.setdefault(d.file, []).append(d)
        for name, p, static in rows:
            rel = os.path.relpath(p, root) if root else p
            by_file.setdefault(rel, []).append(
                Definition(name, rel, static, not p.endswith(".c"), ()))
        have = chosen | {p for _, p, _ in rows}
        return [d for p in files if p in have
                for d in by_file.get(os.path.relpath(p, root) if root else p, ())]

    def _ident_hashes(self, paths: list[str], digests: dict[str, str]) -> None:
        todo = [p for p in paths if digests[p] not in self.state.idents]
        got = self._map(_idents_of, todo, 8,
                        max(1, min(64, len(todo) // (self.jobs * 8))))
        for p, g in zip(todo, got):
            self.state.idents[digests[p]] = g

    def _checked(self, root: str, sources: list[str], digests: dict[str, str],
                 universe: list[str]) -> dict[str, list[str]]:
        """The headers outside the analyzed files (under ``include/`` and
        ``arch/*/include/``) whose inline functions the analyzed code calls, directly or
        through other such functions: header (relative) -> those functions.  A function
        a rule file models is a primitive, not checked (nor what it calls)."""
        if not root:
            return {}
        analyzed = set(sources)
        inc = (os.path.join(root, "include") + os.sep, os.path.join(root, "arch") + os.sep)
        outside = [p for p in universe if p not in analyzed and not p.endswith(".c")
                   and p.startswith(inc) and (not p.startswith(inc[1]) or
                                              f"{os.sep}include{os.sep}" in p[len(inc[1]):])]
        if not outside:
            return {}
        self._skeletons(outside, digests)
        where: dict[str, list[tuple[str, FnSkeleton]]] = {}
        for p in outside:
            for s in self.back.skeletons[digests[p]]:
                where.setdefault(s.name, []).append((p, s))
        if not where:                    # (a whole tree's: generated headers)
            return {}
        mine = [p for p in sources if p in digests]
        # an analyzed file not parsed yet is parsed only if its text names one of those
        # functions (on a whole tree, a few headers outside it and 50,000 files unread)
        unread = [p for p in mine if digests[p] not in self.back.skeletons]
        if unread:
            names = frozenset(n.encode() for n in where)
            named = self._map(_names_any, [(p, names) for p in unread], 8,
                              max(1, len(unread) // (self.jobs * 8)))
            skip = {p for p, hit in zip(unread, named) if not hit}
            mine = [p for p in mine if p not in skip]
        self._skeletons(mine, digests)
        models = self.loaded.models
        work = sorted({n for p in mine for s in self.back.skeletons[digests[p]]
                       for n in s.tokens if n in where})
        seen: set[str] = set()
        out: dict[str, set[str]] = {}
        while work:
            name = work.pop()
            if name in seen or models.of(name):
                continue
            seen.add(name)
            for p, s in where[name]:
                out.setdefault(os.path.relpath(p, root), set()).add(name)
                work.extend(n for n in s.tokens if n in where and n not in seen)
        return {p: sorted(ns) for p, ns in sorted(out.items())}

    def _digest_into(self, path: str, digests: dict[str, str]) -> bool:
        d = self.files.digest(path)
        if d is None:
            return False
        digests[path] = d
        return True

    def _tokens(self, paths: list[str], digests: dict[str, str]) -> set[str]:
        out: set[str] = set()
        for p in paths:
            for s in self.back.skeletons[digests[p]]:
                out.update(s.tokens)
        return out


#: The models and checkers of the pass-1 analysis helpers (set before they are forked).
_ANALYSIS: tuple | None = None
#: A wave of fewer functions is analyzed in this process.
WAVE_MIN_PARALLEL = 8


def _analyze_work(work: Work):
    assert _ANALYSIS is not None
    return analyze_one(_ANALYSIS[0], _ANALYSIS[1], work)


def _child() -> None:
    """A pass-1 helper process: the run's signal handlers are the parent's business
    (the pool ends its helpers with SIGTERM)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _index_of(job) -> tuple[tuple[str, bool, bool], ...]:
    """(name, static, body names a starter) for each kernel-style definition of a file
    (a body opens with ``{`` at column 0): the textual index of the API directories."""
    path, starters = job
    try:
        data = read_source(path, MAX_BYTES)
    except OSError:
        return ()
    out = []
    for m in _BODY.finditer(data):
        start = m.start()
        head_end = start - 1
        head_start = head_end
        for _ in range(4):              # the header: up to 4 lines above
            prev = data.rfind(b"\n", 0, max(head_start - 1, 0)) + 1
            line = data[prev:head_start]
            if not line.strip() or line.rstrip().endswith((b";", b"}")) or \
                    line.startswith(b"#"):
                break
            head_start = prev
            if line[:1].isalpha() or line[:1] == b"_":
                break
        head = data[head_start:head_end]
        paren = head.find(b"(")
        nm = _HEAD_NAME.search(head[:paren + 1]) if paren > 0 else None
        if nm is None:
            continue
        end = data.find(b"\n}", start)
        body = data[start:end if end > 0 else len(data)]
        hit = starters is None or not starters.isdisjoint(
            t.decode() for t in set(_IDENT.findall(body)))
        out.append((nm.group(1).decode(), head.lstrip().startswith(b"static"), hit))
    return tuple(out)


def _scan_of(path: str) -> tuple | None:
    """(stamp, digest, includes, identifiers) of ``path`` from one read (None: it cannot
    be read); see :meth:`Pass1._scan`."""
    try:
        st = os.stat(path)
        data = read_source(path, MAX_BYTES)
    except OSError:
        return None
    return ((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns),
            hashlib.sha256(data).hexdigest(), _includes_in(data), _idents_in(data))


def _includes_in(data: bytes) -> tuple[tuple[bool, str], ...]:
    return tuple((m.group(1) == b'"', m.group(2).decode("utf-8", "replace").strip())
                 for m in _INCLUDE.finditer(data))


_WORDS: dict[frozenset[str], re.Pattern[bytes]] = {}


def _names_any(job: tuple[str, frozenset[bytes]]) -> bool:
    """Whether the text of the file names one of the identifiers (True: it cannot be
    read).  Every identifier of the text: a superset of what its skeleton's functions
    name."""
    path, words = job
    try:
        return not words.isdisjoint(_IDENT.findall(read_source(path, MAX_BYTES)))
    except OSError:
        return True


def _words_in(data: bytes, words: frozenset[str]) -> frozenset[str]:
    """Which of ``words`` (identifiers) ``data`` names."""
    if not words:
        return frozenset()
    rx = _WORDS.get(words)
    if rx is None:
        rx = _WORDS[words] = re.compile(
            rb"\b(" + b"|".join(re.escape(w.encode()) for w in sorted(words)) + rb")\b")
    return frozenset(m.decode() for m in set(rx.findall(data)))


def _idents_of(path: str) -> array:
    """The sorted CRC-32s of the identifiers of ``path`` a ``(`` follows (of all its
    identifiers when a comment stands before a ``(``)."""
    try:
        data = read_source(path, MAX_BYTES)
    except OSError:
        return array("I")
    return _idents_in(data)


def _idents_in(data: bytes) -> array:
    found = (_IDENT if _COMMENT_PAREN.search(data) else _CALLISH).findall(data)
    return array("I", sorted({zlib.crc32(x) for x in set(found)}))


def _skeleton_of(job) -> tuple[tuple[FnSkeleton, ...], dict[int, Function | Packed]]:
    """A file's skeleton, and its functions naming a starter lowered as
    :func:`_lower_of` gives them (by their indexes)."""
    path, iterators, starters, transparent = job
    try:
        data = read_source(path, MAX_BYTES)
        names = None if starters is None else starters.names | (
            starters.loops if _words_in(data, starters.words) else frozenset())
        skels, seeds, fns = skeleton_and_seeds(path, data, iterators, names)
    except Exception:                   # pass 2 reports a file it cannot read or parse
        return (), {}
    return skels, {i: _packed(fn, transparent) for i, fn in fns or () if i in seeds}


def _lower_of(job) -> dict[int, Function | Packed]:
    """The functions asked for, lowered; each pickled and compressed (a tenth of its
    objects' size: pass 1 holds the lowered functions until it analyzes them), with
    its calls (computed here, in the helper that has the function at hand)."""
    path, indexes, names, iterators, transparent = job
    try:
        fns = lower_only(path, read_source(path, MAX_BYTES), iterators, names)
    except Exception:
        return {}
    wanted = set(indexes)
    return {i: _packed(fn, transparent) for i, fn in fns if i in wanted}


def _packed(fn: Function, transparent: frozenset[str]) -> Packed:
    return (zlib.compress(pickle.dumps(fn, pickle.HIGHEST_PROTOCOL), 1),
            called_by(fn, transparent))


def apart(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a child process forked now, its result (pickled) returned here, its
    exception raised here: what pass 1 builds to compute its table (skeletons, the call
    graph, its state) lives and dies with the child, so that this process -- and the
    pass-2 workers it forks afterwards -- hold the table only."""
    if not hasattr(os, "fork"):
        return fn()
    ctx = get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_apart_main, args=(fn, send))
    proc.start()
    send.close()
    try:
        try:
            kind, value = recv.recv()
        except EOFError:
            proc.join()
            raise RuntimeError(f"pass 1's process died (exit status {proc.exitcode})"
                               ) from None
        proc.join()
    finally:
        recv.close()
        if proc.is_alive():             # interrupted here: the child goes too
            proc.terminate()
            proc.join()
    if kind == "error":
        raise value
    return value


def _apart_main(fn: Callable[[], Any], send: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent handles ^C
    for signum in (signal.SIGTERM, signal.SIGHUP):     # (the parent's way to stop it)
        signal.signal(signum, _stop)
    try:
        got: tuple = ("ok", fn())
    except BaseException as exc:          # raised again in the parent
        got = ("error", exc)
    try:
        try:
            send.send(got)
        except OSError:
            raise
        except Exception as exc:          # an exception that does not pickle
            send.send(("error", RuntimeError(f"{type(got[1]).__name__}: {got[1]}; {exc}")))
        send.close()
    except OSError:                       # the parent is gone
        pass


def _stop(signum: int, _frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)
    raise SystemExit(128 + signum)        # through the pass's cleanup (its helpers)
