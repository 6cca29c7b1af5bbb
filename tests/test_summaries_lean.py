"""Pass 1 at the scale of a whole tree: it reads only the files that may matter (found by
their identifiers, without parsing the others), holds lowered functions compressed and
releases each once analyzed -- and computes exactly the summaries it computes reading
every file.

The C below is ours, modeled on kernel patterns (a helper submitting a page for I/O,
wrappers of it in other files, a second definition under another configuration)."""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest

from analyzer.pipeline.options import Loaded, Options
from analyzer.pipeline.tree import Pass1, _idents_of
from analyzer.summaries.compute import Pass1Cache, compute

SUBMIT = """\
int helper_submit(struct bio *bio, struct page *page)
{
\tbio_add_page(bio, page, PAGE_SIZE, 0);
\treturn submit_bio_wait(bio);
}
"""
WRAP = """\
int wrap_submit(struct bio *bio, struct page *page)
{
\treturn helper_submit(bio, page);
}

static int unrelated(int x)
{
\treturn x + 1;
}
"""
# names the wrapper with a comment before its "(": read with all its identifiers
WRAP2 = """\
int wrap_twice(struct bio *bio, struct page *page)
{
\treturn wrap_submit /* the one above */ (bio, page);
}
"""
OTHER_CONFIG = """\
/* the same API under another configuration: names no starter, still a definition */
int other_helper(struct bio *bio, struct page *page)
{
\treturn 0;
}
"""
OTHER_OF_WRAP = """\
int wrap_submit(struct bio *bio, struct page *page)
{
\treturn 0;
}
"""
UNRELATED = """\
int count_things(int *v, int n)
{
\tint s = 0;
\tfor (int i = 0; i < n; i++)
\t\ts += v[i];
\treturn s;
}
"""


def _tree(root: Path, disagree: bool) -> Path:
    (root / "include" / "linux").mkdir(parents=True)
    (root / "mm").mkdir()
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (root / "mm" / "submit.c").write_text(SUBMIT)
    for d, text in (("a", WRAP), ("b", WRAP2), ("c", OTHER_CONFIG),
                    ("d", UNRELATED), ("e", OTHER_OF_WRAP if disagree else UNRELATED)):
        (root / "drivers" / d).mkdir(parents=True)
        (root / "drivers" / d / f"{d}.c").write_text(text)
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.c"))


def _summarize(root: Path, every_file: bool, monkeypatch) -> tuple[str, object]:
    if every_file:
        monkeypatch.setattr(Pass1, "_seeds", lambda self, files, d, s: list(files))
    p1 = Pass1(Options(), jobs=1)
    result = p1.summarize(_files(root), [str(root)])
    monkeypatch.undo()
    return result.table.dump(), result.stats


@pytest.mark.parametrize("disagree", [False, True])
def test_reading_only_the_files_that_matter_gives_the_same_summaries(tmp_path, monkeypatch,
                                                                      disagree):
    root = _tree(tmp_path / "linux", disagree)
    lean, stats = _summarize(root, False, monkeypatch)
    full, full_stats = _summarize(root, True, monkeypatch)
    assert lean == full
    # the unrelated files are not read (not even the one of another configuration's
    # other_helper: no function that can have a fact calls it)
    assert stats.relevant_files == (4 if disagree else 3) < stats.files == 6  # type: ignore
    assert full_stats.relevant_files == 6                                      # type: ignore
    names = {d[0] for d in json.loads(lean)["definitions"]}
    if not disagree:
        assert {"helper_submit", "wrap_submit", "wrap_twice"} <= names
    else:
        # a second definition of wrap_submit that names no starter still counts: the
        # two disagree, so a caller in another file knows nothing of wrap_submit
        assert lean.count('"wrap_submit"') == 2 and "wrap_twice" not in names


