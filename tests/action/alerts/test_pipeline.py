from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from hee_monitor.action.alerts import (
    AlertDeduped,
    AlertGrouped,
    AlertMuted,
    AlertQueued,
    AlertRouter,
)
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Alert, HealthState, Severity
from hee_monitor.record.db import open_engine
from hee_monitor.record.schema import alert_outbox as outbox_table
from tests.action.alerts.conftest import HOOK_TOKEN, channels_config
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook

FAILED = HealthState.FAILED


def alert(severity: Severity = Severity.HIGH, fingerprint: str = "npm-timeout", **kw: Any) -> Alert:
    return Alert(
        repo=kw.pop("repo", "acme/api"),
        severity=severity,
        title=kw.pop("title", "npm ci cannot reach the registry"),
        body=kw.pop("body", "ETIMEDOUT registry.npmjs.org"),
        fingerprint=fingerprint,
        pattern_id=kw.pop("pattern_id", "npm-registry-timeout"),
        **kw,
    )


def router(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook, **section: Any
) -> AlertRouter:
    return AlertRouter.from_config(
        {"channels": channels_config(smtp, webhook), **section}, engine, clock, env={}
    )


def delivered(results: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if r.delivered:
            counts[r.channel] = counts.get(r.channel, 0) + 1
    return counts


def test_critical_goes_at_once_to_every_channel_with_its_actions(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    result = router(engine, clock, smtp, webhook).submit(
        alert(Severity.CRITICAL), state=FAILED, now=clock.now()
    )
    assert isinstance(result.outcome, AlertQueued)
    assert result.outcome.reason == "first notification"
    assert delivered(result.deliveries) == {"console": 1, "email": 1, "slack": 1, "sms": 1}
    assert result.actions == ("capsule-update", "agent-alert")
    assert all(d.latency == timedelta(0) for d in result.deliveries)
    assert len(smtp.received) == 1
    assert len(webhook.posts_to("/slack/")) == 1 and len(webhook.posts_to("/jsonrpc/sms")) == 1


def test_router_fits_the_monitors_notifier_port(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    from hee_monitor.service.ports import Notifier

    r: Notifier = router(engine, clock, smtp, webhook)
    result = r.notify(alert(Severity.CRITICAL), clock.now())
    assert isinstance(result.outcome, AlertQueued)  # type: ignore[attr-defined]
    assert len(smtp.received) == 1


def test_high_is_batched_for_five_minutes_into_one_alert_with_a_count(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    start = clock.now()
    for minute in range(3):
        result = r.submit(alert(), state=FAILED, now=start + timedelta(minutes=minute))
        assert result.outcome == AlertGrouped(minute + 1, start + timedelta(minutes=5))
        assert result.actions == ("capsule-update",)
    assert r.flush(start + timedelta(minutes=4)) == []
    clock.advance(5 * 60)
    results = r.flush(clock.now())
    assert delivered(results) == {"console": 1, "email": 1, "slack": 1}
    assert {d.count for d in results} == {3}
    # detected at the first alert, delivered when the group wait ended
    assert {d.latency for d in results} == {timedelta(minutes=5)}
    assert smtp.received[0].subject.endswith("(×3)")
    assert webhook.posts_to("/jsonrpc/sms") == []


def test_medium_and_low_log_their_entries(
    engine: Engine,
    clock: FakeClock,
    smtp: FakeSMTP,
    webhook: FakeWebhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = router(engine, clock, smtp, webhook)
    caplog.set_level(logging.INFO, logger="hee_monitor.action.alerts")
    r.submit(alert(Severity.MEDIUM, "m"), state=FAILED, now=clock.now())
    r.submit(alert(Severity.LOW, "l"), state=FAILED, now=clock.now())
    assert delivered(r.flush(clock.now() + timedelta(minutes=15))) == {"console": 1, "email": 1}
    assert delivered(r.flush(clock.now() + timedelta(hours=1))) == {"console": 1}
    logged = [
        (rec.levelname, rec.getMessage().split()[0])
        for rec in caplog.records
        if "alert for acme/api" in rec.getMessage()
    ]
    # log entry (medium), monitoring log (low): INFO, the console channel already shows them
    assert sorted(logged) == [("INFO", "low"), ("INFO", "medium")]


def test_not_resent_within_the_repeat_interval_then_resent_with_the_new_count(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook, repeat_interval="1h")
    t0 = clock.now()
    assert delivered(r.submit(alert(Severity.CRITICAL), state=FAILED, now=t0).deliveries)
    later = r.submit(alert(Severity.CRITICAL), state=FAILED, now=t0 + timedelta(minutes=10))
    assert later.outcome == AlertDeduped(
        "already notified within the repeat interval", t0 + timedelta(hours=1)
    )
    r.submit(alert(Severity.CRITICAL), state=FAILED, now=t0 + timedelta(minutes=20))
    assert r.flush(t0 + timedelta(minutes=59)) == []
    again = r.flush(t0 + timedelta(hours=1))
    assert delivered(again) == {"console": 1, "email": 1, "slack": 1, "sms": 1}
    assert {d.count for d in again} == {2}


def test_raised_severity_is_told_at_once(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    r.submit(alert(Severity.MEDIUM), state=FAILED, now=clock.now())
    r.flush(clock.now() + timedelta(minutes=15))
    raised = r.submit(
        alert(Severity.CRITICAL), state=FAILED, now=clock.now() + timedelta(minutes=16)
    )
    assert isinstance(raised.outcome, AlertQueued)
    assert raised.outcome.reason == "severity raised since the last notification"


def test_maintenance_and_silences_mute_as_data(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    now = clock.now()
    muted = r.submit(alert(Severity.CRITICAL), state=HealthState.MAINTENANCE, now=now)
    assert muted.outcome == AlertMuted("muted: the pipeline is in maintenance")
    assert muted.actions == () and muted.deliveries == ()
    silence = r.silences.add(
        now=now,
        expires_at=now + timedelta(hours=1),
        repo="acme/*",
        pattern="npm-*",
        comment="registry outage",
    )
    silenced = r.submit(alert(Severity.CRITICAL), state=FAILED, now=now)
    assert isinstance(silenced.outcome, AlertMuted)
    assert silence.id in silenced.outcome.reason and "registry outage" in silenced.outcome.reason
    other_repo = r.submit(alert(Severity.CRITICAL, repo="other/x"), state=FAILED, now=now)
    assert isinstance(other_repo.outcome, AlertQueued)
    after = r.submit(alert(Severity.CRITICAL), state=FAILED, now=now + timedelta(hours=1))
    assert isinstance(after.outcome, AlertQueued)
    assert len(smtp.received) == 2


def test_a_silence_added_while_a_group_waits_drops_the_group(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    now = clock.now()
    r.submit(alert(Severity.HIGH), state=FAILED, now=now)
    r.silences.add(now=now, expires_at=now + timedelta(days=1), severities=[Severity.HIGH])
    assert r.flush(now + timedelta(minutes=5)) == []
    assert r.pending_groups() == []


def test_resolved_notice_goes_to_those_who_were_told(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    assert r.resolved("acme/api", "npm-timeout", clock.now()).outcome == AlertMuted(
        "nobody was told about this failure"
    )
    r.submit(alert(Severity.MEDIUM), state=FAILED, now=clock.now())
    clock.advance(15 * 60)
    r.flush(clock.now())
    result = r.resolved("acme/api", "npm-timeout", clock.now())
    assert delivered(result.deliveries) == {"console": 1, "email": 1}
    assert smtp.received[-1].subject == "[RESOLVED] acme/api: npm ci cannot reach the registry"
    # told once: a second resolve is a no-op, a new failure is news again
    assert isinstance(r.resolved("acme/api", "npm-timeout", clock.now()).outcome, AlertMuted)
    refired = r.submit(alert(Severity.MEDIUM), state=FAILED, now=clock.now())
    r.flush(clock.now() + timedelta(minutes=15))
    assert isinstance(refired.outcome, AlertGrouped)
    assert len(smtp.received) == 3


def test_recovery_resolves_every_failure_people_were_told_about(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    for fp in ("a", "b"):
        r.submit(alert(Severity.CRITICAL, fp), state=FAILED, now=clock.now())
    r.submit(alert(Severity.CRITICAL, "c", repo="acme/web"), state=FAILED, now=clock.now())
    r.submit(alert(Severity.LOW, "never-told"), state=FAILED, now=clock.now())
    results = r.recovered("acme/api", clock.now())
    assert [d.fingerprint for res in results for d in res.deliveries if d.channel == "email"] == [
        "a",
        "b",
    ]
    assert r.recovered("acme/api", clock.now()) == []
    assert [g.repo for g in r.pending_groups()] == []  # the untold low alert is dropped
    assert len(r.recovered("acme/web", clock.now())) == 1


def test_webhook_500_then_success_is_retried_in_process(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook)
    webhook.fail_next = 2  # slack's first two tries get a 500
    result = r.submit(alert(Severity.CRITICAL), state=FAILED, now=clock.now())
    assert delivered(result.deliveries) == {"console": 1, "email": 1, "slack": 1, "sms": 1}
    assert clock.slept == [1.0, 2.0]  # tenacity's exponential wait, on the injected clock
    assert len(webhook.posts_to("/slack/")) == 3
    assert {d.attempts for d in result.deliveries} == {1}


def test_channel_down_goes_to_the_outbox_with_backoff_then_delivers(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook, retry_base="30s")
    webhook.down()
    t0 = clock.now()
    result = r.submit(alert(Severity.CRITICAL), state=FAILED, now=t0)
    failed = {d.channel: d for d in result.deliveries if not d.delivered}
    assert set(failed) == {"slack", "sms"}
    assert failed["slack"].next_attempt_at == t0 + timedelta(seconds=30)
    assert not failed["slack"].dead
    assert HOOK_TOKEN not in (failed["slack"].error or "")
    assert r.flush(t0 + timedelta(seconds=10)) == []  # not due yet
    second = r.flush(t0 + timedelta(seconds=30))  # still down: backoff doubles
    assert {d.next_attempt_at for d in second} == {t0 + timedelta(seconds=90)}
    webhook.up()
    clock.advance(90)
    third = r.flush(clock.now())
    assert delivered(third) == {"slack": 1, "sms": 1}
    assert {d.attempts for d in third} == {3}
    # detected → delivered, including the in-process retry waits the clock slept
    assert {d.latency for d in third} == {clock.now() - t0}
    assert clock.now() - t0 == timedelta(seconds=90 + sum(clock.slept))
    assert r.outbox.counts() == {"delivered": 4}


def test_outbox_survives_a_restart_and_delivers_when_the_peer_is_back(
    tmp_path: Any, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = router(open_engine(url), clock, smtp, webhook)
    webhook.down()
    smtp.stop()
    result = first.submit(alert(Severity.CRITICAL), state=FAILED, now=clock.now())
    assert delivered(result.deliveries) == {"console": 1}
    del first  # the monitor stops
    smtp.start()
    webhook.up()
    clock.advance(600)
    engine = open_engine(url)
    second = router(engine, clock, smtp, webhook)
    assert delivered(second.flush(clock.now())) == {"email": 1, "slack": 1, "sms": 1}
    assert len(smtp.received) == 1
    with engine.connect() as conn:
        rows = conn.execute(select(outbox_table)).mappings().all()
    assert {r["status"] for r in rows} == {"delivered"}
    assert all(r["last_error"] for r in rows if r["channel"] != "console")


def test_client_error_is_not_retried(
    engine: Engine,
    clock: FakeClock,
    smtp: FakeSMTP,
    webhook: FakeWebhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = router(engine, clock, smtp, webhook)
    webhook.fail_next, webhook.fail_status = 2, 404
    result = r.submit(alert(Severity.CRITICAL), state=FAILED, now=clock.now())
    dead = [d for d in result.deliveries if d.dead]
    assert {d.channel for d in dead} == {"slack", "sms"}
    assert clock.slept == []
    assert "giving up" in caplog.text
    assert r.flush(clock.now() + timedelta(days=1)) == []


def test_out_of_attempts_is_dead(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook, max_attempts=2, in_process_tries=1)
    webhook.down()
    r.submit(alert(Severity.CRITICAL), state=FAILED, now=clock.now())
    final = r.flush(clock.now() + timedelta(hours=1))
    assert {d.dead for d in final} == {True}
    assert r.outbox.counts() == {"delivered": 2, "dead": 2}


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"repeat": "1h"}, "unknown key"),
        ({"matrix": {"high": {"channels": ["console", "pager"]}}}, "pager"),
        ({"max_attempts": 0}, "positive integer"),
        ({"repeat_interval": "often"}, "not a duration"),
    ],
)
def test_bad_alerts_section(engine: Engine, clock: FakeClock, section: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        AlertRouter.from_config(section, engine, clock, env={})


def test_unconfigured_channels_are_noted_not_fatal(engine: Engine, clock: FakeClock) -> None:
    r = AlertRouter.from_config(None, engine, clock, env={})
    result = r.submit(alert(Severity.CRITICAL), state=FAILED, now=clock.now())
    assert delivered(result.deliveries) == {"console": 1}
    assert any("HEE_ALERT_EMAIL_URL" in n for n in result.notes)
    assert any("HEE_ALERT_SMS_URL" in n for n in result.notes)


# ── properties ─────────────────────────────────────────────────────────────────────────

REPEAT = timedelta(hours=2)


def _memory_router(webhook: FakeWebhook, clock: FakeClock) -> AlertRouter:
    section = {
        "repeat_interval": "2h",
        "channels": {
            "hook": {"urls": [f"json://{webhook.base}/p/{HOOK_TOKEN}"], "min_interval": 0}
        },
        "matrix": {s.value: {"channels": ["console", "hook"]} for s in Severity},
    }
    return AlertRouter.from_config(section, open_engine("sqlite://"), clock, env={})


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    severity=st.sampled_from(list(Severity)),
    offsets=st.lists(st.integers(0, 7199), min_size=1, max_size=12),
    flushes=st.lists(st.integers(0, 3 * 3600), max_size=6),
)
def test_same_alert_k_times_within_the_repeat_interval_is_delivered_once_per_channel(
    webhook: FakeWebhook, severity: Severity, offsets: list[int], flushes: list[int]
) -> None:
    clock = FakeClock()
    r = _memory_router(webhook, clock)
    before = len(webhook.requests)
    t0 = clock.now()
    events = sorted([(o, "submit") for o in offsets] + [(f, "flush") for f in flushes])
    results = []
    # first told when the first alert's group wait ends; not again within the repeat interval
    quiet_until = t0 + timedelta(seconds=min(offsets)) + r.matrix[severity].group_wait + REPEAT
    for offset, what in events:
        now = t0 + timedelta(seconds=offset)
        if what == "submit":
            results.extend(r.submit(alert(severity), state=FAILED, now=now).deliveries)
        elif now < quiet_until:
            results.extend(r.flush(now))
    results.extend(r.flush(quiet_until - timedelta(seconds=1)))
    assert delivered(results) == {"console": 1, "hook": 1}
    assert len(webhook.requests) - before == 1


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(1, 5),
            st.integers(0, 1200),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_grouped_counts_add_up_to_what_was_submitted(
    webhook: FakeWebhook, events: list[tuple[str, int, int, bool]]
) -> None:
    clock = FakeClock()
    r = _memory_router(webhook, clock)
    now = clock.now()
    submitted: dict[str, int] = {}
    told: dict[tuple[str, str], int] = {}
    for fingerprint, count, step, flush in events:
        now += timedelta(seconds=step)
        results = list(
            r.submit(
                alert(Severity.HIGH, fingerprint, count=count), state=FAILED, now=now
            ).deliveries
        )
        submitted[fingerprint] = submitted.get(fingerprint, 0) + count
        if flush:
            results.extend(r.flush(now))
        for d in results:
            if d.delivered:
                told[(d.channel, d.fingerprint)] = told.get((d.channel, d.fingerprint), 0) + d.count
    pending = {g.fingerprint: g.count for g in r.pending_groups()}
    for fingerprint, total in submitted.items():
        for channel in ("console", "hook"):
            assert told.get((channel, fingerprint), 0) + pending.get(fingerprint, 0) == total
    for d in r.flush(now + REPEAT + timedelta(minutes=5)):
        told[(d.channel, d.fingerprint)] = told.get((d.channel, d.fingerprint), 0) + d.count
    assert r.pending_groups() == []
    for fingerprint, total in submitted.items():
        assert told[("console", fingerprint)] == told[("hook", fingerprint)] == total


# ── per-repository channels ──────────────────────────────────────────────────────────────


def test_a_repository_with_its_own_channels_is_told_there_only(
    engine: Engine, clock: FakeClock, webhook: FakeWebhook
) -> None:
    section = {
        "channels": {
            "pager": {"urls": [f"json://{webhook.base}/pager/{HOOK_TOKEN}"], "min_interval": 0},
            "team": {"urls": [f"json://{webhook.base}/team/{HOOK_TOKEN}"], "min_interval": 0},
        },
        "matrix": {"high": {"channels": ["console", "team"]}},
    }
    r = AlertRouter.from_config(
        section, engine, clock, env={}, repo_channels={"octo/lib": ["pager"], "octo/doc": []}
    )
    own = r.submit(alert(repo="octo/lib"), state=FAILED, now=clock.now())
    clock.advance(300)
    r.flush(clock.now())
    assert [p.json()["title"] for p in webhook.posts_to("/pager/")] == [
        "[HIGH] octo/lib: npm ci cannot reach the registry"
    ]
    assert webhook.posts_to("/team/") == []
    assert isinstance(own.outcome, AlertGrouped)  # the matrix row's wait still applies

    # a repository without channels of its own (or an empty list) follows the matrix
    for repo in ("octo/app", "octo/doc"):
        r.submit(alert(repo=repo, fingerprint=repo), state=FAILED, now=clock.now())
    clock.advance(300)
    r.flush(clock.now())
    assert len(webhook.posts_to("/team/")) == 2
    assert len(webhook.posts_to("/pager/")) == 1


def test_repository_channels_must_be_declared(engine: Engine, clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match=r'\[repos."octo/lib"\] alert_channels .* pagr'):
        AlertRouter.from_config(None, engine, clock, env={}, repo_channels={"octo/lib": ["pagr"]})


@pytest.mark.slow
def test_two_processes_flushing_one_outbox_send_each_alert_once(
    tmp_path: Any, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    """Two monitors on one database flush at the same moment: every queued alert reaches
    each channel exactly once (rows and groups are claimed before they are sent)."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = router(open_engine(url), clock, smtp, webhook)
    webhook.down()
    smtp.stop()
    for n in range(12):
        first.submit(alert(Severity.CRITICAL, f"fp-{n}"), state=FAILED, now=clock.now())
        first.submit(alert(Severity.HIGH, f"grouped-{n}"), state=FAILED, now=clock.now())
    smtp.start()
    webhook.up()
    clock.advance(3600)
    second = router(open_engine(url), clock, smtp, webhook)
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def flush(name: str, r: AlertRouter) -> None:
        start.wait()
        results[name] = r.flush(clock.now())

    threads = [threading.Thread(target=flush, args=p) for p in (("a", first), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [d for rs in results.values() for d in rs if d.delivered]
    per_channel: dict[str, list[str]] = {}
    for d in sent:
        per_channel.setdefault(d.channel, []).append(d.fingerprint)
    for channel in ("email", "slack"):
        assert sorted(per_channel[channel]) == sorted(
            [f"fp-{n}" for n in range(12)] + [f"grouped-{n}" for n in range(12)]
        ), channel
    assert sorted(per_channel["sms"]) == sorted(f"fp-{n}" for n in range(12))
    assert len(smtp.received) == 24
    assert len(webhook.posts_to("/slack/")) == 24


def test_an_open_cause_inhibits_the_alerts_it_explains_until_resolved(
    engine: Engine, clock: FakeClock, smtp: FakeSMTP, webhook: FakeWebhook
) -> None:
    r = router(engine, clock, smtp, webhook, inhibit=[{"source_patterns": ["GHA-RUNNER-*"]}])
    now = clock.now()
    waiting = r.submit(
        alert(Severity.HIGH, "tests-a", pattern_id="PY-PYTEST-FAILED"), state=FAILED, now=now
    )
    assert isinstance(waiting.outcome, AlertGrouped)
    lost = alert(Severity.CRITICAL, "runner-lost", pattern_id="GHA-RUNNER-LOST")
    assert isinstance(r.submit(lost, state=FAILED, now=now).outcome, AlertQueued)
    later = r.submit(
        alert(Severity.HIGH, "tests-b", pattern_id="PY-PYTEST-FAILED"), state=FAILED, now=now
    )
    assert isinstance(later.outcome, AlertMuted)
    assert "inhibited by the open critical alert GHA-RUNNER-LOST" in later.outcome.reason
    # another repository is not affected
    elsewhere = r.submit(alert(Severity.HIGH, "tests-c", repo="octo/lib"), state=FAILED, now=now)
    assert isinstance(elsewhere.outcome, AlertGrouped)
    # the group that waited when the runner was lost is dropped when it falls due
    sent = r.flush(now + timedelta(minutes=5))
    assert {d.fingerprint for d in sent} == {"tests-c"}
    # the runner is back: the failures are news again
    r.resolved("acme/api", "runner-lost", now + timedelta(minutes=6))
    again = r.submit(
        alert(Severity.HIGH, "tests-d", pattern_id="PY-PYTEST-FAILED"),
        state=FAILED,
        now=now + timedelta(minutes=7),
    )
    assert isinstance(again.outcome, AlertGrouped)
