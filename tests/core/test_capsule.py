"""The typed capsule payload: byte-exact round trips, unknown fields kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.core.capsule import (
    CapsulePayload,
    Constraints,
    IncidentEntry,
    JsonObject,
    MonitoringState,
)
from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule.store import new_payload

NOW = datetime(2026, 12, 1, tzinfo=UTC)

scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
unknown_keys = st.text(min_size=1, max_size=10).filter(lambda k: k not in CapsulePayload.FIELDS)


def objects(
    cls: type[JsonObject], fields: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of ``cls``: any subset of its fields, unknown keys mixed in, any key order."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        present = draw(st.lists(st.sampled_from(cls.FIELDS), unique=True))
        items = [(name, draw(fields.get(name, json_values))) for name in present]
        extra = draw(
            st.dictionaries(
                unknown_keys.filter(lambda k: k not in cls.FIELDS), json_values, max_size=3
            )
        )
        items += list(extra.items())
        return dict(draw(st.permutations(items)))

    return build()


windows = st.lists(objects(Constraints.LISTS["maintenance_windows"], {}) | scalars, max_size=2)
payloads = objects(
    CapsulePayload,
    {
        "monitoring_state": objects(MonitoringState, {}) | scalars,
        "constraints": objects(Constraints, {"maintenance_windows": windows}) | scalars,
        "open_incidents": st.lists(objects(IncidentEntry, {}), max_size=3) | scalars,
        "auto_fix_history": st.lists(
            objects(CapsulePayload.LISTS["auto_fix_history"], {}), max_size=3
        ),
        "decision_history": st.lists(
            objects(CapsulePayload.LISTS["decision_history"], {}), max_size=3
        ),
    },
)


def as_bytes(data: Any) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_a_payload_survives_a_round_trip_byte_for_byte(data: dict[str, Any]) -> None:
    before = as_bytes(data)
    typed = CapsulePayload.from_dict(data)
    assert as_bytes(typed.to_dict()) == before
    assert as_bytes(data) == before  # reading changed nothing
    assert CapsulePayload.from_dict(typed.to_dict()) == typed


def test_a_fresh_payload_reads_as_typed_fields() -> None:
    data = new_payload("octo/app", NOW)
    typed = CapsulePayload.from_dict(data)
    assert typed.repository == "octo/app" and typed.version == 1
    assert typed.state.current_status == "operational"
    assert typed.limits.max_fix_severity == "medium"
    assert typed.limits.protected_paths == [".github/workflows/**"]
    assert typed.incidents == [] and typed.fixes == [] and typed.decisions == []
    assert typed.to_dict() == data


def test_unknown_fields_are_kept_at_every_level_and_changes_are_written() -> None:
    data = new_payload("octo/app", NOW)
    data["from_a_newer_version"] = {"x": [1, 2]}
    data["constraints"]["max_retries_per_day"] = 4
    data["open_incidents"] = [{"id": "i1", "opened": "t", "severity": "high", "ticket": "OPS-1"}]
    typed = CapsulePayload.from_dict(data)
    assert typed.unrecognized_fields == {"from_a_newer_version": {"x": [1, 2]}}
    typed.limits.frozen = True
    assert typed.constraints is not None
    typed.constraints.frozen = True
    (incident,) = typed.incidents
    assert incident.severity == "high" and incident.unrecognized_fields == {"ticket": "OPS-1"}
    out = typed.to_dict()
    assert out["constraints"]["frozen"] is True
    assert out["constraints"]["max_retries_per_day"] == 4
    assert out["open_incidents"][0]["ticket"] == "OPS-1"
    assert list(out) == list(data)


def test_absent_fields_stay_absent_until_set() -> None:
    typed = CapsulePayload.from_dict({"version": 3})
    assert typed.state.current_status is None and typed.limits.max_fix_severity is None
    assert typed.to_dict() == {"version": 3}
    typed.repository = "octo/app"
    assert typed.to_dict() == {"version": 3, "repository": "octo/app"}


def test_a_payload_that_is_not_an_object_is_a_clear_error() -> None:
    with pytest.raises(CapsuleError, match="CapsulePayload is list, not an object"):
        CapsulePayload.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no field 'colour'"):
        IncidentEntry(colour="red")
