"""scripts/kernel-corpus's choice of where the package comes from (the unpack stage).

apt-get and apt-cache are replaced by small fakes on PATH that answer like a machine whose
apt lists bookworm but not bookworm-security: the machine's configuration offers an older
linux-source-6.1 than the triaged one, the script's private configuration (every suite)
offers both.  The .deb files are real ones, built with dpkg-deb, so the script's own
dpkg-deb and tar steps run for real; nothing touches the network or the machine's apt."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "kernel-corpus"


def no_installed_tarball() -> None:
    # An installed /usr/src tarball takes precedence over apt (the script's documented order).
    assert not Path("/usr/src/linux-source-6.1.tar.xz").exists(), "linux-source-6.1 is installed"
    assert shutil.which("dpkg-deb"), "the corpus script needs dpkg-deb (Debian)"


def triaged(kernel: str) -> str:
    m = re.search(rf"^\s*{re.escape(kernel)}\)\s.*\n\s*TRIAGED=(\S+)", SCRIPT.read_text(), re.M)
    assert m, f"no TRIAGED= for {kernel} in {SCRIPT}"
    return m.group(1)


def build_deb(out: Path, pkg: str, version: str) -> Path:
    """A real, minimal linux-source-V package: usr/src/PKG.tar.xz with PKG/Makefile."""
    work = out / f"build-{version}"
    tree = work / "tree" / pkg
    tree.mkdir(parents=True)
    (tree / "Makefile").write_text(f"# {pkg} {version}\n")
    root = work / "root"
    (root / "usr" / "src").mkdir(parents=True)
    subprocess.run(["tar", "-C", str(work / "tree"), "-cJf",
                    str(root / "usr" / "src" / f"{pkg}.tar.xz"), pkg], check=True)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {pkg}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: kref-lint tests <tests@example.org>\nDescription: test package\n")
    deb = out / f"{pkg}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


FAKE_APT_CACHE = """#!/bin/sh
# madison PKG: the machine's configuration offers only $MACHINE_VERSION; the private one
# (recognised by its -o Dir::Etc::sourcelist=...) offers $PRIVATE_VERSIONS too.
private=0
for a in "$@"; do case "$a" in Dir::Etc::sourcelist=*) private=1 ;; esac; done
echo "apt-cache $private $*" >> "$FAKE_LOG"
if [ "$private" = 1 ]; then vs="$PRIVATE_VERSIONS"; else vs="$MACHINE_VERSION"; fi
for v in $vs; do echo "linux-source-6.1 | $v | http://deb.debian.org/debian x/main all Packages"; done
"""

FAKE_APT_GET = """#!/bin/sh
private=0
for a in "$@"; do case "$a" in Dir::Etc::sourcelist=*) private=1 ;; esac; done
echo "apt-get $private $*" >> "$FAKE_LOG"
for a in "$@"; do
  case "$a" in
    indextargets) echo 'http://deb.debian.org/debian bookworm'; exit 0 ;;
    update) exit 0 ;;
    download) dl=1 ;;
    linux-source-*=*) want=${a#*=} ;;
    linux-source-*) want=newest ;;
  esac
done
if [ "${dl:-0}" = 1 ]; then
  if [ "$want" = newest ]; then
    if [ "$private" = 1 ]; then want=${PRIVATE_VERSIONS%% *}; else want=$MACHINE_VERSION; fi
  fi
  cp "$DEBS/linux-source-6.1_${want}_all.deb" . || exit 100
  exit 0
fi
exit 0
"""


@pytest.fixture
def fake_apt(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in (("apt-get", FAKE_APT_GET), ("apt-cache", FAKE_APT_CACHE)):
        p = bindir / name
        p.write_text(body)
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    debs = tmp_path / "debs"
    debs.mkdir()
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", DEBS=str(debs),
               FAKE_LOG=str(tmp_path / "calls.log"))
    env.pop("KREF_CORPUS_KERNEL", None)
    return env, debs, tmp_path


def unpack(env, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "--kernel", "6.1", "--stage", "unpack", "--dir", str(cache)],
                          env=env, capture_output=True, text=True, timeout=300)


def package_of(cache: Path) -> str:
    return (cache / "linux-source-6.1" / ".kref-corpus" / "package").read_text().split()[1]


def test_the_triaged_version_comes_from_the_private_configuration_when_the_machine_lacks_it(fake_apt):
    no_installed_tarball()
    env, debs, tmp = fake_apt
    want = triaged("6.1")
    build_deb(debs, "linux-source-6.1", "6.1.1-1")
    build_deb(debs, "linux-source-6.1", want)
    env.update(MACHINE_VERSION="6.1.1-1", PRIVATE_VERSIONS=f"{want} 6.1.1-1")
    cache = tmp / "cache"
    r = unpack(env, cache)
    assert r.returncode == 0, r.stderr
    assert package_of(cache) == want
    assert "not " + want in r.stderr and "asking the private one" in r.stderr
    calls = (tmp / "calls.log").read_text()
    assert f"apt-get 1 -q -o Dir::Etc::sourcelist={cache}/apt/linux-source-6.1/sources.list" in calls
    sources = (cache / "apt" / "linux-source-6.1" / "sources.list").read_text()
    assert "bookworm-security" in sources and " bookworm " in sources


def test_a_cached_older_deb_is_refetched_once_and_kept_when_no_suite_offers_the_triaged_one(fake_apt):
    no_installed_tarball()
    env, debs, tmp = fake_apt
    want = triaged("6.1")
    build_deb(debs, "linux-source-6.1", "6.1.1-1")
    cache = tmp / "cache"
    # Nobody offers the triaged version: the newest is used, with a warning, and remembered.
    env.update(MACHINE_VERSION="6.1.1-1", PRIVATE_VERSIONS="6.1.1-1")
    r = unpack(env, cache)
    assert r.returncode == 0, r.stderr
    assert package_of(cache) == "6.1.1-1"
    assert f"{want} (the triaged version) is not offered by the private apt" in r.stderr
    # A second run keeps the cached .deb: no new apt call.
    before = (tmp / "calls.log").read_text()
    r = unpack(env, cache)
    assert r.returncode == 0, r.stderr
    assert (tmp / "calls.log").read_text() == before and package_of(cache) == "6.1.1-1"
    # The triage moves to a version the archive offers: the stale cache is re-fetched.
    (cache / "apt" / "linux-source-6.1" / "debs" / "triaged-missing").write_text("6.0.0-0\n")
    build_deb(debs, "linux-source-6.1", want)
    env.update(PRIVATE_VERSIONS=f"{want} 6.1.1-1")
    r = unpack(env, cache)
    assert r.returncode == 0, r.stderr
    assert package_of(cache) == want
