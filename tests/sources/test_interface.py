"""One contract for every source: what the pipeline may rely on, whoever produced a run.

Each registered source is built through :func:`open_forge` (as the service builds it) and
checked on every port it implements: a second forge is one folder plus one registry line,
and this test runs over it without change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import ConfigError, SourceError
from hee_monitor.core.models import FailedRun
from hee_monitor.sources import SOURCES, open_forge, source_class
from hee_monitor.sources.interface import (
    Artifacts,
    Commits,
    Files,
    Forge,
    ForgeSettings,
    InMemoryProcessedRuns,
    Issues,
    Jobs,
    Labels,
    Logs,
    ProcessedRuns,
    PullRequests,
    Rerun,
    Runs,
    RunStatus,
    Skipped,
    Source,
    Tokens,
)
from tests.fakes.github import GitHubFake, JobSpec
from tests.sources.conftest import TOKEN

LOG = "2026-01-01T00:00:00.0000000Z ##[error]Process completed with exit code 1.\n" * 300

MakeSource = Callable[[ProcessedRuns], Source]

#: the ports each registered source offers (a new forge adds its line)
PORTS: dict[str, set[type]] = {
    "github": {
        Runs, Commits, Jobs, Logs, Artifacts, Rerun, PullRequests, Issues, Labels, Files,
        Tokens,
    },
    "local": {Runs, Jobs, Logs},
}  # fmt: skip
ALL_PORTS = PORTS["github"]


@pytest.fixture(params=sorted(SOURCES))
def make(
    request: pytest.FixtureRequest, fake: GitHubFake, clock: FakeClock, tmp_path: Path
) -> Iterator[MakeSource]:
    made: list[Source] = []
    if request.param == "github":
        fake.add_run("octo/app", jobs=[JobSpec("test", "failure", log_text=LOG)])
        fake.add_run("octo/app", conclusion="cancelled", jobs=[JobSpec("deploy", "cancelled")])
        base = ForgeSettings(
            repos=("octo/app",),
            token=TOKEN,
            api_url=fake.url,
            clock=clock,
            lookback=timedelta(days=1),
            write_interval=None,
        )
    else:
        (tmp_path / "a.log").write_text(LOG)
        (tmp_path / "b.log").write_text("npm ERR! code ERESOLVE\n")
        base = ForgeSettings(paths=(tmp_path / "a.log", tmp_path / "b.log"))

    def build(state: ProcessedRuns) -> Source:
        source = open_forge(request.param, ForgeSettings(**{**base.__dict__, "state": state}))
        made.append(source)
        return source

    build.kind = request.param  # type: ignore[attr-defined]
    yield build
    for source in made:
        if isinstance(source, Forge):
            source.close()


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


def test_each_source_offers_the_ports_it_claims(make: MakeSource) -> None:
    source = make(InMemoryProcessedRuns())
    kind = make.kind  # type: ignore[attr-defined]
    offered = {port for port in ALL_PORTS if isinstance(source, port)}
    assert offered == PORTS[kind]
    assert isinstance(source, Forge) == (offered == ALL_PORTS)


def test_runs_jobs_and_logs_agree_with_the_polled_run(make: MakeSource) -> None:
    source = make(InMemoryProcessedRuns())
    runs = [item for item in source.poll() if isinstance(item, FailedRun)]
    assert isinstance(source, Runs) and isinstance(source, Jobs) and isinstance(source, Logs)
    for run in runs:
        status = source.get_run(run.repo, run.run_id)
        assert isinstance(status, RunStatus)
        assert (status.run_id, status.status, status.conclusion, status.head_sha) == (
            run.run_id,
            "completed",
            run.conclusion,
            run.head_sha,
        )
        again = source.fetch_failed_run(run.repo, run.run_id, run.run_attempt)
        assert isinstance(again, FailedRun)
        assert again.key == run.key
        assert [j.job_id for j in again.jobs] == [j.job_id for j in run.jobs]

        listed = {job.job_id: job for job in source.list_jobs(run.repo, run.run_id)}
        for job in run.jobs:
            assert listed[job.job_id].conclusion == job.conclusion
            assert listed[job.job_id].name == job.name
            assert job.open_log is not None
            assert b"".join(source.stream_job_log(run.repo, job.job_id)) == b"".join(job.open_log())
        assert all(isinstance(r, RunStatus) for r in source.successful_runs(run.repo))


def test_a_run_the_source_does_not_have_is_skipped_not_invented(make: MakeSource) -> None:
    source = make(InMemoryProcessedRuns())
    assert isinstance(source, Runs)
    missing = source.fetch_failed_run("octo/app", 7, 1)
    assert isinstance(missing, Skipped) and missing.run_id == 7
    with pytest.raises(SourceError):
        source.get_run("octo/app", 7)


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown source kind 'svn'") as caught:
        open_forge("svn", ForgeSettings())
    assert caught.value.hint and "github" in caught.value.hint
    assert all(hasattr(source_class(kind), "from_settings") for kind in SOURCES)
