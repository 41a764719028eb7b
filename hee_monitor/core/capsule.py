"""The state capsule's payload as typed classes, and the one port a capsule is kept behind.

Every part of hee-monitor reads the capsule (the fix engine its constraints, the cycle its
health state and incidents, reports everything), so the types live in ``core``; the
stores (plain JSON, signed and versioned) are in :mod:`hee_monitor.record.capsule.access`.

The classes follow python-tuf's metadata classes: ``from_dict`` reads the fields the
schema (``schemas/state_capsule.schema.json``) names into attributes and keeps every other
key in ``unrecognized_fields``; ``to_dict`` writes them back in the order they were read.
So a payload written by a newer hee-monitor, or extended by hand, survives a round trip
byte for byte (``tests/core/test_capsule.py`` checks it with hypothesis). Reading is
lenient about absent fields (they stay absent); the store validates against the schema.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self

from hee_monitor.core.errors import CapsuleError

__all__ = [
    "CapsulePayload",
    "CapsuleStore",
    "Constraints",
    "DecisionEntry",
    "FixHistoryEntry",
    "IncidentEntry",
    "MaintenanceWindow",
    "MonitoringState",
    "Mutator",
]

#: changes a payload in place (a capsule update's body)
Mutator = Callable[[dict[str, Any]], None]


class CapsuleStore(Protocol):
    """A state capsule: read the payload (a copy), change it through a mutator. Signed and
    plain implementations: :mod:`hee_monitor.record.capsule.access`."""

    def load(self) -> dict[str, Any]: ...

    def update(self, mutator: Mutator, *, now: datetime) -> Any: ...


class JsonObject:
    """A JSON object with known fields as attributes and the rest kept verbatim.

    Subclasses list their fields in ``FIELDS`` and which of them hold objects (``OBJECTS``)
    or lists of objects (``LISTS``) of another :class:`JsonObject` class. A field absent
    when read is None and stays absent when written, unless it was set since."""

    FIELDS: ClassVar[tuple[str, ...]] = ()
    OBJECTS: ClassVar[Mapping[str, type[JsonObject]]] = {}
    LISTS: ClassVar[Mapping[str, type[JsonObject]]] = {}

    unrecognized_fields: dict[str, Any]
    _order: tuple[str, ...]
    _present: frozenset[str]

    def __init__(self, **fields: Any) -> None:
        unknown = set(fields) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        for name in self.FIELDS:
            setattr(self, name, fields.get(name))
        self.unrecognized_fields = {}
        self._order = tuple(fields)
        self._present = frozenset(fields)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "") -> Self:
        """The object ``data`` holds (not changed, nothing shared with it)."""
        place = where or cls.__name__
        if not isinstance(data, Mapping):
            raise CapsuleError(
                f"state capsule: {place} is {type(data).__name__}, not an object",
                hint="validate the capsule: hee-monitor capsule verify",
            )
        made = cls.__new__(cls)
        for name in cls.FIELDS:
            value = data.get(name)
            if name in cls.OBJECTS and isinstance(value, Mapping):
                value = cls.OBJECTS[name].from_dict(value, where=f"{place}.{name}")
            elif name in cls.LISTS and isinstance(value, list):
                item = cls.LISTS[name]
                value = [
                    item.from_dict(v, where=f"{place}.{name}[{i}]") if isinstance(v, Mapping)
                    else copy.deepcopy(v)
                    for i, v in enumerate(value)
                ]  # fmt: skip
            else:
                value = copy.deepcopy(value)
            setattr(made, name, value)
        made.unrecognized_fields = {
            k: copy.deepcopy(v) for k, v in data.items() if k not in cls.FIELDS
        }
        made._order = tuple(data)
        made._present = frozenset(data)
        return made

    def to_dict(self) -> dict[str, Any]:
        """The object as JSON data, keys in the order they were read (new ones after)."""
        values: dict[str, Any] = {}
        for name in self.FIELDS:
            value = getattr(self, name)
            if value is None and name not in self._present:
                continue
            values[name] = _to_json(value)
        values.update(copy.deepcopy(self.unrecognized_fields))
        ordered = {k: values.pop(k) for k in self._order if k in values}
        ordered.update(values)
        return ordered

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


def _to_json(value: Any) -> Any:
    if isinstance(value, JsonObject):
        return value.to_dict()
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return copy.deepcopy(value)


class MaintenanceWindow(JsonObject):
    FIELDS = ("start", "end", "reason")
    start: str | None
    end: str | None
    reason: str | None


class Constraints(JsonObject):
    """What fixes may do: the highest severity fixed unattended, a freeze, protected paths
    and maintenance windows (alerts muted)."""

    FIELDS = ("max_fix_severity", "frozen", "protected_paths", "maintenance_windows")
    LISTS: ClassVar[Mapping[str, type[JsonObject]]] = {"maintenance_windows": MaintenanceWindow}
    max_fix_severity: str | None
    frozen: bool | None
    protected_paths: list[str] | None
    maintenance_windows: list[MaintenanceWindow] | None


class MonitoringState(JsonObject):
    FIELDS = ("last_run_id", "current_status", "status_since", "hee_specific", "coverage_metrics")
    last_run_id: int | str | None
    current_status: str | None
    status_since: str | None
    hee_specific: dict[str, Any] | None
    coverage_metrics: dict[str, Any] | None


class IncidentEntry(JsonObject):
    FIELDS = (
        "id", "opened", "last_seen", "fingerprint", "pattern_id", "severity", "title",
        "occurrences",
    )  # fmt: skip
    id: str | None
    opened: str | None
    last_seen: str | None
    fingerprint: str | None
    pattern_id: str | None
    severity: str | None
    title: str | None
    occurrences: int | None


class FixHistoryEntry(JsonObject):
    FIELDS = (
        "timestamp", "pattern_id", "success", "rollback", "fingerprint", "strategy",
        "run_id", "branch", "hee_context",
    )  # fmt: skip
    timestamp: str | None
    pattern_id: str | None
    success: bool | None
    rollback: bool | None
    fingerprint: str | None
    strategy: str | None
    run_id: str | int | None
    branch: str | None
    hee_context: dict[str, Any] | None


class DecisionEntry(JsonObject):
    FIELDS = (
        "timestamp", "run_key", "fingerprint", "pattern_id", "action", "trigger",
        "from_state", "to_state", "reasons",
    )  # fmt: skip
    timestamp: str | None
    run_key: str | None
    fingerprint: str | None
    pattern_id: str | None
    action: str | None
    trigger: str | None
    from_state: str | None
    to_state: str | None
    reasons: list[str] | None


class CapsulePayload(JsonObject):
    """The signed part of a capsule: versioning fields the store manages, the health
    state, histories, open incidents, constraints and sealed ``sensitive`` values."""

    FIELDS = (
        "schema_version", "file_format", "version", "created", "expires", "repository",
        "previous_digest", "monitoring_state", "auto_fix_history", "decision_history",
        "open_incidents", "constraints", "sensitive",
    )  # fmt: skip
    OBJECTS: ClassVar[Mapping[str, type[JsonObject]]] = {
        "monitoring_state": MonitoringState,
        "constraints": Constraints,
    }
    LISTS: ClassVar[Mapping[str, type[JsonObject]]] = {
        "auto_fix_history": FixHistoryEntry,
        "decision_history": DecisionEntry,
        "open_incidents": IncidentEntry,
    }
    schema_version: int | None
    file_format: int | None
    version: int | None
    created: str | None
    expires: str | None
    repository: str | None
    previous_digest: str | None
    monitoring_state: MonitoringState | None
    auto_fix_history: list[FixHistoryEntry] | None
    decision_history: list[DecisionEntry] | None
    open_incidents: list[IncidentEntry] | None
    constraints: Constraints | None
    sensitive: dict[str, Any] | None

    @property
    def state(self) -> MonitoringState:
        """``monitoring_state`` (an empty one when absent)."""
        return self.monitoring_state or MonitoringState()

    @property
    def limits(self) -> Constraints:
        """``constraints`` (an empty one when absent)."""
        return self.constraints or Constraints()

    @property
    def incidents(self) -> list[IncidentEntry]:
        return list(self.open_incidents or [])

    @property
    def fixes(self) -> list[FixHistoryEntry]:
        return list(self.auto_fix_history or [])

    @property
    def decisions(self) -> list[DecisionEntry]:
        return list(self.decision_history or [])
