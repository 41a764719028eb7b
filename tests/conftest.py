"""Suite-wide isolation: nothing a test runs writes to the real home directory, and no two
tests (nor two xdist workers) share a default state directory. And the store on each
supported database: a throwaway PostgreSQL cluster per session (per xdist worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """One throwaway PostgreSQL cluster per test session (per xdist worker); skips where
    PostgreSQL or psycopg is not installed."""
    reason = postgres.unavailable()
    if reason:
        pytest.skip(reason)
    with postgres.cluster() as running:
        yield running


@pytest.fixture
def pg_url(pg_cluster: postgres.Cluster) -> str:
    """A fresh, empty PostgreSQL database."""
    return pg_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL on each supported database (the PostgreSQL case skips cleanly
    where PostgreSQL is not installed)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("pg_url")
    return url