def test_identifiers_followed_by_a_paren_cover_calls_and_definitions(tmp_path):
    f = tmp_path / "x.c"
    f.write_text("int f(void)\n{\n\treturn g (1) + h\\\n(2) + arr[k];\n}\n")
    got = set(_idents_of(str(f)))
    assert {zlib.crc32(n) for n in (b"f", b"g", b"h")} <= got
    assert zlib.crc32(b"k") not in got and zlib.crc32(b"arr") not in got
    f.write_text(WRAP2)                     # a comment before "(": every identifier
    assert zlib.crc32(b"bio") in set(_idents_of(str(f)))


def test_compressed_lowered_functions_give_the_same_facts(tmp_path):
    """compute() with a lowering that hands Function objects back and one that hands
    them pickled and compressed (as the pass-1 workers do): the same definitions."""
    from analyzer.summaries.compute import FileInfo
    from analyzer.summaries.skeleton import lower_only, skeleton

    root = _tree(tmp_path / "linux", True)
    loaded = Loaded(Options())
    iterators = loaded.models.iterators()
    infos = []
    for p in _files(root):
        data = Path(p).read_bytes()
        infos.append(FileInfo(p, p, str(hash(data)), False, skeleton(p, data, iterators)))

    def plain(batch):
        out = []
        for f, ix in batch:
            fns = lower_only(f.path, Path(f.path).read_bytes(), iterators,
                             {f.functions[i].name for i in ix})
            out.append({i: fn for i, fn in fns if i in ix})
        return out

    p1 = Pass1(Options(), loaded, jobs=1)
    a, sa = compute(infos, plain, loaded.models, loaded.checkers, Pass1Cache())
    b, sb = compute(infos, p1._lower, loaded.models, loaded.checkers, Pass1Cache())
    assert a == b and a
    assert sa.analyzed == sb.analyzed > 0


def test_waves_analyzed_in_parallel_give_the_table_of_one_process(tmp_path, monkeypatch):
    """Pass 1 over the fixtures (many functions, same-file and cross-file callers,
    recursion) and the tree above: -j 2 (each wave in a pool of helpers) and -j 1 (one
    process) give the same table."""
    from analyzer.pipeline import tree as tree_mod
    from tests.conftest import FIXTURES

    monkeypatch.setattr(tree_mod, "WAVE_MIN_PARALLEL", 1)
    root = _tree(tmp_path / "linux", False)
    for paths, roots in (([str(p) for p in sorted(FIXTURES.rglob("*.c"))], []),
                         (_files(root), [str(root)])):
        one = Pass1(Options(), jobs=1).summarize(paths, roots)
        two = Pass1(Options(), jobs=2).summarize(paths, roots)
        assert one.table.dump() == two.table.dump()
        assert one.stats.analyzed == two.stats.analyzed > 0


def test_a_warm_run_reads_only_the_stamps_and_an_edit_recomputes(tmp_path):
    """Nothing changed: the table comes from the result kept under the inputs' digests,
    without reading the skeletons and facts (their file may even be gone); after an
    edit that changes a summary, the table is computed again and says so."""
    root = _tree(tmp_path / "linux", False)
    cache = tmp_path / "cache"

    def run():
        p1 = Pass1(Options(), jobs=1, cache_dir=cache)
        got = p1.summarize(_files(root), [str(root)])
        p1.save()
        return p1, got.table.dump()

    _, cold = run()
    backs = list(cache.glob("*.back.pickle"))
    assert len(backs) == 1
    backs[0].unlink()
    p1, warm = run()
    assert warm == cold and p1._back is None
    (root / "drivers" / "a" / "a.c").write_text(WRAP.replace("return helper_submit",
                                                             "return 0; helper_submit"))
    p1, edited = run()
    assert p1._back is not None and edited != cold
    assert '"wrap_twice"' not in edited
    (root / "drivers" / "a" / "a.c").write_text(WRAP)
    assert run()[1] == cold


