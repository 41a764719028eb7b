from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.core.errors import StateError
from hee_monitor.core.models import HealthState
from hee_monitor.decision.health import (
    TRANSITIONS,
    TRIGGERS,
    HealthMachine,
    allowed_triggers,
    next_state,
    path,
)

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def test_exactly_the_eight_transitions_of_the_brief() -> None:
    assert {(t, s.value, d.value) for t, s, d in TRANSITIONS} == {
        ("failures_detected", "operational", "degraded"),
        ("auto_fix_successful", "degraded", "operational"),
        ("critical_failure", "degraded", "failed"),
        ("partial_recovery", "failed", "degraded"),
        ("full_recovery", "failed", "operational"),
        ("scheduled_update", "operational", "maintenance"),
        ("update_complete", "maintenance", "operational"),
        ("manual_intervention", "degraded", "maintenance"),
    }


def test_fire_moves_and_reports_the_transition() -> None:
    machine = HealthMachine()
    move = machine.fire("failures_detected", at=NOW, reason="3 jobs failed")
    assert machine.state is HealthState.DEGRADED
    assert (move.from_state, move.to_state, move.reason) == (
        HealthState.OPERATIONAL,
        HealthState.DEGRADED,
        "3 jobs failed",
    )


def test_invalid_trigger_names_the_allowed_ones_and_keeps_the_state() -> None:
    machine = HealthMachine(HealthState.DEGRADED)
    with pytest.raises(StateError) as info:
        machine.fire("full_recovery", at=NOW)
    assert str(info.value) == (
        "cannot 'full_recovery' from 'degraded'; allowed: "
        "auto_fix_successful, critical_failure, manual_intervention"
    )
    assert machine.state is HealthState.DEGRADED


def test_unknown_trigger_is_a_state_error() -> None:
    with pytest.raises(StateError, match="unknown trigger 'explode'"):
        HealthMachine().fire("explode", at=NOW)


def test_path_goes_through_degraded_to_failed() -> None:
    assert path(HealthState.OPERATIONAL, HealthState.FAILED) == (
        "failures_detected",
        "critical_failure",
    )
    assert path(HealthState.FAILED, HealthState.FAILED) == ()


@given(st.sampled_from(list(HealthState)))
def test_every_state_reachable_from_operational(goal: HealthState) -> None:
    machine = HealthMachine()
    for trigger in path(HealthState.OPERATIONAL, goal):
        machine.fire(trigger, at=NOW)
    assert machine.state is goal


@given(st.lists(st.sampled_from([*TRIGGERS, "bogus"]), max_size=40))
def test_random_triggers_stay_in_the_four_states(triggers: list[str]) -> None:
    machine = HealthMachine()
    for trigger in triggers:
        before = machine.state
        if trigger in allowed_triggers(before):
            machine.fire(trigger, at=NOW)
            assert machine.state is next_state(before, trigger)
        else:
            with pytest.raises(StateError):
                machine.fire(trigger, at=NOW)
            assert machine.state is before
        assert machine.state in set(HealthState)
