"""Patch-review bot mode: ``kref-lint check-patch`` on real series made by
``git format-patch`` in real repositories, and on every kind of bad input.  The tree is
hashed before and after each run: it must never change."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.modes_util import (
    BUGGY,
    CORRECT,
    HEADER,
    HELPER,
    PMD_BUG,
    commit_all,
    git,
    init_repo,
    kernel_tree,
    tree_hash,
)

RULE = "try-get-without-ref"
UTIL = HEADER + "\nint util_nr(void)\n{\n\treturn 0;\n}\n"


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """linux/ at the base (master) and a 3-patch series on top of it, as files."""
    root = tmp_path_factory.mktemp("series")
    repo = init_repo(kernel_tree(root / "linux"))
    (repo / "mm" / "gup.c").write_text(HEADER + HELPER + CORRECT)
    (repo / "mm" / "util.c").write_text(UTIL)
    base = commit_all(repo, "base")
    git(repo, "remote", "add", "origin", "https://ada:s3cret@git.example.org/linux.git")
    git(repo, "checkout", "-q", "-b", "topic")
    gup = repo / "mm" / "gup.c"
    gup.write_text(gup.read_text().replace("return nr;", "return nr > 0 ? nr : 0;"))
    commit_all(repo, "mm/gup: clamp the page count")
    gup.write_text(gup.read_text() + BUGGY)
    commit_all(repo, "mm/gup: add a pte fast path")
    (repo / "mm" / "util.c").write_text(UTIL + PMD_BUG)
    commit_all(repo, "mm/util: add a pmd fast path")
    out = root / "patches"
    git(repo, "format-patch", "-q", "--thread", "--cover-letter", "--base", base,
        "-o", str(out), "master")
    git(repo, "checkout", "-q", "master")
    files = sorted(out.glob("*.patch"))
    assert len(files) == 4                              # cover letter + 3
    mbox = root / "series.mbox"
    mbox.write_bytes(b"".join(f.read_bytes() for f in files))
    final = {rel: git(repo, "show", f"topic:{rel}") for rel in ("mm/gup.c", "mm/util.c")}
    return {"root": root, "repo": repo, "mbox": mbox, "files": files, "final": final,
            "base": base}


def check(series, *args, cwd=None, input=None, env=None):
    repo = series["repo"]
    before = tree_hash(repo)
    r = run_cli("check-patch", *args, cwd=cwd or series["root"], env=env) if input is None \
        else _run_stdin(series, args, input)
    assert tree_hash(repo) == before, "the tree was modified"
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _run_stdin(series, args, data: bytes):
    import os
    import subprocess
    import sys

    from tests.conftest import CACHE_DIR, REPO
    env = dict(os.environ, PYTHONPATH=str(REPO), KREF_LINT_CACHE_DIR=CACHE_DIR)
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "check-patch", *args],
                       input=data, cwd=series["root"], env=env, capture_output=True,
                       timeout=120)
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


def final_line(series, rel: str, needle: str) -> int:
    lines = series["final"][rel].split("\n")
    return next(i for i, l in enumerate(lines, 1) if needle in l)


# --------------------------------------------------------------------------- the reply
def mails_of(stdout: str) -> list:
    """The replies of an mbox, parsed by the standard library (headers decoded)."""
    from email import policy
    from email.parser import BytesParser

    assert stdout.startswith("From kref-lint Mon Sep 17 00:00:00 2001\n")
    parts = re.split(r"(?m)^From kref-lint Mon Sep 17 00:00:00 2001\n", stdout)[1:]
    return [BytesParser(policy=policy.default).parsebytes(p.encode()) for p in parts]


def header_of(path: Path, name: str) -> str:
    from email import policy
    from email.parser import BytesParser

    return str(BytesParser(policy=policy.default).parsebytes(path.read_bytes())[name])


def test_series_mail_attributes_each_finding_to_its_patch(series):
    r = check(series, "series.mbox", "--tree", "linux")
    assert r.returncode == 1, r.stderr
    mails = mails_of(r.stdout)
    assert len(mails) == 2                      # [PATCH 2/3] and [PATCH 3/3], not 1/3
    two, three = mails
    cover_id = header_of(series["files"][0], "Message-ID")
    msgid = header_of(series["files"][2], "Message-ID")
    # the headers a list and a mail client need, built by the email package
    assert two["Subject"] == "Re: [PATCH 2/3] mm/gup: add a pte fast path"
    assert two["From"] == "kref-lint <kref-lint@localhost.invalid>"
    assert two["To"] == "Ada Author <ada@example.org>"
    assert two["In-Reply-To"].strip() == msgid
    assert two["References"].split() == [cover_id, msgid]     # the thread, cover first
    assert re.fullmatch(r"<\d{12}\.[0-9a-f]{12}-kref-lint@localhost\.invalid>",
                        two["Message-ID"])
    assert two["Date"].datetime is not None
    assert two.get_content_type() == "text/plain" and two.get_content_charset() == "utf-8"
    body = two.get_content()
    assert body.startswith("Hi Ada,\n\nkref-lint found 1 new issue in [PATCH 2/3]")
    base = series["base"][:12]
    assert f"base:           {base} (the series' base-commit)\n" in body
    assert f"patch link:     https://lore.kernel.org/r/{msgid.strip('<>')}/\n" in body
    assert "patch subject:  [PATCH 2/3] mm/gup: add a pte fast path\n" in body
    # reproduce: the base, the series up to this patch, the command -- no local path
    assert (f"reproduce:\n        git checkout {base}\n"
            f"        b4 shazam -P 1-2 {msgid.strip('<>')}\n"
            f"        kref-lint --diff HEAD~1 mm/gup.c\n") in body
    assert str(series["root"]) not in r.stdout
    assert ("| Reported-by: kref-lint <kref-lint@localhost.invalid>\n"
            f"| Closes: https://lore.kernel.org/r/{two['Message-ID'].strip('<>')}/\n") in body
    line = final_line(series, "mm/gup.c", "get_page(page);")
    warning = (f"mm/gup.c:{line}:9: warning: get_page() on 'page' that holds no reference "
               f"(found by the lockless read at line {line - 5}) [{RULE}]")
    assert f"All warnings (new ones prefixed by >>):\n\n>> {warning}\n" in body
    assert f"\n{warning}\nin gup_fast_pte():\n" in body
    # the quoted hunk, the offending line marked by a caret line under it
    assert "> diff a/mm/gup.c b/mm/gup.c\n> @@ -" in body
    assert f"> +\tget_page(page);\n   \t^ {RULE}\n" in body
    assert "> +\tpte_t pte = ptep_get_lockless(ptep);" in body
    assert f"  mm/gup.c:{line - 5}: 'ptep' read locklessly by ptep_get_lockless()" in body
    assert f"Run `kref-lint explain {RULE}`" in body
    assert body.rstrip("\n").endswith("\n-- \nkref-lint 0.1.0")

    assert three["Subject"] == "Re: [PATCH 3/3] mm/util: add a pmd fast path"
    three_body = three.get_content()
    line3 = final_line(series, "mm/util.c", "folio_get(folio);")
    assert f">> mm/util.c:{line3}:9: warning: folio_get() on 'folio'" in three_body
    assert "in gup_fast_pmd():" in three_body
    assert "b4 shazam -P 1-3 " in three_body
    assert "kref-lint: 3 patches" in r.stderr and "2 new findings" in r.stderr
    assert "skipped cover letter" in r.stderr


def test_mail_identity_archive_and_old_findings(series, tmp_path):
    """--from and the config's [mail] table; a later patch lists the finding an earlier
    one added without the >> prefix; SOURCE_DATE_EPOCH makes the reply reproducible."""
    (series["repo"] / ".kref-lint.toml").write_text(
        '[mail]\narchive = "https://lists.example.org/archive/"\n'
        'cc = ["Reports <reports@example.org>"]\n')
    try:
        args = ("series.mbox", "--tree", "linux", "--from", "Grüß Bot <bot@example.org>")
        r = check(series, *args, env={"SOURCE_DATE_EPOCH": "1709294400"})
        again = check(series, *args, env={"SOURCE_DATE_EPOCH": "1709294400"})
    finally:
        (series["repo"] / ".kref-lint.toml").unlink()
    assert r.returncode == 1 and r.stdout == again.stdout        # same input, same mail
    raw_headers = [m.split("\n\n", 1)[0] for m in r.stdout.split("From kref-lint ")[1:]]
    assert all(h.isascii() and "\nFrom: =?utf-8?" in h for h in raw_headers)   # RFC 2047
    two, three = mails_of(r.stdout)
    assert two["From"] == "Grüß Bot <bot@example.org>"
    assert two["Cc"] == "Reports <reports@example.org>"
    assert two["Date"] == "Fri, 01 Mar 2024 12:00:00 +0000"
    assert two["Message-ID"].endswith("-kref-lint@example.org>")
    assert "| Reported-by: Grüß Bot <bot@example.org>" in two.get_content()
    assert "| Closes: https://lists.example.org/archive/2024" in two.get_content()
    # the util.c patch touches no gup.c: its list holds only its own finding
    listing = three.get_content().split("(new ones prefixed by >>):\n\n")[1].split("\n\n")[0]
    assert [l[:3] for l in listing.splitlines()] == [">> "]
    r = check(series, "series.mbox", "--tree", "linux", "--from", "not an address")
    assert r.returncode == 2 and "--from: not a mail address" in r.stderr


def test_series_sarif(series, sarif_validator, tmp_path):
    out = tmp_path / "patch.sarif"
    r = check(series, "series.mbox", "--tree", "linux", "--format", "sarif", "-o", str(out))
    assert r.returncode == 1 and r.stdout == ""
    log = json.loads(out.read_text())
    sarif_validator.validate(log)
    run = log["runs"][0]
    assert run["automationDetails"] == {"id": "kref-lint-patch/series.mbox/"}
    got = sorted((res["properties"]["patchIndex"], res["properties"]["patch"],
                  res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                  res["baselineState"]) for res in run["results"])
    assert got == [(2, "[PATCH 2/3] mm/gup: add a pte fast path", "mm/gup.c", "new"),
                   (3, "[PATCH 3/3] mm/util: add a pmd fast path", "mm/util.c", "new")]
    assert all(res["properties"]["messageId"].startswith("<") for res in run["results"])
    # the lines are post-patch lines: each location names the embedded version of its
    # file after the patch that added the finding, whose text has the reported statement
    arts = run["artifacts"]
    assert sorted((a["location"]["uri"], a["properties"]["patchIndex"]) for a in arts) == [
        ("mm/gup.c", 2), ("mm/util.c", 3)]
    for res in run["results"]:
        locs = [res["locations"][0]] + [s["location"] for s in
                                       res["codeFlows"][0]["threadFlows"][0]["locations"]]
        for loc in locs:
            phys = loc["physicalLocation"]
            art = arts[phys["artifactLocation"]["index"]]
            assert art["location"]["uri"] == phys["artifactLocation"]["uri"]
            assert art["properties"]["patchIndex"] == res["properties"]["patchIndex"]
        phys = res["locations"][0]["physicalLocation"]
        text = arts[phys["artifactLocation"]["index"]]["contents"]["text"]
        line = text.split("\n")[phys["region"]["startLine"] - 1]
        assert line.strip() == phys["region"]["snippet"]["text"]
        assert res["partialFingerprints"]["primaryLocationLineHash"]
    # the tree's commit, the remote without its credentials; the series' base
    (vcs,) = run["versionControlProvenance"]
    assert vcs == {"repositoryUri": "https://git.example.org/linux.git",
                   "revisionId": series["base"], "branch": "master",
                   "mappedTo": {"uriBaseId": "%SRCROOT%"}}
    assert run["properties"]["baseCommit"] == series["base"]


def test_text_format_single_patch_and_stdin(series):
    one = series["files"][2]
    r = check(series, str(one), "--tree", "linux", "--format", "text")
    assert r.returncode == 1
    line = final_line(series, "mm/gup.c", "get_page(page);")
    assert r.stdout.splitlines() == [
        "kref-lint: [PATCH 2/3] mm/gup: add a pte fast path:",
        f"linux/mm/gup.c:{line}:9: warning: get_page() on 'page' that holds no reference "
        f"(found by the lockless read at line {line - 5}) [{RULE}]"]
    r = check(series, "-", "--tree", "linux", input=series["mbox"].read_bytes())
    assert r.returncode == 1 and "[PATCH 3/3]" in r.stdout
    assert "        kref-lint --diff HEAD~1 mm/util.c\n" in r.stdout


def test_no_new_findings(series):
    r = check(series, str(series["files"][1]), "--tree", "linux")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "kref-lint: no new findings in 1 patch\n"
    r = check(series, str(series["files"][1]), "--tree", "linux", "--quiet")
    assert r.returncode == 0 and r.stdout == ""
    r = check(series, "series.mbox", "--tree", "linux", "--ignore", RULE)
    assert r.returncode == 0 and r.stdout == "kref-lint: no new findings in 3 patches\n"


def test_plain_git_diff_input(series, tmp_path):
    diff = tmp_path / "topic.diff"
    diff.write_text(git(series["repo"], "diff", "master", "topic"))
    r = check(series, str(diff), "--tree", "linux")
    assert r.returncode == 1
    assert "Subject: Re: topic.diff" in r.stdout and "2 new findings" in r.stderr


def test_a_later_patch_fixing_it_is_noted(tmp_path):
    repo = init_repo(kernel_tree(tmp_path / "linux"))
    (repo / "mm" / "gup.c").write_text(HEADER + HELPER)
    commit_all(repo, "base")
    (repo / "mm" / "gup.c").write_text(HEADER + HELPER + BUGGY)
    commit_all(repo, "mm/gup: fast path")
    (repo / "mm" / "gup.c").write_text(HEADER + HELPER + CORRECT)
    commit_all(repo, "mm/gup: fix the fast path")
    git(repo, "format-patch", "-q", "-o", str(tmp_path / "p"), "HEAD~2")
    git(repo, "checkout", "-q", "HEAD~2")
    mbox = tmp_path / "s.mbox"
    mbox.write_bytes(b"".join(p.read_bytes() for p in sorted((tmp_path / "p").glob("*"))))
    r = run_cli("check-patch", str(mbox), "--tree", str(repo))
    assert r.returncode == 1
    assert "[PATCH 1/2]" in r.stdout and "Re: [PATCH 2/2]" not in r.stdout
    assert "(A later patch, [PATCH 2/2], removes this again" in r.stdout


def test_mailing_list_archive(series, tmp_path):
    """lore-style mbox: mboxrd separators and >From quoting, messages out of order, the
    cover letter and a reply mixed in, one patch quoted-printable."""
    msgs = [f.read_bytes().split(b"\n", 1)[1] for f in series["files"]]    # drop From_
    cover, p1, p2, p3 = msgs
    p1 = p1.replace(b"\n\n---\n", b"\n\nFrom the department of clamps.\n\n---\n", 1)
    import quopri
    head, body = p3.split(b"\n\n", 1)
    head = head.replace(b"Content-Transfer-Encoding: 8bit",
                        b"Content-Transfer-Encoding: quoted-printable")
    if b"Content-Transfer-Encoding" not in head:
        head += b"\nContent-Type: text/plain; charset=UTF-8\n" \
                b"Content-Transfer-Encoding: quoted-printable"
    p3 = head + b"\n\n" + quopri.encodestring(body)
    reply = (b"From: Reviewer <rev@example.org>\nSubject: Re: [PATCH 2/3] mm/gup: add a pte "
             b"fast path\nMessage-ID: <reply@example.org>\n\n> +\tget_page(page);\n\n"
             b"Looks wrong.\n")

    def quote(m: bytes) -> bytes:
        return re.sub(rb"(?m)^(>*From )", rb">\1", m)

    archive = b"".join(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + quote(m) + b"\n"
                       for m in (p3, cover, reply, p1, p2))
    assert b"\n>From the department" in archive
    (tmp_path / "lore.mbox").write_bytes(archive)
    r = check(series, str(tmp_path / "lore.mbox"), "--tree", "linux")
    assert r.returncode == 1, r.stderr
    assert r.stdout.count("From kref-lint ") == 2
    assert r.stdout.index("[PATCH 2/3]") < r.stdout.index("[PATCH 3/3]")
    assert "skipped reply 'Re: [PATCH 2/3]" in r.stderr


# --------------------------------------------------------------------------- bad input
def _edit(series, tmp_path, transform) -> Path:
    p = tmp_path / "edited.patch"
    p.write_bytes(transform(series["files"][2].read_bytes()))
    return p


def expect_error(series, path_or_args, message, **kw):
    args = path_or_args if isinstance(path_or_args, tuple) else (str(path_or_args),)
    r = check(series, *args, "--tree", "linux", **kw)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
    assert r.stdout == ""
    return r


def test_patch_that_does_not_apply(series, tmp_path):
    p = _edit(series, tmp_path, lambda b: b.replace(b"\n \tpages[(*nr)++] = page;",
                                                    b"\n \tpages[*nr] = page;", 1))
    r = expect_error(series, p, "[PATCH 2/3] mm/gup: add a pte fast path does not apply to ")
    assert "patch failed: mm/gup.c" in r.stderr
    # the series applied on top of itself: its first patch no longer applies
    git(series["repo"], "checkout", "-q", "topic")
    try:
        r = expect_error(series, series["mbox"], "[PATCH 1/3] mm/gup: clamp the page count "
                                                 "does not apply")
        assert f"the series is based on {series['base'][:12]}" in r.stderr
    finally:
        git(series["repo"], "checkout", "-q", "master")


def test_binary_patch(tmp_path):
    repo = init_repo(kernel_tree(tmp_path / "linux"))
    commit_all(repo, "base")
    (repo / "firmware.bin").write_bytes(bytes(range(256)) * 4)
    commit_all(repo, "add firmware")
    for flag in ("--binary", "--no-binary"):
        out = tmp_path / flag
        git(repo, "format-patch", "-q", flag, "-o", str(out), "HEAD~1")
        git(repo, "checkout", "-q", "HEAD~1")
        before = tree_hash(repo)
        r = run_cli("check-patch", str(next(out.glob("*.patch"))), "--tree", str(repo))
        assert r.returncode == 2 and "binary patch (firmware.bin), not supported" in r.stderr
        assert tree_hash(repo) == before
        git(repo, "checkout", "-q", "master")


@pytest.mark.parametrize("old, new, message", [
    (b"a/mm/gup.c", b"a/../outside.c", "path 'outside.c' escapes the tree"),
    (b"mm/gup.c", b"mm/../../outside.c", "escapes the tree ('..')"),
    (b"a/mm/gup.c", b"a//etc/passwd", "absolute path '/etc/passwd'"),
    (b"mm/gup.c", b"mm/.git/hooks/pre-commit", "is inside .git"),
])
def test_paths_escaping_the_tree(series, tmp_path, old, new, message):
    def transform(b: bytes) -> bytes:
        b = b.replace(old, new)
        return b.replace(old.replace(b"a/", b"b/"), new.replace(b"a/", b"b/"))
    p = _edit(series, tmp_path, transform)
    expect_error(series, p, message.replace("'outside.c'", "'../outside.c'"))


def test_absolute_path_in_a_plain_diff(series, tmp_path):
    p = tmp_path / "abs.diff"
    p.write_text("--- /etc/hostname\n+++ /etc/hostname\n@@ -1 +1 @@\n-a\n+b\n")
    expect_error(series, p, "absolute path '/etc/hostname'")


def test_truncated_mbox(series, tmp_path):
    data = series["mbox"].read_bytes()
    cut = data.index(b"+\tget_page(page);")            # inside [PATCH 2/3]'s hunk
    (tmp_path / "cut.mbox").write_bytes(data[:cut])
    expect_error(series, tmp_path / "cut.mbox", "[PATCH 2/3] mm/gup: add a pte fast path: "
                                                "truncated: the hunk")
    last = data.rindex(b"From ", 0, data.index(b"Subject: [PATCH 3/3]"))
    (tmp_path / "short.mbox").write_bytes(data[:last])
    expect_error(series, tmp_path / "short.mbox", "incomplete series, missing [PATCH 3/3]")
    head_only = data[:data.index(b"\n\n", data.index(b"Subject: [PATCH 3/3]")) + 2]
    (tmp_path / "head.mbox").write_bytes(head_only)
    expect_error(series, tmp_path / "head.mbox", "[PATCH 3/3] mm/util: add a pmd fast path: "
                                                 "the mail has no diff (truncated mbox?)")


def test_non_patch_email(series, tmp_path):
    p = tmp_path / "lunch.eml"
    p.write_text("From: Bob <bob@example.org>\nSubject: lunch on Friday?\n"
                 "Message-ID: <lunch@example.org>\n\nThe usual place.\n-- \nBob\n")
    expect_error(series, p, "no patch found in the mail (skipped: 'lunch on Friday?' "
                            "(no diff)): not a patch email?")
    p.write_text("just some text\n--- not a diff\n")
    expect_error(series, p, "no patch found (neither a diff nor a patch mail)")
    p.write_bytes(b"")
    expect_error(series, p, "is empty: no patch to check")


def test_huge_patch_is_refused_by_its_size(series, tmp_path):
    # Refused on its size before it is parsed or applied (no timing here: the bench measures
    # speed; the message is the size check's own).
    p = tmp_path / "huge.patch"
    hunk = b"".join(b"+\tx = %d;\n" % i for i in range(2_000_000))
    p.write_bytes(b"--- a/mm/gup.c\n+++ b/mm/gup.c\n@@ -1,0 +1,2000000 @@\n" + hunk)
    assert p.stat().st_size > 20 * 1024 * 1024
    expect_error(series, p, "larger than the 10 MiB limit, not checked")
    expect_error(series, ("-",), "input is larger than the 10 MiB limit",
                 input=p.read_bytes())


def test_non_utf8_mail_bodies(series, tmp_path):
    raw = series["files"][2].read_bytes()
    # 1. declared Latin-1: the body is re-encoded to UTF-8 (as git am does) and applies
    latin = raw.replace(b"+\tif (!pte_present(pte))\n",
                        "+\t/* d\u00e9j\u00e0 vu: no reference */\n"
                        "+\tif (!pte_present(pte))\n".encode(), 1)
    assert "déjà".encode() in latin
    head, body = latin.split(b"\n\n", 1)
    head = re.sub(rb"(?m)^Content-Type: .*$", b"", head).rstrip(b"\n")
    head = head.replace(b"Subject: [PATCH 2/3] mm/gup: add a pte fast path",
                        b"Subject: [PATCH 2/3] =?iso-8859-1?q?mm/gup=3A_caf=E9_fast_path?=")
    head += b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n" \
            b"Content-Transfer-Encoding: 8bit"
    mail = head + b"\n\n" + body.decode("utf-8").encode("latin-1")
    assert b"d\xe9j\xe0" in mail
    (tmp_path / "latin1.patch").write_bytes(_recount(mail))
    r = check(series, str(tmp_path / "latin1.patch"), "--tree", "linux")
    assert r.returncode == 1, r.stderr
    (reply,) = mails_of(r.stdout)
    assert reply["Subject"] == "Re: [PATCH 2/3] mm/gup: caf\u00e9 fast path"
    assert r.stdout.split("\n\n", 1)[0].isascii()          # RFC 2047 on the wire
    assert "> +\t/* d\u00e9j\u00e0 vu: no reference */" in r.stdout
    # 2. an unknown charset: read as Latin-1, still checked
    odd = (tmp_path / "latin1.patch").read_bytes().replace(b"charset=iso-8859-1",
                                                           b"charset=x-no-such-charset")
    (tmp_path / "odd.patch").write_bytes(odd)
    r = check(series, str(tmp_path / "odd.patch"), "--tree", "linux")
    assert r.returncode == 1, r.stderr


def test_undeclared_8bit_body_against_a_latin1_tree(tmp_path):
    repo = init_repo(kernel_tree(tmp_path / "linux"))
    (repo / "mm" / "gup.c").write_bytes(HEADER.encode() + b"/* (c) Fran\xe7ois */\n"
                                        + HELPER.encode())
    commit_all(repo, "base")
    gup = repo / "mm" / "gup.c"
    gup.write_bytes(gup.read_bytes().replace(b"/* (c) Fran\xe7ois */\n",
                                             b"/* (c) Fran\xe7ois, Ren\xe9 */\n")
                    + BUGGY.encode().replace(b"\tget_page(page);",
                                             b"\t/* Ren\xe9 says so */\n\tget_page(page);"))
    commit_all(repo, "mm/gup: fast path")
    raw = _git_bytes(repo, "format-patch", "-1", "--stdout")
    assert b"Ren\xe9" in raw
    raw = re.sub(rb"(?m)^Content-Type: .*\n", b"", raw)
    git(repo, "checkout", "-q", "HEAD~1")
    (tmp_path / "8bit.patch").write_bytes(raw)
    before = tree_hash(repo)
    r = run_cli("check-patch", str(tmp_path / "8bit.patch"), "--tree", str(repo))
    assert r.returncode == 1, r.stderr
    assert "> +\t/* Ren\u00e9 says so */" in r.stdout      # undecodable: shown as Latin-1
    assert tree_hash(repo) == before


def test_symlink_in_the_tree_is_not_followed(tmp_path):
    repo = init_repo(kernel_tree(tmp_path / "linux"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "gup.c").write_text(HEADER + HELPER)
    (repo / "ext").symlink_to(outside)
    commit_all(repo, "base")
    p = tmp_path / "x.diff"
    p.write_text("--- a/ext/gup.c\n+++ b/ext/gup.c\n@@ -1,1 +1,1 @@\n"
                 "-// SPDX-License-Identifier: GPL-2.0\n+// changed\n")
    before = tree_hash(tmp_path)
    r = run_cli("check-patch", str(p), "--tree", str(repo))
    assert r.returncode == 2 and "leads through a symlink in the tree" in r.stderr
    assert tree_hash(tmp_path) == before


def _git_bytes(repo, *args) -> bytes:
    import subprocess

    from tests.modes_util import GIT_ENV
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, capture_output=True,
                          check=True).stdout


def _recount(mail: bytes) -> bytes:
    """Fix the +count of hunk headers after adding lines to a hunk by hand."""
    out, lines = [], mail.split(b"\n")
    i = 0
    while i < len(lines):
        m = re.match(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$", lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        j, old, new = i + 1, 0, 0
        while j < len(lines) and lines[j][:1] in (b" ", b"+", b"-", b"\\") and \
                not lines[j].startswith(b"-- "):
            c = lines[j][:1]
            old += c in (b" ", b"-")
            new += c in (b" ", b"+")
            j += 1
        out.append(b"@@ -%s,%d +%s,%d @@%s" % (m.group(1), old, m.group(3), new, m.group(5)))
        out.extend(lines[i + 1:j])
        i = j
    return b"\n".join(out)