def test_a_warm_run_with_nothing_changed_writes_no_state(tmp_path):
    """The state is written again only when something in it changed (a warm run that
    rewrote 3 MB of it cost a tenth of a second every time)."""
    root = _tree(tmp_path / "linux", False)
    cache = tmp_path / "cache"

    def run() -> None:
        p1 = Pass1(Options(), jobs=1, cache_dir=cache)
        p1.summarize(_files(root), [str(root)])
        p1.save()

    run()
    (state,) = [p for p in cache.glob("*.pickle") if not p.name.endswith(".back.pickle")]
    stamp = state.stat().st_mtime_ns
    run()
    assert state.stat().st_mtime_ns == stamp
    os.utime(root / "mm" / "submit.c")              # a new stamp of a known file
    run()
    assert state.stat().st_mtime_ns != stamp


def test_an_edit_that_moves_no_line_of_a_function_reuses_its_facts(tmp_path, monkeypatch):
    """A function whose lowered IR (spans included) and inputs are those of a function
    analyzed before is not analyzed again: a comment appended to its file re-analyzes
    nothing and gives the same table; a line inserted above it moves its spans, and it
    is analyzed again."""
    root = _tree(tmp_path / "linux", False)
    cache = tmp_path / "cache"
    analyzed = _spy_analyzed(monkeypatch)

    def run() -> str:
        p1 = Pass1(Options(), jobs=1, cache_dir=cache)
        got = p1.summarize(_files(root), [str(root)]).table.dump()
        p1.save()
        return got

    cold = run()
    assert "helper_submit" in analyzed
    submit = root / "mm" / "submit.c"
    submit.write_text(SUBMIT + "/* a comment */\n")
    analyzed.clear()
    assert run() == cold and analyzed == []
    submit.write_text("/* a new first line */\n" + SUBMIT)
    analyzed.clear()
    moved = run()
    assert analyzed == ["helper_submit"]
    assert moved == cold                          # (its fact, an I/O start, has no line)


def test_an_edit_that_calls_nothing_new_keeps_the_files_chosen(tmp_path, monkeypatch):
    """Which files pass 1 reads depends on what each file defines and calls, not on the
    rest of its text: an edit inside a body that calls nothing new reuses the choice
    (the closure is not computed again); an edit that adds a call computes it again.
    Either way the table is the one a run without a cache computes."""
    root = _tree(tmp_path / "linux", False)
    cache = tmp_path / "cache"
    closures: list[int] = []
    real = Pass1._seeds

    def spy(self, files, digests, starters):
        closures.append(len(files))
        return real(self, files, digests, starters)

    monkeypatch.setattr(Pass1, "_seeds", spy)

    def run(cache_dir) -> str:
        p1 = Pass1(Options(), jobs=1, cache_dir=cache_dir)
        got = p1.summarize(_files(root), [str(root)]).table.dump()
        p1.save()
        return got

    cold = run(cache)
    assert len(closures) == 1
    wrap = root / "drivers" / "a" / "a.c"
    wrap.write_text(WRAP.replace("x + 1", "x + 2"))
    assert run(cache) == cold and len(closures) == 1
    wrap.write_text(WRAP.replace("x + 1", "x + count_things(&x, 1)"))
    edited = run(cache)
    assert len(closures) == 2
    assert edited == run(None)


def test_pass1_apart_returns_its_value_raises_its_error_and_keeps_its_state(tmp_path):
    """``apart`` runs pass 1 in a forked child: the value (the table) comes back, an
    error is raised here as itself, and what the child built stays in the child."""
    from analyzer.errors import ToolError
    from analyzer.pipeline.tree import apart

    held: list[int] = []

    def grow() -> int:
        held.extend(range(1000))
        return len(held)

    assert apart(grow) == 1000 and held == []

    def fail() -> None:
        raise ToolError("no tree here")

    with pytest.raises(ToolError, match="no tree here"):
        apart(fail)
    root = _tree(tmp_path / "linux", False)
    here = Pass1(Options(), jobs=1).summarize(_files(root), [str(root)]).table.dump()
    there = apart(lambda: Pass1(Options(), jobs=1).summarize(_files(root), [str(root)]).table)
    assert there.dump() == here


