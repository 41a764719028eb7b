from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hee_monitor.core.errors import CapsuleError, StateError
from hee_monitor.core.models import HealthState
from hee_monitor.record.state import HealthStore
from tests.fakes.memory import MemoryCapsule

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def test_state_is_read_from_and_written_to_the_capsule() -> None:
    capsule = MemoryCapsule()
    store = HealthStore(capsule)
    assert store.current().state is HealthState.OPERATIONAL
    store.fire("scheduled_update", now=NOW, reason="upgrade runners")
    assert capsule.payload["monitoring_state"]["current_status"] == "maintenance"
    assert capsule.payload["monitoring_state"]["status_since"] == "2026-11-22T19:00:00Z"
    assert store.current().state is HealthState.MAINTENANCE


def test_invalid_trigger_writes_nothing() -> None:
    capsule = MemoryCapsule()
    with pytest.raises(StateError):
        HealthStore(capsule).fire("update_complete", now=NOW)
    assert capsule.updates == 0


def test_unknown_status_in_capsule_is_a_capsule_error() -> None:
    capsule = MemoryCapsule({"monitoring_state": {"current_status": "on-fire"}})
    with pytest.raises(CapsuleError, match="'on-fire'"):
        HealthStore(capsule).current()
