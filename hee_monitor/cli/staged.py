"""``hee-monitor fix staged``: the fixer of the ``hee-auto-fix`` pre-commit hook.

It touches only what is being committed. pre-commit passes the staged files (and has
stashed their unstaged changes); run by hand, the staged files are asked of git. Of those,
a file git does not track (untracked) or one with changes that are not staged is never
written. Each high-safety, file-scoped fixer of the strategy table (ruff, black, isort,
eslint, prettier) runs on the files its strategy covers, named one by one, never on the
whole tree. A fixer that was asked for, or the only fixer for a staged file, whose tool is
not installed is an error naming what to add to the hook's ``additional_dependencies``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from hee_monitor.core.errors import FixError, UsageError

#: the pip package that brings each tool into a pre-commit (language: python) environment
_PACKAGES: dict[str, str] = {"ruff": "ruff", "black": "black", "isort": "isort"}
#: flags that make a tool skip the files its own configuration excludes when the files are
#: named explicitly, and (prettier) ignore files it has no parser for
_EXTRA_FLAGS: dict[str, tuple[str, ...]] = {
    "ruff": ("--force-exclude",),
    "isort": ("--filter-files",),
    "prettier": ("--ignore-unknown",),
}


@dataclass(frozen=True)
class FileFixer:
    """A fixer that can be pointed at single files: its command without the final ``.``."""

    strategy: str
    argv: tuple[str, ...]
    globs: tuple[str, ...]
    ok_codes: tuple[int, ...]

    @property
    def tool(self) -> str:
        return self.argv[0]

    @property
    def catch_all(self) -> bool:
        return "**" in self.globs

    def covers(self, path: str) -> bool:
        name = Path(path).name
        return any(g == "**" or fnmatch.fnmatch(name, g.removeprefix("**/")) for g in self.globs)

    def requirement(self) -> str:
        package = _PACKAGES.get(self.tool)
        if package:
            return f"add `additional_dependencies: [{package}]` to the hook"
        return f"install {self.tool} on the PATH the hook runs with"


def file_fixers() -> dict[str, FileFixer]:
    """The high-safety strategies whose single command ends in ``.`` (the whole tree),
    so that the files can be named instead."""
    from hee_monitor.action.fixes.strategies.commands import COMMAND_STRATEGIES
    from hee_monitor.action.fixes.strategies.interface import Safety

    out: dict[str, FileFixer] = {}
    for strategy in COMMAND_STRATEGIES.values():
        if strategy.safety is not Safety.HIGH or len(strategy.commands) != 1:
            continue
        argv = strategy.commands[0]
        if argv[-1] != ".":
            continue
        base = (*argv[:-1], *_EXTRA_FLAGS.get(argv[0], ()))
        out[strategy.id] = FileFixer(strategy.id, base, strategy.files, strategy.ok_codes)
    return out


def _git(repo: Path, *args: str) -> list[str]:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise UsageError(
            f"git {args[0]} failed in {repo}: {proc.stderr.decode(errors='replace').strip()}",
            hint="run the hook inside a git work tree",
        )
    return [p for p in proc.stdout.decode("utf-8", errors="surrogateescape").split("\0") if p]


@dataclass(frozen=True)
class Selection:
    files: tuple[str, ...]
    #: path → why it is left alone
    skipped: dict[str, str]


def select_files(repo: Path, given: Sequence[str]) -> Selection:
    """The files to fix: ``given`` (or the staged files) minus untracked files and files with
    unstaged changes."""
    if not given:
        given = _git(repo, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    if not given:
        return Selection((), {})
    tracked = set(_git(repo, "ls-files", "--cached", "-z", "--", *given))
    unstaged = set(_git(repo, "diff", "--name-only", "-z", "--", *given))
    files: list[str] = []
    skipped: dict[str, str] = {}
    for path in dict.fromkeys(given):
        rel = Path(path).as_posix()
        if rel not in tracked:
            skipped[rel] = "not tracked by git (not part of the commit)"
        elif rel in unstaged:
            skipped[rel] = "has changes that are not staged (stage or stash them first)"
        elif not (repo / rel).is_file():
            skipped[rel] = "not a file"
        else:
            files.append(rel)
    return Selection(tuple(files), skipped)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fix_files(
    repo: Path, files: Sequence[str], strategies: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Run the fixers on ``files`` (relative to ``repo``); return (changed files, log lines).

    Raises UsageError for an unknown strategy or a missing tool (naming what to install)."""
    fixers = file_fixers()
    unknown = [s for s in strategies if s not in fixers]
    if unknown:
        raise UsageError(
            f"not a file-scoped high-safety strategy: {', '.join(unknown)}",
            hint=f"choose from {', '.join(sorted(fixers))}",
        )
    chosen = [fixers[s] for s in strategies] if strategies else list(fixers.values())
    installed = {f.strategy: shutil.which(f.tool) is not None for f in chosen}
    if strategies:
        missing = [f for f in chosen if not installed[f.strategy]]
    else:
        # a staged file that only missing tools could fix: say so rather than pass silently
        missing = []
        for path in files:
            specific = [f for f in chosen if not f.catch_all and f.covers(path)]
            if specific and not any(installed[f.strategy] for f in specific):
                missing += [f for f in specific if f not in missing]
    if missing:
        tools = ", ".join(sorted({f.tool for f in missing}))
        raise UsageError(
            f"the fixer tool is not installed: {tools} (needed by "
            f"{', '.join(f.strategy for f in missing)}), so nothing could be fixed",
            hint="; ".join(dict.fromkeys(f.requirement() for f in missing)),
        )
    before = {path: _digest(repo / path) for path in files}
    log: list[str] = []
    for fixer in chosen:
        if not installed[fixer.strategy]:
            continue
        targets = [p for p in files if fixer.covers(p)]
        if not targets:
            continue
        # "./" keeps a file named like an option from being read as one, for every tool
        argv = [*fixer.argv, *(f"./{p}" for p in targets)]
        proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=False)
        log.append(f"{fixer.strategy}: {len(targets)} file(s), exit {proc.returncode}")
        if proc.returncode not in fixer.ok_codes:
            raise FixError(
                f"{' '.join(fixer.argv)} failed with exit code {proc.returncode}",
                hint=(proc.stdout + proc.stderr)[-500:] or "run the command by hand to see why",
            )
    changed = [path for path in files if _digest(repo / path) != before[path]]
    return changed, log


