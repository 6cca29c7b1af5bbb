"""A pool of worker processes that isolates files from each other.

Each worker analyzes one file at a time.  A file whose analysis kills its worker (a
segfault in libclang), runs past the per-file limit of CPU time (RLIMIT_CPU: load on the
machine cannot cost a file its analysis; a generous wall-clock backstop catches a worker
stuck without computing), or exceeds the worker's memory bound (RLIMIT_AS) becomes a
notification naming the file and the reason; the worker is replaced and every other
file still finishes.  Results come back in the order files were given.

A worker's stderr (libclang's crash dumps, ``LLVM ERROR: out of memory``, ...) never
reaches the user's terminal: it goes to a file per worker, and what it wrote for a file
is added to that file's outcome (a ``frontend-output`` note, or the message of the crash
or timeout).

Workers are forked once and reused (models and checkers are loaded once per worker);
libclang is only ever loaded inside them.

Fault injection for tests: ``KREF_LINT_INJECT="crash:<substring>;hang:<substring>;
oom:<substring>;stderr:<substring>;sleep:<substring>"`` makes a worker segfault, spin
on the CPU (``spin``: for 2 s of CPU time, then go on), allocate without bound, write libclang's give-up message on its fd 2, or sleep forever, on a file whose path contains the
substring (several apply in order).  It is read only inside workers.
"""
from __future__ import annotations

import faulthandler
import math
import os
import resource
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any

from analyzer.result import Notification
from analyzer.results.outcome import FileOutcome

_CAPTURE_MAX = 64 * 1024                    # bytes of a worker's stderr kept per file

DEFAULT_TIMEOUT = 120.0                     # seconds per file
DEFAULT_MEMORY = 4 * 1024 ** 3              # bytes of address space per worker


def _inject(path: str) -> None:
    spec = os.environ.get("KREF_LINT_INJECT", "")
    for item in filter(None, spec.split(";")):
        kind, _, needle = item.partition(":")
        if needle and needle in path:
            if kind == "stderr":               # what libclang prints when it gives up
                os.write(2, b"LLVM ERROR: out of memory\n"
                            b"libclang: crash detected during parsing\n")
            elif kind == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif kind == "hang":                 # a file that needs CPU without end
                while True:
                    pass
            elif kind == "spin":                 # a file that needs 2 s of CPU
                until = time.process_time() + 2.0
                while time.process_time() < until:
                    pass
            elif kind == "sleep":                # stuck without computing
                while True:
                    time.sleep(1)
            elif kind == "oom":
                hog = []
                while True:
                    hog.append(bytearray(64 * 1024 * 1024))


def _captured(fd: int) -> str:
    """What the worker wrote on its stderr (``fd``) for the current file, one line."""
    try:
        data = os.pread(fd, _CAPTURE_MAX, 0)
    except OSError:
        return ""
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines()]
    text = " | ".join(ln for ln in lines if ln)
    return text if len(text) <= 400 else text[:397] + "..."


