"""The fix-strategy port: one small Protocol, values for plans and checks.

A strategy says what it needs (tools on PATH, files present), how risky it is, what it will
do (:class:`FixPlan`: commands, files it touches, how to validate) and then does it
(``apply``). The engine owns everything around it: constraints, backup, validation,
rollback, the branch and the pull request.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hee_monitor.core.errors import FixError
from hee_monitor.core.models import Finding
from hee_monitor.decision.risk import Safety as Safety  # declared with the risk model
from hee_monitor.sources.interface import Rerun

if TYPE_CHECKING:
    from hee_monitor.action.fixes.failing_command import FailingCommand

#: output kept from a command or check: enough to show why it failed, never a whole build log
MAX_OUTPUT = 8000


@dataclass(frozen=True)
class Requirements:
    """Tools that must be on PATH and files (glob patterns, any match) the repository has."""

    tools: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def missing(self, repo: Path, path_env: str | None = None) -> tuple[str, ...]:
        """Human-readable reasons why the strategy cannot run here; empty when it can."""
        reasons: list[str] = []
        for tool in self.tools:
            if shutil.which(tool, path=path_env) is None:
                reasons.append(f"tool {tool!r} is not on PATH")
        if self.files and not any(_glob_any(repo, pattern) for pattern in self.files):
            reasons.append("none of " + ", ".join(self.files) + " is in the repository")
        return tuple(reasons)


def _glob_any(repo: Path, pattern: str) -> bool:
    return next(iter(repo.glob(pattern)), None) is not None


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    output: str
    name: str = ""


#: a built-in check: (repository, arguments) → (passed, output)
BuiltinCheck = Callable[[Path, tuple[str, ...]], tuple[bool, str]]


@dataclass(frozen=True)
class Check:
    """A validation: a command (passes on exit 0, and on empty output when ``fail_on_output``)
    or a built-in check run in-process (``builtin`` names it, ``impl`` is the function; the
    strategy that plans the check passes its own function, so this module needs none).
    """

    name: str
    argv: tuple[str, ...] = ()
    builtin: str | None = None
    impl: BuiltinCheck | None = field(default=None, compare=False, repr=False)
    args: tuple[str, ...] = ()
    fail_on_output: bool = False
    shell: bool = False
    #: run as a CI step is run (bash -eo pipefail, scrubbed environment, own process
    #: group, timeout): the failing command of the diagnosis
    sandboxed: bool = False
    #: repository-relative working directory of a sandboxed check
    cwd: str = ""
    timeout: float = 900.0

    def describe(self) -> str:
        if self.sandboxed:
            where = f" (in {self.cwd})" if self.cwd else ""
            return "the failing command: " + self.argv[-1].strip() + where
        if self.builtin is not None:
            return f"builtin:{self.builtin}" + ("" if not self.args else " " + " ".join(self.args))
        return " ".join(self.argv)

    def run(self, repo: Path, env: Mapping[str, str] | None = None) -> CheckResult:
        if self.builtin is not None:
            if self.impl is None:
                raise FixError(
                    f"built-in check {self.builtin!r} comes without its implementation",
                    hint="the strategy that plans a built-in check passes its function as impl",
                )
            passed, output = self.impl(repo, self.args)
            return CheckResult(passed, output[-MAX_OUTPUT:], self.name)
        if self.sandboxed:
            from hee_monitor.action.fixes.failing_command import run_sandboxed

            where = repo / self.cwd if self.cwd else repo
            if not where.is_dir():
                return CheckResult(False, f"working directory {self.cwd} does not exist", self.name)
            ran = run_sandboxed(self.argv[-1], where, env or os.environ, timeout=self.timeout)
            return CheckResult(ran.returncode == 0, ran.output[-MAX_OUTPUT:], self.name)
        where = repo / self.cwd if self.cwd else repo
        result = run_command(self.argv, where, env=env, shell=self.shell, timeout=self.timeout)
        passed = result.returncode == 0 and not (self.fail_on_output and result.output.strip())
        return CheckResult(passed, result.output[-MAX_OUTPUT:], self.name)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    output: str


def run_command(
    argv: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    shell: bool = False,
    timeout: float = 900.0,
) -> CommandResult:
    """Run one command in ``cwd``; a missing tool or a timeout is a result, not a crash."""
    try:
        proc = subprocess.run(
            " ".join(argv) if shell else list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            shell=shell,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return CommandResult(tuple(argv), 127, f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return CommandResult(tuple(argv), 124, f"{' '.join(argv)}: timed out after {timeout}s")
    output = proc.stdout.decode("utf-8", "replace")
    return CommandResult(tuple(argv), proc.returncode, output[-MAX_OUTPUT:])


@dataclass(frozen=True)
class FixPlan:
    """What a strategy will do, exactly; the dry run prints this and touches nothing."""

    strategy: str
    description: str
    commands: tuple[tuple[str, ...], ...]
    #: repository-relative paths or glob patterns the strategy may change ("**" = anything)
    files: tuple[str, ...]
    validation: tuple[Check, ...]
    risk: int
    safety: Safety
    #: planned file edits, one line each (e.g. "requirements.txt: requests -> requests==2.31.0")
    edits: tuple[str, ...] = ()
    #: the strategy changes nothing in the tree (e.g. re-running jobs through the API)
    remote_only: bool = False
    #: what the reader should know about the plan (e.g. why the failing command is not
    #: among its validations)
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "description": self.description,
            "commands": [" ".join(c) for c in self.commands],
            "files": list(self.files),
            "edits": list(self.edits),
            "validation": [c.describe() for c in self.validation],
            "risk": self.risk,
            "safety": self.safety.value,
            "remote_only": self.remote_only,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class FixContext:
    """Everything a strategy may look at. Strategies change files only under ``repo``."""

    repo: Path
    finding: Finding | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: ``owner/name`` and run id, for strategies that act through the API
    repository: str | None = None
    run_id: str | None = None
    rerun: Rerun | None = None  # the forge, for strategies that re-run
    #: repository settings for strategies (e.g. the license header text, default timeout)
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: overrides of validation commands by strategy id, from repository configuration
    validation_overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the step that failed, found in the workflow or the log (None: not named)
    failing: FailingCommand | None = None

    @property
    def path_env(self) -> str | None:
        return self.env.get("PATH")

    def detail(self, key: str) -> Any:
        """A value the analyzer attached to the finding (e.g. package, version)."""
        if self.finding is None:
            return None
        return self.finding.details.get(key)

    def run(self, argv: Sequence[str], cwd: str = "") -> CommandResult:
        return run_command(argv, self.repo / cwd if cwd else self.repo, env=self.env)

    @property
    def working_directory(self) -> str:
        """Where the failing step ran (repository-relative; "" = the root)."""
        wd = self.failing.working_directory if self.failing is not None else ""
        return wd if wd and (self.repo / wd).is_dir() else ""

    def named_files(self, patterns: Sequence[str] = ("**",)) -> list[str]:
        """The repository files the failing step's log names (matching ``patterns``):
        what a formatter, linter or header fix limits itself to."""
        from hee_monitor.action.fixes.files import matches
        from hee_monitor.action.fixes.log_facts import log_file_tokens, resolve_files

        tokens = self.detail("log_files")
        if not isinstance(tokens, list):
            lines = [ln for e in (self.finding.evidence if self.finding else ()) for ln in
                     e.text.splitlines()]  # fmt: skip
            tokens = log_file_tokens(lines)
        named = resolve_files(self.repo, [str(t) for t in tokens], self.working_directory)
        return [f for f in named if matches(f, tuple(patterns))]


@runtime_checkable
class FixStrategy(Protocol):
    """One way of fixing a class of failure."""

    @property
    def id(self) -> str: ...

    @property
    def risk(self) -> int:
        """0 (cannot change behaviour) … 10 (may break the product)."""
        ...

    @property
    def safety(self) -> Safety: ...

    @property
    def requirements(self) -> Requirements: ...

    def plan(self, ctx: FixContext) -> FixPlan: ...

    def apply(self, ctx: FixContext) -> str:
        """Change the tree (or act through the API); return a short log of what was done.

        Raises :class:`FixError` when it cannot; the engine rolls back.
        """
        ...


def validation_for(
    ctx: FixContext, strategy_id: str, default: tuple[Check, ...]
) -> tuple[Check, ...]:
    """The repository's own validation command for this strategy, if it configured one."""
    override = ctx.validation_overrides.get(strategy_id)
    if override:
        return (Check(f"{strategy_id} (configured)", argv=tuple(override)),)
    return default


def upgrade_edits(ctx: FixContext) -> tuple[str, ...]:
    """The upgrades a security finding asks for, one line each with its advisory ids."""
    ups = ctx.detail("upgrades")
    if not isinstance(ups, list):
        return ()
    lines = []
    for up in ups:
        if not isinstance(up, dict) or not up.get("package"):
            continue
        ids = ", ".join(str(a) for a in up.get("advisories") or []) or "no advisory id given"
        lines.append(
            f"upgrade {up['package']} {up.get('installed') or '(installed version unknown)'}"
            f" -> {up.get('fixed') or '(no fixed version published)'} ({ids})"
        )
    return tuple(lines)
