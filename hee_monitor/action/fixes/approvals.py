"""Approval requests for fixes above the risk threshold (or manual-only kinds).

A request is a row in the audit store; a person approves or rejects it by name with a
reason; a pending request older than the timeout escalates once, as an ``Alert`` of kind
"approval" handed to a :class:`Notifier` (the alert router). Every step is audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.action.alerts.interface import Notifier
from hee_monitor.action.fixes.records import audit
from hee_monitor.core.errors import FixError, StoreError, UsageError
from hee_monitor.core.models import Alert, Severity
from hee_monitor.record.schema import fix_approvals

PENDING, APPROVED, REJECTED, EXECUTED = "pending", "approved", "rejected", "executed"
STATUSES = (PENDING, APPROVED, REJECTED, EXECUTED)


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    created: datetime
    status: str
    escalated: datetime | None
    repository: str | None
    repo_path: str | None
    run_id: str | None
    pattern_id: str
    strategy: str
    fingerprint: str
    severity: str
    risk: int
    reason: str
    plan: dict[str, Any]
    finding: dict[str, Any]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created.isoformat(),
            "status": self.status,
            "escalated": self.escalated.isoformat() if self.escalated else None,
            "repository": self.repository,
            "repo_path": self.repo_path,
            "run_id": self.run_id,
            "pattern_id": self.pattern_id,
            "strategy": self.strategy,
            "fingerprint": self.fingerprint,
            "severity": self.severity,
            "risk": self.risk,
            "reason": self.reason,
            "plan": self.plan,
            "finding": self.finding,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decision_reason": self.decision_reason,
        }


def is_overdue(request: ApprovalRequest, now: datetime, timeout: timedelta) -> bool:
    """A pending, not yet escalated request older than ``timeout``."""
    return (
        request.status == PENDING
        and request.escalated is None
        and now - _aware(request.created) >= timeout
    )


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything stored here is UTC
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def approval_id(fingerprint: str, created: datetime) -> str:
    digest = hashlib.sha256(f"{fingerprint}|{created.isoformat()}".encode()).hexdigest()
    return "APR-" + digest[:10]


def escalation_alert(request: ApprovalRequest, now: datetime) -> Alert:
    waited = now - _aware(request.created)
    return Alert(
        repo=request.repository or request.repo_path or "(local)",
        severity=Severity.HIGH if request.severity in ("critical", "high") else Severity.MEDIUM,
        title=f"Fix {request.id} ({request.strategy}) has waited "
        f"{int(waited.total_seconds() // 3600)} h for approval",
        body=(
            f"{request.pattern_id}: {request.reason}\n"
            f"Plan: {request.plan.get('description', '')}\n"
            f"Approve: hee-monitor approvals approve {request.id} --by NAME --reason TEXT\n"
            f"Reject:  hee-monitor approvals reject {request.id} --by NAME --reason TEXT"
        ),
        fingerprint=f"approval:{request.id}",
        kind="approval",
        pattern_id=request.pattern_id,
        created_at=now,
    )


class ApprovalStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, query: Any) -> list[ApprovalRequest]:
        try:
            with self.engine.connect() as conn:
                return [_from_row(dict(r._mapping)) for r in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read approval requests ({type(exc).__name__})") from None

    def request(
        self,
        *,
        now: datetime,
        repository: str | None,
        repo_path: str | None,
        run_id: str | None,
        finding: dict[str, Any],
        plan: dict[str, Any],
        risk: int,
        reason: str,
    ) -> ApprovalRequest:
        """The pending request for this fingerprint and strategy, created if there is none."""
        for existing in self.requests(PENDING):
            if (
                existing.fingerprint == finding["fingerprint"]
                and existing.strategy == plan["strategy"]
                and existing.repo_path == repo_path
            ):
                return existing
        new_id = approval_id(finding["fingerprint"], now)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(fix_approvals).values(
                        id=new_id,
                        created=now,
                        status=PENDING,
                        repository=repository,
                        repo_path=repo_path,
                        run_id=run_id,
                        pattern_id=finding["pattern_id"],
                        strategy=plan["strategy"],
                        fingerprint=finding["fingerprint"],
                        severity=finding.get("severity", "medium"),
                        risk=risk,
                        reason=reason,
                        plan_json=json.dumps(plan),
                        finding_json=json.dumps(finding),
                    )
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store the approval request ({type(exc).__name__})") from None
        audit(self.engine, now, "hee-monitor", "approval.requested", new_id, reason)
        return self.get(new_id)

    def requests(self, status: str | None = None) -> list[ApprovalRequest]:
        query = select(fix_approvals).order_by(fix_approvals.c.created, fix_approvals.c.id)
        if status is not None:
            query = query.where(fix_approvals.c.status == status)
        return self._rows(query)

    def get(self, request_id: str) -> ApprovalRequest:
        rows = self._rows(select(fix_approvals).where(fix_approvals.c.id == request_id))
        if not rows:
            raise UsageError(
                f"no approval request {request_id!r}",
                hint="hee-monitor approvals list shows the pending ones",
            )
        return rows[0]

    def _decide(self, request_id: str, status: str, by: str, reason: str, now: datetime) -> None:
        if not by.strip() or not reason.strip():
            raise UsageError("an approval decision needs --by NAME and --reason TEXT")
        request = self.get(request_id)
        if request.status != PENDING:
            raise FixError(
                f"approval request {request_id} is already {request.status}",
                hint="only pending requests can be approved or rejected",
            )
        self._set(request_id, status=status, decided_by=by, decided_at=now, decision_reason=reason)
        audit(self.engine, now, by, f"approval.{status}", request_id, reason)

    def approve(self, request_id: str, *, by: str, reason: str, now: datetime) -> None:
        self._decide(request_id, APPROVED, by, reason, now)

    def reject(self, request_id: str, *, by: str, reason: str, now: datetime) -> None:
        self._decide(request_id, REJECTED, by, reason, now)

    def mark_executed(self, request_id: str, outcome: str, now: datetime) -> None:
        self._set(request_id, status=EXECUTED)
        audit(self.engine, now, "hee-monitor", "approval.executed", request_id, outcome)

    def escalate_due(self, now: datetime, timeout: timedelta, notifier: Notifier) -> list[Alert]:
        """Escalate every overdue pending request once; return the alerts sent."""
        sent = []
        for request in self.requests(PENDING):
            if not is_overdue(request, now, timeout):
                continue
            alert = escalation_alert(request, now)
            notifier.notify(alert, now)
            self._set(request.id, escalated=now)
            audit(self.engine, now, "hee-monitor", "approval.escalated", request.id, alert.title)
            sent.append(alert)
        return sent

    def _set(self, request_id: str, **values: Any) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    fix_approvals.update().where(fix_approvals.c.id == request_id).values(**values)
                )
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot update approval {request_id} ({type(exc).__name__})"
            ) from None


def _from_row(row: dict[str, Any]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"],
        created=_aware(row["created"]),
        status=row["status"],
        escalated=_aware(row["escalated"]) if row["escalated"] else None,
        repository=row["repository"],
        repo_path=row["repo_path"],
        run_id=row["run_id"],
        pattern_id=row["pattern_id"],
        strategy=row["strategy"],
        fingerprint=row["fingerprint"],
        severity=row["severity"],
        risk=row["risk"],
        reason=row["reason"],
        plan=json.loads(row["plan_json"]),
        finding=json.loads(row["finding_json"]),
        decided_by=row["decided_by"],
        decided_at=_aware(row["decided_at"]) if row["decided_at"] else None,
        decision_reason=row["decision_reason"],
    )
