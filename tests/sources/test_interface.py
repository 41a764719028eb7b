"""One contract for every source: what the pipeline may rely on, whoever produced a run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hee_monitor.core.models import FailedRun
from hee_monitor.sources import SOURCES
from hee_monitor.sources.github.source import GitHubSource
from hee_monitor.sources.interface import (
    InMemoryProcessedRuns,
    ProcessedRuns,
    Skipped,
    Source,
)
from hee_monitor.sources.local.source import LocalSource
from tests.fakes.github import GitHubFake, JobSpec

LOG = "2026-01-01T00:00:00.0000000Z ##[error]Process completed with exit code 1.\n" * 300

MakeSource = Callable[[ProcessedRuns], Source]


@pytest.fixture(params=sorted(SOURCES))
def make(
    request: pytest.FixtureRequest,
    fake: GitHubFake,
    make_source: Callable[..., GitHubSource],
    tmp_path: Path,
) -> Iterator[MakeSource]:
    if request.param == "github":
        fake.add_run("octo/app", jobs=[JobSpec("test", "failure", log_text=LOG)])
        fake.add_run("octo/app", conclusion="cancelled", jobs=[JobSpec("deploy", "cancelled")])
        yield lambda state: make_source(state=state)
    else:
        (tmp_path / "a.log").write_text(LOG)
        (tmp_path / "b.log").write_text("npm ERR! code ERESOLVE\n")
        yield lambda state: LocalSource([tmp_path / "a.log", tmp_path / "b.log"], state=state)


def test_every_source_keeps_the_contract(make: MakeSource) -> None:
    store = InMemoryProcessedRuns()
    source = make(store)
    assert isinstance(source, Source)

    items = list(source.poll())

    runs = [item for item in items if isinstance(item, FailedRun)]
    assert runs and all(isinstance(item, FailedRun | Skipped) for item in items)
    assert len({run.key for run in runs}) == len(runs)
    for run in runs:
        assert store.seen(run.key)
        assert run.conclusion in ("failure", "timed_out", "cancelled", "startup_failure")
        for job in run.jobs:
            assert job.open_log is not None
            data = b"".join(job.open_log())
            assert data and isinstance(data, bytes)
    assert list(make(store).poll()) == []  # a restart with the same store: nothing again