def test_one_read_per_file_and_seeds_lowered_with_the_skeleton_change_nothing(tmp_path,
                                                                              monkeypatch):
    """-j 2 reads each file once in the helpers (digest, includes, identifiers) and
    lowers the functions naming a starter from the skeleton's parse; -j 1 reads and
    parses where each is needed: the same state, the same table."""
    root = _tree(tmp_path / "linux", True)
    for i in range(12):                    # enough files for the helpers
        (root / "drivers" / "a" / f"w{i}.c").write_text(WRAP.replace("wrap_", f"w{i}_"))
    one = Pass1(Options(), jobs=1)
    a = one.summarize(_files(root), [str(root)])
    calls: list[tuple[str, list]] = []
    real = Pass1._map

    def spy(self, fn, items, serial, chunksize):
        calls.append((fn.__name__, [x[0] if isinstance(x, tuple) else x for x in items]))
        return real(self, fn, items, serial, chunksize)

    monkeypatch.setattr(Pass1, "_map", spy)
    two = Pass1(Options(), jobs=2)
    b = two.summarize(_files(root), [str(root)])
    lowered = [p for name, items in calls if name == "_lower_of" for p in items]
    assert any(name == "_scan_of" for name, _ in calls)
    assert a.table.dump() == b.table.dump() and a.stats == b.stats
    assert one.state.stamps == two.state.stamps
    for d in {d for _, d in one.state.stamps.values()}:
        assert one.state.includes.get(d) == two.state.includes.get(d)
        assert list(one.state.idents[d]) == list(two.state.idents[d])
    # every seed came with its skeleton: nothing lowered in this process afterwards
    # (the callers of a file with facts are lowered when needed, in the helpers)
    assert str(root / "mm" / "submit.c") not in lowered


STATIC_WRAP = """\
static int local_submit(struct bio *bio, struct page *page)
{
\treturn helper_submit(bio, page);
}

int a_entry(struct bio *bio, struct page *page)
{
\treturn local_submit(bio, page);
}
"""
# another file's static function of the same name (unrelated), and its caller
SAME_NAME = """\
static int local_submit(int x)
{
\treturn x * 2;
}

int x_user(int x)
{
\treturn local_submit(x);
}
"""
CALLS_X_USER = """\
int z_caller(int x)
{
\treturn x_user(x) + 1;
}
"""
CALLS_A_ENTRY = """\
int y_caller(struct bio *bio, struct page *page)
{
\treturn a_entry(bio, page);
}
"""


def _spy_parsed(monkeypatch) -> list[str]:
    """The files pass 1 parses for their skeletons, in order (a spy on _skeleton_of)."""
    from analyzer.pipeline import tree as tree_mod

    parsed: list[str] = []
    real = tree_mod._skeleton_of

    def spy(job):
        parsed.append(job[0])
        return real(job)

    monkeypatch.setattr(tree_mod, "_skeleton_of", spy)
    return parsed


def test_a_static_name_stays_in_its_file_and_a_visible_one_crosses(tmp_path, monkeypatch):
    """A static function naming a starter gives its file's callers facts, but its name
    pulls in no other file: x.c's own static ``local_submit`` is another function (its
    caller x_user can have no fact), so z.c, which calls x_user, is never read; x.c is
    read for its definition row of ``local_submit`` only.  The non-static a_entry that
    calls it crosses files: y.c is read.  The table is the one of reading every file."""
    root = tmp_path / "linux"
    (root / "include" / "linux").mkdir(parents=True)
    (root / "mm").mkdir()
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (root / "mm" / "submit.c").write_text(SUBMIT)
    for d, text in (("a", STATIC_WRAP), ("x", SAME_NAME), ("z", CALLS_X_USER),
                    ("y", CALLS_A_ENTRY)):
        (root / "drivers" / d).mkdir(parents=True)
        (root / "drivers" / d / f"{d}.c").write_text(text)
    parsed = _spy_parsed(monkeypatch)
    p1 = Pass1(Options(), jobs=1)
    lean = p1.summarize(_files(root), [str(root)])
    monkeypatch.undo()
    full, full_stats = _summarize(root, True, monkeypatch)
    assert lean.table.dump() == full
    rel = {str(Path(p).relative_to(root)) for p in parsed}
    assert rel == {"mm/submit.c", "drivers/a/a.c", "drivers/y/y.c", "drivers/x/x.c"}
    assert lean.stats.relevant_files == 3 < full_stats.relevant_files == 5  # type: ignore
    rows = [(d[0], d[1], bool(d[4])) for d in json.loads(full)["definitions"]]
    assert ("local_submit", "drivers/a/a.c", True) in rows
    assert ("local_submit", "drivers/x/x.c", False) in rows       # the row x.c is read for
    assert ("a_entry", "drivers/a/a.c", True) in rows and ("y_caller", "drivers/y/y.c",
                                                           True) in rows
    assert not any(r[0] in ("x_user", "z_caller") for r in rows)


