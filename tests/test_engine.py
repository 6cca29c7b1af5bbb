"""The CFG builder and the dataflow engine, observed through a small recording checker
over C snippets parsed by the tree-sitter frontend."""
from __future__ import annotations

from enum import Enum
from typing import ClassVar

import pytest

from analyzer import engine
from analyzer.cfg import build_cfg, reachable
from analyzer.engine import Checker, access_key, analyze_function, effect_holds
from analyzer.frontend.treesitter import parse_source
from analyzer.ir import Call, Name
from analyzer.models import load_models
from analyzer.result import Step
from analyzer.rule import Rule

MODELS = load_models()
RULE = Rule("probe", "Probe", "probe", "", "", "", "", "")


class S(Enum):
    MARKED = "marked"
    GOT = "got"
    MISSED = "missed"


class Probe(Checker):
    """mark(x) marks x; got(x) is a conditional effect (nonzero); check(x) reports the
    states x may have there, as the finding's message."""

    rules = (RULE,)

    def on_call(self, ctx, call, result):
        if call.callee == "mark":
            ctx.set(ctx.key(ctx.arg(call, 0)), S.MARKED, (Step(call.span, "marked"),))
        elif call.callee == "check":
            states = sorted(s.value for s in ctx.states(ctx.key(ctx.arg(call, 0))))
            ctx.report(RULE, call.span, ",".join(states) or "-")

    def on_branch(self, ctx, test):
        if isinstance(test.subject, Call) and test.subject.callee == "got":
            ok = effect_holds("nonzero", test.outcome)
            ctx.set(ctx.key(ctx.arg(test.subject, 0)), S.GOT if ok else S.MISSED)


def run(body: str, params: str = "int *p, int *q, int c") -> dict[int, str]:
    """line -> the states check() saw there (line 1 is the function's first body line)."""
    src = f"void f({params})\n{{\n{body}\n}}\n".encode()
    sf = parse_source("t.c", src, MODELS.iterators())
    assert len(sf.functions) == 1 and sf.degraded == 0
    findings, notes = analyze_function(sf.functions[0], MODELS, [Probe()])
    assert not notes
    return {f.span.line - 2: f.message for f in findings}


def test_straight_line_and_reassignment_kills():
    got = run("mark(p);\ncheck(p);\np = q;\ncheck(p);\ncheck(q);")
    assert got == {2: "marked", 4: "-", 5: "-"}


def test_assignment_copies_states():
    assert run("mark(q);\np = q;\ncheck(p);") == {3: "marked"}


def test_if_join_is_a_may_union():
    got = run("if (c)\n\tmark(p);\ncheck(p);")
    assert got == {3: "marked"}


@pytest.mark.parametrize("cond, then, other", [
    ("got(p)", "got", "missed"), ("!got(p)", "missed", "got"),
    ("unlikely(!got(p))", "missed", "got"), ("likely(got(p))", "got", "missed"),
    ("got(p) != 0", "got", "missed"), ("got(p) == 0", "missed", "got"),
    ("got(p) != NULL", "got", "missed"), ("NULL == got(p)", "missed", "got"),
    ("got(p) < 0", "got", "missed"), ("got(p) >= 0", "missed", "got"),
    ("got(p) && c", "got", "got,missed"), ("!got(p) || c", "got,missed", "got"),
    ("c ? got(p) : 0", "got", "missed"),
])
def test_branch_sensitive_conditions(cond, then, other):
    got = run(f"if ({cond})\n\tcheck(p);\nelse\n\tcheck(p);")
    assert got == {2: then, 4: other}


def test_result_in_variable_is_tested_later():
    got = run("int r = got(p);\nif (!r)\n\treturn;\ncheck(p);")
    assert got == {4: "got"}


def test_error_code_convention():
    assert effect_holds("zero", engine.NONNEG) and not effect_holds("zero", engine.NEG)
    assert effect_holds("nonzero", engine.POS) and not effect_holds("nonzero", engine.ZERO)


def test_goto_and_labels():
    body = "if (c)\n\tgoto out;\nmark(p);\nout:\ncheck(p);"
    assert run(body) == {5: "marked"}
    body = "mark(p);\ngoto out;\np = q;\nout:\ncheck(p);"
    assert run(body) == {5: "marked"}


def test_loops_reach_a_fixpoint():
    body = "while (c) {\n\tcheck(p);\n\tmark(p);\n}\ncheck(p);"
    assert run(body) == {2: "marked", 5: "marked"}
    body = "for (int i = 0; i < c; i++) {\n\tif (i)\n\t\tcontinue;\n\tmark(p);\n\tbreak;\n}\ncheck(p);"
    assert run(body) == {7: "marked"}
    body = "do {\n\tmark(p);\n} while (c);\ncheck(p);"
    assert run(body) == {4: "marked"}


def test_switch_fall_through_and_default():
    body = ("switch (c) {\ncase 1:\n\tmark(p);\ncase 2:\n\tcheck(p);\n\tbreak;\n"
            "default:\n\tcheck(p);\n}")
    assert run(body) == {5: "marked", 8: "-"}


def test_return_ends_the_path():
    assert run("if (c) {\n\tmark(p);\n\treturn;\n}\ncheck(p);") == {5: "-"}


def test_conditional_expression_and_statement_expression():
    assert run("c ? mark(p) : (void)0;\ncheck(p);") == {2: "marked"}
    assert run("int x = ({ mark(p); 1; });\ncheck(p);") == {2: "marked"}
    assert run("c && mark(p);\ncheck(p);") == {2: "marked"}


def test_iterator_macro_is_a_loop():
    body = "list_for_each_entry(p, q, lru) {\n\tcheck(p);\n\tmark(p);\n}\ncheck(p);"
    # the cursor is re-assigned on every iteration: its marks do not survive the head
    assert run(body) == {2: "-", 5: "-"}


def test_access_keys():
    src = b"void f(void) { g(a->b.c, *p, &x[i], h(a)); }"
    fn = parse_source("t.c", src, {}).functions[0]
    call = fn.body.stmts[0].expr
    assert [access_key(a) for a in call.args] == ["a->b.c", "*p", "&x[i]", "h(a)"]
    assert access_key(Call("unlikely", (Name("x"),)), frozenset({"unlikely"})) == "x"


