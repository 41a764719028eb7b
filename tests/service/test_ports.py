"""Contract tests: every implementation of the cycle's capsule and notifier ports."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hee_monitor.action.alerts import AlertRouter
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import HeeError
from hee_monitor.core.models import Alert, HealthState, Severity
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.capsule.access import InMemoryCapsule, PlainCapsuleFile, SignedCapsule
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.record.capsule.store import new_payload
from hee_monitor.record.state import HealthStore
from hee_monitor.service.notify import RouterNotifier
from hee_monitor.service.ports import CapsuleStore, Notifier
from tests.fakes.memory import MemoryCapsule, RecordingNotifier

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def _signed(tmp_path: Path, name: str = "signed.json") -> CapsuleStore:
    signer = Signer.generate()
    return SignedCapsule(
        tmp_path / name,
        signer,
        TrustedKeys.of([signer.public_key]),
        repository="octo/app",
        clock=FakeClock(NOW),
    )


CAPSULES: dict[str, Callable[[Path], CapsuleStore]] = {
    "memory": lambda _tmp: MemoryCapsule(),
    "in-memory": lambda _tmp: InMemoryCapsule(new_payload("octo/app", NOW)),
    "plain": lambda tmp: PlainCapsuleFile(tmp / "plain.json", "octo/app"),
    "signed": _signed,
    "signed-directory": lambda tmp: _signed(tmp, "current.json"),
}


@pytest.mark.parametrize("kind", sorted(CAPSULES))
def test_capsule_port_contract(kind: str, tmp_path: Path) -> None:
    capsule = CAPSULES[kind](tmp_path)
    assert capsule.load()["monitoring_state"]["current_status"] == "operational"

    def change(payload: dict[str, Any]) -> None:
        payload["decision_history"].append({"timestamp": "2026-11-22T19:00:00Z", "action": "alert"})

    capsule.update(change, now=NOW)
    first = capsule.load()
    capsule.update(change, now=NOW + timedelta(minutes=1))
    second = capsule.load()
    assert second["version"] == first["version"] + 1
    assert len(second["decision_history"]) == len(first["decision_history"]) + 1
    # the health state goes through the same port
    HealthStore(capsule).fire("failures_detected", now=NOW + timedelta(minutes=2))
    assert capsule.load()["monitoring_state"]["current_status"] == "degraded"


def test_signed_capsule_refuses_a_tampered_file(tmp_path: Path) -> None:
    capsule = _signed(tmp_path)
    capsule.update(lambda p: None, now=NOW)
    path = tmp_path / "signed.json"
    envelope = json.loads(path.read_text())
    envelope["signed"]["monitoring_state"]["current_status"] = "failed"
    path.write_text(json.dumps(envelope))
    with pytest.raises(HeeError):
        capsule.load()


def _router(tmp_path: Path) -> Notifier:
    audit = AuditStore.open(f"sqlite:///{tmp_path}/alerts.db")
    router = AlertRouter.from_config({}, audit.engine, FakeClock(NOW))
    return RouterNotifier(router, lambda: HealthState.DEGRADED)


NOTIFIERS: dict[str, Callable[[Path], Notifier]] = {
    "recording": lambda _tmp: RecordingNotifier(),
    "router": _router,
}


@pytest.mark.parametrize("kind", sorted(NOTIFIERS))
def test_notifier_port_contract(kind: str, tmp_path: Path) -> None:
    notifier = NOTIFIERS[kind](tmp_path)
    alert = Alert(
        "octo/app", Severity.HIGH, "octo/app: CI failed", "1 failed job", "fp-1", created_at=NOW
    )
    outcome = notifier.notify(alert, NOW)
    assert outcome in {"sent", "queued", "grouped", "deduped", "muted"}
    notifier.flush(NOW + timedelta(minutes=10))
    notifier.recovered("octo/app", NOW + timedelta(minutes=20))
