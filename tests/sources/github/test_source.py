"""The GitHub source: real PyGithub against the loopback GitHub fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import SourceError
from hee_monitor.core.models import FailedRun
from hee_monitor.sources.github.source import GitHubSource, RetryPolicy
from hee_monitor.sources.interface import InMemoryProcessedRuns, Skipped, Source
from tests.fakes.github import GitHubFake, JobSpec
from tests.sources.conftest import TOKEN

MakeSource = Callable[..., GitHubSource]

LOG = "".join(f"2026-01-01T00:00:{i % 60:02d}.0000000Z line {i}\n" for i in range(5000))


def failed_runs(items: list[FailedRun | Skipped]) -> list[FailedRun]:
    return [item for item in items if isinstance(item, FailedRun)]


def test_source_satisfies_the_port(make_source: MakeSource) -> None:
    assert isinstance(make_source(), Source)


def test_lists_failed_runs_across_pages(fake: GitHubFake, make_source: MakeSource) -> None:
    expected = []
    for conclusion in ("failure", "timed_out", "cancelled", "startup_failure"):
        run = fake.add_run(
            "octo/app",
            conclusion=conclusion,
            jobs=[
                JobSpec("build", "failure", [("Set up job", "success"), ("Compile", "failure")]),
                JobSpec("lint", "success"),
            ],
        )
        expected.append((run.id, conclusion))
        for _ in range(4):
            fake.add_run("octo/app", conclusion="success")
    fake.add_run("octo/app", conclusion="neutral")
    fake.add_run("octo/app", status="in_progress")

    items = list(make_source(per_page=3).poll())

    runs = failed_runs(items)
    assert sorted((r.run_id, r.conclusion) for r in runs) == sorted(expected)
    assert all(isinstance(i, FailedRun) for i in items)
    # 21 completed runs at 3 a page: the source followed the Link headers to page 7
    assert fake.counted("GET", "/repositories/") == 6
    run = runs[0]
    assert run.repo == "octo/app" and run.workflow == "CI" and run.branch == "main"
    assert run.key == f"octo/app#{run.run_id}.1"
    assert [job.name for job in run.jobs] == ["build"]
    assert run.jobs[0].failed_steps == ("Compile",)
    assert run.jobs[0].duration_seconds == 175.0


def test_streams_the_log_through_the_redirect_without_the_token(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("test", "failure", log_text=LOG)])
    source = make_source(log_chunk_size=4096)
    (run,) = failed_runs(list(source.poll()))
    open_log = run.jobs[0].open_log
    assert open_log is not None

    chunks = list(open_log())

    assert b"".join(chunks).decode() == LOG
    assert len(chunks) > 10 and max(len(c) for c in chunks) <= 4096
    (redirect,) = [r for r in fake.requests if r.path.endswith("/logs")]
    assert redirect.status == 302 and redirect.authorized
    (download,) = [r for r in fake.requests if r.path.startswith("/_blobs/")]
    assert download.status == 200 and not download.authorized and not download.counted


def test_idle_polls_are_free_304s(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_run("octo/app")
    source = make_source()
    assert len(failed_runs(list(source.poll()))) == 1
    counted = fake.counted()
    remaining = fake.rate_remaining

    for _ in range(3):
        assert list(source.poll()) == []

    assert fake.counted() == counted
    assert fake.rate_remaining == remaining
    assert [r.status for r in fake.requests[-3:]] == [304, 304, 304]
    new = fake.add_run("octo/app", conclusion="timed_out")
    assert [r.run_id for r in failed_runs(list(source.poll()))] == [new.id]


def test_a_restarted_source_with_the_same_cursors_still_polls_for_free(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    from hee_monitor.sources.interface import InMemoryPollCursors

    cursors, state = InMemoryPollCursors(), InMemoryProcessedRuns()
    fake.add_run("octo/app")
    assert len(failed_runs(list(make_source(cursors=cursors, state=state).poll()))) == 1
    counted = fake.counted()
    restarted = make_source(cursors=cursors, state=state)
    assert list(restarted.poll()) == []
    assert fake.counted() == counted and fake.requests[-1].status == 304
    # a fresh cursor store (the old behaviour): the first poll is a counted 200
    assert list(make_source(state=state).poll()) == []
    assert fake.counted() == counted + 1


def test_runs_not_handed_out_are_never_hidden_behind_a_304(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    """The consumer stopped after the first run (a crash, a shutdown): the next poll must
    list the rest again, not answer 304 for a listing that was never finished."""
    for _ in range(3):
        fake.add_run("octo/app")
    source = make_source()
    polling = source.poll()
    first = next(polling)
    polling.close()
    assert isinstance(first, FailedRun)
    rest = failed_runs(list(source.poll()))
    assert len(rest) == 2 and first.run_id not in {r.run_id for r in rest}
    assert list(source.poll()) == []
    assert fake.requests[-1].status == 304


@pytest.mark.parametrize("status", [403, 429])
def test_waits_for_the_rate_limit_reset_on_the_clock(
    fake: GitHubFake, make_source: MakeSource, clock: FakeClock, status: int
) -> None:
    run = fake.add_run("octo/app")
    reset = clock.now() + timedelta(minutes=10)
    fake.rate_limit(remaining=0, reset=reset, status=status)

    runs = failed_runs(list(make_source().poll()))

    assert [r.run_id for r in runs] == [run.id]
    assert clock.now() >= reset
    assert sum(clock.slept) == pytest.approx(601, abs=2)
    assert fake.requests[0].status == status and not fake.requests[0].counted


def test_waits_before_polling_when_nothing_is_left(
    fake: GitHubFake, make_source: MakeSource, clock: FakeClock
) -> None:
    fake.add_run("octo/app")
    source = make_source()
    list(source.poll())
    fake.rate_limit(remaining=1, reset=clock.now() + timedelta(seconds=300))
    fake.add_run("octo/app", conclusion="success")
    assert list(source.poll()) == []  # uses the last request; the answer says 0 left

    list(source.poll())

    assert source.stats.waits and source.stats.waits[-1] == pytest.approx(301, abs=1)
    assert all(r.status != 403 for r in fake.requests)


def test_secondary_limit_honours_retry_after(
    fake: GitHubFake, make_source: MakeSource, clock: FakeClock
) -> None:
    fake.add_run("octo/app")
    fake.secondary_rate_limit(retry_after=7, times=2)

    runs = failed_runs(list(make_source().poll()))

    assert len(runs) == 1
    assert clock.slept[:2] == [7.0, 7.0]


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_limit_without_retry_after_waits_a_minute(
    fake: GitHubFake, make_source: MakeSource, clock: FakeClock, status: int
) -> None:
    fake.add_run("octo/app")
    fake.secondary_rate_limit(retry_after=None, times=1, status=status)

    assert len(failed_runs(list(make_source().poll()))) == 1
    assert clock.slept[0] >= 60


def test_server_error_burst_is_retried_with_backoff(
    fake: GitHubFake, make_source: MakeSource, clock: FakeClock
) -> None:
    fake.add_run("octo/app")
    fake.fail_next(3, status=502)

    runs = failed_runs(list(make_source(retry=RetryPolicy(backoff_jitter=0.0)).poll()))

    assert len(runs) == 1
    assert [r.status for r in fake.requests[:3]] == [502, 502, 502]
    # urllib3: the first retry is immediate, then factor * 2 ** (retries - 1), doubling
    assert clock.slept == [2.0, 4.0]


def test_exhausted_retries_skip_the_repository(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_run("octo/app")
    fake.fail_next(10, status=503)
    source = make_source(retry=RetryPolicy(total=2))

    (item,) = list(source.poll())

    assert isinstance(item, Skipped) and item.repo == "octo/app"
    assert "retries used up" in item.reason
    fake.clear_trouble()
    assert len(failed_runs(list(source.poll()))) == 1  # the next cycle picks it up


def test_bad_token_stops_with_a_clear_error_without_the_token(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    secret = "ghp_WRONG_secret_token_value_42"
    with pytest.raises(SourceError) as caught:
        list(make_source(token=secret).poll())
    error = caught.value
    assert "401" in error.message and "octo/app" in error.message
    assert error.hint is not None and "GITHUB_TOKEN" in error.hint
    assert secret not in f"{error.message} {error.hint} {error!r} {error.__cause__!r}"
    assert all(secret not in repr(r) for r in fake.requests)


def test_token_comes_from_the_environment(
    fake: GitHubFake, make_source: MakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_run("octo/app")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    source = GitHubSource(
        ["octo/app"], api_url=fake.url, clock=fake.clock, since=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert len(failed_runs(list(source.poll()))) == 1


def test_repository_without_access_is_skipped_and_the_cycle_goes_on(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    fake.add_run("octo/secret")
    fake.forbid_repo("octo/secret")
    run = fake.add_run("octo/app")

    items = list(make_source(["octo/secret", "octo/app"]).poll())

    assert isinstance(items[0], Skipped) and items[0].repo == "octo/secret"
    assert "404" in items[0].reason
    assert [r.run_id for r in failed_runs(items)] == [run.id]


def test_unparsable_run_is_skipped_once(fake: GitHubFake, make_source: MakeSource) -> None:
    good = fake.add_run("octo/app")
    bad = fake.add_run("octo/app", overrides={"created_at": "yesterday", "head_sha": None})
    source = make_source()

    items = list(source.poll())

    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [s.run_id for s in skipped] == [bad.id]
    assert [r.run_id for r in failed_runs(items)] == [good.id]
    fake.add_run("octo/app", conclusion="success")  # the list changes: no 304
    assert list(source.poll()) == []


def test_each_attempt_is_handed_out_once_across_restarts(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    run = fake.add_run("octo/app", jobs=[JobSpec("test")], rerun_conclusions=["failure"])
    store = InMemoryProcessedRuns()
    first = make_source(state=store)
    assert [r.key for r in failed_runs(list(first.poll()))] == [f"octo/app#{run.id}.1"]

    restarted = make_source(state=store)  # a new process: no ETag, same store
    assert list(restarted.poll()) == []

    assert restarted.rerun_failed_jobs("octo/app", run.id) is True
    assert fake.reruns[-1].new_attempt == 2
    assert [r.key for r in failed_runs(list(restarted.poll()))] == [f"octo/app#{run.id}.2"]


def test_a_run_taken_by_a_consumer_that_stops_is_marked(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    fake.add_run("octo/app")
    fake.add_run("octo/app")
    store = InMemoryProcessedRuns()
    poll = make_source(state=store).poll()
    taken = next(poll)
    assert isinstance(taken, FailedRun)
    assert not store.seen(taken.key)  # not yet: a crash now hands it out again
    poll.close()
    assert store.seen(taken.key)
    assert len(store) == 1


def test_enterprise_api_url(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_run("octo/app")
    assert len(failed_runs(list(make_source(api_url=fake.ghe_url).poll()))) == 1
    assert fake.requests[0].path == "/repos/octo/app/actions/runs"


def test_bad_repository_names_are_rejected() -> None:
    with pytest.raises(SourceError, match="not a repository name") as caught:
        GitHubSource(["just-a-name"], token="x")
    assert caught.value.hint is not None and "owner/name" in caught.value.hint


def test_get_run_and_wait_for_commit(
    fake: GitHubFake, make_source: MakeSource, clock: FakeClock
) -> None:
    sha = "a" * 40
    build = fake.add_run("octo/app", status="in_progress", head_sha=sha, workflow="Build")
    fake.add_run("octo/app", conclusion="success", head_sha=sha, workflow="Lint")
    source = make_source()
    assert source.get_run("octo/app", build.id).status == "in_progress"

    class FinishingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.slept) == 2:
                fake.complete_run(build.id, "failure")

    waiting = FinishingClock()
    result = source.wait_for_commit("octo/app", sha, timeout=600, clock=waiting, interval=30)

    assert result.complete and not result.succeeded
    assert result.conclusions == {"Build": "failure", "Lint": "success"}
    assert waiting.slept == [30.0, 30.0]
    polls = [r for r in fake.requests if r.query.get("head_sha") == [sha]]
    assert [r.status for r in polls] == [200, 304, 200]  # unchanged polls are free
    timed_out = source.wait_for_commit("octo/app", "b" * 40, timeout=60, interval=30)
    assert not timed_out.complete and timed_out.runs == ()


def test_pull_requests_branches_and_files(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_repo("octo/app")
    source = make_source()
    base_sha = source.branch_sha("octo/app", "main")
    source.create_branch("octo/app", "hee/fix-lockfile", base_sha)
    commit = source.put_file("octo/app", "hee/fix-lockfile", "a.txt", b"one\n", "Add a.txt")
    commit2 = source.put_file("octo/app", "hee/fix-lockfile", "a.txt", b"two\n", "Update a.txt")
    assert commit != commit2 and source.branch_sha("octo/app", "hee/fix-lockfile") == commit2

    pull = source.open_pull_request("octo/app", "hee/fix-lockfile", "main", "Fix", "Body")
    again = source.open_pull_request("octo/app", "hee/fix-lockfile", "main", "Fix", "Body")

    assert pull.created and not again.created and again.number == pull.number
    assert len(fake.pulls) == 1 and fake.pulls[0]["head"]["ref"] == "hee/fix-lockfile"
    assert fake.file_writes[-1][2:] == ("a.txt", b"two\n")
    with pytest.raises(SourceError, match="422"):
        source.open_pull_request("octo/app", "no-such-branch", "main", "Fix", "Body")


def test_issues_for_escalation(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_repo("octo/app")
    source = make_source()
    issue = source.create_issue("octo/app", "CI failing", "details", ["hee-monitor", "ci"])
    assert source.find_issues("octo/app", ["hee-monitor"]) == (issue,)

    source.comment_issue("octo/app", issue.number, "still failing")
    updated = source.update_issue("octo/app", issue.number, body="more details")
    closed = source.close_issue("octo/app", issue.number, comment="fixed")

    assert updated.labels == ("hee-monitor", "ci")
    assert closed.state == "closed"
    assert source.find_issues("octo/app", ["hee-monitor"]) == ()
    assert [c["body"] for c in fake.issue_comments] == ["still failing", "fixed"]


def test_token_info_reports_scopes_and_expiry(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.token_scopes = "repo, workflow"
    fake.token_expiration = "2026-01-08 12:00:00 UTC"
    info = make_source().token_info()
    assert info.scopes == ("repo", "workflow")
    assert info.expires_at == datetime(2026, 1, 8, 12, tzinfo=UTC)
    assert info.expires_within(datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=14))
    assert info.rate_limit == 5000 and info.login


def test_fetch_failed_run_after_a_webhook(fake: GitHubFake, make_source: MakeSource) -> None:
    run = fake.add_run("octo/app", attempt=2, jobs=[JobSpec("test", "failure")])
    source = make_source()

    fetched = source.fetch_failed_run("octo/app", run.id, 2)
    first = source.fetch_failed_run("octo/app", run.id, 1)
    missing = source.fetch_failed_run("octo/app", run.id, 7)

    assert isinstance(fetched, FailedRun) and fetched.key == f"octo/app#{run.id}.2"
    assert [job.name for job in fetched.jobs] == ["test"]
    assert isinstance(first, FailedRun) and first.run_attempt == 1
    assert isinstance(missing, Skipped) and "404" in missing.reason


def test_token_info_with_a_bad_token_names_no_repository(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    with pytest.raises(SourceError) as caught:
        make_source(token="nope-not-it").token_info()
    assert caught.value.message.endswith("while trying to read the authenticated user")
    assert "nope-not-it" not in caught.value.message


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    conclusions=st.lists(
        st.sampled_from(["success", "failure", "cancelled", "timed_out", "skipped", "neutral"]),
        max_size=12,
    ),
    per_page=st.integers(min_value=1, max_value=5),
)
def test_every_failed_run_is_handed_out_exactly_once(
    fake: GitHubFake, make_source: MakeSource, conclusions: list[str], per_page: int
) -> None:
    repo = f"octo/h{len(fake.repos)}"
    fake.add_repo(repo)
    expected = {
        fake.add_run(repo, conclusion=c).id
        for c in conclusions
        if c in ("failure", "cancelled", "timed_out")
    }
    source = make_source([repo], per_page=per_page)
    first = [r.run_id for r in failed_runs(list(source.poll()))]
    assert sorted(first) == sorted(expected)
    assert list(source.poll()) == []


def test_expired_log_url_is_a_clear_error_without_retries(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("test", "failure", log_text=LOG)])
    (run,) = failed_runs(list(make_source().poll()))
    fake.log_url_ttl = -1
    open_log = run.jobs[0].open_log
    assert open_log is not None

    with pytest.raises(SourceError, match="HTTP 403") as caught:
        b"".join(open_log())

    assert caught.value.hint is not None and "retention" in caught.value.hint
    assert len([r for r in fake.requests if r.path.startswith("/_blobs/")]) == 1


def test_log_of_a_repository_no_longer_visible(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("test", "failure", log_text=LOG)])
    (run,) = failed_runs(list(make_source().poll()))
    fake.forbid_repo("octo/app")
    open_log = run.jobs[0].open_log
    assert open_log is not None
    with pytest.raises(SourceError, match="404"):
        list(open_log())


def test_a_runs_job_list_is_fetched_once_per_poll(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    run = fake.add_run(
        "octo/app",
        jobs=[JobSpec("build", "failure"), JobSpec("lint", "success")],
    )
    source = make_source()
    [item] = failed_runs(list(source.poll()))
    timings = source.list_jobs("octo/app", item.run_id)  # the job durations the detector reads
    assert sorted(t.name for t in timings) == ["build", "lint"]
    jobs_requests = [r for r in fake.requests if r.path.endswith("/jobs")]
    assert len(jobs_requests) == 1, [r.path for r in jobs_requests]
    source.list_jobs("octo/app", run.id)  # asked again: read again (the memory is used once)
    assert len([r for r in fake.requests if r.path.endswith("/jobs")]) == 2
