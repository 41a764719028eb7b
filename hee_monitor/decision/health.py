"""The pipeline's health state machine: operational, degraded, failed, maintenance.

One ``transitions`` Machine declares the eight transitions as triggers, with their
conditions and callbacks; each pipeline's health is a model of it (:class:`HealthMachine`),
kept across cycles by :func:`machine_for`. Firing a trigger that is not allowed from the
current state, or whose condition fails, is a :class:`StateError` that names the allowed
triggers and leaves the state unchanged. The policy plans its moves with ``may_<trigger>``.
The ``transitions`` library is imported here only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transitions import EventData, Machine, MachineError

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

#: trigger → (condition method, what it means): a move to operational needs no high or
#: critical incident open (``open_serious``, 0 when the caller does not say: a person's
#: ``state fire`` is taken at their word)
CONDITIONS: dict[str, tuple[str, str]] = {
    "auto_fix_successful": ("nothing_serious_open", "no high/critical incident open"),
    "full_recovery": ("nothing_serious_open", "no high/critical incident open"),
}

#: how bad a state is, to tell a worsening from a recovery (maintenance is not ranked)
SEVERITY_ORDER: dict[HealthState, int] = {_O: 0, _D: 1, _F: 2, _M: 0}

#: moves kept in memory per pipeline (the audit store keeps all of them)
MOVES_KEPT = 50


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


class HealthMachine:
    """One pipeline's health: a model of the shared machine, moved only by its triggers.

    ``transitions`` adds a method per trigger (``failures_detected()``, ...) and a
    ``may_<trigger>()`` check; :meth:`fire` is the checked way to call them.
    """

    #: the state name, kept by ``transitions``
    status: str

    def __init__(self, initial: HealthState = _O, *, pipeline: str = "") -> None:
        self.pipeline = pipeline
        #: the latest moves of this pipeline, oldest first
        self.moves: deque[Transition] = deque(maxlen=MOVES_KEPT)
        _MACHINE.add_model(self, initial=initial.value)

    @property
    def state(self) -> HealthState:
        return HealthState(self.status)

    # -- conditions and callbacks (named in the machine's transitions) --------------------
    def nothing_serious_open(self, event: EventData) -> bool:
        return int(event.kwargs.get("open_serious", 0)) == 0

    def record_move(self, event: EventData) -> None:
        assert event.transition is not None
        self.moves.append(
            Transition(
                event.event.name,
                HealthState(event.transition.source),
                self.state,
                event.kwargs["at"],
                str(event.kwargs.get("reason", "")),
            )
        )

    # -- use ------------------------------------------------------------------------------
    def may(self, trigger: str, *, open_serious: int = 0) -> bool:
        """Whether ``trigger`` would fire now (``may_<trigger>`` of the machine)."""
        if trigger not in TRIGGERS:
            return False
        check = getattr(self, f"may_{trigger}")
        return bool(check(at=None, open_serious=open_serious))

    def fire(
        self, trigger: str, *, at: datetime, reason: str = "", open_serious: int = 0
    ) -> Transition:
        """Apply ``trigger``; if it is not allowed now raise :class:`StateError`, state
        unchanged."""
        before = self.state
        if trigger not in TRIGGERS:
            raise _invalid(before, trigger)
        try:
            moved = getattr(self, trigger)(at=at, reason=reason, open_serious=open_serious)
        except MachineError:
            raise _invalid(before, trigger) from None
        if not moved:
            _, meaning = CONDITIONS[trigger]
            raise StateError(
                f"cannot {trigger!r} from {before.value!r}: it needs {meaning} "
                f"({open_serious} open)",
                hint="resolve or close the open incidents first",
            )
        return self.moves[-1]

    def adopt(self, state: HealthState) -> None:
        """Take the stored state as it is (another process or a person moved it)."""
        if state is not self.state:
            _MACHINE.set_state(state.value, model=self)

    def release(self) -> None:
        """Detach from the shared machine (a scratch model is done)."""
        _MACHINE.remove_model(self)


def _transition_specs() -> list[dict[str, Any]]:
    specs = []
    for trigger, src, dst in TRANSITIONS:
        spec: dict[str, Any] = {
            "trigger": trigger,
            "source": src.value,
            "dest": dst.value,
            "after": "record_move",
        }
        if trigger in CONDITIONS:
            spec["conditions"] = CONDITIONS[trigger][0]
        specs.append(spec)
    return specs


#: the one machine: every pipeline's :class:`HealthMachine` is a model of it
_MACHINE = Machine(
    model=None,
    states=[s.value for s in HealthState],
    transitions=_transition_specs(),
    initial=_O.value,
    auto_transitions=False,
    ignore_invalid_triggers=False,
    send_event=True,
    model_attribute="status",
)

_pipelines: dict[str, HealthMachine] = {}
_pipelines_lock = threading.Lock()


def machine_for(pipeline: str, stored: HealthState) -> HealthMachine:
    """The pipeline's machine, kept across cycles, at the ``stored`` state."""
    with _pipelines_lock:
        machine = _pipelines.get(pipeline)
        if machine is None:
            machine = _pipelines[pipeline] = HealthMachine(stored, pipeline=pipeline)
        machine.adopt(stored)
        return machine


_planner_lock = threading.Lock()
_planner = HealthMachine(pipeline="(planner)")


def _edges(state: HealthState, open_serious: int) -> Iterator[tuple[str, HealthState]]:
    """Triggers that may fire from ``state`` (``may_<trigger>``) and where they lead."""
    _planner.adopt(state)
    for trigger, src, dst in TRANSITIONS:
        if src == state and _planner.may(trigger, open_serious=open_serious):
            yield trigger, dst


def plan(start: HealthState, goal: HealthState, *, open_serious: int = 0) -> tuple[str, ...]:
    """Shortest sequence of triggers that may take ``start`` to ``goal`` (empty if equal).

    A critical finding seen while operational moves to failed through degraded, since there
    is no direct operational → failed transition. Maintenance is never a way through: it is
    entered and left only on purpose.
    """
    if start == goal:
        return ()
    with _planner_lock:
        seen = {start}
        queue: deque[tuple[HealthState, tuple[str, ...]]] = deque([(start, ())])
        while queue:
            state, steps = queue.popleft()
            for trigger, dst in list(_edges(state, open_serious)):
                if dst == goal:
                    return (*steps, trigger)
                if dst not in seen and dst is not _M:
                    seen.add(dst)
                    queue.append((dst, (*steps, trigger)))
    raise StateError(f"no path from {start.value!r} to {goal.value!r}")


def mermaid() -> str:
    """The machine as a Mermaid state diagram, read from the machine's own transitions."""
    lines = ["stateDiagram-v2", f"    [*] --> {_MACHINE.initial}"]
    for name, event in _MACHINE.events.items():
        for source, moves in event.transitions.items():
            for move in moves:
                guard = " and ".join(
                    _meaning(cond.func) if cond.target else f"not {_meaning(cond.func)}"
                    for cond in move.conditions
                )
                label = f"{name} [{guard}]" if guard else name
                lines.append(f"    {source} --> {move.dest}: {label}")
    return "\n".join(lines) + "\n"


def _meaning(func: Any) -> str:
    return next((text for method, text in CONDITIONS.values() if method == func), str(func))
