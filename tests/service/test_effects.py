"""The durable flow against the loopback GitHub fake: effects as intents performed once
across crashes, runs held while their log cannot be read, faults of every kind."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hee_monitor.action.alerts import AlertRouter
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import HealthState
from hee_monitor.decision.rules import RulesPolicy
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.schema import alert_outbox as outbox_table
from hee_monitor.record.schema import decisions, reruns
from hee_monitor.service.cycle import CycleReport, MonitorCycle
from hee_monitor.service.effects import EffectStore, EffectWorker, Intent, SimulatedCrash
from hee_monitor.service.notify import RouterNotifier
from hee_monitor.service.wiring import pattern_analyzer
from hee_monitor.sources.github.source import GitHubSource, RetryPolicy
from tests.decision.test_transient import PYTEST_CONNECTION_RESET
from tests.fakes.github import GitHubFake, JobSpec
from tests.fakes.memory import MemoryCapsule

COMPILE_ERROR = b"src/main.c:3:1: error: expected ';' before '}' token\n"
ANALYZER = pattern_analyzer()


@dataclass
class Monitor:
    """One life of the monitor process: everything but the database and the capsule file
    is new in each life."""

    cycle: MonitorCycle
    audit: AuditStore
    source: GitHubSource


def life(
    fake: GitHubFake,
    db: Path,
    capsule: MemoryCapsule,
    clock: FakeClock,
    *,
    repos: tuple[str, ...] = ("octo/app",),
    crash: Callable[[str, Intent], None] | None = None,
    token: str = "t",
    **cycle_args: Any,
) -> Monitor:
    audit = AuditStore.open(f"sqlite:///{db}")
    source = GitHubSource(
        list(repos),
        token=token,
        api_url=fake.url,
        clock=clock,
        state=audit,
        cursors=audit,
        retry=RetryPolicy(total=2, connect=1, backoff_factor=0, secondary_rate_wait=1),
        timeout=2,
        write_interval=None,
    )
    router = AlertRouter.from_config({}, audit.engine, clock)
    worker = EffectWorker(EffectStore(audit.engine), {}, clock, crash=crash, round_wait=0.0)
    cycle = MonitorCycle(
        sources=[source],
        analyzer=ANALYZER,
        policy=RulesPolicy(),
        audit=audit,
        capsule=capsule,
        clock=clock,
        notifier=RouterNotifier(router, lambda: HealthState.OPERATIONAL),
        run_control=source,
        worker=worker,
        **cycle_args,
    )
    return Monitor(cycle, audit, source)


def alerts_told(audit: AuditStore) -> int:
    with audit.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(outbox_table)
                .where(outbox_table.c.kind != "resolved")
            ).scalar_one()
        )


def decisions_per_run(audit: AuditStore) -> dict[str, int]:
    with audit.engine.connect() as conn:
        rows = conn.execute(
            select(decisions.c.run_key, func.count())
            .where(decisions.c.run_key.is_not(None))
            .group_by(decisions.c.run_key)
        ).all()
    return {str(k): int(n) for k, n in rows}


@pytest.fixture
def fake() -> Any:
    with GitHubFake() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


def crash_once(kind: str, point: str) -> Callable[[str, Intent], None]:
    fired = []

    def hook(where: str, intent: Intent) -> None:
        if where == point and intent.kind == kind and not fired:
            fired.append(intent.key)
            raise SimulatedCrash(f"kill -9 {point} {intent.key}")

    return hook


@pytest.mark.parametrize("point", ["before", "after"])
@pytest.mark.parametrize("kind", ["rerun", "alert"])
def test_a_crash_around_a_side_effect_neither_loses_nor_repeats_it(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path, kind: str, point: str
) -> None:
    fake.add_run(
        "octo/app",
        jobs=[JobSpec("test", log_text=PYTEST_CONNECTION_RESET)],
        rerun_conclusions=["success"],
    )
    fake.add_run("octo/app", jobs=[JobSpec("build", log_text=COMPILE_ERROR)])
    capsule = MemoryCapsule()
    first = life(fake, tmp_path / "a.db", capsule, clock, crash=crash_once(kind, point))
    with pytest.raises(SimulatedCrash):
        first.cycle.run_once()
    # the killed worker's claim is a lease: the restarted monitor takes the intent over
    # once it has run out, asks GitHub / the router first, and never repeats the effect
    clock.advance(600)
    second = life(fake, tmp_path / "a.db", capsule, clock)
    for _ in range(3):
        second.cycle.run_once()
        clock.advance(60)
    assert len(fake.reruns) == 1
    assert alerts_told(second.audit) == 1
    assert all(n == 1 for n in decisions_per_run(second.audit).values())
    assert second.audit.count(reruns) == 1
    store = EffectStore(second.audit.engine)
    assert {i.status for i in store.all()} == {"done"}
    if point == "after":
        [intent] = store.all(kind=kind)
        assert intent.tries == 2  # the second try reconciled instead of repeating


def test_a_rerun_post_that_fails_with_5xx_is_tried_again_and_made_once(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("test", log_text=PYTEST_CONNECTION_RESET)])
    fake.inject("status", path=r"/rerun-failed-jobs$", times=10, status=502)
    m = life(fake, tmp_path / "a.db", MemoryCapsule(), clock)
    report = m.cycle.run_once()
    [effect] = [e for e in report.effects if e.intent.kind == "rerun"]
    assert effect.status == "retry" and fake.reruns == []
    fake.clear_trouble()
    clock.advance(3600)
    m.cycle.run_once()
    m.cycle.run_once()
    assert len(fake.reruns) == 1 and m.audit.count(reruns) == 1


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("status", {"status": 503, "times": None}),
        ("close", {"times": None}),
        ("truncate", {"times": None}),
    ],
)
def test_a_log_that_cannot_be_read_waits_and_is_diagnosed_from_it_once_readable(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path, fault: str, options: dict[str, Any]
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("build", log_text=COMPILE_ERROR * 2000)])
    fake.inject(fault, path=r"^/_blobs/job-logs/", **options)
    m = life(fake, tmp_path / "a.db", MemoryCapsule(), clock)
    report = m.cycle.run_once()
    if fault == "truncate":
        # a log cut short with a matching length cannot be told from a short log
        assert [r.key for r in report.runs] and not report.waiting
        return
    assert report.runs == () and len(report.waiting) == 1
    assert "waiting for log" in report.unread[0]
    assert m.cycle.run_once().waiting  # still unreadable: still waiting, no decision
    assert decisions_per_run(m.audit) == {}
    fake.clear_trouble()
    report = m.cycle.run_once()  # the first cycle after the fault cleared
    [run] = report.runs
    assert run.diagnoses[0].failures[0].pattern_id.startswith("CC-")
    assert list(decisions_per_run(m.audit).values()) == [1]
    assert m.cycle.run_once().runs == ()


def test_a_log_unreadable_past_its_wait_is_diagnosed_from_metadata(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("build", log_text=COMPILE_ERROR)])
    fake.inject("status", path=r"^/_blobs/job-logs/", status=503, times=None)
    m = life(fake, tmp_path / "a.db", MemoryCapsule(), clock, log_wait=timedelta(hours=1))
    assert m.cycle.run_once().waiting
    clock.advance(2 * 3600)
    [run] = m.cycle.run_once().runs
    [finding] = run.diagnoses[0].failures
    assert finding.pattern_id == "log-unreadable" and "could not be read" in finding.title
    assert finding.source == "metadata"


def test_a_truncated_job_list_holds_the_run_until_it_reads(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("build", log_text=COMPILE_ERROR)])
    fake.inject("truncate", path=r"/jobs$", times=1)
    m = life(fake, tmp_path / "a.db", MemoryCapsule(), clock)
    report = m.cycle.run_once()
    assert report.runs == () and report.waiting and report.unread
    [run] = m.cycle.run_once().runs  # the held run is read again: once
    assert run.decision is not None
    assert m.cycle.run_once().runs == ()
    assert list(decisions_per_run(m.audit).values()) == [1]


def test_a_rejected_token_stops_the_cycle_with_one_critical_alert(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("build", log_text=COMPILE_ERROR)])
    fake.require_token("the-right-one")
    m = life(fake, tmp_path / "a.db", MemoryCapsule(), clock, token="revoked")
    first = m.cycle.run_once()
    assert first.fatal is not None and "401" in first.fatal and "revoked" not in first.fatal
    assert first.runs == ()
    second = m.cycle.run_once()
    assert second.fatal is not None
    store = EffectStore(m.audit.engine)
    [intent] = store.all(kind="alert")
    assert intent.payload["severity"] == "critical" and intent.status == "done"


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, 1), (429, None), (403, 1), (403, None), (500, None)]
)
def test_limits_and_server_errors_on_the_listing_are_waited_out_or_skipped(
    fake: GitHubFake,
    clock: FakeClock,
    tmp_path: Path,
    status: int,
    retry_after: int | None,
) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("build", log_text=COMPILE_ERROR)])
    fake.inject("status", path=r"/actions/runs$", status=status, retry_after=retry_after)
    m = life(fake, tmp_path / "a.db", MemoryCapsule(), clock)
    reports = [m.cycle.run_once()]
    clock.advance(3600)
    reports.append(m.cycle.run_once())
    assert sum(len(r.runs) for r in reports) == 1
    assert all(r.fatal is None for r in reports)


def test_a_hung_repository_is_skipped_for_the_cycle_while_the_others_go_on(
    fake: GitHubFake, clock: FakeClock, tmp_path: Path
) -> None:
    for repo in ("octo/a", "octo/b", "octo/c"):
        fake.add_run(repo, jobs=[JobSpec("build", log_text=COMPILE_ERROR)])
    fake.inject("hang", path=r"^/repos/octo/b/actions/runs$", seconds=4, times=1)
    m = life(
        fake,
        tmp_path / "a.db",
        MemoryCapsule(),
        clock,
        repos=("octo/a", "octo/b", "octo/c"),
        deadline=1.5,
    )
    began = time.monotonic()
    report: CycleReport = m.cycle.run_once()
    took = time.monotonic() - began
    assert sorted(r.repo for r in report.runs) == ["octo/a", "octo/c"]
    assert any(line.startswith("octo/b") for line in report.unread)
    assert took < 3.0  # the deadline (1.5 s) and what was being analysed when it passed
