from __future__ import annotations

import pytest

from hee_monitor.record.capsule import SchemaViolationError, new_payload
from hee_monitor.record.capsule.schema import validate, validator, violations
from tests.record.capsule.conftest import NOW


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


# -- the compiled fast path must never accept what the reference validator rejects ----------

import copy  # noqa: E402
from typing import Any  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hee_monitor.record.capsule.schema import fast_validator  # noqa: E402


def _rich_payload() -> dict[str, Any]:
    payload = new_payload("octo/app", NOW)
    payload["version"], payload["previous_digest"] = 2, "sha256:" + "a" * 64
    payload["monitoring_state"]["hee_specific"]["spec_coverage"] = 80.5
    payload["auto_fix_history"].append(
        {
            "timestamp": "2026-11-22T18:30:00Z",
            "pattern_id": "P",
            "success": True,
            "rollback": False,
            "run_id": "1",
            "branch": None,
            "strategy": "s",
            "hee_context": {
                "state_capsule_version": 1,
                "decision_impact": "low",
                "context_preservation": True,
            },
        }
    )
    payload["decision_history"].append(
        {
            "timestamp": "2026-11-22T18:30:00Z",
            "action": "alert",
            "from_state": None,
            "to_state": "failed",
            "reasons": ["r"],
            "pattern_id": None,
        }
    )
    payload["open_incidents"].append(
        {
            "id": "I",
            "opened": "2026-11-22T18:00:00Z",
            "last_seen": "2026-11-22T18:00:00Z",
            "severity": "high",
            "occurrences": 2,
            "title": "t",
        }
    )
    payload["constraints"]["maintenance_windows"].append(
        {"start": "2026-11-23T00:00:00Z", "end": "2026-11-23T02:00:00Z", "reason": "r"}
    )
    payload["sensitive"]["notify_email"] = "enc:fernet:abc"
    return payload


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


RICH = _rich_payload()
PATHS = _paths(RICH)
ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    1.5,
    -1,
    100,
    101,
    2**40,
    "",
    "x",
    "low",
    "failed",
    "2026-11-22T19:00:00Z",
    "2026-11-22T19:00:00+01:00",
    "2026-11-22T25:00:00Z",
    "sha256:" + "b" * 64,
    "enc:fernet:x",
    "octo/app",
    [],
    {},
    ["x"],
    {"a": 1},
]


@settings(max_examples=400, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(PATHS), st.sampled_from([*ODD_VALUES, "<delete>"])),
        min_size=1,
        max_size=3,
    )
)
def test_compiled_validator_never_accepts_what_the_reference_rejects(
    edits: list[tuple[tuple[Any, ...], Any]],
) -> None:
    payload = copy.deepcopy(RICH)
    for path, value in edits:
        node: Any = payload
        try:
            for part in path[:-1]:
                node = node[part]
            if value == "<delete>":
                del node[path[-1]]
            else:
                node[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the parent
    reference_ok = not list(validator().iter_errors(payload))
    if fast_validator()(payload):
        assert reference_ok, edits
    assert (violations(payload) == []) == reference_ok


@settings(max_examples=300, deadline=None)
@given(digits=st.lists(st.integers(min_value=0, max_value=9), min_size=14, max_size=14))
def test_date_time_shortcut_agrees_with_the_general_check(digits: list[int]) -> None:
    from datetime import datetime

    from hee_monitor.record.capsule.schema import _is_datetime

    d = "".join(map(str, digits))
    value = f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}Z"
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        expected = True
    except ValueError:
        expected = False
    assert _is_datetime(value) == expected


# -- the stricter compiled copy: capsule timestamps, and nothing but JSON values -------------

import itertools  # noqa: E402

import jsonschema_rs  # noqa: E402

from hee_monitor.record.capsule.schema import FAST_UTC_TIME, _is_datetime  # noqa: E402

_FAST_TIME = jsonschema_rs.Draft202012Validator(
    {"type": "string", "format": "date-time", "pattern": FAST_UTC_TIME}, validate_formats=True
)
_YEARS = ["0000", "0001", "0004", "0100", "1900", "2000", "2024", "2026", "9999"]
_TIMES = ["00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:60:00", "07:05:09"]


def test_fast_timestamp_check_agrees_with_the_reference_on_capsule_timestamps() -> None:
    # every month length, leap years (and 1900, which is not one), year 0, leap seconds,
    # hour 24: on timestamps spelled as capsules spell them the two agree exactly
    accepted = 0
    for year, month, day, time in itertools.product(_YEARS, range(15), range(34), _TIMES):
        value = f"{year}-{month:02d}-{day:02d}T{time}Z"
        assert _FAST_TIME.is_valid(value) == _is_datetime(value), value
        accepted += _is_datetime(value)
    assert accepted == (8 * 365 + 3) * 3  # 8 real years (3 leap), 3 real times of day


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(alphabet="0123456789-T:Zz+. ٣", min_size=18, max_size=26)
    | st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[Zz]\Z")
)
def test_fast_timestamp_check_never_accepts_what_the_reference_refuses(value: str) -> None:
    if _FAST_TIME.is_valid(value):
        assert _is_datetime(value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), object(), b"x"])
@pytest.mark.parametrize("where", ["top", "record", "nested", "percent"])
def test_compiled_validator_accepts_only_plain_finite_json(bad: object, where: str) -> None:
    payload = _rich_payload()
    assert fast_validator()(payload)
    if where == "top":
        payload["x-extra"] = {"a": [1, bad]}
    elif where == "record":
        payload["auto_fix_history"][0]["x-note"] = bad
    elif where == "nested":
        payload["monitoring_state"]["hee_specific"]["x"] = [bad]
    else:
        payload["monitoring_state"]["coverage_metrics"]["line"] = bad
    assert not fast_validator()(payload)
    # the reference then decides: a violation, or valid (NaN is a number to it) but not
    # vouched for as plain JSON
    if violations(payload):
        with pytest.raises(SchemaViolationError):
            validate(payload)
    else:
        assert validate(payload) is False


def test_validate_tells_whether_the_compiled_validator_vouched() -> None:
    assert validate(_rich_payload()) is True
    slow = _rich_payload()
    slow["created"] = "2026-11-22T19:00:00.5Z"  # valid, but not how capsules spell it
    assert violations(slow) == []
    assert validate(slow) is False
