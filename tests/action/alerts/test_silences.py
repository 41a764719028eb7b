from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.action.alerts.silences import AlertMuted, Silence, SilenceStore, mute
from hee_monitor.core.errors import UsageError
from hee_monitor.core.models import Alert, HealthState, Severity

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _alert(repo: str = "acme/api", severity: Severity = Severity.HIGH) -> Alert:
    return Alert(repo, severity, "t", "b", fingerprint="fp-npm", pattern_id="npm-registry-timeout")


def _silence(**kw: object) -> Silence:
    values: dict[str, object] = {
        "id": "s1",
        "repo": "*",
        "pattern": "*",
        "severities": (),
        "comment": "",
        "created_by": "",
        "created_at": T0,
        "expires_at": T0 + timedelta(hours=1),
    }
    values.update(kw)
    return Silence(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("silence", "matches"),
    [
        (_silence(), True),
        (_silence(repo="acme/*"), True),
        (_silence(repo="other/*"), False),
        (_silence(pattern="npm-*"), True),  # by pattern id
        (_silence(pattern="fp-*"), True),  # by fingerprint
        (_silence(pattern="pip-*"), False),
        (_silence(severities=(Severity.HIGH, Severity.LOW)), True),
        (_silence(severities=(Severity.CRITICAL,)), False),
        (_silence(expires_at=T0), False),
        (_silence(created_at=T0 + timedelta(minutes=1)), False),
    ],
)
def test_silence_matching(silence: Silence, matches: bool) -> None:
    assert silence.matches(_alert(), T0) is matches


def test_maintenance_mutes_everything_before_silences_are_looked_at() -> None:
    assert mute(_alert(severity=Severity.CRITICAL), HealthState.MAINTENANCE, [], T0) == AlertMuted(
        "muted: the pipeline is in maintenance"
    )
    assert mute(_alert(), HealthState.DEGRADED, [], T0) is None


def test_store_add_list_expire(engine: Engine) -> None:
    ids = iter(["aaa111", "bbb222"])
    store = SilenceStore(engine, new_id=lambda: next(ids))
    one = store.add(now=T0, expires_at=T0 + timedelta(hours=2), repo="acme/*", comment="x")
    store.add(
        now=T0,
        expires_at=T0 + timedelta(hours=1),
        pattern="npm-*",
        severities=[Severity.LOW, Severity.MEDIUM],
    )
    listed = store.entries(T0)
    assert [s.id for s in listed] == ["bbb222", "aaa111"]  # soonest expiry first
    assert listed[0].severities == (Severity.LOW, Severity.MEDIUM)
    assert listed[1] == one
    ended = store.expire("aaa111", T0 + timedelta(minutes=5))
    assert ended.expires_at == T0 + timedelta(minutes=5)
    assert [s.id for s in store.active(T0 + timedelta(minutes=6))] == ["bbb222"]
    assert len(store.entries(T0 + timedelta(minutes=6), include_expired=True)) == 2


def test_store_rejects_unknown_ids_and_past_expiry(engine: Engine) -> None:
    store = SilenceStore(engine)
    with pytest.raises(UsageError, match="no silence"):
        store.expire("nope", T0)
    with pytest.raises(UsageError, match="future"):
        store.add(now=T0, expires_at=T0)
