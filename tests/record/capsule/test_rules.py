from __future__ import annotations

from typing import Any

from hee_monitor.record.capsule import new_payload
from hee_monitor.record.capsule.rules import check
from tests.record.capsule.conftest import NOW


def _fix(timestamp: str, pattern_id: str = "PAT-1", at: int = 0) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "pattern_id": pattern_id,
        "success": True,
        "rollback": False,
        "hee_context": {
            "state_capsule_version": at,
            "decision_impact": "low",
            "context_preservation": True,
        },
    }


def _rules(payload: dict[str, Any], known: set[str] | None = None) -> set[tuple[str, str]]:
    return {(v.pointer, v.rule) for v in check(payload, known)}


def test_a_fresh_capsule_breaks_no_rule() -> None:
    assert _rules(new_payload("octo/app", NOW), {"PAT-1"}) == set()


def test_failed_status_needs_an_open_incident() -> None:
    payload = new_payload("octo/app", NOW)
    payload["monitoring_state"]["current_status"] = "failed"
    assert _rules(payload) == {("/monitoring_state/current_status", "failed-needs-incident")}
    payload["open_incidents"].append(
        {"id": "INC-1", "opened": "2026-11-22T18:00:00Z", "severity": "critical"}
    )
    assert _rules(payload) == set()


def test_history_out_of_time_order_and_unknown_patterns() -> None:
    payload = new_payload("octo/app", NOW)
    payload["version"], payload["previous_digest"] = 3, "sha256:" + "a" * 64
    payload["auto_fix_history"] = [
        _fix("2026-11-22T18:00:00Z"),
        _fix("2026-11-22T17:00:00Z", "PAT-GONE"),
        _fix("2026-11-22T18:30:00Z", at=3),
    ]
    payload["decision_history"] = [
        {"timestamp": "2026-11-22T18:00:00Z", "action": "alert"},
        {"timestamp": "2026-11-21T18:00:00Z", "action": "alert"},
    ]
    assert _rules(payload, {"PAT-1"}) == {
        ("/auto_fix_history/1/timestamp", "time-order"),
        ("/auto_fix_history/1/pattern_id", "known-pattern"),
        ("/auto_fix_history/2/hee_context/state_capsule_version", "version-order"),
        ("/decision_history/1/timestamp", "time-order"),
    }
    # without a pattern database the pattern rule is skipped, the others still apply
    assert ("/auto_fix_history/1/pattern_id", "known-pattern") not in _rules(payload, None)


def test_version_fields_must_agree() -> None:
    payload = new_payload("octo/app", NOW)
    payload["previous_digest"] = "sha256:" + "a" * 64
    payload["expires"] = payload["created"]
    payload["monitoring_state"]["status_since"] = "2027-01-01T00:00:00Z"
    payload["monitoring_state"]["hee_specific"]["spec_coverage"] = 101
    payload["open_incidents"] = [
        {
            "id": "A",
            "opened": "2026-11-22T18:00:00Z",
            "last_seen": "2026-11-22T17:00:00Z",
            "severity": "low",
        },
        {"id": "A", "opened": "2026-11-22T18:00:00Z", "severity": "low"},
    ]
    assert _rules(payload) == {
        ("/previous_digest", "chain-start"),
        ("/expires", "expiry-order"),
        ("/monitoring_state/status_since", "time-order"),
        ("/monitoring_state/hee_specific/spec_coverage", "percent"),
        ("/open_incidents/0/last_seen", "time-order"),
        ("/open_incidents/1/id", "unique-id"),
    }
    payload = new_payload("octo/app", NOW)
    payload["version"] = 2
    assert _rules(payload) == {("/previous_digest", "chain-link")}
