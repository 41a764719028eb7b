from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.approvals import ApprovalStore, escalation_alert, is_overdue
from hee_monitor.action.fixes.records import audit_events
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import FixError, UsageError
from hee_monitor.core.models import Alert
from tests.action.fixes.conftest import make_finding

DAY = timedelta(hours=24)


class Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def notify(self, alert: Alert, now: datetime) -> str:
        self.alerts.append(alert)
        return "collected"

    def flush(self, now: datetime) -> None:
        pass

    def recovered(self, repo: str, now: datetime) -> None:
        pass


def _request(store: ApprovalStore, clock: FakeClock, fingerprint: str = "fp-1") -> str:
    finding = make_finding("bump-dependency", fingerprint=fingerprint).to_json()
    plan = {"strategy": "bump-dependency", "description": "raise jinja2 to at least 3.1.4"}
    request = store.request(
        now=clock.now(), repository="octo/app", repo_path="/r", run_id="9", finding=finding,
        plan=plan, risk=6, reason="risk 6 is above the threshold 5",
    )  # fmt: skip
    return request.id


def test_a_pending_request_escalates_once_after_the_timeout(
    store: Engine, clock: FakeClock
) -> None:
    approvals = ApprovalStore(store)
    request_id = _request(approvals, clock)
    assert _request(approvals, clock) == request_id  # the same fix is requested once
    sink = Collect()
    clock.advance(23 * 3600)
    assert approvals.escalate_due(clock.now(), DAY, sink) == []
    clock.advance(3600)
    (alert,) = approvals.escalate_due(clock.now(), DAY, sink)
    assert sink.alerts == [alert]
    assert alert.kind == "approval"
    assert alert.repo == "octo/app"
    assert f"hee-monitor approvals approve {request_id}" in alert.body
    assert "waited 24 h" in alert.title
    clock.advance(3600)
    assert approvals.escalate_due(clock.now(), DAY, sink) == []
    actions = [e["action"] for e in audit_events(store, request_id)]
    assert actions == ["approval.requested", "approval.escalated"]


def test_overdue_is_a_pure_function_of_now(store: Engine, clock: FakeClock) -> None:
    approvals = ApprovalStore(store)
    request = approvals.get(_request(approvals, clock))
    assert not is_overdue(request, clock.now() + DAY - timedelta(seconds=1), DAY)
    assert is_overdue(request, clock.now() + DAY, DAY)
    assert escalation_alert(request, clock.now() + DAY).fingerprint == f"approval:{request.id}"


def test_decisions_need_a_name_and_a_reason_and_happen_once(
    store: Engine, clock: FakeClock
) -> None:
    approvals = ApprovalStore(store)
    request_id = _request(approvals, clock)
    with pytest.raises(UsageError, match="--by NAME and --reason TEXT"):
        approvals.reject(request_id, by="", reason="no", now=clock.now())
    approvals.reject(request_id, by="bob", reason="not now", now=clock.now())
    rejected = approvals.get(request_id)
    assert (rejected.status, rejected.decided_by, rejected.decision_reason) == (
        "rejected", "bob", "not now")  # fmt: skip
    with pytest.raises(FixError, match="already rejected"):
        approvals.approve(request_id, by="alice", reason="yes", now=clock.now())
    # a rejected request never escalates
    assert approvals.escalate_due(clock.now() + 2 * DAY, DAY, Collect()) == []
    with pytest.raises(UsageError, match="no approval request"):
        approvals.get("APR-nope")
