"""Gather what a state report shows into one frozen model.

Inputs: the state capsule payload (verified or not — the report says which) and, when
given, the audit store for the time series (failures per category and pattern, state
transitions, alert volume) and the open approval requests. Without the audit store the
series are drawn from the capsule's own ``decision_history``, which keeps the newest
entries only; the report says so.

The model holds plain values only: the renderers (markdown, HTML) never touch the capsule,
the database or the pattern files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.errors import StoreError
from hee_monitor.record.schema import alerts, findings, fix_approvals, transitions

#: how many patterns get their own series in "failures by pattern"; the rest are "other"
TOP_PATTERNS = 6
#: the longest series drawn (older buckets are left out, and the report says so)
MAX_BUCKETS = 60

STATES = ("operational", "degraded", "failed", "maintenance")
COVERAGE_METRICS = ("line", "branch", "function", "integration", "spec", "prompt")


@dataclass(frozen=True)
class Series:
    """Counts per time bucket, one row per name: what a stacked bar chart draws."""

    buckets: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int, ...]], ...]
    #: "hour" or "day"
    unit: str = "day"

    @property
    def total(self) -> int:
        return sum(sum(values) for _, values in self.rows)

    def totals(self) -> dict[str, int]:
        return {name: sum(values) for name, values in self.rows}


@dataclass(frozen=True)
class StateChange:
    at: str
    from_state: str
    to_state: str
    trigger: str
    reason: str


@dataclass(frozen=True)
class FixEntry:
    at: str
    pattern_id: str
    strategy: str
    success: bool
    rollback: bool
    branch: str
    run_id: str


@dataclass(frozen=True)
class Incident:
    id: str
    pattern_id: str
    title: str
    severity: str
    occurrences: int
    opened: str
    last_seen: str


@dataclass(frozen=True)
class Approval:
    id: str
    created: str
    pattern_id: str
    strategy: str
    severity: str
    risk: int
    reason: str
    escalated: bool


@dataclass(frozen=True)
class CoverageRow:
    metric: str
    percent: float | None
    target: float | None

    @property
    def gap(self) -> float | None:
        if self.percent is None or self.target is None or self.percent >= self.target:
            return None
        return round(self.target - self.percent, 2)


@dataclass(frozen=True)
class ReportModel:
    repository: str
    generated_at: str
    capsule_version: int
    capsule_created: str
    capsule_expires: str
    #: True when the capsule's signatures were checked against trusted keys
    verified: bool
    #: key ids that signed, or why the capsule was read unverified
    verification: str
    status: str
    status_since: str
    state_changes: tuple[StateChange, ...]
    failures_by_category: Series
    failures_by_pattern: Series
    pattern_titles: Mapping[str, str]
    fixes: tuple[FixEntry, ...]
    incidents: tuple[Incident, ...]
    approvals: tuple[Approval, ...] | None
    coverage: tuple[CoverageRow, ...]
    hee_specific: Mapping[str, float | None]
    alerts: Series | None
    #: where the time series came from: "audit store" or "capsule decision history"
    series_source: str
    notes: tuple[str, ...] = field(default=())
    #: pattern id → its failure category: a pattern is drawn in its category's colour
    pattern_categories: Mapping[str, str] = field(default_factory=dict)

    @property
    def rollbacks(self) -> int:
        return sum(1 for f in self.fixes if f.rollback)

    @property
    def fixes_kept(self) -> int:
        return sum(1 for f in self.fixes if f.success and not f.rollback)


# -- time helpers -------------------------------------------------------------------------


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _bucketing(moments: Sequence[datetime]) -> tuple[str, timedelta, str]:
    """Hourly buckets when everything happened within two days, daily otherwise."""
    if moments and max(moments) - min(moments) <= timedelta(hours=48):
        return "hour", timedelta(hours=1), "%Y-%m-%d %H:00"
    return "day", timedelta(days=1), "%Y-%m-%d"


def _floor(moment: datetime, unit: str) -> datetime:
    moment = moment.astimezone(UTC)
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def build_series(
    events: Iterable[tuple[datetime, str]], *, order: Sequence[str] | None = None
) -> tuple[Series, bool]:
    """Count (moment, name) events per bucket; returns the series and whether old buckets
    were cut off to keep it at :data:`MAX_BUCKETS`."""
    items = [(m.astimezone(UTC), n) for m, n in events]
    if not items:
        return Series((), ()), False
    unit, step, fmt = _bucketing([m for m, _ in items])
    first = _floor(min(m for m, _ in items), unit)
    last = _floor(max(m for m, _ in items), unit)
    starts: list[datetime] = []
    at = first
    while at <= last:
        starts.append(at)
        at += step
    cut = len(starts) > MAX_BUCKETS
    starts = starts[-MAX_BUCKETS:]
    index = {s: i for i, s in enumerate(starts)}
    counts: dict[str, list[int]] = {}
    for moment, name in items:
        i = index.get(_floor(moment, unit))
        if i is None:
            continue
        counts.setdefault(name, [0] * len(starts))[i] += 1
    names = [n for n in (order or ()) if n in counts]
    names += sorted((n for n in counts if n not in names), key=lambda n: (-sum(counts[n]), n))
    return (
        Series(
            tuple(s.strftime(fmt) for s in starts),
            tuple((n, tuple(counts[n])) for n in names),
            unit,
        ),
        cut,
    )


def _top(events: list[tuple[datetime, str]], keep: int) -> list[tuple[datetime, str]]:
    ranked = [name for name, _ in Counter(n for _, n in events).most_common(keep)]
    return [(m, n if n in ranked else "other") for m, n in events]


# -- the capsule ----------------------------------------------------------------------------


def _capsule_failures(payload: Mapping[str, Any]) -> list[tuple[datetime, str]]:
    out = []
    for entry in payload.get("decision_history") or []:
        if not isinstance(entry, dict):
            continue
        at, pattern = _parse(entry.get("timestamp")), entry.get("pattern_id")
        if at is not None and entry.get("run_key"):
            out.append((at, str(pattern) if pattern else "unexplained"))
    return out


def _capsule_changes(payload: Mapping[str, Any]) -> list[StateChange]:
    out = []
    for entry in payload.get("decision_history") or []:
        if not isinstance(entry, dict) or entry.get("from_state") == entry.get("to_state"):
            continue
        reasons = entry.get("reasons") or []
        out.append(
            StateChange(
                _iso(_parse(entry.get("timestamp"))),
                str(entry.get("from_state", "")),
                str(entry.get("to_state", "")),
                str(entry.get("trigger") or ""),
                "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons),
            )
        )
    return out


def _fixes(payload: Mapping[str, Any]) -> tuple[FixEntry, ...]:
    out = []
    for entry in payload.get("auto_fix_history") or []:
        if not isinstance(entry, dict):
            continue
        out.append(
            FixEntry(
                _iso(_parse(entry.get("timestamp"))),
                str(entry.get("pattern_id", "")),
                str(entry.get("strategy") or ""),
                bool(entry.get("success")),
                bool(entry.get("rollback")),
                str(entry.get("branch") or ""),
                str(entry.get("run_id") or ""),
            )
        )
    return tuple(sorted(out, key=lambda f: f.at))


def _incidents(payload: Mapping[str, Any]) -> tuple[Incident, ...]:
    out = []
    for entry in payload.get("open_incidents") or []:
        if not isinstance(entry, dict):
            continue
        out.append(
            Incident(
                str(entry.get("id", "")),
                str(entry.get("pattern_id", "")),
                str(entry.get("title", "")),
                str(entry.get("severity", "")),
                int(entry.get("occurrences") or 0),
                _iso(_parse(entry.get("opened"))),
                _iso(_parse(entry.get("last_seen"))),
            )
        )
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    return tuple(sorted(out, key=lambda i: (rank.get(i.severity, 9), -i.occurrences, i.id)))


def _coverage(
    payload: Mapping[str, Any], targets: Mapping[str, float] | None
) -> tuple[tuple[CoverageRow, ...], dict[str, float | None]]:
    state = payload.get("monitoring_state") or {}
    metrics = state.get("coverage_metrics") or {}
    rows = []
    for name in COVERAGE_METRICS:
        value = metrics.get(name)
        percent = float(value) if isinstance(value, int | float) else None
        target = targets.get(name) if targets is not None else None
        rows.append(CoverageRow(name, percent, target))
    hee = state.get("hee_specific") or {}
    specific = {
        k: (float(v) if isinstance(v, int | float) else None)
        for k, v in hee.items()
        if isinstance(k, str)
    }
    return tuple(rows), specific


# -- the audit store ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditData:
    failures: list[tuple[datetime, str, str]]  # (at, category, pattern)
    changes: list[StateChange]
    alerts: list[tuple[datetime, str]]  # (at, outcome)
    approvals: list[Approval]


def read_audit(engine: Engine, repository: str | None) -> AuditData:
    """The rows the report draws from the audit store (read only)."""

    def scoped(query: Any, table: Any) -> Any:
        return query.where(table.c.repo == repository) if repository else query

    try:
        with engine.connect() as conn:
            found = conn.execute(
                scoped(
                    select(
                        findings.c.run_key,
                        findings.c.job_id,
                        findings.c.recorded_at,
                        findings.c.category,
                        findings.c.pattern_id,
                    ),
                    findings,
                ).order_by(findings.c.id)
            ).all()
            moves = conn.execute(
                scoped(select(transitions), transitions).order_by(transitions.c.at)
            ).all()
            sent = conn.execute(
                scoped(
                    select(alerts.c.at, alerts.c.outcome, alerts.c.repo, alerts.c.fingerprint),
                    alerts,
                )
            ).all()
            pending = conn.execute(
                select(fix_approvals)
                .where(fix_approvals.c.status.in_(("pending", "approved")))
                .order_by(fix_approvals.c.created)
            ).all()
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read the audit store ({type(exc).__name__})",
            hint="check --database: it must be the store the monitor writes",
        ) from None
    # one failure per failed job: its root cause (the analyzer ranks it first), not every
    # generic line that also matched
    roots: dict[tuple[str, int], Any] = {}
    for row in found:
        roots.setdefault((row.run_key, row.job_id), row)
    return AuditData(
        failures=[
            (_parse(r.recorded_at) or datetime.min, r.category, r.pattern_id)
            for r in roots.values()
        ],
        changes=[
            StateChange(_iso(_parse(r.at)), r.from_state, r.to_state, r.trigger, r.reason)
            for r in moves
        ],
        alerts=_alert_outcomes(engine, sent),
        approvals=[
            Approval(
                r.id,
                _iso(_parse(r.created)),
                r.pattern_id,
                r.strategy,
                r.severity,
                int(r.risk),
                r.reason,
                r.escalated is not None,
            )
            for r in pending
            if not repository or r.repository in (None, repository)
        ],
    )


#: what the report calls each way an alert ended, in the order the chart stacks them
ALERT_OUTCOMES = ("delivered", "sent", "waiting", "grouped", "deduped", "failed", "muted")


def _alert_outcomes(engine: Engine, rows: Sequence[Any]) -> list[tuple[datetime, str]]:
    """(at, outcome) per recorded alert. The monitor records an alert as "queued" when the
    outbox takes it; what became of it is the outbox's: delivered, still waiting for a
    channel, or failed for good (every retry spent)."""
    fates: dict[tuple[str, str, datetime], list[str]] = {}
    #: (repo, fingerprint) → (enqueued at, status): for rows whose detection time differs
    near: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    if any(r.outcome == "queued" for r in rows):
        from hee_monitor.record.schema import alert_outbox as outbox_table

        try:
            with engine.connect() as conn:
                for r in conn.execute(
                    select(
                        outbox_table.c.repo,
                        outbox_table.c.fingerprint,
                        outbox_table.c.detected_at,
                        outbox_table.c.enqueued_at,
                        outbox_table.c.status,
                    )
                ):
                    key = (r.repo, r.fingerprint, _second(r.detected_at))
                    fates.setdefault(key, []).append(r.status)
                    near.setdefault((r.repo, r.fingerprint), []).append(
                        (_second(r.enqueued_at), r.status)
                    )
        except SQLAlchemyError:
            fates, near = {}, {}  # a store without an outbox: the alerts stay "waiting"
    out: list[tuple[datetime, str]] = []
    for r in rows:
        at = _parse(r.at) or datetime.min
        outcome = str(r.outcome)
        if outcome == "queued":
            moment = _second(at)
            statuses = fates.get((r.repo, r.fingerprint, moment)) or [
                status
                for enqueued, status in near.get((r.repo, r.fingerprint), [])
                if abs((enqueued - moment).total_seconds()) <= 60
            ]
            if "delivered" in statuses:
                outcome = "delivered"
            elif statuses and all(s == "dead" for s in statuses):
                outcome = "failed"
            else:
                outcome = "waiting"
        out.append((at, outcome))
    return out


def _second(value: Any) -> datetime:
    """A timestamp as naive UTC to the second, to match rows of two tables."""
    at = _parse(value)
    if at is None:
        return datetime.min
    return at.astimezone(UTC).replace(tzinfo=None, microsecond=0)


# -- putting it together -------------------------------------------------------------------


def build_model(
    payload: Mapping[str, Any],
    *,
    verified: bool,
    verification: str,
    now: datetime,
    audit: AuditData | None = None,
    pattern_info: Mapping[str, tuple[str, str]] | None = None,
    coverage_targets: Mapping[str, float] | None = None,
) -> ReportModel:
    """The report of ``payload`` (and ``audit``, when given) at ``now``.

    ``pattern_info`` maps pattern id → (title, category), for capsule-only series and for
    the pattern legend.
    """
    info = dict(pattern_info or {})
    notes: list[str] = []
    if audit is not None:
        by_category, cut1 = build_series((m, c) for m, c, _ in audit.failures)
        by_pattern, cut2 = build_series(_top([(m, p) for m, _, p in audit.failures], TOP_PATTERNS))
        changes = list(audit.changes)
        alerts, cut3 = build_series(audit.alerts, order=ALERT_OUTCOMES)
        approvals: tuple[Approval, ...] | None = tuple(audit.approvals)
        source = "audit store"
        patterns_seen = {p for _, _, p in audit.failures}
        categories: dict[str, str] = {p: c for _, c, p in audit.failures}
    else:
        events = _capsule_failures(payload)
        by_category, cut1 = build_series(
            (m, info.get(p, ("", "unexplained" if p == "unexplained" else "unknown"))[1])
            for m, p in events
        )
        by_pattern, cut2 = build_series(_top(events, TOP_PATTERNS))
        changes = _capsule_changes(payload)
        alerts, cut3 = None, False
        approvals = None
        source = "capsule decision history"
        patterns_seen = {p for _, p in events}
        categories = {}
        notes.append(
            "No audit store given (--database): failures and state changes come from the "
            "capsule's decision history, which keeps the newest entries only; alert volume "
            "and open approvals are not shown."
        )
    if cut1 or cut2 or cut3:
        notes.append(f"Charts show the newest {MAX_BUCKETS} {by_category.unit}s only.")
    state = payload.get("monitoring_state") or {}
    coverage, specific = _coverage(payload, coverage_targets)
    incidents = _incidents(payload)
    patterns_seen |= {i.pattern_id for i in incidents}
    patterns_seen |= {f.pattern_id for f in _fixes(payload)}
    titles = {p: info[p][0] for p in sorted(patterns_seen) if p in info}
    for p in patterns_seen:
        if p not in categories:
            categories[p] = info[p][1] if p in info else "unexplained" if p == "unexplained" else ""
    return ReportModel(
        repository=str(payload.get("repository", "")),
        generated_at=_iso(now),
        capsule_version=int(payload.get("version") or 0),
        capsule_created=str(payload.get("created", "")),
        capsule_expires=str(payload.get("expires", "")),
        verified=verified,
        verification=verification,
        status=str(state.get("current_status", "unknown")),
        status_since=str(state.get("status_since", "")),
        state_changes=tuple(changes),
        failures_by_category=by_category,
        failures_by_pattern=by_pattern,
        pattern_titles=titles,
        fixes=_fixes(payload),
        incidents=incidents,
        approvals=approvals,
        coverage=coverage,
        hee_specific=specific,
        alerts=alerts,
        series_source=source,
        notes=tuple(notes),
        pattern_categories=categories,
    )