def _spy_analyzed(monkeypatch) -> list[str]:
    """The names of the functions pass 1 analyzes, in order (a spy on analyze_one)."""
    from analyzer.pipeline import tree as tree_mod
    from analyzer.summaries.compute import _function

    analyzed: list[str] = []
    real = tree_mod.analyze_one

    def spy(models, checkers, work):
        fn = _function(work[0])
        analyzed.append(fn.name if fn is not None else "")
        return real(models, checkers, work)

    monkeypatch.setattr(tree_mod, "analyze_one", spy)
    return analyzed


LOCKED = """\
int locked_count(struct counter *c)
{
\tspin_lock(&c->lock);
\tc->n++;
\tspin_unlock(&c->lock);
\treturn c->n;
}
"""
LOCKED_USER = """\
int count_user(struct counter *c)
{
\treturn locked_count(c);
}
"""
LOCKED_GET = """\
int take_after_unlock(struct counter *c, struct page *page)
{
\tspin_lock(&c->lock);
\tc->n++;
\tspin_unlock(&c->lock);
\tget_page(page);
\treturn 0;
}
"""


def test_a_story_starter_that_begins_no_summary_is_not_walked_in_pass_1(tmp_path,
                                                                          monkeypatch):
    """spin_lock() starts try-get-without-ref's stories (it decides a finding) but never
    one of its summaries: a function naming only it is not analyzed in pass 1, and its
    callers' files are not read; a get after the lock still gives its plain_get fact, and
    a real summary source (an I/O start) is still analyzed.  Reading every file gives
    the same table."""
    root = _tree(tmp_path / "linux", False)
    (root / "mm" / "locked.c").write_text(LOCKED)
    (root / "mm" / "get.c").write_text(LOCKED_GET)
    (root / "drivers" / "f").mkdir()
    (root / "drivers" / "f" / "f.c").write_text(LOCKED_USER)
    analyzed = _spy_analyzed(monkeypatch)
    p1 = Pass1(Options(), jobs=1)
    lean = p1.summarize(_files(root), [str(root)])
    assert "locked_count" not in analyzed and "count_user" not in analyzed
    assert {"helper_submit", "take_after_unlock"} <= set(analyzed)
    # submit.c, a.c, b.c (the I/O start and its wrappers), get.c; not locked.c nor f.c
    read = lean.stats.relevant_files                           # type: ignore[attr-defined]
    assert read == 4 and lean.stats.files == 9                 # type: ignore[attr-defined]
    facts = {d[0]: d for d in json.loads(lean.table.dump())["definitions"]}
    assert "plain_get" in repr(facts["take_after_unlock"])
    assert "locked_count" not in facts
    analyzed.clear()
    monkeypatch.setattr(Pass1, "_seeds", lambda self, files, d, s: list(files))
    full = Pass1(Options(), jobs=1).summarize(_files(root), [str(root)])
    assert full.table.dump() == lean.table.dump()
    assert "locked_count" not in analyzed