def test_deep_expression_does_not_exhaust_the_stack():
    deep = "(" * 3000 + "p" + ")" * 3000
    assert run(f"mark({deep});\ncheck(p);") == {2: "marked"}


def test_budget_exhaustion_is_a_notification(monkeypatch):
    monkeypatch.setattr(engine.fixpoint, "VISIT_BUDGET", 3)
    src = b"void f(int *p, int c) { while (c) { if (c) mark(p); else c--; } check(p); }"
    fn = parse_source("t.c", src, {}).functions[0]
    findings, notes = analyze_function(fn, MODELS, [Probe()])
    assert findings == [] and len(notes) == 1
    assert "budget" in notes[0].message and notes[0].kind == "budget"


def test_states_carried_past_their_budget_are_a_notification(monkeypatch):
    """Path-sensitive states that multiply on a long function's tests make each visit
    dearer: the states carried through the visits are bounded too (work, not time), and
    a function past the bound is a notification like one past its visits."""
    src = b"void f(int *p, int c) { while (c) { if (c) mark(p); else c--; } check(p); }"
    fn = parse_source("t.c", src, {}).functions[0]
    assert analyze_function(fn, MODELS, [Probe()])[1] == []
    monkeypatch.setattr(engine.fixpoint, "STATE_BUDGET", 3)
    findings, notes = analyze_function(fn, MODELS, [Probe()])
    assert findings == [] and len(notes) == 1 and notes[0].kind == "budget"
    assert "states carried through" in notes[0].message


def test_unreachable_code_after_return_is_not_analyzed():
    src = b"void f(int *p) { return; check(p); }"
    fn = parse_source("t.c", src, {}).functions[0]
    cfg = build_cfg(fn)
    assert len(reachable(cfg)) < len(cfg.blocks)
    assert analyze_function(fn, MODELS, [Probe()]) == ([], [])


class UseProbe(Probe):
    """Probe, plus a finding for every use hook: 'deref:KEY', 'store:KEY', 'overwrite:KEY'."""

    def on_deref(self, ctx, key, expr):
        ctx.report(RULE, expr.span, f"deref:{key}")

    def on_store(self, ctx, target, value, span):
        ctx.report(RULE, span, f"store:{ctx.key(value)}")

    def on_overwrite(self, ctx, key, span):
        ctx.report(RULE, span, f"overwrite:{key}:" + ",".join(
            sorted(s.value for s in ctx.states(key))))


def run_uses(body: str, params: str = "int *p, int *q, int c") -> dict[int, list[str]]:
    src = f"void f({params})\n{{\n{body}\n}}\n".encode()
    fn = parse_source("t.c", src, MODELS.iterators()).functions[0]
    findings, _ = analyze_function(fn, MODELS, [UseProbe()])
    out: dict[int, list[str]] = {}
    for f in findings:
        out.setdefault(f.span.line - 2, []).append(f.message)
    return {k: sorted(v) for k, v in out.items()}


def test_deref_hook_sees_accesses_through_tracked_pointers_only():
    got = run_uses("mark(p);\nc = p->a;\nc += p[1];\nc = *p;\ng(&p->a);\nc = q->a;")
    assert got == {2: ["deref:p"], 3: ["deref:p"], 4: ["deref:p"]}
    assert run_uses("mark(p);\nc = 1 + *p;") == {2: ["deref:p"]}


def test_store_hook_sees_stores_into_memory_without_access_path():
    got = run_uses("mark(p);\nq[(*r)++] = p;\n*r = p;\ns = p;",
                   "int *p, int **q, int *r, int *s")
    assert got == {2: ["store:p"], 3: ["store:p"]}


def test_overwrite_hook_sees_the_states_before_they_go():
    got = run_uses("mark(p);\np = q;\nmark(q);\nq++;\np = p;")
    assert got == {2: ["overwrite:p:marked"], 4: ["overwrite:q:marked"]}


def test_call_result_without_access_path_still_moves_into_its_variable():
    class Marker(Probe):
        def on_call(self, ctx, call, result):
            if call.callee == "source":
                ctx.set(result, S.MARKED)
            super().on_call(ctx, call, result)

    src = b"void f(int *p, int c)\n{\np = source(c + 1);\ncheck(p);\n}\n"
    fn = parse_source("t.c", src, MODELS.iterators()).functions[0]
    findings, _ = analyze_function(fn, MODELS, [Marker()])
    assert [(f.span.line, f.message) for f in findings] == [(4, "marked")]


class LockProbe(Checker):
    """check(x) reports whether a spinlock / the RCU read lock is held on every path."""

    rules = (RULE,)

    def on_call(self, ctx, call, result):
        if call.callee == "check":
            ctx.report(RULE, call.span, f"spin={ctx.holds('spin')} rcu={ctx.holds('rcu')}")


def test_engine_tracks_locks_for_every_checker():
    src = (b"void f(spinlock_t *l, int c)\n{\n\tcheck(1);\n\tspin_lock(l);\n\trcu_read_lock();\n"
           b"\tcheck(2);\n\tspin_unlock(l);\n\tcheck(3);\n\tif (c)\n\t\tspin_lock(l);\n"
           b"\tcheck(4);\n\trcu_read_unlock();\n\tcheck(5);\n}\n")
    fn = parse_source("t.c", src, {}).functions[0]
    findings, _ = analyze_function(fn, MODELS, [LockProbe()])
    got = {f.span.line: f.message for f in findings}
    assert got == {3: "spin=False rcu=False", 6: "spin=True rcu=True",
                   8: "spin=False rcu=True", 11: "spin=False rcu=True",   # held on one path only
                   13: "spin=False rcu=False"}


class DesignatedProbe(Checker):
    """mark(x) tracks x; check(e) reports which tracked object e designates."""

    rules = (RULE,)

    def on_call(self, ctx, call, result):
        if call.callee == "mark":
            ctx.set(ctx.key(ctx.arg(call, 0)), S.MARKED)
        elif call.callee == "check":
            plain = ctx.designated(call.args[0])
            full = ctx.designated(call.args[0], elements=True, derive=True)
            ctx.report(RULE, call.span, f"{plain}|{full}")


