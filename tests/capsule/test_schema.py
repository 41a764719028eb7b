from __future__ import annotations

import pytest

from hee_monitor.capsule import SchemaViolationError, new_payload
from hee_monitor.capsule.schema import validate, validator, violations
from tests.capsule.conftest import NOW


def test_new_payload_is_valid_and_the_validator_is_compiled_once() -> None:
    assert violations(new_payload("octo/app", NOW)) == []
    assert validator() is validator()


@pytest.mark.parametrize(
    ("pointer", "value", "rule"),
    [
        ("/monitoring_state/current_status", "sleeping", "enum"),
        ("/monitoring_state/hee_specific/decision_stability", -1, "minimum"),
        ("/monitoring_state/coverage_metrics/line", 100.5, "maximum"),
        ("/created", "2026-11-22 19:00Z", "format"),
        ("/created", "2026-02-30T00:00:00Z", "format"),
        ("/expires", "2026-11-22T19:00:00+01:00", "pattern"),
        ("/version", 0, "minimum"),
        ("/version", "7", "type"),
        ("/repository", "not a repo", "pattern"),
        ("/previous_digest", "md5:abc", "oneOf"),
        ("/constraints/max_fix_severity", "extreme", "enum"),
        ("/sensitive/notify_email", "ops@example.com", "pattern"),
    ],
)
def test_violations_name_the_pointer_and_the_rule(pointer: str, value: object, rule: str) -> None:
    payload = new_payload("octo/app", NOW)
    parts = pointer.strip("/").split("/")
    node = payload
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    found = violations(payload)
    assert [(v.pointer, v.rule) for v in found] == [(pointer, rule)]
    assert "ops@example.com" not in str(found[0])  # values are not echoed


def test_fix_entries_need_the_brief_fields() -> None:
    payload = new_payload("octo/app", NOW)
    payload["auto_fix_history"].append({"timestamp": "2026-11-22T18:00:00Z", "pattern_id": "P"})
    found = violations(payload)
    assert {(v.pointer, v.message) for v in found} == {
        ("/auto_fix_history/0", "'success' is a required property"),
        ("/auto_fix_history/0", "'rollback' is a required property"),
        ("/auto_fix_history/0", "'hee_context' is a required property"),
    }


def test_unknown_fields_are_allowed() -> None:
    payload = new_payload("octo/app", NOW)
    payload["x-team"] = {"anything": [1, 2]}
    payload["monitoring_state"]["x-extra"] = True
    validate(payload)


def test_validate_raises_with_every_violation() -> None:
    payload = new_payload("octo/app", NOW)
    del payload["constraints"]
    payload["version"] = -3
    with pytest.raises(SchemaViolationError) as info:
        validate(payload, source="current.json")
    assert len(info.value.violations) == 2
    assert "current.json does not match state_capsule.schema.json" in info.value.message
