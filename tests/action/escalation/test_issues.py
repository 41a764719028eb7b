from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.action.escalation.issues import (
    EscalationSettings,
    EscalationStep,
    IssueEscalator,
    marker,
    plan,
)
from hee_monitor.action.escalation.store import EscalationStore, Tracked
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import (
    Evidence,
    FailedJob,
    FailedRun,
    Finding,
    HealthState,
    Owner,
    Severity,
)
from hee_monitor.record.db import open_engine
from hee_monitor.sources.github.source import GitHubSource
from tests.fakes.github import GitHubFake

REPO = "octo/app"
TOKEN = "ghp_escalation_token_0123456789"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        server.require_token(TOKEN)
        server.add_repo(REPO)
        server.repos[REPO].files[("main", ".github/CODEOWNERS")] = (
            b"* @platform-team\nsrc/ @alice @octo-org/backend\n"
        )
        yield server


@pytest.fixture
def source(fake: GitHubFake, clock: FakeClock) -> Iterator[GitHubSource]:
    with GitHubSource([REPO], token=TOKEN, api_url=fake.url, clock=clock, write_interval=None) as s:
        yield s


def finding(fp: str = "fp-db", text: str = "src/db.py:42: error: connection refused") -> Finding:
    return Finding(
        "PY-DB",
        "Database connection refused",
        "infrastructure",
        Severity.HIGH,
        Owner.DEVOPS,
        3,
        False,
        0.9,
        None,
        fp,
        (Evidence(10, 10, text + " password=hunter2-secret-value"),),
    )


def run(n: int) -> FailedRun:
    return FailedRun(
        REPO, 1000 + n, 1, "CI", f"{n:040x}", "main", "push", "failure",
        (FailedJob(n, "test", "failure"),), html_url=f"https://github.com/{REPO}/runs/{n}",
    )  # fmt: skip


def escalator(tmp_path: Path, source: GitHubSource | None, **kw: object) -> IssueEscalator:
    store = EscalationStore(open_engine(f"sqlite:///{tmp_path}/esc.db"))
    return IssueEscalator(store, source, EscalationSettings(enabled=True, **kw))  # type: ignore[arg-type]