def test_designated_objects():
    src = (b"void f(struct folio *folio, struct page **pages, struct page *p)\n{\n"
           b"\tmark(folio);\n\tmark(pages);\n\tmark(p);\n"
           b"\tcheck(folio);\n\tcheck(&folio->page);\n\tcheck(pages[3]);\n"
           b"\tcheck(&pages[3]);\n\tcheck(page_folio(p));\n\tcheck(other);\n}\n")
    fn = parse_source("t.c", src, {}).functions[0]
    findings, _ = analyze_function(fn, MODELS, [DesignatedProbe()])
    got = {f.span.line: f.message for f in findings}
    assert got == {6: "folio|folio", 7: "folio|folio", 8: "None|pages", 9: "pages|pages",
                   10: "None|p", 11: "None|None"}


# --------------------------------------------------------------------------- typed events
EVENT_RULES = """
[acquire.grab]
arg = 0
kind = "plain"
when = "positive"
[acquire.try_take]
arg = 0
kind = "plain"
when = "nonzero"
[acquire.take_into]
arg = 0
kind = "plain"
out = 1
[lockless_read.peek]
arg = 0
[lockless_read.rcu_peek]
arg = 0
rcu = true
[release.drop]
arg = 0
"""


@pytest.fixture(scope="module")
def event_models(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "events.toml"
    path.write_text(EVENT_RULES)
    return load_models([path])


class EventProbe(Checker):
    """Marks what the typed events say: GOT where an acquire happened (on its object, or
    on where an out-parameter stores the result), MISSED where it did not; peek() results
    get their origin; check(x) reports x's states; escapes are findings."""

    rules = (RULE,)
    told: list[str]

    def __init__(self):
        self.told = []

    def on_acquire(self, ctx, ev):
        self.told.append(f"{ev.api}:{ev.effect.value}:{'edge' if ev.edge else 'call'}")
        if ev.done:
            ctx.add(ev.result if ev.m.out is not None else ev.key, S.GOT)
        elif ev.effect is engine.Effect.FAILED:
            ctx.add(ev.key, S.MISSED)

    def on_lockless_read(self, ctx, ev):
        ctx.report(RULE, ev.span, f"origin:{ev.origin.name}")

    def on_escape(self, ctx, ev):
        if ev.call.callee not in ("check", "mark"):       # the probe's own calls
            ctx.report(RULE, ev.arg.span, f"escape:{ev.key}:{ev.call.callee}")

    def on_call(self, ctx, call, result):           # the older API still works alongside
        if call.callee == "check":
            states = sorted(s.value for s in ctx.states(ctx.key(ctx.arg(call, 0))))
            ctx.report(RULE, call.span, ",".join(states) or "-")
        elif call.callee == "mark":
            ctx.set(ctx.key(ctx.arg(call, 0)), S.MARKED)


def run_events(models, body: str, params: str = "int *p, int *q, int c"):
    src = f"void f({params})\n{{\n{body}\n}}\n".encode()
    fn = parse_source("t.c", src, models.iterators()).functions[0]
    probe = EventProbe()
    findings, notes = analyze_function(fn, models, [probe])
    assert not notes
    got: dict[int, list[str]] = {}
    for f in findings:
        got.setdefault(f.span.line - 2, []).append(f.message)
    return {k: sorted(v) for k, v in got.items()}, probe.told


@pytest.mark.parametrize("cond, then, other", [
    ("grab(p) > 0", "got", "missed"), ("grab(p) <= 0", "missed", "got"),
    ("grab(p)", "-", "missed"),               # nonzero may be a count or an error: open
    ("grab(p) < 0", "missed", "-"),           # >= 0 may be 0 references: open
    ("grab(p) == 1", "got", "-"), ("grab(p) == -EAGAIN", "missed", "-"),
    ("1 == grab(p)", "got", "-"), ("try_take(p) == 2", "got", "-"),
    ("!try_take(p)", "missed", "got"), ("try_take(p) != NULL", "got", "missed"),
])
def test_conditional_effects_are_decided_on_the_edge(event_models, cond, then, other):
    got, _ = run_events(event_models, f"if ({cond})\n\tcheck(p);\nelse\n\tcheck(p);")
    assert got == {2: [then], 4: [other]}


def test_a_conditional_effect_is_tried_at_the_call_and_decided_on_each_edge(event_models):
    _, told = run_events(event_models, "int r = try_take(p);\nif (r)\n\tcheck(p);")
    assert told[:3] == ["try_take:tried:call", "try_take:done:edge", "try_take:failed:edge"]
    _, told = run_events(event_models, "take_into(p, &q);")
    assert set(told) == {"take_into:done:call"}


def test_a_signed_constant_decides_a_stored_result(event_models):
    got, told = run_events(event_models, "int r = grab(p);\nif (r == -ENOMEM)\n\tcheck(p);"
                                         "\nelse\n\tcheck(p);")
    assert got == {3: ["missed"], 5: ["-"]}
    assert set(told) == {"grab:tried:call", "grab:failed:edge"}


def test_effect_fails_leaves_a_tri_state_count_open():
    assert engine.effects.effect_fails("positive", engine.NONPOS)
    assert not engine.effects.effect_fails("positive", engine.NONNEG)
    assert not engine.effects.effect_fails("positive", engine.NONZERO)
    assert engine.effects.effect_fails("nonzero", engine.ZERO)


def test_effect_holds_for_positive_and_negative():
    assert effect_holds("positive", engine.POS) and not effect_holds("positive", engine.NONZERO)
    assert effect_holds("negative", engine.NEG) and not effect_holds("negative", engine.ZERO)
    assert not effect_holds("positive", engine.NONPOS)


def test_out_parameter_effect_applies_to_what_the_argument_points_to(event_models):
    got, _ = run_events(event_models, "mark(q);\ntake_into(p, &q);\ncheck(q);\ncheck(p);")
    assert got == {3: ["got"], 4: ["-"]}          # q's old states are overwritten
    got, _ = run_events(event_models, "take_into(p, q);\ncheck(*q);", "int *p, int **q")
    assert got == {2: ["got"]}


def test_lockless_read_origin_is_decided_once_by_the_engine(event_models):
    body = ("peek(p);\nrcu_peek(p);\nrcu_read_lock();\nrcu_peek(p);\nspin_lock(l);\n"
            "peek(p);\nspin_unlock(l);\nrcu_read_unlock();")
    got, _ = run_events(event_models, body, "int *p, spinlock_t *l")
    assert got == {1: ["origin:LOCKLESS"], 2: ["origin:MAYBE_LOCKED"],
                   4: ["origin:LOCKLESS"], 6: ["origin:LOCKED"]}


def test_escape_policy(event_models):
    body = "mark(p);\nunknown(p, q);\ndrop(p);\ntry_take(p);\nspin_lock(p);\nfp->op(p);"
    got, _ = run_events(event_models, body, "int *p, int *q, struct ops *fp")
    # an unknown callee, a model of no object-neutral section and a function pointer
    # are escapes; a put or a get only look at the object
    assert got == {2: ["escape:p:unknown"], 5: ["escape:p:spin_lock"], 6: ["escape:p:None"]}


ORIGIN_RULES = """
[list_member.origin_only]
arg = 0
[derive.origin_only]
from = 0
"""


def test_an_origin_only_section_of_another_checker_leaves_a_call_unknown(tmp_path):
    """A section one checker declares only to describe an origin (tryget's list_member,
    ``KNOWS = False``) says nothing about what the callee does to its arguments: to
    every other checker the call stays unknown -- an escape, ``&x`` forgotten after it,
    its summary used -- exactly as without the section."""
    from analyzer.summaries.table import modeled

    path = tmp_path / "origin.toml"
    path.write_text(ORIGIN_RULES.split("[derive.")[0])
    models = load_models([path])
    assert models.get("list_member", "origin_only") is not None
    body = "mark(p);\norigin_only(p);\nmark(q);\norigin_only(&q);\ncheck(q);"
    params = "int *p, int *q, int c"
    for m in (models, load_models()):           # with the section and without it
        got, _ = run_events(m, body, params)
        assert got == {2: ["escape:p:origin_only"], 5: ["-"]}
        assert not modeled(m, "origin_only") and not m.knows("origin_only")
    # a section that does say (a derivation looks at its argument only): known, neutral
    path.write_text(ORIGIN_RULES)
    models = load_models([path])
    got, _ = run_events(models, body, params)
    assert got == {5: ["marked"]} and modeled(models, "origin_only")


def test_typed_keys_render_and_ride_on_their_paths():
    from analyzer.engine.keys import depends_on, element_owner, root_variable

    tag = engine.Tag("pmd", "unpublished", "page table")
    assert str(tag) == "pmd[<unpublished page table>]"
    assert str(engine.Ghost("lock", "spin")) == "<lock:spin>"
    assert str(engine.Alias("folio", "page")) == "folio.<alias>page"
    assert str(engine.Attached("bio", "page")) == "<io bio>page"
    assert depends_on(tag, "pmd") and not depends_on(tag, "pmdp")
    assert depends_on(engine.Alias("a->b", "c"), "a") and not depends_on(
        engine.Alias("c", "a"), "a")
    assert not depends_on(engine.Attached("bio", "page"), "bio")
    assert not depends_on(engine.Ghost("lock", "spin"), "lock")
    assert root_variable("*pages[i]->f") == "pages" and root_variable("p.x") == "p"
    assert element_owner("pages[i]") == "pages" and element_owner("&folio->page") == "folio"
    assert element_owner("folio") is None


def test_precedence_tells_only_the_first_section(event_models, tmp_path):
    class First(EventProbe):
        precedence = ("release", "acquire")

        def on_release(self, ctx, ev):
            self.told.append(f"{ev.api}:release")

    extra = tmp_path / "both.toml"
    extra.write_text("[release.both]\narg = 0\n[acquire.both]\narg = 0\nkind = 'plain'\n")
    models = load_models([extra])
    fn = parse_source("t.c", b"void f(int *p) { both(p); }", {}).functions[0]
    for checker, told in ((First(), ["both:release"]),
                          (EventProbe(), ["both:done:call"])):
        analyze_function(fn, models, [checker])
        assert set(checker.told) == set(told)      # told in the walk and the final pass


# --------------------------------------------------------------------------- value facts
class FactsProbe(Checker):
    """mark(x) tracks x; made(e) reports what e is made of, the call e holds and the
    function's locals; overwrites of tracked variables are findings."""

    rules = (RULE,)

    def on_call(self, ctx, call, result):
        if call.callee == "mark":
            ctx.set(ctx.key(ctx.arg(call, 0)), S.MARKED)
        elif call.callee == "made":
            e = call.args[0]
            held = ctx.call_of(e)
            ctx.report(RULE, call.span, f"{ctx.key(ctx.made_of(e))}|"
                       f"{held.callee if held else None}|{','.join(sorted(ctx.declared()))}")

    def on_overwrite(self, ctx, key, span):
        ctx.report(RULE, span, f"overwrite:{key}")


def test_made_of_call_of_and_declared_names():
    src = (b"void f(struct page *p)\n{\n\tint n = get(p);\n\tstruct folio *f;\n"
           b"\tmade(&page_folio(p)->lru);\n\tmade(n);\n\tmade(p->mapping);\n}\n")
    fn = parse_source("t.c", src, {}).functions[0]
    findings, _ = analyze_function(fn, MODELS, [FactsProbe()])
    got = {f.span.line: f.message for f in findings}
    assert got == {5: "p|None|f,n", 6: "n|get|f,n", 7: "p|None|f,n"}


def test_a_declaration_or_a_compound_assignment_is_no_overwrite():
    src = (b"void f(struct page *p, int c)\n{\n\tmark(p);\n\tp += 1;\n\tmark(p);\n"
           b"\tif (c) {\n\t\tstruct page *p = 0;\n\t}\n\tp = 0;\n}\n")
    fn = parse_source("t.c", src, {}).functions[0]
    findings, _ = analyze_function(fn, MODELS, [FactsProbe()])
    assert {f.span.line: f.message for f in findings} == {9: "overwrite:p"}


class EverywhereProbe(Checker):
    """mark(x) gives x the one state TOKEN; swap() replaces it everywhere; drop() forgets
    it everywhere; check() reports who holds it."""

    rules = (RULE,)

    def on_call(self, ctx, call, result):
        if call.callee == "mark":
            ctx.add(ctx.key(ctx.arg(call, 0)), S.MARKED)
        elif call.callee == "swap":
            ctx.rewrite(S, lambda _k, _s: S.GOT, Step(call.span, "swapped"))
        elif call.callee == "drop":
            ctx.rewrite(S, lambda _k, _s: None)
        elif call.callee == "check":
            ctx.report(RULE, call.span, ",".join(
                f"{k}:{s.value}" for k, s in sorted(ctx.each(S), key=lambda x: (
                    x[1].value, str(x[0])))) or "-")


def test_states_everywhere():
    src = (b"void f(struct page *p, struct page *q)\n{\n\tmark(p);\n\tmark(q);\n\tcheck();\n"
           b"\tswap();\n\tcheck();\n\tdrop();\n\tcheck();\n}\n")
    fn = parse_source("t.c", src, {}).functions[0]
    findings, _ = analyze_function(fn, MODELS, [EverywhereProbe()])
    assert {f.span.line: f.message for f in findings} == {
        5: "p:marked,q:marked", 7: "p:got,q:got", 9: "-"}


def test_an_enumeration_constant_of_known_value_is_a_constant():
    """``ret == MC_TARGET_NONE`` (an enumerator equal to 0) is a test of ``ret`` against
    0; an enumerator the frontend could not evaluate stays a name."""
    from analyzer.engine.effects import int_literal, is_zero, normalize
    from analyzer.ir import Binary, Name

    none, page, unknown = Name("NONE", value=0), Name("PAGE", value=1), Name("X")
    assert is_zero(none) and not is_zero(page) and not is_zero(unknown)
    assert (int_literal(none), int_literal(page), int_literal(unknown)) == (0, 1, None)
    assert normalize(Binary("==", Name("ret"), none), "nonzero", frozenset()) == \
        (Name("ret"), "zero")
    assert normalize(Binary("==", Name("ret"), unknown), "nonzero", frozenset())[0] == \
        Binary("==", Name("ret"), unknown)
class CountProbe(Checker):
    """check(e) reports the exact count comparisons that make e true (Context.count_tests)
    and the object of its second argument through variables (object_of(.., True))."""

    rules = (RULE,)
    holds_comparisons = True

    def on_call(self, ctx, call, result):
        if call.callee == "check":
            tests = [f"{c.callee}{op}{ctx.key(o)}" for (c, _k), op, o in
                     ctx.count_tests(call.args[0])]
            root = ctx.object_of(call.args[1], True) if len(call.args) > 1 else None
            ctx.report(RULE, call.span, f"{','.join(tests) or '-'}|{root}")


def run_counts(body: str, params: str = "struct page *page, struct folio *f, int c"):
    src = f"void f({params})\n{{\n{body}\n}}\n".encode()
    fn = parse_source("t.c", src, MODELS.iterators()).functions[0]
    findings, _ = analyze_function(fn, MODELS, [CountProbe()])
    return {f.span.line - 2: f.message for f in findings}


def test_count_tests_see_through_saved_and_accumulated_comparisons():
    got = run_counts(
        "\tint ok = folio_ref_count(f) == 1;\n"                        # 1
        "\tunsigned long n = 0;\n"                                     # 2
        "\tcheck(!ok);\n"                                              # 3
        "\twhile (c--)\n"                                              # 4
        "\t\tn += page_count(page) != 1;\n"                            # 5
        "\tcheck(n != 0);\n"                                           # 6
        "\tcheck(!n);\n"                                               # 7
        "\tok = c;\n"                                                  # 8
        "\tcheck(!ok);\n")                                             # 9
    assert got[3].startswith("folio_ref_count!=1|")
    assert got[6].startswith("page_count!=1|")        # on the loop's back edge only: a may-fact
    assert got[7].startswith("page_count==1|")
    assert got[9].startswith("-|")                    # reassigned: holds no comparison any more


def test_object_of_through_a_variable_holding_a_derivation():
    got = run_counts("\tstruct folio *folio = page_folio(page);\n\tcheck(0, folio);\n"
                     "\tcheck(0, &folio->page);\n\tstruct page *head = &folio->page;\n"
                     "\tcheck(0, head);\n")
    assert got == {2: "-|page", 3: "-|page", 5: "-|page"}


def test_object_of_through_a_self_referential_binding_terminates():
    got = run_counts("\tpage = compound_head(page);\n\tcheck(0, page);\n")
    assert got == {2: "-|page"}


# ----------------------------------------------------------- declarative moves, names, carriers
class Flow(Enum):
    START = "start"
    HELD = "held"
    TRIED = "tried"
    FAILED = "failed"
    GONE = "gone"


class MoveProbe(Checker):
    """A typestate checker written with the engine's declarative parts only: moves on the
    events of the models, linked names, a carrier, exit summaries; check(x) reports x's
    states (and the step messages of the first trail)."""

    rules = (RULE,)
    untracked = Flow.START
    params = Flow.START
    links = True
    param_summaries: ClassVar[dict] = {frozenset({Flow.HELD}): ("acquire", {"kind": "plain"})}
    return_summaries: ClassVar[dict] = {frozenset({Flow.HELD}): ("guest_source", {})}
    moves: ClassVar[dict] = {
        "acquire": (engine.Move({Flow.START: Flow.HELD}, "held by {}()"),
                    engine.Move({Flow.START: Flow.FAILED}, "{}() failed", on=engine.Effect.FAILED),
                    engine.Move({Flow.START: Flow.TRIED}, "{}() result", edge=True,
                                needs="returns_object", result=True)),
        "release": (engine.Move({Flow.HELD: Flow.GONE}, "dropped by {}()", unless="partial"),),
    }
    seen: list[str]

    def __init__(self):
        self.seen = []

    def on_io_start(self, ctx, ev):     # told at the bio's submission, for each page on it
        self.seen.append(f"{ev.key}@{ev.call.callee}:{ev.attached.message}")

    def on_call(self, ctx, call, result):
        if call.callee == "check":
            key = ctx.key(ctx.arg(call, 0))
            states = sorted(s.value for s in ctx.states(key))
            steps = [st.message for s in sorted(ctx.states(key), key=lambda s: s.value)
                     for st in ctx.trail(key, s)][:2]
            ctx.report(RULE, call.span, ",".join(states) + (" " + ";".join(steps) if steps
                                                             else ""))


MOVE_RULES = """
[acquire.hold]
arg = 0
kind = "plain"
[acquire.try_hold]
arg = 0
kind = "speculative"
when = "nonzero"
returns_object = true
[release.unhold]
arg = 0
[release.unhold_some]
arg = 0
partial = true
"""


def run_moves(body: str, params: str = "struct folio *folio, struct page *page, int c",
              tmp_path=None, probe_class: type[MoveProbe] | None = None):
    path = tmp_path / "moves.toml"
    path.write_text(MOVE_RULES)
    models = load_models([path])
    src = f"void *f({params})\n{{\n{body}\n}}\n".encode()
    fn = parse_source("t.c", src, models.iterators()).functions[0]
    probe = (probe_class or MoveProbe)()
    result = engine.analyze_function_full(fn, models, [probe])
    got = {f.span.line - 2: f.message for f in result.findings}
    return got, probe.seen, {(m.section, m.values) for m in result.summaries}


def test_moves_apply_transition_tables_with_steps(tmp_path):
    got, _, _ = run_moves("hold(folio);\ncheck(folio);\nunhold_some(folio);\ncheck(folio);\n"
                          "unhold(folio);\ncheck(folio);", tmp_path=tmp_path)
    assert got == {2: "held held by hold()", 4: "held held by hold()",
                   6: "gone held by hold();dropped by unhold()"}


def test_moves_on_failed_edges_and_on_the_result_variable(tmp_path):
    body = ("struct folio *f2 = try_hold(folio);\nif (!f2) {\n\tcheck(folio);\n\treturn 0;\n}\n"
            "check(folio);\ncheck(f2);")
    class Unlinked(MoveProbe):
        links = False

    got, _, _ = run_moves(body, tmp_path=tmp_path, probe_class=Unlinked)
    assert got == {3: "failed try_hold() failed", 6: "held held by try_hold()",
                   7: "tried try_hold() result"}
    got, _, _ = run_moves(body, tmp_path=tmp_path)      # linked: f2 is folio, moved with it
    assert got[7] == "held held by try_hold()"


def test_moves_reach_every_linked_name(tmp_path):
    # folio = page_folio(page) links the two paths: a move on either applies to both;
    # a move on page_folio(page) applies to what it is derived from.
    body = ("struct folio *f2 = page_folio(page);\nhold(f2);\ncheck(page);\n"
            "unhold(page_folio(page));\ncheck(f2);")
    got, _, _ = run_moves(body, tmp_path=tmp_path)
    assert got[3].startswith("held") and got[5].startswith("gone")
    got, _, _ = run_moves("hold(page);\ncheck(folio);", tmp_path=tmp_path)
    assert got == {2: "start"}                      # no link, no move


def test_carrier_defers_the_event_to_the_submission(tmp_path):
    body = ("bio_add_page(bio, page, 4096, 0);\nbio_add_page(bio, page_folio(page), 1, 0);\n"
            "submit_bio(bio);\nbio_add_page(other, page, 1, 0);\nother = bio_alloc();\n"
            "submit_bio(other);")
    _, seen, _ = run_moves(body, "struct bio *bio, struct bio *other, struct page *page",
                           tmp_path=tmp_path)
    # a computed path names no place: the page it designates rides (its latest adding);
    # the new bio carries nothing
    assert set(seen) == {"page@submit_bio:'page_folio(page)' handed to bio_add_page()"}


def test_parameters_start_in_a_state_and_exit_states_become_summaries(tmp_path):
    _, _, sums = run_moves("hold(folio);\nreturn folio;", tmp_path=tmp_path)
    assert ("acquire", (("arg", 0), ("kind", "plain"), ("when", "always"))) in sums
    assert ("guest_source", (("when", "always"),)) in sums
    _, _, sums = run_moves("if (c)\n\thold(folio);\nreturn folio;", tmp_path=tmp_path)
    assert not sums                                # START on one path: no summary


def test_context_names_of_one_object():
    src = b"void f(struct folio *folio, struct page **pages) { }"
    fn = parse_source("t.c", src, MODELS.iterators()).functions[0]
    ctx = engine.Context(fn, MODELS, Checker())
    ctx.set("pages", Flow.HELD)
    ctx.set("folio", Flow.HELD)
    assert ctx.holder("pages[i]") == "pages" and ctx.holder("&folio->page") == "folio"
    assert ctx.holder("other") is None
    ctx.link("a", "b")
    assert ctx.linked("a") == ["b"] and ctx.linked("b") == ["a"]
    ctx.attach("bio", "page", ())
    assert ctx.detach("bio") == [("page", ())] and ctx.detach("bio") == []
    ctx.transition("folio", {Flow.HELD: Flow.GONE}, Step(fn.span, "x"))
    assert ctx.states("folio") == {Flow.GONE} and ctx.trail("folio", Flow.GONE)[-1].message == "x"
    ctx.transition("fresh", {Flow.START: Flow.HELD}, Step(fn.span, "y"), default=Flow.START)
    assert ctx.states("fresh") == {Flow.HELD}
    ctx.transition("fresh2", {}, Step(fn.span, "y"), default=Flow.START)
    assert ctx.states("fresh2") == frozenset()      # unchanged default: stays untracked
class RecheckProbe(Checker):
    """Records every Recheck and equality the engine decides (check(x) makes x tracked)
    and every state lost (mark(x) makes one)."""

    rules = (RULE,)

    def __init__(self):
        self.told = set()

    def on_call(self, ctx, call, result):
        if call.callee in ("check", "mark"):
            ctx.set(ctx.key(ctx.arg(call, 0)), S.MARKED if call.callee == "mark" else S.GOT)

    def on_recheck(self, ctx, ev):
        who = ev.first if ev.first is not None else "helper:" + ",".join(sorted(ev.handed))
        self.told.add((ev.span.line - 2, f"recheck:{ev.source.key}:{ev.equal}:{who}"))

    def on_compare(self, ctx, test, equal):
        self.told.add((test.span.line - 2, f"compare:{equal}"))

    def on_lost(self, ctx, key, state, span):
        if state is S.MARKED:
            self.told.add((span.line - 2 if span else None, f"lost:{key}"))


def run_probe(body: str, params: str) -> list:
    src = f"void f({params})\n{{\n{body}\n}}\n".encode()
    fn = parse_source("t.c", src, MODELS.iterators()).functions[0]
    probe = RecheckProbe()
    _, notes = analyze_function(fn, MODELS, [probe])
    assert not notes
    return sorted(probe.told, key=lambda t: (t[0] is None, t[0] or 0, t[1]))


def test_recheck_events_for_equalities_saved_comparisons_and_helpers():
    """One Recheck event for both shapes of a re-check: an equality between a tracked
    value and a re-read (also through a variable holding the comparison) and a
    revalidate call, decided on each edge; on_compare sees every equality."""
    body = ("check(folio);\n"
            "if (folio != xas_reload(&xas))\n\treturn;\n"
            "changed = pte_val(pte) != pte_val(ptep_get(ptep));\ncheck(pte);\n"
            "if (changed)\n\treturn;\n"
            "if (!pte_same(ptep_get(ptep), pte))\n\treturn;\n"
            "if (a == b)\n\treturn;")
    got = run_probe(body, "void *folio, pte_t pte, pte_t *ptep, struct xa_state xas")
    assert got == [(2, "compare:False"), (2, "compare:True"),
                   (2, "recheck:xas:False:folio"), (2, "recheck:xas:True:folio"),
                   (4, "compare:False"), (4, "compare:True"),
                   (4, "recheck:ptep:False:pte"), (4, "recheck:ptep:True:pte"),
                   (8, "recheck:ptep:False:helper:pte"), (8, "recheck:ptep:True:helper:pte"),
                   (10, "compare:False"), (10, "compare:True")]


def test_lost_hook_sees_the_last_copy_go():
    got = run_probe("mark(p);\nq = p;\np = 0;\nq = 0;\nmark(p);", "int *p, int *q")
    # p = 0 loses nothing (q still has it), q = 0 loses the last copy; the second mark
    # reaches the exit
    assert got == [(4, "lost:q"), (None, "lost:p")]


def test_state_iteration_and_rewrite():
    from analyzer.engine.api import Context

    fn = parse_source("t.c", b"void f(int *p) { }", {}).functions[0]
    ctx = Context(fn, MODELS, Checker())
    ctx.set("a", S.MARKED)
    ctx.add("a", 1)
    ctx.set("b", S.GOT)
    assert sorted(ctx.each(S), key=str) == [("a", S.MARKED), ("b", S.GOT)]
    assert ctx.states_of("a", int) == [1]
    ctx.rewrite(S, lambda k, s: None if k == "b" else S.MISSED, Step(fn.span, "x"))
    assert ctx.states("a") == {S.MISSED, 1} and ctx.states("b") == frozenset()
    assert ctx.trail("a", S.MISSED)[-1].message == "x"


def test_model_names_by_value_and_summary_sections():
    spec = MODELS.names("acquire", kind="speculative")
    assert "folio_try_get" in spec and "get_page" not in spec
    assert MODELS.names("acquire", kind="speculative") is spec          # cached

    class Helper(Checker):
        starter_sections = ("lockless_read",)
        summary_sections = (("acquire", {"kind": "speculative"}), "release")

    h = Helper()
    assert h.wants(frozenset({"folio_try_get"}), MODELS)
    assert h.wants(frozenset({"folio_put"}), MODELS)
    assert not h.wants(frozenset({"get_page"}), MODELS)


def test_summaries_of_returned_effects():
    """A function returning a modeled call's result (or its negation) has its effect on
    the same return values; ``returned_recheck`` finds a re-check of a parameter's
    source in a returned value."""
    from analyzer.engine.api import Context
    from analyzer.ir import Binary

    src = b"int f(pte_t *ptep, pte_t pte)\n{\nreturn pte_val(pte) != pte_val(ptep_get(ptep));\n}\n"
    fn = parse_source("t.c", src, {}).functions[0]
    ctx = Context(fn, MODELS, Checker())
    ctx.reporting = True
    value = next(e for b in build_cfg(fn).blocks for ev in b.events
                 for e in engine.walk_exprs(ev) if isinstance(e, Binary) and e.op == "!=")
    assert ctx.returned_recheck(value) == (0, False, None)
    ctx.summarize_returned("revalidate", False, arg=0)
    acq = MODELS.get("acquire", "folio_try_get").spec
    ctx.summarize_returned("acquire", True, acq, arg=1, kind="speculative")
    got = {m.section: dict(m.values) for m in ctx.summaries.values()}
    assert got == {"revalidate": {"arg": 0, "when": "zero"},
                   "acquire": {"arg": 1, "kind": "speculative", "when": "nonzero"}}


# --------------------------------------------------------------------------- deferral
WIDE = Rule("wide", "Wide", "wide", "", "", "", "", "", defers_to=("narrow",))
NARROW = Rule("narrow", "Narrow", "narrow", "", "", "", "", "")


class StartProbe(Checker):
    """take(x) starts a story at its line; ``rule`` reports it at every end(x)."""

    def __init__(self, rule: Rule, only: str | None = None):
        self.rule, self.only = rule, only
        self.rules = (rule,)

    def on_call(self, ctx, call, result):
        if call.callee == "take":
            ctx.set(ctx.key(ctx.arg(call, 0)), Step(call.span, "taken"))
        elif call.callee == "end" and (self.only is None or call.args[0].id == self.only):
            key = ctx.key(ctx.arg(call, 0))
            for s in ctx.states(key):
                ctx.report(self.rule, call.span, f"{self.rule.id}:{key}", related=(s,))


def test_a_rule_defers_to_the_rule_that_tells_the_same_story():
    """One reference, one finding: a finding of a rule is left out when a rule it defers to
    reports a story starting at the same place in the function; other stories stay."""
    src = b"void f(void *p, void *q)\n{\n\ttake(p);\n\ttake(q);\n\tend(p);\n\tend(q);\n}\n"
    fn = parse_source("t.c", src, {}).functions[0]
    findings, _ = analyze_function(fn, MODELS, [StartProbe(WIDE), StartProbe(NARROW, "p")])
    assert sorted(f.message for f in findings) == ["narrow:p", "wide:q"]
    alone, _ = analyze_function(fn, MODELS, [StartProbe(WIDE)])
    assert sorted(f.message for f in alone) == ["wide:p", "wide:q"]




FLAG_RULES = MOVE_RULES + """
[flag.FOLL_PIN]
[pte_mapped.mapped_page]
"""


class FlagProbe(MoveProbe):
    """Moves guarded by a flag, moves on the edges where a flag becomes known, a move on a
    call's result at the call."""

    moves: ClassVar[dict] = {
        "acquire": (engine.Move({Flow.START: Flow.HELD}, "held by {}()", flag=("FOLL_PIN", True)),),
        "pte_mapped": (engine.Move({Flow.START: Flow.TRIED}, "mapped per {}()", result=True),),
    }
    flag_moves: ClassVar[dict] = {("FOLL_PIN", False): engine.Move({Flow.HELD: Flow.GONE},
                                                                   "{} clear")}
    flags_seen: list[str]

    def __init__(self):
        super().__init__()
        self.flags_seen = []

    def on_flag(self, ctx, ev):
        self.flags_seen.append(f"{ev.flag}:{ev.key}:{ev.set}:{ctx.flag(ev.flag)}")


def test_flag_tests_are_events_and_guard_moves(tmp_path):
    path = tmp_path / "flags.toml"
    path.write_text(FLAG_RULES)
    models = load_models([path])
    body = ("struct page *p2 = mapped_page(c);\ncheck(p2);\nhold(folio);\n"
            "if (flags & FOLL_PIN) {\n\tcheck(folio);\n\treturn 0;\n}\ncheck(folio);\n"
            "hold(page);\ncheck(page);")
    src = f"void *f(struct folio *folio, struct page *page, unsigned int flags, int c)\n{{\n{body}\n}}\n"
    fn = parse_source("t.c", src.encode(), models.iterators()).functions[0]
    probe = FlagProbe()
    got = {f.span.line - 2: f.message for f in analyze_function(fn, models, [probe])[0]}
    assert got[2].startswith("tried mapped per mapped_page()")      # the result, at the call
    assert got[5].startswith("held") and got[8].startswith("gone")  # moved where it turned clear
    assert got[10] == "start"                   # FOLL_PIN known clear: the guarded move is not made
    assert set(probe.flags_seen) == {"FOLL_PIN:flags:True:True", "FOLL_PIN:flags:False:False"}


# ------------------------------------------------------------------ ownership (hand-over)
HANDOVER_RULES = """
[acquire.take]
arg = 0
kind = "plain"
[lock.lock_obj]
kind = "spin"
arg = 0
[io_start.start_io]
arg = 0
[release.drop]
arg = 0
[ref_borrow.look]
[ref_borrow.look_first]
args = [0]
[ref_error_test.IS_ERR]
arg = 0
"""


class HandoverProbe(Checker):
    """Reports what each call takes the references of (``on_handover``) and, at the exit,
    the parameters the function borrows (``Owners.borrowed``: never let go, or got a
    reference of its own on)."""

    rules = (RULE,)

    def on_entry(self, ctx):
        engine.ownership.start(ctx)

    def on_acquire(self, ctx, ev):
        engine.ownership.of(ctx).got(engine.ownership.receiver(ctx, ev.obj))

    def on_handover(self, ctx, ev):
        engine.ownership.of(ctx).leave(ctx, ev.args)
        ctx.report(RULE, ev.call.span, "took:" + ",".join(ctx.key(a) or "?" for a in ev.args))

    def on_store(self, ctx, target, value, span):
        engine.ownership.of(ctx).store(ctx, S, target, value)

    def on_exit(self, ctx):
        fn = ctx.function
        kept = [fn.params[i] for i in engine.ownership.of(ctx).borrowed()]
        ctx.report(RULE, fn.span, "borrowed:" + ",".join(kept))


@pytest.fixture(scope="module")
def handover_models(tmp_path_factory):
    import checkers  # noqa: F401  (the sections ref_borrow, ref_error_test are leak's)
    path = tmp_path_factory.mktemp("rules") / "handover.toml"
    path.write_text(HANDOVER_RULES)
    return load_models([path])


def handover(models, body: str, params: str = "struct page *p, struct page *q, struct s *o"):
    src = f"void f({params})\n{{\n{body}\n}}\n".encode()
    fn = parse_source("t.c", src, models.iterators()).functions[0]
    findings, notes = analyze_function(fn, models, [HandoverProbe()])
    assert not notes
    return sorted((f.span.line - 2, f.message) for f in findings)


@pytest.mark.parametrize("call, took", [
    ("give(p, q);", "took:p,q"),                # an unknown callee takes everything
    ("o->ops->put(p);", "took:p"),              # so does a function pointer
    ("look(p, q);", None),                      # a borrower keeps all it names
    ("look_first(p, q);", "took:q"),            # ... or the arguments it names
    ("take(p);", None), ("drop(p);", None),     # a get, a put: their own events
    ("if (IS_ERR(p)) return;", None),           # a test uses, never keeps
    ("lock_obj(p);", None),                     # a HANDS_OVER = False section: uses it
    ("start_io(p);", "took:p"),                 # any other section: may keep it
])
def test_handover_policy(handover_models, call, took):
    got = [m for line, m in handover(handover_models, call) if m.startswith("took")]
    assert got == ([took] if took else [])


@pytest.mark.parametrize("body, borrowed", [
    ("look(p, q);", "p,q,o"),
    ("give(p);", "q,o"),                        # p leaves through the callee
    ("o->page = q;", "p,o"),                    # stored through a pointer: q leaves
    ("struct page *a[2];\na[0] = q;", "p,q,o"), # a local array keeps it the function's
    ("take(p);\ngive(p);", "p,q,o"),            # its own reference goes, not the caller's
])
def test_borrowed_parameters(handover_models, body, borrowed):
    got = [m for line, m in handover(handover_models, body) if m.startswith("borrowed")]
    assert got == ["borrowed:" + borrowed]
