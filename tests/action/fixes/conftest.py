"""Real git repositories in tmp_path, with the tools of this virtualenv on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import Finding, Owner, Severity
from hee_monitor.record.db import open_engine

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def tool_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(IDENTITY)
    # toolchains installed per user (rustup) keep finding their home
    env.setdefault("CARGO_HOME", str(Path.home() / ".cargo"))
    env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
    env["HOME"] = str(home)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("GITHUB_RUN_ID", None)
    return env


class Repo:
    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def write(self, name: str, text: str, mode: int | None = None) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if mode is not None:
            path.chmod(mode)
        return path

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def refs(self) -> str:
        return self.git("for-each-ref")


def init_repo(path: Path, env: dict[str, str]) -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], env=env, check=True)
    return Repo(path, env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return tool_env(home)


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Repo:
    return init_repo(tmp_path / "repo", env)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 19, 0, tzinfo=UTC))


def make_finding(
    strategy: str | None,
    *,
    category: str = "lint",
    severity: Severity = Severity.LOW,
    risk: int = 1,
    fingerprint: str = "fp-1",
    pattern_id: str = "PY-RUFF-LINT",
    details: dict[str, object] | None = None,
) -> Finding:
    return Finding(
        pattern_id=pattern_id,
        title="ruff found lint errors",
        category=category,
        severity=severity,
        owner=Owner.DEVELOPER,
        risk=risk,
        transient=False,
        confidence=0.9,
        fix_strategy=strategy,
        fingerprint=fingerprint,
        evidence=(),
        details=dict(details or {}),
    )


FindingFactory = Callable[..., Finding]


def tree_state(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every path under root except .git: (mode, content or link target)."""
    state: dict[str, tuple[int, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames and Path(dirpath) == root:
            dirnames.remove(".git")
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                state[rel] = (st.st_mode, os.readlink(p))
            else:
                state[rel] = (st.st_mode, p.read_bytes())
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                state[str(p.relative_to(root)) + "/"] = (p.lstat().st_mode, b"")
    return state
