"""Last-green baselines fetched from the (loopback) GitHub API and kept in the audit store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hee_monitor.analysis.analyzer import Analyzer
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import FailedRun
from hee_monitor.record.audit import AuditStore
from hee_monitor.service.baseline import LastGreenBaselines
from hee_monitor.sources.github.source import GitHubSource
from tests.fakes.github import GitHubFake, JobSpec

TOKEN = "ghp_test_token_0123456789abcdef"
STAMP = "2024-01-01T00:00:00.0000000Z "
SETUP = [f"Setting up tool {n}" for n in range(6)]


def _log(body: list[str], failed: bool) -> str:
    lines = [*SETUP, "##[group]Run make check", "##[endgroup]", *body]
    if failed:
        lines.append("##[error]Process completed with exit code 1.")
    return "".join(STAMP + line + "\n" for line in lines)


PASSING = _log(["checking module 1 ... ok", "note: could not reach mirror 1, retrying"], False)
FAILING = _log(
    [
        "checking module 1 ... ok",
        "note: could not reach mirror 2, retrying",
        "config mismatch in settings.toml: key timeout",
        "note: could not reach mirror 3, retrying",
    ],
    True,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        server.require_token(TOKEN)
        yield server


@pytest.fixture
def source(fake: GitHubFake, clock: FakeClock) -> Iterator[GitHubSource]:
    made = GitHubSource(
        ["octo/app"],
        token=TOKEN,
        api_url=fake.url,
        clock=clock,
        since=clock.now() - timedelta(days=1),
        write_interval=None,
    )
    yield made
    made.close()


def _failed(fake: GitHubFake, source: GitHubSource, branch: str = "main") -> FailedRun:
    run = fake.add_run("octo/app", branch=branch, jobs=[JobSpec("test (3.11)", log_text=FAILING)])
    failed = source.fetch_failed_run("octo/app", run.id)
    assert isinstance(failed, FailedRun) and failed.workflow_id is not None
    return failed


def test_the_last_green_job_log_is_the_baseline_and_is_kept(
    fake: GitHubFake, source: GitHubSource, clock: FakeClock, tmp_path: Path
) -> None:
    green = fake.add_run(
        "octo/app", conclusion="success", jobs=[JobSpec("test (3.11)", "success", log_text=PASSING)]
    )
    fake.add_run(  # green on another branch: not this one's baseline
        "octo/app",
        conclusion="success",
        branch="feature",
        jobs=[JobSpec("test (3.11)", "success", log_text="other\n")],
    )
    run = _failed(fake, source)
    audit = AuditStore.open(f"sqlite:///{tmp_path}/audit.db")
    baselines = LastGreenBaselines(source, audit.engine, clock)
    baseline = baselines(run, run.jobs[0])
    assert baseline is not None and f"run {green.id}" in baseline.name
    assert "note: could not reach mirror <N>, retrying" in baseline.templates
    downloads = [r for r in fake.requests if r.path.endswith("/logs")]
    # the template set is kept per (repository, workflow, job): no second download
    again = LastGreenBaselines(source, audit.engine, clock)(run, run.jobs[0])
    assert again == baseline and baselines.downloads == 1
    assert [r for r in fake.requests if r.path.endswith("/logs")] == downloads
    diagnosis = Analyzer.from_default_database().analyze_text(FAILING, baseline=baseline)
    root = diagnosis.root_cause
    assert root is not None and any(baseline.name in note for note in diagnosis.notes)
    assert root.evidence[0].text == "config mismatch in settings.toml: key timeout"


def test_a_newer_green_run_replaces_the_kept_baseline(
    fake: GitHubFake, source: GitHubSource, clock: FakeClock, tmp_path: Path
) -> None:
    fake.add_run("octo/app", conclusion="success", jobs=[JobSpec("test (3.11)", "success")])
    run = _failed(fake, source)
    baselines = LastGreenBaselines(
        source, AuditStore.open(f"sqlite:///{tmp_path}/a.db").engine, clock
    )
    first = baselines(run, run.jobs[0])
    clock.advance(300)
    newer = fake.add_run(
        "octo/app", conclusion="success", jobs=[JobSpec("test (3.11)", "success", log_text=PASSING)]
    )
    second = baselines(run, run.jobs[0])
    assert first is not None and second is not None and f"run {newer.id}" in second.name
    assert baselines.downloads == 2


def test_no_green_run_no_job_of_that_name_or_trouble_means_no_baseline(
    fake: GitHubFake, source: GitHubSource, clock: FakeClock, tmp_path: Path
) -> None:
    run = _failed(fake, source)
    engine = AuditStore.open(f"sqlite:///{tmp_path}/a.db").engine
    baselines = LastGreenBaselines(source, engine, clock)
    assert baselines(run, run.jobs[0]) is None  # first run: nothing green yet
    fake.add_run("octo/app", conclusion="success", jobs=[JobSpec("lint", "success")])
    assert baselines(run, run.jobs[0]) is None  # no job of the same name
    fake.add_run("octo/app", conclusion="success", jobs=[JobSpec("test (3.11)", "success")])
    fake.forbid_repo("octo/app")
    assert baselines(run, run.jobs[0]) is None  # GitHub trouble: analysed without one
