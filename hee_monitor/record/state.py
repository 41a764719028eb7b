"""Where the health state lives: ``monitoring_state`` of the state capsule.

This module is the one interface to it: read the current state and move it by a trigger.
Everything else (commands, the cycle) goes through :class:`HealthStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hee_monitor.core.capsule import CapsuleStore, MonitoringState
from hee_monitor.core.errors import CapsuleError
from hee_monitor.core.models import HealthState
from hee_monitor.decision.health import HealthMachine, Transition
from hee_monitor.record.capsule.envelope import format_time


@dataclass(frozen=True)
class StateSnapshot:
    state: HealthState
    since: str | None


def read_state(payload: dict[str, Any]) -> StateSnapshot:
    """The health state recorded in a capsule payload (operational when absent)."""
    monitoring = MonitoringState.from_dict(
        payload.get("monitoring_state") or {}, where="monitoring_state"
    )
    raw = monitoring.current_status or HealthState.OPERATIONAL.value
    try:
        state = HealthState(raw)
    except ValueError:
        raise CapsuleError(
            f"capsule monitoring_state.current_status is {raw!r}, not one of "
            f"{', '.join(s.value for s in HealthState)}",
            hint="restore the capsule from state_capsules/ backups or re-initialise it",
        ) from None
    return StateSnapshot(state, monitoring.status_since)


def apply_transitions(payload: dict[str, Any], transitions: list[Transition]) -> None:
    """Write the outcome of ``transitions`` into a payload (a capsule mutator's body)."""
    if not transitions:
        return
    monitoring = MonitoringState.from_dict(
        payload.get("monitoring_state") or {}, where="monitoring_state"
    )
    last = transitions[-1]
    monitoring.current_status = last.to_state.value
    monitoring.status_since = _iso(last.at)
    payload["monitoring_state"] = monitoring.to_dict()


def fire_all(
    state: HealthState,
    triggers: tuple[str, ...],
    *,
    at: datetime,
    reason: str = "",
    open_serious: int = 0,
) -> list[Transition]:
    """Run ``triggers`` in order from ``state`` on a scratch model of the health machine;
    raises StateError if one is not allowed (nothing is written)."""
    machine = HealthMachine(state)
    try:
        return [machine.fire(t, at=at, reason=reason, open_serious=open_serious) for t in triggers]
    finally:
        machine.release()


class HealthStore:
    """The health state of the pipeline whose capsule is ``capsule``."""

    def __init__(self, capsule: CapsuleStore) -> None:
        self._capsule = capsule

    def current(self) -> StateSnapshot:
        return read_state(self._capsule.load())

    def fire(self, trigger: str, *, now: datetime, reason: str = "") -> Transition:
        """Apply one trigger and persist it; StateError (state unchanged) if invalid."""
        transition = fire_all(self.current().state, (trigger,), at=now, reason=reason)[0]

        def mutate(payload: dict[str, Any]) -> None:
            # re-check against what is stored now, in case another writer moved it
            fresh = fire_all(read_state(payload).state, (trigger,), at=now, reason=reason)
            apply_transitions(payload, fresh)

        self._capsule.update(mutate, now=now)
        return transition


def _iso(at: datetime) -> str:
    return format_time(at)
