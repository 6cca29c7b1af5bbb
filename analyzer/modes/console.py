"""What the user sees besides the report: progress, diagnostics, the summary, and the
output file.

* stdout carries the report only (findings; SARIF, JSON or mail); tool diagnostics
  never use the finding format and never go to stdout.
* stderr: the progress bar (a terminal only, from `tqdm`: files done / total, rate, time
  left), files that could not be analyzed (``error`` diagnostics, always), the other
  diagnostics summarized in one line (``--show-diagnostics`` lists them) and the
  summary line.  ``-q`` leaves only findings and errors.
* ``-o FILE`` is written atomically (a temporary file renamed over it), with the mode a
  new file gets under the umask (an existing file keeps its mode); a symlink is
  followed (the file it points to is replaced, the link stays); a target that is not a
  regular file (``/dev/stdout``, a fifo) is written through, never replaced.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

from analyzer.errors import ToolError
from analyzer.report.text import diagnostic_line, diagnostics_summary
from analyzer.results.outcome import FileOutcome
from analyzer.results.run import RunResult


class OutputError(ToolError):
    """The report cannot be written where asked (exit 2)."""


class Console:
    def __init__(self, quiet: bool = False, show_diagnostics: bool = False,
                 stream: TextIO | None = None):
        self.quiet = quiet
        self.show_diagnostics = show_diagnostics
        self.stream = stream or sys.stderr

    def say(self, line: str) -> None:
        """A status line (summaries, skipped mails); nothing with ``-q``."""
        if not self.quiet:
            print(line, file=self.stream)

    def status(self, text: str) -> None:
        """A transient status line before the progress bar (a whole tree takes seconds to
        walk and plan): on a terminal only, overwritten by what follows."""
        if not self.quiet and _isatty(self.stream):
            print(f"\rkref-lint: {text}\x1b[K", end="", file=self.stream, flush=True)

    def error(self, line: str) -> None:
        """A line that is printed whatever ``-q`` says."""
        print(line, file=self.stream)

    @contextmanager
    def progress(self, total: int, what: str = "file") -> Iterator[Callable[[FileOutcome], None]]:
        """A callback to call once per file done; draws a bar on a terminal only."""
        interactive = not self.quiet and total > 1 and _isatty(self.stream)
        width = _width(self.stream) if interactive else 0
        bar = tqdm(total=total, unit=what, file=self.stream, disable=not interactive,
                   desc="kref-lint", leave=False, dynamic_ncols=width > 0,
                   ncols=None if width > 0 else 80, nrows=None if width > 0 else 24,
                   mininterval=0.2, smoothing=0.1)
        if not self.quiet and _isatty(self.stream):
            print("\r\x1b[K", end="", file=self.stream, flush=True)    # the status line
        try:
            yield lambda _outcome: bar.update(1)
        finally:
            bar.close()

    def diagnostics(self, run: RunResult, cwd: str) -> None:
        """Errors always, notes about the whole run unless ``-q``; the rest listed with
        ``--show-diagnostics``, else summarized in one line (nothing with ``-q``)."""
        shown = run.notifications if self.show_diagnostics else [
            n for n in run.notifications
            if n.level == "error" or (not n.file and not self.quiet)]
        for n in sorted(shown, key=lambda n: (n.file == "", n.file, n.line, n.kind,
                                              n.message)):
            print(diagnostic_line(n, cwd), file=self.stream)
        if not self.show_diagnostics and not self.quiet:
            line = diagnostics_summary(run.notifications)
            if line:
                print(line, file=self.stream)


def _width(stream: TextIO) -> int:
    """The terminal's width, 0 when it does not say (a pty nobody sized)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def check_output(path: str) -> None:
    """Fail before any work when ``path`` cannot be written: its directory is missing
    or it is a directory.  Raises :class:`OutputError`."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise OutputError(f"cannot write {path}: no directory {directory}")
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a directory")


def write_output(path: str, text: str) -> None:
    """Write the report to ``path`` (see the module doc).  Raises :class:`OutputError`."""
    if os.path.islink(path):
        # through the link, as a shell's `>` would: the link stays a link
        path = os.path.realpath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(path, "w", encoding="utf-8") as fh:    # a fifo, a tty, /dev/stdout
                fh.write(text)
            return
        _replace(path, text, stat.S_IMODE(st.st_mode) if st is not None else None)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _replace(path: str, text: str, mode: int | None) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".kref-lint-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
