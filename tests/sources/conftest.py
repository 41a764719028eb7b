from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.sources.github.source import GitHubSource
from tests.fakes.github import GitHubFake

TOKEN = "ghp_test_token_0123456789abcdef"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        server.require_token(TOKEN)
        yield server


@pytest.fixture
def make_source(fake: GitHubFake, clock: FakeClock) -> Iterator[Callable[..., GitHubSource]]:
    made: list[GitHubSource] = []

    def make(repos: list[str] | None = None, **kwargs: Any) -> GitHubSource:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("api_url", fake.url)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("since", clock.now() - timedelta(days=1))
        kwargs.setdefault("write_interval", None)
        source = GitHubSource(repos or ["octo/app"], **kwargs)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()
