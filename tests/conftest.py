"""Fixtures shared by every test package: the store on each supported database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """One throwaway PostgreSQL cluster per test session (per xdist worker)."""
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
