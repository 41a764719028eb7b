from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hee_monitor.core.errors import StateError
from hee_monitor.core.models import HealthState
from hee_monitor.decision.health import (
    CONDITIONS,
    TRANSITIONS,
    TRIGGERS,
    HealthMachine,
    allowed_triggers,
    machine_for,
    mermaid,
    next_state,
    plan,
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
    assert plan(HealthState.OPERATIONAL, HealthState.FAILED) == (
        "failures_detected",
        "critical_failure",
    )
    assert plan(HealthState.FAILED, HealthState.FAILED) == ()


@given(st.sampled_from(list(HealthState)))
def test_every_state_reachable_from_operational(goal: HealthState) -> None:
    machine = HealthMachine()
    for trigger in plan(HealthState.OPERATIONAL, goal):
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


def test_a_move_to_operational_needs_no_serious_incident_open() -> None:
    machine = HealthMachine(HealthState.DEGRADED)
    assert not machine.may("auto_fix_successful", open_serious=1)
    assert machine.may("auto_fix_successful") and machine.may("critical_failure", open_serious=1)
    with pytest.raises(StateError, match="needs no high/critical incident open"):
        machine.fire("auto_fix_successful", at=NOW, open_serious=1)
    assert machine.state is HealthState.DEGRADED
    assert plan(HealthState.FAILED, HealthState.DEGRADED, open_serious=1) == ("partial_recovery",)
    with pytest.raises(StateError, match="no path"):
        plan(HealthState.FAILED, HealthState.OPERATIONAL, open_serious=1)


def test_the_callback_records_each_move() -> None:
    machine = HealthMachine()
    machine.fire("failures_detected", at=NOW, reason="r1")
    machine.fire("critical_failure", at=NOW, reason="r2")
    assert [(t.trigger, t.to_state, t.reason) for t in machine.moves] == [
        ("failures_detected", HealthState.DEGRADED, "r1"),
        ("critical_failure", HealthState.FAILED, "r2"),
    ]


def test_one_machine_per_pipeline_kept_and_synced_to_the_stored_state() -> None:
    first = machine_for("octo/kept", HealthState.OPERATIONAL)
    first.fire("failures_detected", at=NOW)
    again = machine_for("octo/kept", HealthState.DEGRADED)
    assert again is first and len(again.moves) == 1
    # a person moved it elsewhere meanwhile: the stored state wins
    assert machine_for("octo/kept", HealthState.MAINTENANCE).state is HealthState.MAINTENANCE
    assert machine_for("octo/other", HealthState.OPERATIONAL) is not first


def test_maintenance_is_never_a_way_through() -> None:
    for start in HealthState:
        for goal in HealthState:
            steps = plan(start, goal)
            inner = steps[:-1]
            state = start
            for trigger in inner:
                state = next_state(state, trigger)
                assert state is not HealthState.MAINTENANCE


def test_the_documented_diagram_is_generated_from_the_machine() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "monitor.md").read_text(encoding="utf-8")
    start = doc.index("```mermaid\n") + len("```mermaid\n")
    assert doc[start : doc.index("```", start)] == mermaid()
    # and the diagram has exactly the machine's transitions
    edges = [line for line in mermaid().splitlines() if "-->" in line and "[*]" not in line]
    assert len(edges) == len(TRANSITIONS)


class HealthMachineStateful(RuleBasedStateMachine):
    """Whatever triggers arrive, in whatever order: only the allowed transitions happen."""

    def __init__(self) -> None:
        super().__init__()
        self.machine = HealthMachine(pipeline="stateful")
        self.expected = HealthState.OPERATIONAL

    @rule(trigger=st.sampled_from([*TRIGGERS, "bogus"]), open_serious=st.integers(0, 2))
    def fire(self, trigger: str, open_serious: int) -> None:
        before = self.machine.state
        allowed = trigger in allowed_triggers(before)
        guarded = trigger in CONDITIONS and open_serious > 0
        assert self.machine.may(trigger, open_serious=open_serious) == (allowed and not guarded)
        if allowed and not guarded:
            move = self.machine.fire(trigger, at=NOW, open_serious=open_serious)
            self.expected = next_state(before, trigger)
            assert (move.trigger, move.from_state, move.to_state) == (
                trigger,
                before,
                self.expected,
            )
        else:
            with pytest.raises(StateError):
                self.machine.fire(trigger, at=NOW, open_serious=open_serious)

    @invariant()
    def only_allowed_transitions_happened(self) -> None:
        assert self.machine.state is self.expected
        allowed = {(t, s, d) for t, s, d in TRANSITIONS}
        assert all((m.trigger, m.from_state, m.to_state) in allowed for m in self.machine.moves)
        moves = list(self.machine.moves)
        assert all(a.to_state is b.from_state for a, b in itertools.pairwise(moves))

    def teardown(self) -> None:
        self.machine.release()


TestHealthMachineStateful = HealthMachineStateful.TestCase
