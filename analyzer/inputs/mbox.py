"""Patch mail as it reaches a bot: one patch mail, a ``git format-patch`` series (an
mbox), a mailing-list archive (an mbox with ``>From`` quoting, replies and the cover
letter mixed in), or a bare ``git diff``.

At most :data:`MAX_PATCH_BYTES` bytes; a bigger input is refused before it is read.
Bodies are decoded with their declared charset (re-encoded to UTF-8, as ``git am``
does) or, for an unknown charset, as Latin-1; undeclared 8-bit bodies are kept byte for
byte.  Patches are put back in ``[PATCH n/m]`` order; a series with a gap, a duplicate or
a numbered patch without a diff is refused (:class:`analyzer.inputs.PatchError`).  What
each message says about the thread (Message-ID, References, author, recipients, the
cover letter's Message-ID) is kept for the replies.
"""
from __future__ import annotations

import codecs
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import BinaryIO

from analyzer.inputs import PatchError
from analyzer.inputs.diff import FilePatch, parse_diff

MAX_PATCH_BYTES = 10 * 1024 * 1024          # 10 MiB: far above any reviewable series


@dataclass
class Patch:
    index: int                          # 1-based position in the checked series
    subject: str                        # as in the mail, or the input's name for a diff
    diff: bytes                         # what git apply gets
    files: list[FilePatch] = field(default_factory=list)
    number: int | None = None        # n of [PATCH n/m]
    total: int | None = None         # m of [PATCH n/m]
    message_id: str = ""               # <...>, "" for a bare diff
    author: str = ""                   # the From: header, unfolded
    references: tuple[str, ...] = ()   # the References: chain above this mail
    recipients: tuple[str, ...] = ()   # To: and Cc: addresses, for a reply to all

    @property
    def label(self) -> str:
        """How a maintainer names it: the subject with its [PATCH n/m] tag."""
        return self.subject

    @property
    def short(self) -> str:
        """``[PATCH 2/3]``, ``[PATCH v2]``, or ``the patch`` for a bare diff."""
        if self.number is not None and self.total is not None:
            return f"[PATCH {self.number}/{self.total}]"
        m = _SERIES_TAG.match(self.subject)
        return f"[{m.group(1)}]" if m else "the patch"

    def paths(self) -> list[str]:
        out = []
        for f in self.files:
            for p in (f.old_path, f.new_path):
                if p and p not in out:
                    out.append(p)
        return out


@dataclass
class Series:
    name: str
    patches: list[Patch]
    skipped: list[str] = field(default_factory=list)      # messages without a patch
    base_commit: str = ""                                 # "base-commit:" trailer
    cover_message_id: str = ""                            # the [PATCH 0/m] mail's

    def thread(self, patch: Patch) -> tuple[str, ...]:
        """The References: chain of a reply to ``patch``: the chain it carries (the cover
        letter added when it is missing), then the patch itself."""
        chain = list(patch.references)
        if self.cover_message_id and self.cover_message_id not in chain:
            chain.insert(0, self.cover_message_id)
        if patch.message_id and patch.message_id not in chain:
            chain.append(patch.message_id)
        return tuple(chain)


# --------------------------------------------------------------------------- reading
def read_input(source: str, stdin: BinaryIO | None = None,
               limit: int = MAX_PATCH_BYTES) -> bytes:
    """The bytes of ``source`` (a file, or ``-`` for ``stdin``), refusing more than
    ``limit`` bytes without reading them."""
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise PatchError(f"input is larger than the {_mib(limit)} limit, not checked")
        return data
    try:
        size = os.path.getsize(source)
        if size > limit:
            raise PatchError(f"{source} is {_mib(size)}, larger than the {_mib(limit)} "
                             "limit, not checked")
        with open(source, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise PatchError(f"cannot read {source}: {exc.strerror or exc}") from None


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MiB"


# --------------------------------------------------------------------------- series
_FROM_LINE = re.compile(rb"^From \S+ +\w{3} \w{3} +\d+ \d+:\d+:\d+ \d{4}[^\n]*\n", re.M)
_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]")
_DIFF_START = re.compile(rb"^(?:diff --git |--- \S[^\n]*\n\+\+\+ )", re.M)
_SERIES_TAG = re.compile(r"^\s*\[([^\]]*)\]")
_NUMBERS = re.compile(r"(?<![\w.])(\d+)/(\d+)(?![\w/])")
_BASE = re.compile(rb"^base-commit: *([0-9a-fA-F]{7,64})\s*$", re.M)
_MSGID = re.compile(r"<[^<>\s]+>")


def parse_series(data: bytes, name: str) -> Series:
    """Split ``data`` into the patches to check, in series order."""
    if not data.strip():
        raise PatchError(f"{name} is empty: no patch to check")
    if b"\0" in data:
        raise PatchError(f"{name} contains NUL bytes: not a patch or mail")
    if _FROM_LINE.match(data):
        raws = _split_mbox(data)
    elif _HEADER_LINE.match(data) and re.search(rb"^(?:Subject|From):", data, re.M | re.I) \
            and b"\n\n" in data.replace(b"\r\n", b"\n"):
        raws = [data]
    else:
        files = parse_diff(data, name)
        if not files:
            raise PatchError(f"{name}: no patch found (neither a diff nor a patch mail)")
        return Series(name, [Patch(1, os.path.basename(name) if name != "-" else "patch",
                                   data, files)])
    series = Series(name, [])
    for raw in raws:
        _add_message(series, raw, name)
    if not series.patches:
        what = f" (skipped: {'; '.join(series.skipped)})" if series.skipped else ""
        raise PatchError(f"{name}: no patch found in the mail{'s' if len(raws) > 1 else ''}"
                         f"{what}: not a patch email?")
    _order(series)
    return series


