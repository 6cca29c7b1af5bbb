"""The patch-review reply, the way the kernel test robot writes it.

One reply per patch that adds findings, built with the standard ``email`` package
(headers RFC 2047-encoded when not ASCII, folded; a UTF-8 ``8bit`` body) and written as
an mbox (``From`` lines quoted), as ``git format-patch --stdout`` writes patches, so that
a bot can split and send them:

* ``From:`` the bot (``--from`` / ``[mail] from``), ``To:`` the patch's author, ``Cc:``
  the patch's recipients (and ``[mail] cc``); ``Subject: Re: <the patch's subject>``;
  ``Date:`` now (``SOURCE_DATE_EPOCH`` when set); a ``Message-ID:`` derived from the patch
  and its findings (a re-run sends the same id); ``In-Reply-To:`` the patch and
  ``References:`` its thread, the cover letter first.
* The body: a greeting, what was found; the ``base:``, ``patch link:``, ``patch
  subject:`` and ``reproduce:`` block (apply the series up to this patch on its base
  commit, then the ``kref-lint`` command -- no local path); the ``Reported-by:`` /
  ``Closes:`` tags to add to a fix; "All warnings (new ones prefixed by >>)", every
  finding in the files the patch touches after it; then, for each new one, the quoted
  hunk with a caret under the offending column, how the value got there, the rule's
  reasoning and the ``kref-lint explain`` hint.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

from analyzer.report.text import finding_lines, format_findings
from analyzer.results.identity import display_path
from analyzer.results.patches import Patch, PatchFinding, SeriesResult
from analyzer.rule import Rule

WIDTH = 72
CONTEXT_BEFORE = 6           # quoted hunk lines kept above the marked one
CONTEXT_AFTER = 2
MBOX_FROM = "From kref-lint Mon Sep 17 00:00:00 2001"     # git format-patch's magic date
DEFAULT_FROM = "kref-lint <kref-lint@localhost.invalid>"
DEFAULT_ARCHIVE = "https://lore.kernel.org/r"
_POLICY = policy.default.clone(linesep="\n", max_line_length=78)


@dataclass(frozen=True)
class ReplyInfo:
    """Who sends the replies and how a recipient reproduces them."""

    tool_version: str
    sender: str = DEFAULT_FROM           # "Name <address>"
    archive: str = DEFAULT_ARCHIVE       # where replies and patches are archived
    cc: tuple[str, ...] = ()             # always copied
    options: tuple[str, ...] = ()        # kref-lint options of the run (--select ...)
    now: float | None = None          # the Date:, seconds since the epoch

    def date(self) -> datetime:
        if self.now is not None:
            stamp = self.now
        elif os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
            stamp = float(os.environ["SOURCE_DATE_EPOCH"])
        else:
            stamp = time.time()
        return datetime.fromtimestamp(stamp, timezone.utc)


def no_findings_line(result: SeriesResult) -> str:
    n = len(result.series.patches)
    return f"kref-lint: no new findings in {n} patch{'es' if n != 1 else ''}\n"


def format_mail(result: SeriesResult, rules: Sequence[Rule], info: ReplyInfo) -> str:
    """The replies as an mbox, or ``""`` when no patch adds a finding."""
    by_rule = {r.id: r for r in rules}
    out = []
    for patch in result.series.patches:
        mine = result.of(patch)
        if mine:
            out.append(_mbox(reply(result, patch, mine, by_rule, info)))
    return "\n".join(out)


def _mbox(msg: EmailMessage) -> str:
    buf = io.BytesIO()
    BytesGenerator(buf, mangle_from_=True, policy=_POLICY).flatten(msg)
    return f"{MBOX_FROM}\n" + buf.getvalue().decode("utf-8", "surrogateescape")


def reply(result: SeriesResult, patch: Patch, mine: list[PatchFinding],
          rules: dict[str, Rule], info: ReplyInfo) -> EmailMessage:
    """The reply to ``patch`` for its new findings ``mine``."""
    date = info.date()
    msgid = _message_id(patch, mine, info, date)
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = info.sender
    author = patch.author
    if author:
        msg["To"] = author
    cc = _cc(patch, info, author)
    if cc:
        msg["Cc"] = ", ".join(cc)
    subject = patch.subject
    msg["Subject"] = subject if re.match(r"(?i)\s*re:", subject) else f"Re: {subject}"
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msgid
    if patch.message_id:
        msg["In-Reply-To"] = patch.message_id
    thread = result.series.thread(patch)
    if thread:
        msg["References"] = " ".join(thread)
    msg.set_content(_body(result, patch, mine, rules, info, msgid), charset="utf-8",
                    cte="8bit")
    return msg


def _message_id(patch: Patch, mine: list[PatchFinding], info: ReplyInfo,
                date: datetime) -> str:
    domain = parseaddr(info.sender)[1].rpartition("@")[2] or "localhost.invalid"
    h = hashlib.sha256("\0".join([patch.message_id or patch.subject, info.sender,
                                  *sorted(pf.fingerprint for pf in mine)]).encode())
    return f"<{date:%Y%m%d%H%M}.{h.hexdigest()[:12]}-kref-lint@{domain}>"


def _cc(patch: Patch, info: ReplyInfo, author: str) -> list[str]:
    skip = {parseaddr(a)[1].lower() for a in (author, info.sender) if a}
    out, seen = [], set()
    for entry in (*patch.recipients, *info.cc):
        for name, addr in getaddresses([entry]):
            key = addr.lower()
            if addr and key not in skip and key not in seen:
                seen.add(key)
                out.append(f"{name} <{addr}>" if name else addr)
    return out


# --------------------------------------------------------------------------- the body
def _body(result: SeriesResult, patch: Patch, mine: list[PatchFinding],
          rules: dict[str, Rule], info: ReplyInfo, msgid: str) -> str:
    name = parseaddr(patch.author)[0] if patch.author else ""
    n = len(mine)
    out = [f"Hi {name.split()[0] if name else 'there'},", ""]
    out.append(_wrap(f"kref-lint found {n} new issue{'s' if n != 1 else ''} in "
                     f"{patch.short}: {'it is' if n == 1 else 'they are'} not in the tree "
                     "before this patch."))
    out.append("")
    out += _facts(result, patch, info)
    out.append("")
    out += _wrap("If you fix the issue in a separate patch/commit (i.e. not just a new "
                 "version of the same patch/commit), kindly add following tags").split("\n")
    out.append(f"| Reported-by: {info.sender}")
    out.append(f"| Closes: {info.archive}/{msgid.strip('<>')}/")
    out.append("")
    out.append("All warnings (new ones prefixed by >>):")
    out.append("")
    def key(f):
        return (f.rule_id, f.span, f.message)

    new_keys = {key(pf.finding) for pf in mine}
    listed = {key(f): f for f in result.after.get(patch.index, [])}
    for pf in mine:
        listed.setdefault(key(pf.finding), pf.finding)
    lines = {k: v for pf in mine for k, v in pf.lines.items()}
    lines.update(result.after_lines.get(patch.index, {}))
    for f in sorted(listed.values(), key=lambda f: f.sort_key()):
        new = key(f) in new_keys
        text = finding_lines(f, result.tree, lines)[0]
        out.append((">> " if new else "   ") + text)
    out.append("")
    for pf in mine:
        out += _finding(result, pf, rules)
    out += ["-- ", f"kref-lint {info.tool_version}"]
    return "\n".join(out) + "\n"


def _facts(result: SeriesResult, patch: Patch, info: ReplyInfo) -> list[str]:
    base = result.base
    out = []
    if base:
        origin = ("the series' base-commit" if result.series.base_commit
                  else "HEAD of the tree checked")
        out.append(f"base:           {base[:12]} ({origin})")
    if patch.message_id:
        out.append(f"patch link:     {info.archive}/{patch.message_id.strip('<>')}/")
    out.append(f"patch subject:  {patch.subject}")
    out.append("reproduce:")
    out += [f"        {step}" for step in reproduce_steps(result, patch, info)]
    return out


def reproduce_steps(result: SeriesResult, patch: Patch, info: ReplyInfo) -> list[str]:
    """What a recipient runs in their own clone: the base commit, the series applied up
    to this patch (one commit per patch), then kref-lint on what this patch changed."""
    steps = []
    base = result.base
    if base:
        steps.append(f"git checkout {base[:12]}")
    total = len(result.series.patches)
    msgid = patch.message_id
    files = sorted({f.new_path for f in patch.files
                    if f.new_path and f.new_path.endswith((".c", ".h"))})
    if msgid:
        pick = "" if total == 1 else (f" -P 1-{patch.index}" if patch.index > 1 else " -P 1")
        steps.append(f"b4 shazam{pick} {msgid.strip('<>')}")
        since = "HEAD~1"
    elif patch.number is not None or total > 1:
        steps.append(f"git am <patches 1-{patch.index} of the series>")
        since = "HEAD~1"
    else:
        steps.append(f"git apply {os.path.basename(result.series.name) or 'the.patch'}")
        since = "HEAD"
    steps.append(" ".join(["kref-lint", *info.options, "--diff", since, *files]))
    return steps


def _finding(result: SeriesResult, pf: PatchFinding, rules: dict[str, Rule]) -> list[str]:
    f = pf.finding
    where = display_path(f.span.file, result.tree)
    out = [format_findings([f], result.tree, pf.lines).rstrip("\n")]
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
    assert hunk is not None
    idx = hunk.new_line_index(f.span.line)
    assert idx is not None
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


def format_text(result: SeriesResult) -> str:
    """gcc-style lines, each patch's findings after a ``kref-lint: <patch>:`` line;
    paths relative to the working directory."""
    out = []
    cwd = os.getcwd()
    for patch in result.series.patches:
        mine = result.of(patch)
        if mine:
            out.append(f"kref-lint: {patch.label}:\n")
            lines = {k: v for pf in mine for k, v in pf.lines.items()}
            out.append(format_findings([pf.finding for pf in mine], cwd, lines))
    return "".join(out)
