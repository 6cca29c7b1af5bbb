"""Per-file result cache under the user's cache directory (XDG).

A file's outcome is reused when nothing that could change it has changed: the file's
path and content, the analysis options (frontend, rules, compile flags), the analyzer
itself (a digest of its own source, so a development checkout never reuses stale
results) and the API models.  For a clang-parsed file the outcome also records the
headers the translation unit included, with their content digests; the entry is valid
only while every one of them is unchanged (touching a header re-analyzes exactly the
files that include it).

Entries are written to a temporary file and renamed into place, so an interrupted run
leaves no corrupt entry; an unreadable entry is a miss and is removed.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from analyzer.results.outcome import FileOutcome

FORMAT = b"kref-lint-cache-2"


def default_dir() -> Path:
    env = os.environ.get("KREF_LINT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kref-lint" / "results"


_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """A digest of kref-lint's own code and built-in rule files."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        root = Path(__file__).resolve().parents[2]
        h = hashlib.sha256()
        for pkg in ("analyzer", "checkers", "rules"):
            for f in sorted((root / pkg).rglob("*")):
                if f.suffix in (".py", ".toml") and f.is_file():
                    h.update(str(f.relative_to(root)).encode())
                    h.update(f.read_bytes())
        _CODE_DIGEST = h.hexdigest()
    return _CODE_DIGEST


class _Digests:
    """Content digests of files, memoized on (mtime, size) for one run."""

    def __init__(self):
        self.memo: dict[str, tuple[tuple[int, int], str]] = {}

    def __call__(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self.memo.get(path)
        if hit and hit[0] == stamp:
            return hit[1]
        try:
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        except OSError:
            return None
        self.memo[path] = (stamp, digest)
        return digest


class ResultCache:
    def __init__(self, directory: Path | None, salt: str):
        self.dir = Path(directory) if directory else None
        self.salt = salt
        self.digest = _Digests()
        self.hits = self.misses = 0

    def key(self, path: str, extra: str = "") -> str | None:
        content = self.digest(path)
        if self.dir is None or content is None:
            return None
        h = hashlib.sha256(FORMAT)
        for part in (self.salt, code_digest(), extra, os.path.abspath(path), content):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    def _file(self, key: str) -> Path:
        assert self.dir is not None
        return self.dir / key[:2] / f"{key}.pickle"

    def get(self, key: str | None) -> FileOutcome | None:
        if key is None:
            return None
        f = self._file(key)
        try:
            with open(f, "rb") as fh:
                headers, outcome = pickle.load(fh)
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:                      # corrupt or from another version
            f.unlink(missing_ok=True)
            self.misses += 1
            return None
        if any(self.digest(h) != d for h, d in headers):
            self.misses += 1
            return None
        self.hits += 1
        return outcome

    def put(self, key: str | None, outcome: FileOutcome,
            headers: tuple[str, ...] = ()) -> None:
        if key is None:
            return
        f = self._file(key)
        deps = tuple((h, self.digest(h)) for h in headers)
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=f.parent)
            with os.fdopen(fd, "wb") as fh:
                pickle.dump((deps, outcome), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, f)
        except OSError:
            return                              # a cache that cannot be written is no cache