@click.command("staged")
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Fixers to run (default: every installed one that covers a file).",
)
@click.option(
    "--safety",
    type=click.Choice(["high"]),
    default="high",
    show_default=True,
    help="Only high-safety fixers run here (accepted for the hook's older arguments).",
)
@click.option(
    "--repo-path",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The git work tree.",
)
def staged(
    files: tuple[str, ...], strategies: tuple[str, ...], safety: str, repo_path: Path
) -> int:
    """Fix the files being committed, and only those (the hee-auto-fix pre-commit hook).

    FILES default to the staged files. Untracked files and files with unstaged changes are
    never written. Exit 1 when a file changed (re-stage it, as with any formatter), 2 when a
    fixer's tool is missing (the message names what to add to additional_dependencies).

    \b
    Examples:
      hee-monitor fix staged                           the staged files
      hee-monitor fix staged --strategy ruff-format src/app.py
      scripts/auto_fix.py --mode pre-commit --safety high
    """
    del safety  # only high-safety fixers exist here
    repo = repo_path.resolve()
    top = Path(_git(repo, "rev-parse", "--show-toplevel")[0].strip())
    given = [
        (Path(f) if Path(f).is_absolute() else (repo / f)).resolve().relative_to(top).as_posix()
        for f in files
    ]
    selection = select_files(top, given)
    for path, why in selection.skipped.items():
        click.echo(f"left alone: {path}: {why}", err=True)
    if not selection.files:
        click.echo("nothing to fix: no staged file")
        return 0
    changed, _log = fix_files(top, selection.files, strategies)
    for path in changed:
        click.echo(f"fixed: {path}")
    if changed:
        click.echo(f"{len(changed)} file(s) fixed; review and stage them (git add) to commit")
        return 1
    click.echo(f"{len(selection.files)} file(s) checked, nothing to fix")
    return 0