def _worker_main(conn: Connection, make_task: Callable, memory: int | None,
                 path_of: Callable[[Any], str], errfd: int | None = None,
                 cpu: float | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent handles ^C
    for signum in (signal.SIGTERM, signal.SIGHUP):  # not the parent's cleanup handler
        signal.signal(signum, signal.SIG_DFL)
    if errfd is not None:
        # libclang (and anything else) writes on fd 2: that goes into the file's
        # notification, never on the user's terminal
        os.dup2(errfd, 2)
    # A crash is reported by the parent, as a notification naming the file; a Python
    # traceback dump of the dead worker (inherited from pytest or PYTHONFAULTHANDLER)
    # would only be noise on the user's terminal.
    faulthandler.disable()
    try:                            # SIGXCPU and SIGSEGV kill it: no core file
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if memory:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        except (ValueError, OSError):
            pass
    task = make_task()
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        path = path_of(item)
        if errfd is not None:
            os.ftruncate(2, 0)
        if cpu:
            _limit_cpu(cpu)
        try:
            _inject(path)
            result = task(item)
        except MemoryError:
            result = FileOutcome(path).fail(
                f"out of memory (worker bound {(memory or 0) // 2**20} MiB; "
                "KREF_LINT_WORKER_MEMORY), not analyzed", "memory")
        except Exception as exc:                   # a bug must not lose other files
            result = FileOutcome(path).fail(
                f"internal error: {type(exc).__name__}: {exc}", "internal-error")
        if errfd is not None:
            said = _captured(2)
            if said:
                result.notifications.append(Notification(
                    f"the frontend printed: {said}", path, 0, "note", "frontend-output"))
        conn.send(result)


def _limit_cpu(seconds: float) -> None:
    """SIGXCPU (which kills the worker) once this file has used ``seconds`` of CPU: the
    soft RLIMIT_CPU, counted from what the worker has used so far (the hard limit is
    left alone: an unprivileged process could not raise it again for the next file)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(use.ru_utime + use.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


class _Worker:
    def __init__(self, ctx, make_task, memory, path_of, cpu=None):
        self.conn, child = ctx.Pipe()
        # the worker's stderr: read for the notification of a file that kills it
        self.errfile = tempfile.TemporaryFile(prefix="kref-lint-stderr-")  # noqa: SIM115
        errfd = self.errfile.fileno() if ctx.get_start_method() == "fork" else None
        self.proc = ctx.Process(target=_worker_main,
                                args=(child, make_task, memory, path_of, errfd, cpu),
                                daemon=True)
        self.proc.start()
        child.close()
        self.index: int | None = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        if kill and self.proc.is_alive():
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.errfile.close()

    def said(self) -> str:
        """What the worker wrote on stderr for its file (one line, maybe "")."""
        return _captured(self.errfile.fileno())


def _identity(item: Any) -> str:
    return item


def run_isolated(items: Sequence[Any], make_task: Callable[[], Callable[[Any], FileOutcome]],
                 jobs: int, timeout: float = DEFAULT_TIMEOUT,
                 memory: int | None = DEFAULT_MEMORY,
                 path_of: Callable[[Any], str] = _identity,
                 on_done: Callable[[FileOutcome], None] | None = None,
                 wall: float | None = None) -> list[FileOutcome]:
    """Run ``make_task()(item)`` for every item in ``jobs`` isolated worker processes
    (one is enough for ``jobs=1``: the limits hold whatever ``-j`` says).

    ``timeout``: seconds of CPU time per item (RLIMIT_CPU in the worker: a loaded machine
    cannot make a file time out); ``wall``: the wall-clock backstop for a worker that is
    stuck without computing (default :func:`wall_backstop`); ``memory``: bytes of
    address space per worker (RLIMIT_AS).

    ``make_task`` runs once in each worker (it must be picklable or, with fork, any
    callable); ``path_of(item)`` names the file an item is about (items are paths by
    default); ``on_done`` is called with each outcome as it arrives (progress).  Returns
    outcomes in the order of ``items``."""
    if not items:
        return []
    paths = [path_of(item) for item in items]
    wall = wall if wall is not None else wall_backstop(timeout)
    ctx = get_context("fork") if hasattr(os, "fork") else get_context("spawn")
    results: list[FileOutcome | None] = [None] * len(paths)
    pending = list(range(len(paths)))[::-1]
    workers = [_Worker(ctx, make_task, memory, path_of, timeout)
               for _ in range(max(1, min(jobs, len(paths))))]
    try:
        while pending or any(w.index is not None for w in workers):
            for w in workers:
                if w.index is None and pending:
                    w.index = pending.pop()
                    w.started = time.monotonic()
                    w.conn.send(items[w.index])
            busy = [w for w in workers if w.index is not None]
            now = time.monotonic()
            left = min(wall - (now - w.started) for w in busy)
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                         timeout=max(0.0, left))
            for i, w in enumerate(workers):
                index = w.index
                if index is None:
                    continue
                path = paths[index]
                outcome: FileOutcome | None = None
                if w.conn in ready:
                    try:
                        outcome = w.conn.recv()
                    except (EOFError, OSError):
                        pass                       # died while answering: see below
                    else:
                        results[index] = outcome
                        if on_done is not None:
                            on_done(outcome)
                        w.index = None
                        continue
                if w.proc.sentinel in ready or not w.proc.is_alive():
                    w.proc.join()
                    outcome = _dead(path, w.proc.exitcode, w.said(), timeout, memory)
                elif time.monotonic() - w.started >= wall:
                    said = w.said()
                    outcome = FileOutcome(path).fail(
                        f"timed out after {wall:g} s of wall-clock time (the backstop: it "
                        f"was not computing), not analyzed"
                        + (f"; it printed: {said}" if said else ""), "timeout")
                else:
                    continue
                results[index] = outcome
                if on_done is not None:
                    on_done(outcome)
                w.index = None
                w.stop(kill=True)
                workers[i] = _Worker(ctx, make_task, memory, path_of, timeout)
    finally:
        for w in workers:
            w.stop(kill=w.index is not None)
    return [r for r in results if r is not None]


def wall_backstop(cpu: float) -> float:
    """The wall-clock limit for a file allowed ``cpu`` seconds of CPU: generous (a
    machine three times oversubscribed still finishes it), and ``KREF_LINT_WALL_TIMEOUT``
    overrides it."""
    given = os.environ.get("KREF_LINT_WALL_TIMEOUT")
    return float(given) if given else max(3 * cpu, cpu + 60)


def _dead(path: str, code: int | None, said: str, cpu: float,
          memory: int | None) -> FileOutcome:
    """The outcome of a file whose worker died: of the CPU limit, of memory, a crash."""
    tail = f"; it printed: {said}" if said else ""
    if code == -signal.SIGXCPU:
        return FileOutcome(path).fail(
            f"timed out after {cpu:g} s of CPU time, not analyzed (KREF_LINT_TIMEOUT)"
            + tail, "timeout")
    if "out of memory" in said.lower() or "bad_alloc" in said:
        bound = f"worker bound {memory // 2**20} MiB" if memory else "no worker bound"
        return FileOutcome(path).fail(
            f"out of memory ({bound}; KREF_LINT_WORKER_MEMORY), not analyzed" + tail,
            "memory")
    return FileOutcome(path).fail(_death(code) + tail, "worker-crash")


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the analyzer crashed on this file ({name}); other files are unaffected"
    return f"the analyzer's worker exited unexpectedly (status {code}) on this file"
