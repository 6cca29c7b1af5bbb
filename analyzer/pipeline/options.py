"""What the pipeline is told (:class:`Options`, one per run), what it decides per file
(:class:`FileTask`, made once by :mod:`analyzer.pipeline.plan`), and the models and
checkers a process loads once (:class:`Loaded`).  All picklable: workers get them."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from analyzer.engine import Checker
from analyzer.models import Models, load_models
from checkers import ALL


@dataclass(frozen=True)
class Options:
    """The run's analysis settings."""

    rule_files: tuple[str, ...] = ()
    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    frontend: str = "treesitter"          # auto | treesitter | clang
    # clang frontend: flags for every .c file (kbuild's, or a test's), else resolved per
    # file by analyzer.pipeline.flags from the compile database (this one, else the
    # nearest) or a prepared tree; and the analyzed paths whose headers' inline
    # functions are walked from the TUs that include them
    clang_args: tuple[str, ...] | None = None
    compile_commands: str | None = None
    header_roots: tuple[str, ...] = ()
    # the analyzed kernel's version "X.Y" (None: unknown), which selects the API models
    kernel_version: str | None = None
    # pass 1's result (analyzer.summaries.table.SummaryTable): the facts of the tree's
    # functions a file calls but does not define; None: same-file summaries only
    summaries: Any = field(default=None, compare=False)

    def enabled(self, rule_id: str) -> bool:
        return (self.select is None or rule_id in self.select) and rule_id not in self.ignore

    def cache_salt(self) -> str:
        """What, besides a task, changes an outcome: the models and the rule selection
        (the frontend and flags are the task's)."""
        return repr((self.rule_files, sorted(self.select) if self.select is not None else None,
                     sorted(self.ignore), self.header_roots, self.kernel_version,
                     self.summaries is not None))


@dataclass(frozen=True)
class FileTask:
    """How one file is read: decided once, in the plan, and carried to the worker."""

    path: str
    frontend: str = "treesitter"          # treesitter | clang
    args: tuple[str, ...] = ()            # libclang flags (clang)
    flags_origin: str = ""                # compile_commands | synthesized | explicit
    #: a header read by tree-sitter only when no TU of the run walked its functions
    unless_covered: bool = False
    #: tree-sitter: not parsed when it names no API a checker starts from
    prefilter: bool = False
    #: a header checked because the analyzed code calls its inline functions: only the
    #: findings of these functions are reported (None: every function's)
    report_only: frozenset[str] | None = None

    def cache_key(self) -> str:
        """The task as the result cache knows it: the same in every process (a set's
        repr follows the process's string hashing, so the names are sorted)."""
        return repr(tuple(sorted(v) if isinstance(v, frozenset) else v
                          for v in (getattr(self, f.name) for f in fields(self))))


def task_path(task: FileTask) -> str:
    """The file a task is about (for the worker pool)."""
    return task.path


@dataclass
class Loaded:
    """The models and the enabled checkers, loaded once per process."""

    options: Options
    models: Models = field(init=False)
    checkers: list[Checker] = field(init=False)

    def __post_init__(self) -> None:
        self.models = load_models(self.options.rule_files, kernel=self.options.kernel_version)
        self.checkers = [cls() for cls in ALL
                         if any(self.options.enabled(r.id) for r in cls.rules)]
