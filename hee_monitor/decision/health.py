"""The pipeline's health state machine: operational, degraded, failed, maintenance.

The transitions are exactly these eight; anything else is a :class:`StateError` that names
the allowed triggers and leaves the state unchanged. The ``transitions`` library is
imported here only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transitions import Machine, MachineError

from hee_monitor.core.errors import StateError
from hee_monitor.core.models import HealthState

_O, _D, _F, _M = (
    HealthState.OPERATIONAL,
    HealthState.DEGRADED,
    HealthState.FAILED,
    HealthState.MAINTENANCE,
)

#: (trigger, source, destination): the only moves the pipeline's health can make
TRANSITIONS: tuple[tuple[str, HealthState, HealthState], ...] = (
    ("failures_detected", _O, _D),
    ("auto_fix_successful", _D, _O),
    ("critical_failure", _D, _F),
    ("partial_recovery", _F, _D),
    ("full_recovery", _F, _O),
    ("scheduled_update", _O, _M),
    ("update_complete", _M, _O),
    ("manual_intervention", _D, _M),
)

TRIGGERS: tuple[str, ...] = tuple(t for t, _, _ in TRANSITIONS)

#: how bad a state is, to tell a worsening from a recovery (maintenance is not ranked)
SEVERITY_ORDER: dict[HealthState, int] = {_O: 0, _D: 1, _F: 2, _M: 0}


@dataclass(frozen=True)
class Transition:
    trigger: str
    from_state: HealthState
    to_state: HealthState
    at: datetime
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "at": self.at.isoformat(),
            "reason": self.reason,
        }


def allowed_triggers(state: HealthState) -> tuple[str, ...]:
    """Triggers valid from ``state``, in declaration order."""
    return tuple(t for t, src, _ in TRANSITIONS if src == state)


def next_state(state: HealthState, trigger: str) -> HealthState:
    """Where ``trigger`` takes ``state``; :class:`StateError` if it is not allowed there."""
    for t, src, dst in TRANSITIONS:
        if t == trigger and src == state:
            return dst
    raise _invalid(state, trigger)


def path(start: HealthState, goal: HealthState) -> tuple[str, ...]:
    """Shortest sequence of triggers from ``start`` to ``goal`` (empty if equal).

    Used by the policy: a critical finding seen while operational moves to failed through
    degraded, since there is no direct operational → failed transition.
    """
    if start == goal:
        return ()
    seen = {start}
    queue: deque[tuple[HealthState, tuple[str, ...]]] = deque([(start, ())])
    while queue:
        state, steps = queue.popleft()
        for t, src, dst in TRANSITIONS:
            if src != state or dst in seen:
                continue
            if dst == goal:
                return (*steps, t)
            seen.add(dst)
            queue.append((dst, (*steps, t)))
    raise StateError(f"no path from {start.value!r} to {goal.value!r}")


def _invalid(state: HealthState, trigger: str) -> StateError:
    allowed = ", ".join(allowed_triggers(state)) or "none"
    if trigger not in TRIGGERS:
        return StateError(
            f"unknown trigger {trigger!r}; known: {', '.join(TRIGGERS)}",
            hint=f"from {state.value!r} the allowed triggers are: {allowed}",
        )
    return StateError(
        f"cannot {trigger!r} from {state.value!r}; allowed: {allowed}",
        hint="see `hee-monitor state show` for the current state",
    )


class _Model:
    state: str


class HealthMachine:
    """One pipeline's health state, moved only by the triggers in :data:`TRANSITIONS`."""

    def __init__(self, initial: HealthState = _O) -> None:
        self._model = _Model()
        self._machine = Machine(
            model=self._model,
            states=[s.value for s in HealthState],
            transitions=[
                {"trigger": t, "source": src.value, "dest": dst.value}
                for t, src, dst in TRANSITIONS
            ],
            initial=initial.value,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def state(self) -> HealthState:
        return HealthState(self._model.state)

    def fire(self, trigger: str, *, at: datetime, reason: str = "") -> Transition:
        """Apply ``trigger``; on an invalid one raise :class:`StateError`, state unchanged."""
        before = self.state
        if trigger not in TRIGGERS:
            raise _invalid(before, trigger)
        try:
            self._machine.events[trigger].trigger(self._model)
        except MachineError:
            raise _invalid(before, trigger) from None
        return Transition(trigger, before, self.state, at, reason)