def test_one_issue_per_fingerprint_over_50_occurrences_closed_on_recovery(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    esc = escalator(tmp_path, source, occurrences=3, hours=None, close_after_hours=24)
    steps = []
    for n in range(50):
        clock.advance(600)
        esc.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
        steps += [a.step for a in esc.sweep(HealthState.DEGRADED, clock.now())]
    assert len(fake.issues) == 1
    (issue,) = fake.issues
    assert steps == [EscalationStep.OPEN] + [EscalationStep.UPDATE] * 47
    assert marker("fp-db") in issue["body"]
    assert {label["name"] for label in issue["labels"]} == {"hee-monitor", "ci-failure"}
    # the CODEOWNERS of src/db.py: the user is assigned, the team mentioned
    assert [a["login"] for a in issue["assignees"]] == ["alice"]
    assert "@octo-org/backend" in issue["body"]
    # the evidence is in the issue, the secret in it is not
    assert "connection refused" in issue["body"]
    assert "hunter2-secret-value" not in issue["body"]
    comments = [c for c in fake.issue_comments if c["number"] == issue["number"]]
    assert len(comments) == 47
    assert "**50** failed run(s)" in comments[-1]["body"]
    # the failure stops: a day later the issue is closed with a comment
    clock.advance(25 * 3600)
    (closed,) = esc.sweep(HealthState.OPERATIONAL, clock.now())
    assert closed.step is EscalationStep.CLOSE
    assert issue["state"] == "closed"
    assert "closing" in fake.issue_comments[-1]["body"]
    assert esc.sweep(HealthState.OPERATIONAL, clock.now()) == []  # once


def test_updates_are_batched_per_cycle(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    esc = escalator(tmp_path, source, occurrences=2, hours=None)
    for n in range(5):
        esc.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
    assert [a.step for a in esc.sweep(HealthState.DEGRADED, clock.now())] == [EscalationStep.OPEN]
    for n in range(5, 12):
        esc.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
    (update,) = esc.sweep(HealthState.DEGRADED, clock.now())
    assert "7 more failed run(s)" in update.body
    writes = [r for r in fake.requests if r.method in ("POST", "PATCH")]
    assert len(writes) == 2  # one issue, one comment


def test_a_failure_that_comes_back_reopens_its_issue(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    esc = escalator(tmp_path, source, occurrences=2, hours=None, close_after_hours=1)
    for n in range(2):
        esc.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
    esc.sweep(HealthState.DEGRADED, clock.now())
    clock.advance(7200)
    esc.sweep(HealthState.OPERATIONAL, clock.now())
    assert fake.issues[0]["state"] == "closed"
    clock.advance(600)
    esc.observe(run(3), [finding()], HealthState.DEGRADED, clock.now())
    assert esc.sweep(HealthState.DEGRADED, clock.now()) == []  # one occurrence: not yet
    esc.observe(run(4), [finding()], HealthState.DEGRADED, clock.now())
    (action,) = esc.sweep(HealthState.DEGRADED, clock.now())
    assert action.step is EscalationStep.REOPEN
    assert len(fake.issues) == 1 and fake.issues[0]["state"] == "open"


def test_a_lost_database_finds_the_issue_by_its_marker(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    first = escalator(tmp_path / "a", source, occurrences=2, hours=None)
    (tmp_path / "a").mkdir(exist_ok=True)
    for n in range(2):
        first.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
    first.sweep(HealthState.DEGRADED, clock.now())
    (tmp_path / "b").mkdir()
    second = escalator(tmp_path / "b", source, occurrences=2, hours=None)
    for n in range(2, 5):
        second.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
    (action,) = second.sweep(HealthState.DEGRADED, clock.now())
    assert action.step is EscalationStep.UPDATE and action.number == fake.issues[0]["number"]
    assert len(fake.issues) == 1


def test_dry_run_shows_what_it_would_file_and_writes_nothing(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    esc = escalator(tmp_path, source, occurrences=1, dry_run=True)
    esc.observe(run(1), [finding("fp-a"), finding("fp-b")], HealthState.FAILED, clock.now())
    actions = esc.sweep(HealthState.FAILED, clock.now())
    assert [(a.step, a.dry_run) for a in actions] == [(EscalationStep.OPEN, True)] * 2
    assert marker("fp-a") in actions[0].body
    assert actions[0].assignees == ("alice",)
    assert fake.issues == []
    assert not [r for r in fake.requests if r.method in ("POST", "PATCH")]


def tracked(**kw: object) -> Tracked:
    from datetime import UTC, datetime

    base = datetime(2026, 1, 1, tzinfo=UTC)
    values: dict[str, object] = dict(
        repo=REPO, fingerprint="f", pattern_id="P", title="t", occurrences=1, reported=0,
        first_seen=base, last_seen=base, latest={},
    )  # fmt: skip
    values.update(kw)
    return Tracked(**values)  # type: ignore[arg-type]


def test_plan_is_persistence_by_count_time_or_state() -> None:
    settings = EscalationSettings(occurrences=3, hours=6, close_after_hours=24)
    t = tracked()
    now = t.last_seen
    assert plan(t, settings, HealthState.DEGRADED, now)[0] is EscalationStep.NONE
    assert (
        plan(tracked(occurrences=3), settings, HealthState.DEGRADED, now)[0] is EscalationStep.OPEN
    )
    spread = tracked(occurrences=2, last_seen=t.first_seen + timedelta(hours=7))
    assert plan(spread, settings, HealthState.DEGRADED, spread.last_seen)[0] is EscalationStep.OPEN
    assert plan(t, settings, HealthState.FAILED, now)[0] is EscalationStep.OPEN
    stale = tracked(occurrences=5)
    assert (
        plan(stale, settings, HealthState.DEGRADED, now + timedelta(days=2))[0]
        is EscalationStep.NONE
    )
    open_issue = tracked(occurrences=5, reported=5, issue_number=3, issue_state="open")
    assert plan(open_issue, settings, HealthState.DEGRADED, now)[0] is EscalationStep.NONE
    assert (
        plan(open_issue, settings, HealthState.DEGRADED, now + timedelta(days=1))[0]
        is EscalationStep.CLOSE
    )


def test_escalation_settings_from_config() -> None:
    settings = EscalationSettings.from_section({"labels": ["ci"], "update": "body"})
    assert settings.labels == ("ci",) and settings.update == "body"


def test_body_update_mode_rewrites_the_count(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    esc = escalator(tmp_path, source, occurrences=1, update="body")
    esc.observe(run(1), [finding()], HealthState.DEGRADED, clock.now())
    esc.sweep(HealthState.DEGRADED, clock.now())
    for n in range(2, 5):
        esc.observe(run(n), [finding()], HealthState.DEGRADED, clock.now())
    esc.sweep(HealthState.DEGRADED, clock.now())
    assert "**4** failed run(s)" in fake.issues[0]["body"]
    assert fake.issue_comments == []


@given(
    occurrences=st.integers(1, 100),
    reported=st.integers(0, 100),
    state=st.sampled_from(list(HealthState)),
    has_issue=st.sampled_from([None, "open", "closed"]),
    seen_hours_ago=st.floats(0, 100),
    span_hours=st.floats(0, 100),
)
def test_plan_never_files_a_second_issue(
    occurrences: int,
    reported: int,
    state: HealthState,
    has_issue: str | None,
    seen_hours_ago: float,
    span_hours: float,
) -> None:
    last = tracked().first_seen + timedelta(hours=span_hours)
    t = tracked(
        occurrences=occurrences,
        reported=min(reported, occurrences),
        last_seen=last,
        issue_number=7 if has_issue else None,
        issue_state=has_issue,
        closed_at=last - timedelta(hours=1) if has_issue == "closed" else None,
    )
    step, reason = plan(t, EscalationSettings(), state, last + timedelta(hours=seen_hours_ago))
    assert reason
    if has_issue is not None:
        assert step is not EscalationStep.OPEN  # an issue exists: update, reopen or close it
    if has_issue != "open":
        assert step not in (EscalationStep.UPDATE, EscalationStep.CLOSE)


def test_codeowners_from_a_local_checkout(
    tmp_path: Path, fake: GitHubFake, source: GitHubSource, clock: FakeClock
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    (checkout / "docs" / "CODEOWNERS").write_text("src/ @bob\n")
    esc = escalator(tmp_path, source, occurrences=1, codeowners_checkout=str(checkout))
    esc.observe(run(1), [finding()], HealthState.DEGRADED, clock.now())
    (action,) = esc.sweep(HealthState.DEGRADED, clock.now())
    assert action.assignees == ("bob",)
    assert not [r for r in fake.requests if "/contents/" in r.path]
