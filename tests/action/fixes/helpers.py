"""A scriptable strategy for engine tests: it makes the changes it is told to make."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hee_monitor.action.fixes.strategies.interface import (
    Check,
    FixContext,
    FixPlan,
    Requirements,
    Safety,
)


def exists_check(name: str) -> Check:
    """Passes when ``name`` exists in the repository."""
    code = f"import pathlib, sys; sys.exit(0 if pathlib.Path({name!r}).exists() else 1)"
    return Check(f"{name} exists", argv=(sys.executable, "-c", code))


@dataclass
class ScriptedStrategy:
    id: str = "scripted"
    risk: int = 1
    safety: Safety = Safety.HIGH
    requirements: Requirements = field(default_factory=Requirements)
    writes: dict[str, str] = field(default_factory=dict)
    deletes: tuple[str, ...] = ()
    chmods: dict[str, int] = field(default_factory=dict)
    validation: tuple[Check, ...] = ()
    files: tuple[str, ...] = ("**",)
    applied: int = 0

    def plan(self, ctx: FixContext) -> FixPlan:
        return FixPlan(
            strategy=self.id,
            description="scripted change",
            commands=(),
            files=self.files,
            validation=self.validation,
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        self.applied += 1
        for name, text in self.writes.items():
            path = ctx.repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for name in self.deletes:
            (ctx.repo / name).unlink()
        for name, mode in self.chmods.items():
            os.chmod(ctx.repo / name, mode)
        return "scripted"


def seed_mixed_tree(root: Path) -> None:
    """Tracked, untracked and ignored files with distinct modes and a symlink."""
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "link").symlink_to("src/app.py")