PFN_PEEK = """\
static int pfn_is_online(unsigned long pfn)
{
\tstruct page *page = pfn_to_page(pfn);

\treturn page != NULL;
}

int locked_peek(struct counter *c, unsigned long pfn)
{
\tint r;

\tspin_lock(&c->lock);
\tr = pfn_is_online(pfn);
\tspin_unlock(&c->lock);
\treturn r;
}

static struct page *pfn_get(unsigned long pfn)
{
\tstruct page *page = pfn_to_page(pfn);

\tget_page(page);
\treturn page;
}

int locked_take(struct counter *c, unsigned long pfn)
{
\tstruct page *page;

\tspin_lock(&c->lock);
\tpage = pfn_get(pfn);
\tspin_unlock(&c->lock);
\tput_page(page);
\treturn 0;
}
"""


def test_a_caller_is_analyzed_in_pass_1_only_once_a_callee_has_a_fact(tmp_path,
                                                                          monkeypatch):
    """locked_peek() names a story starter (spin_lock) and calls a function naming a
    summary starter (pfn_to_page), but that callee has no fact: no summary can begin in
    locked_peek, which pass 1 does not analyze.  locked_take() calls one whose fact is a
    get: it is analyzed."""
    root = _tree(tmp_path / "linux", False)
    (root / "mm" / "peek.c").write_text(PFN_PEEK)
    analyzed = _spy_analyzed(monkeypatch)
    lean = Pass1(Options(), jobs=1).summarize(_files(root), [str(root)])
    facts = {d[0]: d for d in json.loads(lean.table.dump())["definitions"]}
    assert "pfn_get" in facts and "pfn_is_online" not in facts
    assert "locked_peek" not in analyzed and "pfn_is_online" in analyzed
    assert {"pfn_get", "locked_take"} <= set(analyzed)


# Two cycles of the same shape, the relay (which names no starter) first in one and last
# in the other: whichever the order visits first, the callers outside see the facts the
# cycle ends with.
CYCLES = """\
int relay_first(struct bio *bio, struct page *page, int depth)
{
\treturn submit_deep(bio, page, depth);
}

int submit_deep(struct bio *bio, struct page *page, int depth)
{
\tif (depth)
\t\treturn relay_first(bio, page, depth - 1);
\tbio_add_page(bio, page, PAGE_SIZE, 0);
\treturn submit_bio_wait(bio);
}

int submit_deeper(struct bio *bio, struct page *page, int depth)
{
\tif (depth)
\t\treturn relay_last(bio, page, depth - 1);
\tbio_add_page(bio, page, PAGE_SIZE, 0);
\treturn submit_bio_wait(bio);
}

int relay_last(struct bio *bio, struct page *page, int depth)
{
\treturn submit_deeper(bio, page, depth);
}
"""
OUTSIDE = """\
int outer_first(struct bio *bio, struct page *page)
{
\treturn relay_first(bio, page, 2);
}

int outer_last(struct bio *bio, struct page *page)
{
\treturn relay_last(bio, page, 2);
}
"""


def test_a_cycle_is_settled_before_its_callers_are_analyzed(tmp_path):
    """A cycle of the call graph is cut somewhere: its functions are analyzed again
    while their facts change, and only then its callers -- so a caller in another file
    knows the cycle's relay by the fact it ends with (before, the callers were analyzed
    after the cycle's first visit, and the relay visited first knew nothing yet)."""
    from analyzer.summaries.compute import FileInfo
    from analyzer.summaries.skeleton import lower_only, skeleton

    loaded = Loaded(Options())
    iterators = loaded.models.iterators()
    infos = []
    for name, text in (("cycles.c", CYCLES), ("outside.c", OUTSIDE)):
        (tmp_path / name).write_text(text)
        p = str(tmp_path / name)
        infos.append(FileInfo(p, name, name, False, skeleton(p, text.encode(), iterators)))

    def plain(batch):
        return [{i: fn for i, fn in lower_only(f.path, Path(f.path).read_bytes(), iterators,
                                               {f.functions[i].name for i in ix}) if i in ix}
                for f, ix in batch]

    defs, _ = compute(infos, plain, loaded.models, loaded.checkers, Pass1Cache())
    facts = {d.name: {(m.section, m.values) for m in d.facts} for d in defs}
    for relay, outer in (("relay_first", "outer_first"), ("relay_last", "outer_last")):
        assert ("io_start", (("arg", 1),)) in facts[relay]
        assert facts.get(outer) == facts[relay], (relay, facts)


