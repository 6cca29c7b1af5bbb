"""The patch-review reply: what a bot sends to the list, or a maintainer pastes.

One reply per patch that adds findings, each an RFC 822 message (``Subject: Re: ...``,
``In-Reply-To`` the patch's Message-ID when known) in an mbox stream, as ``git
format-patch --stdout`` writes patches, so that a bot can split and send them::

    From kref-lint Mon Sep 17 00:00:00 2001
    Subject: Re: [PATCH 2/3] mm/gup: take a reference in the fast path
    In-Reply-To: <20240102.2@example.org>

    kref-lint found 1 new issue in this patch.

    mm/gup.c:24:2: warning: get_page() on 'page' ... [try-get-without-ref]
    in gup_fast_pte():

    > @@ -18,6 +18,9 @@ static int gup_fast_pte_range(...)
    >  	pte_t pte = ptep_get_lockless(ptep);
    > +	get_page(page);
       	^ try-get-without-ref
    ...

The body is plain text, 72 columns for prose; quoted patch lines are kept verbatim (tabs
included) and the offending one is marked by a caret line under it, the way reviewers
answer inline.  Each finding ends with the rule's one-line summary, its first sentence of
reasoning and the ``kref-lint explain`` hint; each reply ends with how to reproduce.
"""
from __future__ import annotations

import re
import textwrap
from typing import Optional, Sequence

from analyzer.modes.patch import PatchFinding, SeriesResult
from analyzer.report.text import display_path
from analyzer.rule import Rule

WIDTH = 72
CONTEXT_BEFORE = 6           # quoted hunk lines kept above the marked one
CONTEXT_AFTER = 2


def no_findings_line(result: SeriesResult) -> str:
    n = len(result.series.patches)
    return f"kref-lint: no new findings in {n} patch{'es' if n != 1 else ''}\n"


def format_mail(result: SeriesResult, rules: Sequence[Rule], reproduce: str,
                tool_version: str) -> str:
    """The replies, or ``""`` when no patch adds a finding."""
    by_rule = {r.id: r for r in rules}
    replies = []
    for patch in result.series.patches:
        mine = [pf for pf in result.findings if pf.patch is patch]
        if mine:
            replies.append(_reply(result, patch, mine, by_rule, reproduce, tool_version))
    return "\n".join(replies)


def _reply(result: SeriesResult, patch, mine: list[PatchFinding], rules: dict[str, Rule],
           reproduce: str, tool_version: str) -> str:
    subject = patch.subject if patch.subject.lower().startswith("re:") else f"Re: {patch.subject}"
    head = ["From kref-lint Mon Sep 17 00:00:00 2001", f"Subject: {subject}"]
    if patch.message_id:
        head += [f"In-Reply-To: {patch.message_id}", f"References: {patch.message_id}"]
    head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit", ""]
    n = len(mine)
    body = [_wrap(f"kref-lint found {n} new issue{'s' if n != 1 else ''} in {patch.short} "
                  f"\"{_bare_subject(patch.subject)}\": "
                  f"{'it is' if n == 1 else 'they are'} not in the tree before this patch."),
            ""]
    for pf in mine:
        body += _finding(result, pf, rules)
    body += _footer(result, reproduce, tool_version)
    return "\n".join(head + body) + "\n"


def _finding(result: SeriesResult, pf: PatchFinding, rules: dict[str, Rule]) -> list[str]:
    f = pf.finding
    where = display_path(f.span.file, result.tree)
    pos = f"{where}:{f.span.line}" + (f":{f.span.col}" if f.span.col > 0 else "")
    out = [f"{pos}: warning: {f.message} [{f.rule_id}]"]
    if f.function:
        out.append(f"in {f.function}():")
    out.append("")
    if pf.hunk is not None:
        out += _quoted_hunk(pf, where)
    else:
        out.append(_wrap("This line is not part of the diff; the patch makes the finding "
                         f"appear. {where} after the patch:"))
        out.append("")
        for n, text in pf.context:
            mark = ">>" if n == f.span.line else "  "
            out.append(f"  {mark} {n:5d} | {text}")
            if n == f.span.line:
                out.append(_caret(" " * 3 + " " * 5 + " | ", text, f.span.col, f.rule_id))
    out.append("")
    steps = [s for s in f.trail if s.span.line > 0]
    if steps and steps[-1].span.line == f.span.line:
        steps.pop()                         # the finding itself, already shown
    if steps:
        out.append("How it gets there:")
        for s in steps:
            spos = f"{display_path(s.span.file, result.tree)}:{s.span.line}"
            out.append(f"  {spos}: {s.message}")
        out.append("")
    rule = rules.get(f.rule_id)
    if rule is not None:
        out.append(_wrap(f"{rule.id}: {_sentence(rule.summary)} {_first_sentence(rule.why)}"))
    out.append(_wrap(f"Run `kref-lint explain {f.rule_id}` for the reasoning, a corrected "
                     "example and how to mark a false positive."))
    if pf.fixed_by is not None:
        out.append(_wrap(f"(A later patch, {pf.fixed_by.short}, removes this again; the "
                         "intermediate state still matters for bisection.)"))
    out.append("")
    return out


def _quoted_hunk(pf: PatchFinding, where: str) -> list[str]:
    hunk, f = pf.hunk, pf.finding
    idx = hunk.new_line_index(f.span.line)
    lo = max(0, idx - CONTEXT_BEFORE)
    hi = min(len(hunk.lines), idx + CONTEXT_AFTER + 1)
    out = [f"> diff a/{where} b/{where}", f"> {hunk.header}"]
    if lo > 0:
        out.append("> [...]")
    for i in range(lo, hi):
        line = hunk.lines[i]
        out.append(f"> {line}")
        if i == idx:
            out.append(_caret("  " + " ", line[1:], f.span.col, f.rule_id))
    if hi < len(hunk.lines):
        out.append("> [...]")
    return out


def _caret(prefix: str, text: str, col: int, rule_id: str) -> str:
    """A line whose ``^`` sits under column ``col`` of ``text`` when printed after
    ``prefix``; tabs are kept so that it lines up whatever the tab width."""
    col = max(col, 1)
    lead = "".join(c if c == "\t" else " " for c in text[:col - 1])
    return f"{prefix}{lead}^ {rule_id}"


def _footer(result: SeriesResult, reproduce: str, tool_version: str) -> list[str]:
    out = ["-- ", f"kref-lint {tool_version}. To reproduce:", f"  {reproduce}"]
    if result.tree_commit:
        out.append(f"with the tree at {result.tree_commit[:12]}")
    if result.series.base_commit and result.tree_commit and \
            not result.tree_commit.startswith(result.series.base_commit):
        out.append(f"(the series names base-commit {result.series.base_commit[:12]})")
    return out


def _bare_subject(subject: str) -> str:
    return re.sub(r"^\s*\[[^\]]*\]\s*", "", subject) or subject


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s+(?=[A-Z`(])", flat)
    first = flat[:m.start()] if m else flat
    first = re.sub(r"\s*\([^()]*commit [0-9a-f]{7,}[^()]*\)", "", first)
    return first if len(first) <= 400 else first[:397].rstrip() + "..."


def _wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def format_text(result: SeriesResult, root: Optional[str] = None) -> str:
    """gcc-style lines, each finding preceded by the patch that adds it as a note."""
    from analyzer.report.text import format_text as gcc

    out = []
    for patch in result.series.patches:
        mine = [pf.finding for pf in result.findings if pf.patch is patch]
        if mine:
            out.append(f"kref-lint: {patch.label}:\n")
            out.append(gcc(mine, [], root or result.tree))
    return "".join(out)
