"""A capsule payload and an audit store with a few days of history, for the report tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hee_monitor.action.fixes import records
from hee_monitor.action.fixes.approvals import ApprovalStore
from hee_monitor.core.models import Alert, Severity
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.record.capsule.store import CapsuleDirectory

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def history(start: datetime) -> list[dict[str, Any]]:
    out = []
    states = ["operational", "degraded", "degraded", "failed", "degraded", "operational"]
    patterns = ["PY-RUFF-LINT", "PY-PYTEST-FAILED", "PY-RUFF-LINT", "RUST-COMPILE-ERROR", None]
    for i, pattern in enumerate(patterns):
        out.append(
            {
                "timestamp": iso(start + timedelta(hours=20 * i)),
                "run_key": f"octo/app#{100 + i}.1",
                "fingerprint": f"fp{i}",
                "pattern_id": pattern,
                "action": "alert",
                "actions": ["alert"],
                "trigger": "degrade",
                "from_state": states[i],
                "to_state": states[i + 1],
                "reasons": [f"finding {pattern} | piped"],
            }
        )
    return out


def payload(now: datetime = NOW) -> dict[str, Any]:
    start = now - timedelta(days=4)
    return {
        "schema_version": 1,
        "version": 9,
        "created": iso(now - timedelta(hours=1)),
        "expires": iso(now + timedelta(days=29)),
        "repository": "octo/app",
        "previous_digest": "sha256:" + "0" * 64,
        "monitoring_state": {
            "last_run_id": "104",
            "current_status": "degraded",
            "status_since": iso(start + timedelta(hours=80)),
            "hee_specific": {
                "spec_coverage": 62.5,
                "prompt_coverage": None,
                "decision_stability": 90.0,
            },
            "coverage_metrics": {
                "line": 91.2,
                "branch": 74.0,
                "function": 88.0,
                "integration": None,
                "spec": 62.5,
                "prompt": None,
            },
        },
        "auto_fix_history": [
            {
                "timestamp": iso(start + timedelta(hours=1)),
                "pattern_id": "PY-RUFF-LINT",
                "success": True,
                "rollback": False,
                "fingerprint": "fp0",
                "strategy": "ruff-fix",
                "run_id": "100",
                "branch": "hee/fix/PY-RUFF-LINT-100",
                "hee_context": {
                    "state_capsule_version": 2,
                    "decision_impact": "low",
                    "context_preservation": True,
                },
            },
            {
                "timestamp": iso(start + timedelta(hours=61)),
                "pattern_id": "PY-PIP-RESOLUTION",
                "success": False,
                "rollback": True,
                "fingerprint": "fp3",
                "strategy": "pin-dependency",
                "run_id": "103",
                "branch": None,
                "hee_context": {
                    "state_capsule_version": 6,
                    "decision_impact": "medium",
                    "context_preservation": True,
                },
            },
        ],
        "decision_history": history(start),
        "open_incidents": [
            {
                "id": "INC-fp3",
                "opened": iso(start + timedelta(hours=60)),
                "last_seen": iso(start + timedelta(hours=60)),
                "fingerprint": "fp3",
                "pattern_id": "RUST-COMPILE-ERROR",
                "severity": "critical",
                "title": HOSTILE,
                "occurrences": 2,
            },
        ],
        "constraints": {
            "max_fix_severity": "medium",
            "frozen": False,
            "protected_paths": [".github/workflows/**"],
            "maintenance_windows": [],
        },
        "sensitive": {},
    }


@pytest.fixture
def capsule_file(tmp_path: Path) -> Path:
    path = tmp_path / "current.json"
    path.write_text(json.dumps(payload()), encoding="utf-8")
    return path


@pytest.fixture
def signed_capsule(tmp_path: Path) -> tuple[Path, Path]:
    """A capsule store directory signed with a fresh key, and the .pub file."""
    signer = Signer.generate()
    store = CapsuleDirectory(tmp_path / "store", signer, TrustedKeys.of([signer.public_key]))
    now = NOW - timedelta(days=4)
    store.initialise("octo/app", now=now)
    full = payload()

    def fill(p: dict[str, Any]) -> None:
        for key in ("monitoring_state", "auto_fix_history", "decision_history", "open_incidents"):
            p[key] = full[key]

    store.update(fill, now=NOW - timedelta(hours=1))
    pub = tmp_path / "capsule.pub"
    pub.write_bytes(signer.public_pem())
    return store.current_path, pub


@pytest.fixture
def database(tmp_path: Path) -> str:
    """An audit store holding findings, transitions, alerts and one open approval."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    audit = AuditStore.open(url)
    from sqlalchemy import insert

    from hee_monitor.record.schema import findings, transitions

    start = NOW - timedelta(days=3)
    with audit.engine.begin() as conn:
        for i in range(12):
            conn.execute(
                insert(findings).values(
                    run_key=f"octo/app#{i}.1",
                    repo="octo/app",
                    job_id=i,
                    pattern_id=["PY-RUFF-LINT", "PY-PYTEST-FAILED", "RUST-COMPILE-ERROR"][i % 3],
                    category=["lint", "test", "compile"][i % 3],
                    severity="medium",
                    risk=2,
                    fingerprint=f"fp{i % 3}",
                    transient=False,
                    confidence=0.9,
                    source="pattern",
                    fix_strategy=None,
                    recorded_at=(start + timedelta(hours=6 * i)).replace(tzinfo=None),
                )
            )
        conn.execute(
            insert(transitions).values(
                repo="octo/app",
                at=(start + timedelta(hours=30)).replace(tzinfo=None),
                trigger="degrade",
                from_state="operational",
                to_state="degraded",
                reason="octo/app#5.1: test failure",
            )
        )
    for i, outcome in enumerate(["sent", "sent", "muted", "failed"]):
        alert = Alert(
            repo="octo/app",
            severity=Severity.HIGH,
            title=f"alert {i}",
            body="",
            fingerprint=f"fp{i}",
            kind="failure",
            created_at=start,
        )
        audit.record_alert(alert, outcome, now=start + timedelta(hours=10 * i))
    ApprovalStore(audit.engine).request(
        now=NOW - timedelta(hours=2),
        repository="octo/app",
        repo_path="/tmp/x",
        run_id="7",
        finding={
            "pattern_id": "PY-PIP-RESOLUTION",
            "fix_strategy": "pin-dependency",
            "fingerprint": "fp9",
            "severity": "high",
        },
        plan={"strategy": "pin-dependency"},
        risk=7,
        reason="risk 7 is above the threshold 5",
    )
    records.audit(audit.engine, NOW, "test", "seed", "fp9", "seeded")
    return url