# adds a page to a bio it never submits: names a summary starter, gets no fact
NO_FACT = """\
int just_add(struct bio *bio, struct page *page)
{
\treturn bio_add_page(bio, page, PAGE_SIZE, 0) ? 0 : -EIO;
}
"""
CALLS_JUST_ADD = """\
int add_user(struct bio *bio, struct page *page)
{
\treturn just_add(bio, page);
}
"""


def test_a_file_reaching_a_starter_is_read_only_once_a_callee_has_a_fact(tmp_path,
                                                                         monkeypatch):
    """Where the choice of files read no skeleton (a tree that is all analyzed: no API
    file), pass 1 starts from the files naming a summary starter and reads another file
    only once a function it names got a fact: just_add names what starts I/O but gets
    no fact (no I/O starts there), so w.c, whose add_user calls it, is never parsed --
    while a.c and b.c, the wrappers of helper_submit, are read, round after round.  The
    table is the one of reading every file."""
    root = _tree(tmp_path / "linux", False)
    (root / "drivers" / "v").mkdir()
    (root / "drivers" / "v" / "v.c").write_text(NO_FACT)
    (root / "drivers" / "w").mkdir()
    (root / "drivers" / "w" / "w.c").write_text(CALLS_JUST_ADD)
    parsed = _spy_parsed(monkeypatch)
    lean = Pass1(Options(), jobs=1).summarize(_files(root), [str(root)])
    monkeypatch.undo()
    full, _ = _summarize(root, True, monkeypatch)
    assert lean.table.dump() == full
    rel = {str(Path(p).relative_to(root)) for p in parsed}
    assert rel == {"mm/submit.c", "drivers/a/a.c", "drivers/b/b.c", "drivers/v/v.c"}
    names = {d[0] for d in json.loads(full)["definitions"]}
    assert "wrap_twice" in names and not names & {"just_add", "add_user"}


HDR = """\
static inline void hdr_pin(struct page *page)
{
\tget_page(page);
}
"""
USES_HDR = """\
#include <linux/pinhelp.h>

void pin_it(struct page *page)
{
\thdr_pin(page);
}
"""


def test_the_headers_checked_read_only_the_files_naming_their_functions(tmp_path,
                                                                        monkeypatch):
    """Which inline functions of the headers outside the analyzed paths are checked
    comes from the analyzed files' skeletons; one that pass 1 had no reason to parse is
    parsed for it only if its text names one of those functions, and none is where they
    define none (on a whole tree, 16 generated headers outside it and 50,000 files
    otherwise unread)."""
    root = tmp_path / "linux"
    (root / "include" / "linux").mkdir(parents=True)
    (root / "mm").mkdir()
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (root / "include" / "linux" / "pinhelp.h").write_text(HDR)
    for d, text in (("a", USES_HDR), ("b", UNRELATED)):
        (root / "drivers" / d).mkdir(parents=True)
        (root / "drivers" / d / f"{d}.c").write_text(text)
    parsed = _spy_parsed(monkeypatch)
    got = Pass1(Options(), jobs=1).summarize(_files(root), [str(root)])
    rel = {str(Path(p).relative_to(root)) for p in parsed}
    assert "drivers/a/a.c" in rel and "drivers/b/b.c" not in rel
    assert json.loads(got.table.dump())["checked"] == {"include/linux/pinhelp.h": ["hdr_pin"]}
    # a header outside that defines no function (a generated one): no file is parsed
    # for it
    (root / "include" / "linux" / "pinhelp.h").write_text("#define PIN_MAX 4\n")
    parsed.clear()
    got = Pass1(Options(), jobs=1).summarize(_files(root), [str(root)])
    assert json.loads(got.table.dump())["checked"] == {}
    assert {str(Path(p).relative_to(root)) for p in parsed} == {"include/linux/pinhelp.h"}
