"""The loopback GitHub keeps GitHub's own timeline, so latency figures built on it hold."""

from __future__ import annotations

from datetime import timedelta

from hee_monitor.core.clock import FakeClock
from hee_monitor.demo.github_fake import GitHubFake, JobSpec


def test_a_completed_run_ends_when_it_is_added_and_its_jobs_within_it() -> None:
    clock = FakeClock()
    fake = GitHubFake(clock=clock)
    run = fake.add_run("octo/app", jobs=[JobSpec("build"), JobSpec("lint", "success")])
    now = clock.now()
    assert run.created_at < run.updated_at == now
    for job in run.current_jobs:
        assert job.completed_at is not None
        assert run.created_at <= job.started_at <= job.completed_at <= run.updated_at
    # a run still in progress starts now and has no end yet
    running = fake.add_run("octo/app", status="in_progress")
    assert running.created_at == now and all(j.completed_at is None for j in running.current_jobs)
    clock.advance(60)
    fake.complete_run(running.id, "failure")
    assert running.updated_at == now + timedelta(seconds=60)
