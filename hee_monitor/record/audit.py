"""The audit store: what the monitor saw, decided and did, and the metrics drawn from it.

SQLAlchemy Core on the tables of :mod:`hee_monitor.record.schema`. The processed
runs table is the register that makes processing exactly-once across restarts: a run's
findings, decision, state transitions and its processed mark are written in one
transaction, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hee_monitor.core.errors import StoreError
from hee_monitor.core.models import Alert, FailedRun, JobRecord
from hee_monitor.decision.health import Transition
from hee_monitor.decision.interface import Decision
from hee_monitor.record.db import open_engine
from hee_monitor.record.schema import (
    alerts,
    decisions,
    diagnoses,
    findings,
    fix_attempts,
    fixes,
    fixes_seen,
    flaky,
    poll_cursors,
    processed_runs,
    reruns,
    skips,
    transitions,
)

#: outcomes of the fix engine's attempts that count as a failed try of a strategy
FAILED_FIX_OUTCOMES = ("rolled-back", "crashed")


def _in_window(
    q: Select[Any],
    table: Table,
    column: str,
    *,
    repo: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    """Rows of ``repo`` (when given) whose ``column`` is in [since, until) (either optional)."""
    if repo:
        q = q.where(table.c.repo == repo)
    if since:
        q = q.where(table.c[column] >= (since))
    if until:
        q = q.where(table.c[column] < (until))
    return q


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class PendingRerun:
    id: int
    repo: str
    run_id: int
    head_sha: str | None
    fingerprints: tuple[str, ...]


@dataclass(frozen=True)
class Metrics:
    runs_processed: int
    runs_skipped: int
    jobs_diagnosed: int
    unexplained_share: float | None
    detection_latency_seconds: dict[str, float | None]
    analysis_seconds: dict[str, float | None]
    remediation_seconds: dict[str, float | None]
    fix_success_rate: float | None
    fixes: int
    by_category: dict[str, int]
    by_pattern: dict[str, int]
    risk_distribution: dict[str, int]
    actions: dict[str, int]
    alerts: dict[str, int]
    transitions: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "runs_processed": self.runs_processed,
            "runs_skipped": self.runs_skipped,
            "jobs_diagnosed": self.jobs_diagnosed,
            "unexplained_share": self.unexplained_share,
            "detection_latency_seconds": self.detection_latency_seconds,
            "analysis_seconds": self.analysis_seconds,
            "remediation_seconds": self.remediation_seconds,
            "fix_success_rate": self.fix_success_rate,
            "fixes": self.fixes,
            "by_category": self.by_category,
            "by_pattern": self.by_pattern,
            "risk_distribution": self.risk_distribution,
            "actions": self.actions,
            "alerts": self.alerts,
            "transitions": self.transitions,
        }


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "count": len(ordered),
        "mean": round(statistics.fmean(ordered), 3),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
    }


class AuditStore:
    """The audit log on an SQLAlchemy engine (SQLite file by default)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> AuditStore:
        """Open (and create) the store at ``url``; the URL may hold a password, so it is
        never part of an error. ``read_only``: see :func:`open_engine`."""
        try:
            return cls(open_engine(url, read_only=read_only))
        except ImportError as exc:
            raise StoreError(
                f"no database driver for this URL ({exc.name} is not installed)",
                hint=f"pip install {exc.name}, or use a sqlite:/// URL",
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot create the audit store's directory ({exc.strerror})",
                hint="check --database / HEE_DATABASE_URL points at a writable place",
            ) from None

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the audit store failed ({type(exc).__name__})",
                hint="check that the database is reachable and writable",
            ) from None

    # -- processed runs: the exactly-once register ---------------------------------------

    def seen(self, key: str) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                select(processed_runs.c.key).where(processed_runs.c.key == key)
            ).first()
        return row is not None

    # -- poll cursors: conditional requests across restarts --------------------------------

    def get_etag(self, key: str) -> str | None:
        with self._tx() as conn:
            row = conn.execute(select(poll_cursors.c.etag).where(poll_cursors.c.key == key)).first()
        return None if row is None else str(row.etag)

    def put_etag(self, key: str, etag: str | None) -> None:
        with self._tx() as conn:
            conn.execute(delete(poll_cursors).where(poll_cursors.c.key == key))
            if etag:
                conn.execute(insert(poll_cursors).values(key=key, etag=etag))

    def mark(
        self,
        key: str,
        *,
        now: datetime | None = None,
        reason: str = "handed out by the source without a record of its own",
    ) -> None:
        """Remember ``key`` as done (idempotent). Runs the cycle processed are recorded by
        :meth:`record_run`; a key marked only here (a run the source could not read, a
        branch not watched) counts as skipped."""
        if self.seen(key):
            return
        at = now or datetime.now(UTC)
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(processed_runs).values(
                        key=key,
                        repo=key.split("#", 1)[0],
                        status="skipped",
                        reason=reason,
                        processed_at=(at),
                    )
                )
        except IntegrityError:
            pass

    def record_skip(
        self, repo: str, reason: str, *, now: datetime, key: str | None = None, mark: bool = False
    ) -> None:
        """Record something that could not be processed. With ``mark``, ``key`` counts as
        processed too, so a run that breaks processing is not retried every cycle."""
        with self._tx() as conn:
            if key is None:
                # a repository skipped every cycle (no access, say) is one row an hour
                recent = conn.execute(
                    select(skips.c.id).where(
                        and_(
                            skips.c.repo == repo,
                            skips.c.key.is_(None),
                            skips.c.reason == reason,
                            skips.c.at >= (now - timedelta(hours=1)),
                        )
                    )
                ).first()
                if recent is not None:
                    return
            conn.execute(insert(skips).values(repo=repo, key=key, reason=reason, at=(now)))
        if mark and key:
            try:
                with self._tx() as conn:
                    conn.execute(
                        insert(processed_runs).values(
                            key=key,
                            repo=repo,
                            status="skipped",
                            reason=reason,
                            processed_at=(now),
                        )
                    )
            except IntegrityError:
                pass

    def record_run(
        self,
        run: FailedRun,
        jobs: Sequence[JobRecord],
        decision: Decision,
        moves: Sequence[Transition],
        *,
        now: datetime,
        also: Callable[[Connection], None] | None = None,
    ) -> bool:
        """Record a processed run atomically. False (nothing written) if it was already
        recorded, which is how a second instance or a restart learns it lost the race.
        ``also`` writes more in the same transaction (the decision's effect intents); a
        run held as *pending* (its log not read yet) becomes processed here."""
        completed = run.updated_at
        root = next(
            (f for j in jobs if j.diagnosis for f in j.diagnosis.failures),
            None,
        )
        try:
            with self._tx() as conn:
                conn.execute(
                    delete(processed_runs).where(
                        and_(processed_runs.c.key == run.key, processed_runs.c.status == "pending")
                    )
                )
                conn.execute(
                    insert(processed_runs).values(
                        key=run.key,
                        repo=run.repo,
                        run_id=run.run_id,
                        run_attempt=run.run_attempt,
                        status="processed",
                        head_sha=run.head_sha,
                        run_completed_at=(completed) if completed else None,
                        processed_at=(now),
                    )
                )
                for record in jobs:
                    self._insert_job(conn, run, record, now)
                self._insert_decision(conn, run.repo, run.key, decision, now, root)
                for move in moves:
                    self._insert_transition(conn, run.repo, move)
                if also is not None:
                    also(conn)
        except IntegrityError:
            return False
        return True

    def _insert_job(self, conn: Connection, run: FailedRun, rec: JobRecord, now: datetime) -> None:
        if rec.diagnosis is None:
            return
        completed = rec.job.completed_at or run.updated_at
        latency = (now - completed).total_seconds() if completed else None
        conn.execute(
            insert(diagnoses).values(
                run_key=run.key,
                repo=run.repo,
                job_id=rec.job.job_id,
                job_name=rec.job.name,
                unexplained=rec.diagnosis.unexplained,
                findings=len(rec.diagnosis.failures),
                analysis_seconds=rec.diagnosis.analysis_seconds,
                latency_seconds=latency,
                diagnosed_at=(now),
            )
        )
        rows = [
            {
                "run_key": run.key,
                "repo": run.repo,
                "job_id": rec.job.job_id,
                "pattern_id": f.pattern_id,
                "category": f.category,
                "severity": f.severity.value,
                "risk": f.risk,
                "fingerprint": f.fingerprint,
                "transient": f.transient,
                "confidence": f.confidence,
                "source": f.source,
                "fix_strategy": f.fix_strategy,
                "recorded_at": (now),
            }
            for f in rec.diagnosis.failures
        ]
        if rows:
            conn.execute(insert(findings), rows)

    def _insert_decision(
        self,
        conn: Connection,
        repo: str,
        run_key: str | None,
        decision: Decision,
        now: datetime,
        root: Any,
        event: str = "failed_run",
    ) -> None:
        conn.execute(
            insert(decisions).values(
                run_key=run_key,
                repo=repo,
                event=event,
                decided_at=(now),
                actions=json.dumps([a.value for a in decision.actions]),
                triggers=json.dumps(list(decision.triggers)),
                from_state=decision.from_state.value,
                to_state=decision.to_state.value,
                reasons=json.dumps(list(decision.reasons)),
                rules=json.dumps(list(decision.rules)),
                severity=decision.severity.value if decision.severity else None,
                fingerprint=getattr(root, "fingerprint", None),
                pattern_id=getattr(root, "pattern_id", None),
            )
        )

    def _insert_transition(self, conn: Connection, repo: str, move: Transition) -> None:
        conn.execute(
            insert(transitions).values(
                repo=repo,
                at=(move.at),
                trigger=move.trigger,
                from_state=move.from_state.value,
                to_state=move.to_state.value,
                reason=move.reason,
            )
        )

    # -- other records ---------------------------------------------------------------------

    def record_decision(
        self,
        repo: str,
        decision: Decision,
        moves: Sequence[Transition],
        *,
        event: str,
        now: datetime,
        run_key: str | None = None,
    ) -> None:
        """A decision not tied to a new failed run (recovery, quiet window)."""
        with self._tx() as conn:
            self._insert_decision(conn, repo, run_key, decision, now, None, event=event)
            for move in moves:
                self._insert_transition(conn, repo, move)

    def record_transition(self, repo: str, move: Transition) -> None:
        with self._tx() as conn:
            self._insert_transition(conn, repo, move)

    def record_alert(self, alert: Alert, outcome: str, *, now: datetime, reason: str = "") -> None:
        with self._tx() as conn:
            conn.execute(
                insert(alerts).values(
                    repo=alert.repo,
                    at=(now),
                    severity=alert.severity.value,
                    kind=alert.kind,
                    title=alert.title,
                    fingerprint=alert.fingerprint,
                    outcome=outcome,
                    reason=reason,
                )
            )

    def record_fix(
        self,
        *,
        repo: str,
        fingerprint: str,
        strategy: str,
        success: bool,
        rollback: bool,
        started_at: datetime,
        finished_at: datetime,
        run_key: str | None = None,
        detail: str = "",
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(fixes).values(
                    repo=repo,
                    run_key=run_key,
                    fingerprint=fingerprint,
                    strategy=strategy,
                    success=success,
                    rollback=rollback,
                    started_at=(started_at),
                    finished_at=(finished_at),
                    detail=detail,
                )
            )

    def record_rerun(
        self, repo: str, run_id: int, head_sha: str, fingerprints: Sequence[str], *, now: datetime
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(reruns).values(
                    repo=repo,
                    run_id=run_id,
                    head_sha=head_sha,
                    fingerprints=json.dumps(sorted(set(fingerprints))),
                    requested_at=(now),
                    outcome="pending",
                )
            )

    def resolve_rerun(self, rerun_id: int, outcome: str, *, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(reruns)
                .where(reruns.c.id == rerun_id)
                .values(outcome=outcome, resolved_at=(now))
            )

    def label_flaky(self, repo: str, fingerprints: Sequence[str], *, now: datetime) -> None:
        with self._tx() as conn:
            known = {
                r[0]
                for r in conn.execute(
                    select(flaky.c.fingerprint).where(flaky.c.fingerprint.in_(list(fingerprints)))
                )
            }
            for fp in sorted(set(fingerprints) - known):
                conn.execute(insert(flaky).values(fingerprint=fp, repo=repo, labelled_at=(now)))

    # -- history the policy reads ----------------------------------------------------------

    def reruns_requested(self, repo: str, run_id: int) -> int:
        with self._tx() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(reruns)
                .where(and_(reruns.c.repo == repo, reruns.c.run_id == run_id))
            ).scalar_one()
        return int(count)

    def pending_reruns(self) -> list[PendingRerun]:
        with self._tx() as conn:
            rows = conn.execute(
                select(reruns).where(reruns.c.outcome == "pending").order_by(reruns.c.id)
            ).all()
        return [
            PendingRerun(r.id, r.repo, r.run_id, r.head_sha, tuple(json.loads(r.fingerprints)))
            for r in rows
        ]

    def occurrences(self, fingerprint: str, *, since: datetime) -> int:
        """Runs in which ``fingerprint`` was found since ``since``."""
        with self._tx() as conn:
            count = conn.execute(
                select(func.count(func.distinct(findings.c.run_key))).where(
                    and_(
                        findings.c.fingerprint == fingerprint,
                        findings.c.recorded_at >= (since),
                    )
                )
            ).scalar_one()
        return int(count)

    def failed_fix_attempts(self, fingerprint: str, strategy: str) -> int:
        """Failed tries of ``strategy`` on ``fingerprint``: the fix engine's attempts that
        were rolled back or crashed, plus fixes recorded here as failed."""
        with self._tx() as conn:
            engine_failures = conn.execute(
                select(func.count())
                .select_from(fix_attempts)
                .where(
                    and_(
                        fix_attempts.c.fingerprint == fingerprint,
                        fix_attempts.c.strategy == strategy,
                        fix_attempts.c.outcome.in_(FAILED_FIX_OUTCOMES),
                    )
                )
            ).scalar_one()
            count = conn.execute(
                select(func.count())
                .select_from(fixes)
                .where(
                    and_(
                        fixes.c.fingerprint == fingerprint,
                        fixes.c.strategy == strategy,
                        fixes.c.success.is_(False),
                    )
                )
            ).scalar_one()
        return int(count) + int(engine_failures)

    def is_flaky(self, fingerprints: Sequence[str]) -> bool:
        if not fingerprints:
            return False
        with self._tx() as conn:
            row = conn.execute(
                select(flaky.c.fingerprint).where(flaky.c.fingerprint.in_(list(fingerprints)))
            ).first()
        return row is not None

    def last_failure_at(self, repo: str | None = None) -> datetime | None:
        query = select(func.max(diagnoses.c.diagnosed_at))
        if repo:
            query = query.where(diagnoses.c.repo == repo)
        with self._tx() as conn:
            value = conn.execute(query).scalar_one()
        return value  # type: ignore[no-any-return]

    # -- reading ---------------------------------------------------------------------------

    def query(
        self,
        *,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Decisions, newest first, filtered by repository, time and action."""
        q = select(decisions).order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
        q = _in_window(q, decisions, "decided_at", repo=repo, since=since, until=until)
        if action:
            q = q.where(decisions.c.actions.like(f'%"{action}"%'))
        with self._tx() as conn:
            rows = conn.execute(q.limit(limit)).all()
        return [
            {
                "decided_at": _iso(r.decided_at),
                "repo": r.repo,
                "run_key": r.run_key,
                "event": r.event,
                "actions": json.loads(r.actions),
                "triggers": json.loads(r.triggers),
                "from_state": r.from_state,
                "to_state": r.to_state,
                "severity": r.severity,
                "pattern_id": r.pattern_id,
                "fingerprint": r.fingerprint,
                "reasons": json.loads(r.reasons),
                "rules": json.loads(r.rules),
            }
            for r in rows
        ]

    def transition_log(
        self,
        *,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Health state transitions (by the monitor and by hand), newest first."""
        q = select(transitions).order_by(transitions.c.at.desc(), transitions.c.id.desc())
        q = _in_window(q, transitions, "at", repo=repo, since=since, until=until)
        with self._tx() as conn:
            rows = conn.execute(q.limit(limit)).all()
        return [
            {
                "at": _iso(r.at),
                "repo": r.repo,
                "trigger": r.trigger,
                "from_state": r.from_state,
                "to_state": r.to_state,
                "reason": r.reason,
            }
            for r in rows
        ]

    def new_applied_fixes(self) -> list[tuple[int, str, str]]:
        """Fix-engine attempts that were applied and not yet taken into account by the
        monitor: (attempt id, repository, fingerprint)."""
        seen = select(fixes_seen.c.attempt_id)
        with self._tx() as conn:
            rows = conn.execute(
                select(fix_attempts.c.id, fix_attempts.c.repository, fix_attempts.c.fingerprint)
                .where(and_(fix_attempts.c.outcome == "applied", fix_attempts.c.id.not_in(seen)))
                .order_by(fix_attempts.c.id)
            ).all()
        return [(int(r[0]), str(r[1] or ""), str(r[2])) for r in rows]

    def mark_fixes_seen(self, attempt_ids: Sequence[int], *, now: datetime) -> None:
        if not attempt_ids:
            return
        with self._tx() as conn:
            conn.execute(
                insert(fixes_seen),
                [{"attempt_id": i, "seen_at": (now)} for i in attempt_ids],
            )

    def latest_transition(self) -> tuple[str, datetime] | None:
        """The state the newest recorded transition led to, and when."""
        with self._tx() as conn:
            row = conn.execute(
                select(transitions.c.to_state, transitions.c.at)
                .order_by(transitions.c.at.desc(), transitions.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        at: datetime = row.at
        return str(row.to_state), at

    def count(self, table: Table) -> int:
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def metrics(self, *, since: datetime | None = None, repo: str | None = None) -> Metrics:
        def where(table: Table, column: str) -> list[Any]:
            conds: list[Any] = []
            if since is not None:
                conds.append(table.c[column] >= (since))
            if repo is not None:
                conds.append(table.c.repo == repo)
            return conds

        with self._tx() as conn:
            runs = Counter(
                {
                    r[0]: r[1]
                    for r in conn.execute(
                        select(processed_runs.c.status, func.count())
                        .where(*where(processed_runs, "processed_at"))
                        .group_by(processed_runs.c.status)
                    )
                }
            )
            skipped = conn.execute(
                select(func.count()).select_from(skips).where(*where(skips, "at"))
            ).scalar_one()
            diag = conn.execute(
                select(
                    diagnoses.c.unexplained,
                    diagnoses.c.latency_seconds,
                    diagnoses.c.analysis_seconds,
                ).where(*where(diagnoses, "diagnosed_at"))
            ).all()
            found = conn.execute(
                select(findings.c.category, findings.c.pattern_id, findings.c.risk).where(
                    *where(findings, "recorded_at")
                )
            ).all()
            fix_rows = conn.execute(
                select(fixes.c.success, fixes.c.started_at, fixes.c.finished_at).where(
                    *where(fixes, "finished_at")
                )
            ).all()
            engine_fixes = conn.execute(
                select(fix_attempts.c.outcome).where(fix_attempts.c.outcome.is_not(None))
            ).all()
            # remediation of a fix-engine fix: failure diagnosed → fix applied
            applied = conn.execute(
                select(fix_attempts.c.fingerprint, fix_attempts.c.started).where(
                    fix_attempts.c.outcome == "applied"
                )
            ).all()
            remediation = [(f.finished_at - f.started_at).total_seconds() for f in fix_rows]
            for fp, started in applied:
                at = started
                seen = conn.execute(
                    select(func.max(findings.c.recorded_at)).where(
                        and_(findings.c.fingerprint == fp, findings.c.recorded_at <= at)
                    )
                ).scalar_one()
                if seen is not None:
                    remediation.append((at - seen).total_seconds())
            decision_actions = conn.execute(
                select(decisions.c.actions).where(*where(decisions, "decided_at"))
            ).all()
            alert_rows = Counter(
                {
                    r[0]: r[1]
                    for r in conn.execute(
                        select(alerts.c.outcome, func.count())
                        .where(*where(alerts, "at"))
                        .group_by(alerts.c.outcome)
                    )
                }
            )
            moves = conn.execute(
                select(func.count()).select_from(transitions).where(*where(transitions, "at"))
            ).scalar_one()
        actions: Counter[str] = Counter()
        for (raw,) in decision_actions:
            actions.update(json.loads(raw))
        fixes_total = len(fix_rows) + len(engine_fixes)
        fixes_ok = sum(1 for f in fix_rows if f.success) + sum(
            1 for (outcome,) in engine_fixes if outcome == "applied"
        )
        return Metrics(
            runs_processed=runs.get("processed", 0),
            runs_skipped=int(skipped),
            jobs_diagnosed=len(diag),
            unexplained_share=(
                round(sum(1 for d in diag if d.unexplained) / len(diag), 4) if diag else None
            ),
            detection_latency_seconds=_summary(
                [d.latency_seconds for d in diag if d.latency_seconds is not None]
            ),
            analysis_seconds=_summary([d.analysis_seconds for d in diag]),
            remediation_seconds=_summary(remediation),
            fix_success_rate=(round(fixes_ok / fixes_total, 4) if fixes_total else None),
            fixes=fixes_total,
            by_category=dict(sorted(Counter(f.category for f in found).items())),
            by_pattern=dict(sorted(Counter(f.pattern_id for f in found).items())),
            risk_distribution={
                str(k): v for k, v in sorted(Counter(f.risk for f in found).items())
            },
            actions=dict(sorted(actions.items())),
            alerts=dict(sorted(alert_rows.items())),
            transitions=int(moves),
        )
