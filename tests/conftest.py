"""Suite-wide isolation: nothing a test runs writes to the real home directory, and no two
tests (nor two xdist workers) share a default state directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The compiled-pattern cache ($XDG_CACHE_HOME/hee-monitor) goes to this worker's
    temporary directory (shared by its tests: compiling once is the point of a cache)."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default state directory ($XDG_STATE_HOME/hee-monitor: audit store, capsule) is
    the test's own temporary directory; subprocesses inherit the environment."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("HEE_STATE_DIR", raising=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: with pytest-xdist (-n auto) one worker takes the few long ones
    (the real pre-commit install, the wheel demo) while the others run everything else,
    instead of a long test starting last and the whole run waiting for it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