def _split_mbox(data: bytes) -> list[bytes]:
    starts = [m.start() for m in _FROM_LINE.finditer(data)]
    out = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        msg = data[s:end]
        msg = msg[msg.index(b"\n") + 1:]                     # drop the From_ line
        out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", msg))  # mboxrd unquoting
    return out


def _add_message(series: Series, raw: bytes, name: str) -> None:
    if raw.count(b"\r\n") * 2 > raw.count(b"\n"):
        raw = raw.replace(b"\r\n", b"\n")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        subject = " ".join(str(msg.get("Subject", "") or "").split())
        message_id = str(msg.get("Message-ID", "") or "").strip()
        author = " ".join(str(msg.get("From", "") or "").split())
        references = tuple(_MSGID.findall(str(msg.get("References", "") or "")))
        in_reply_to = tuple(_MSGID.findall(str(msg.get("In-Reply-To", "") or "")))
        recipients = tuple(f"{name} <{addr}>" if name else addr for name, addr in
                           getaddresses([str(v) for k in ("To", "Cc")
                                         for v in msg.get_all(k, [])]) if addr)
    except Exception as exc:                                # malformed headers
        raise PatchError(f"{name}: unreadable mail headers: {exc}") from None
    subject = subject.encode("utf-8", "replace").decode("utf-8")
    label = subject or "(no subject)"
    body = b"".join(_decoded_bodies(msg, label))
    base = _BASE.search(body)
    if base and not series.base_commit:
        series.base_commit = base.group(1).decode()
    number, total = _numbers(subject)
    if re.match(r"(?i)\s*(re|aw|fwd?):", subject):
        series.skipped.append(f"reply '{label}'")
        return
    start = _DIFF_START.search(body)
    if start is None:
        if number == 0:
            series.skipped.append(f"cover letter '{label}'")
            series.cover_message_id = series.cover_message_id or message_id
            return
        if number is not None and total:
            raise PatchError(f"{label}: the mail has no diff (truncated mbox?)")
        series.skipped.append(f"'{label}' (no diff)")
        return
    diff = body[start.start():]
    files = parse_diff(diff, label)
    if not files:
        raise PatchError(f"{label}: no file changes in the diff (truncated?)")
    chain = references + tuple(m for m in in_reply_to if m not in references)
    series.patches.append(Patch(0, label, diff, files, number, total, message_id, author,
                                chain, recipients))


def _decoded_bodies(msg, label: str) -> Iterable[bytes]:
    parts = msg.walk() if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        fname = part.get_filename() or ""
        if not (ctype in ("text/plain", "text/x-patch", "text/x-diff", "text/x-csrc",
                          "application/x-patch", "application/x-diff")
                or fname.endswith((".patch", ".diff"))):
            continue
        payload = part.get_payload(decode=True) or b""
        charset = (part.get_content_charset() or "").lower()
        yield _to_utf8(payload, charset)


def _to_utf8(payload: bytes, charset: str) -> bytes:
    """A body in UTF-8, as git am applies it: a declared non-UTF-8 charset is decoded
    (an unknown one as Latin-1); an undeclared or UTF-8 body is kept byte for byte."""
    if not charset or charset in ("utf-8", "utf8", "us-ascii", "ascii"):
        return payload
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        codec = "latin-1"
    try:
        return payload.decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1").encode("utf-8")


def _numbers(subject: str) -> tuple[int | None, int | None]:
    m = _SERIES_TAG.match(re.sub(r"(?i)^\s*(?:(?:re|aw|fwd?):\s*)+", "", subject))
    if not m:
        return None, None
    n = _NUMBERS.search(m.group(1))
    return (int(n.group(1)), int(n.group(2))) if n else (None, None)


def _order(series: Series) -> None:
    """Series order; a gap or a duplicate in the numbering is an error."""
    patches = series.patches
    if len(patches) > 1 and all(p.number is not None for p in patches):
        totals = {p.total for p in patches}
        if len(totals) > 1:
            raise PatchError(f"{series.name}: patches of different series "
                             f"({', '.join(sorted(f'of {t}' for t in map(str, totals)))})")
        patches.sort(key=lambda p: p.number or 0)
        numbers = [p.number or 0 for p in patches]
        dup = sorted({n for n in numbers if numbers.count(n) > 1})
        if dup:
            raise PatchError(f"{series.name}: [PATCH {dup[0]}/{patches[0].total}] appears "
                             "twice (two versions of the series?)")
        total = patches[0].total or 0
        missing = [n for n in range(1, total + 1) if n not in numbers]
        if missing:
            raise PatchError(f"{series.name}: incomplete series, missing "
                             + ", ".join(f"[PATCH {n}/{total}]" for n in missing)
                             + " (truncated mbox?)")
    for i, p in enumerate(patches, start=1):
        p.index = i


