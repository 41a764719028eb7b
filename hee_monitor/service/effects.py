"""Side effects as durable intents, and the worker that performs them exactly once.

The cycle never calls GitHub or a notifier for a decision directly: it writes one *intent*
per effect (re-run the failed jobs, tell people, count an escalation occurrence, hand a
fix over) in the same transaction as the decision (:meth:`EffectStore.add`). The
:class:`EffectWorker` then performs due intents:

1. it *claims* an intent (one compare-and-set that also counts the try and leases the row
   for ``lease``, so a second worker never performs it at the same time and a killed
   worker's intent is due again when the lease ends);
2. if an earlier try may have reached the remote side (the intent was claimed before,
   or this round's previous try failed), it first *reconciles*: it asks the remote side
   whether the effect already happened (did attempt N+1 of the run start? was this alert
   already routed?) and, if so, records it as done without repeating it;
3. otherwise it performs the effect, retrying in-process with exponential backoff and
   jitter (tenacity, sleeping on the injected clock), and marks the intent done, together
   with the effect's own record (the ``audit_reruns`` row, the ``audit_alerts`` row), in
   one transaction *after* the remote side confirmed it;
4. an effect that still fails is rescheduled with backoff and jitter for a later round,
   and after ``max_tries`` is left as ``dead`` with its last error (shown by the cycle).

A crash (``kill -9``) at any point therefore loses nothing (the intent stays pending) and
repeats nothing the user sees (reconciliation comes before any repeat).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from hee_monitor.core.clock import Clock
from hee_monitor.core.errors import HeeError, StoreError
from hee_monitor.core.models import (
    Alert,
    Evidence,
    FailedRun,
    Finding,
    HealthState,
    Owner,
    Severity,
)
from hee_monitor.decision.mute import mute_reason
from hee_monitor.record.durable import effect_intents

log = logging.getLogger(__name__)

KINDS = ("rerun", "alert", "escalate", "fix_handover")


class Permanent(Exception):
    """An effect that can never succeed (the run is gone): no further tries."""


class SimulatedCrash(BaseException):
    """Raised by a test's crash hook: not an ``Exception``, so nothing catches it."""


@dataclass(frozen=True)
class Intent:
    id: int
    key: str
    kind: str
    repo: str
    run_key: str | None
    payload: dict[str, Any]
    status: str
    tries: int
    created_at: datetime
    last_error: str | None = None
    result: str | None = None


@dataclass(frozen=True)
class EffectResult:
    intent: Intent
    #: done | retry | dead | busy (another worker holds it)
    status: str
    detail: str = ""
    #: True when reconciliation found the effect had already happened
    reconciled: bool = False


#: writes an effect's own record in the transaction that marks its intent done
Recorder = Callable[[Connection], None]


@dataclass(frozen=True)
class Done:
    result: str
    record: Recorder | None = None


class Performer(Protocol):
    def confirmed(self, intent: Intent, now: datetime) -> Done | None:
        """Ask the remote side whether the effect already happened."""
        ...

    def perform(self, intent: Intent, now: datetime) -> Done:
        """Do it; raise when the remote side did not confirm."""
        ...


# -- the store --------------------------------------------------------------------------------


def _store_error(what: str, exc: SQLAlchemyError) -> StoreError:
    return StoreError(
        f"cannot {what} in the audit store ({type(exc).__name__})",
        hint="check --database / HEE_DATABASE_URL and that the database is reachable",
    )


def _intent(row: Any) -> Intent:
    return Intent(
        id=int(row.id),
        key=str(row.key),
        kind=str(row.kind),
        repo=str(row.repo),
        run_key=row.run_key,
        payload=json.loads(row.payload),
        status=str(row.status),
        tries=int(row.tries or 0),
        created_at=row.created_at,
        last_error=row.last_error,
        result=row.result,
    )


class EffectStore:
    """The ``effect_intents`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _store_error(what, exc) from None

    @staticmethod
    def add(
        conn: Connection,
        *,
        key: str,
        kind: str,
        repo: str,
        payload: Mapping[str, Any],
        now: datetime,
        run_key: str | None = None,
    ) -> bool:
        """Queue an intent inside the caller's transaction (the decision's); False when an
        intent with this key exists already (deciding twice never queues twice)."""
        if kind not in KINDS:
            raise ValueError(f"unknown effect kind {kind!r}")
        exists = conn.execute(
            select(effect_intents.c.id).where(effect_intents.c.key == key)
        ).first()
        if exists is not None:
            return False
        conn.execute(
            insert(effect_intents).values(
                key=key,
                kind=kind,
                repo=repo,
                run_key=run_key,
                payload=json.dumps(dict(payload), sort_keys=True, default=str),
                status="pending",
                tries=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        return True

    def enqueue(self, **kwargs: Any) -> bool:
        """:meth:`add` in a transaction of its own (an effect no decision causes)."""
        try:
            with self._tx("queue an effect") as conn:
                return self.add(conn, **kwargs)
        except IntegrityError:
            return False

    def get(self, key: str) -> Intent | None:
        with self._tx("read an effect") as conn:
            row = conn.execute(select(effect_intents).where(effect_intents.c.key == key)).first()
        return None if row is None else _intent(row)

    def due(
        self,
        now: datetime,
        *,
        kinds: Sequence[str] = ("rerun", "alert", "escalate"),
        run_key: str | None = None,
        limit: int = 500,
    ) -> list[Intent]:
        q = select(effect_intents).where(
            effect_intents.c.status == "pending",
            effect_intents.c.next_attempt_at <= now,
            effect_intents.c.kind.in_(list(kinds)),
        )
        if run_key is not None:
            q = q.where(effect_intents.c.run_key == run_key)
        q = q.order_by(effect_intents.c.next_attempt_at, effect_intents.c.id).limit(limit)
        with self._tx("read due effects") as conn:
            return [_intent(r) for r in conn.execute(q).all()]

    def all(self, *, kind: str | None = None, status: str | None = None) -> list[Intent]:
        q = select(effect_intents).order_by(effect_intents.c.id)
        if kind:
            q = q.where(effect_intents.c.kind == kind)
        if status:
            q = q.where(effect_intents.c.status == status)
        with self._tx("read effects") as conn:
            return [_intent(r) for r in conn.execute(q).all()]

    def claim(self, intent: Intent, *, now: datetime, lease: timedelta) -> bool:
        """Take ``intent`` (as read) for one try; False when another worker has it."""
        with self._tx("claim an effect") as conn:
            result = conn.execute(
                update(effect_intents)
                .where(
                    effect_intents.c.id == intent.id,
                    effect_intents.c.status == "pending",
                    effect_intents.c.tries == intent.tries,
                    effect_intents.c.next_attempt_at <= now,
                )
                .values(tries=intent.tries + 1, next_attempt_at=now + lease)
            )
            return bool(result.rowcount == 1)

    def complete(
        self, intent: Intent, *, result: str, now: datetime, record: Recorder | None = None
    ) -> bool:
        """Mark done, with the effect's own record, in one transaction; False when another
        worker completed it first (its record is then the one kept)."""
        with self._tx("mark an effect done") as conn:
            changed = conn.execute(
                update(effect_intents)
                .where(effect_intents.c.id == intent.id, effect_intents.c.status == "pending")
                .values(status="done", done_at=now, result=result[:2000])
            )
            if changed.rowcount != 1:
                return False
            if record is not None:
                record(conn)
            return True

    def retry_later(self, intent: Intent, *, error: str, at: datetime) -> None:
        with self._tx("reschedule an effect") as conn:
            conn.execute(
                update(effect_intents)
                .where(effect_intents.c.id == intent.id, effect_intents.c.status == "pending")
                .values(next_attempt_at=at, last_error=error[:2000])
            )

    def give_up(self, intent: Intent, *, error: str, now: datetime) -> None:
        with self._tx("give an effect up") as conn:
            conn.execute(
                update(effect_intents)
                .where(effect_intents.c.id == intent.id, effect_intents.c.status == "pending")
                .values(status="dead", last_error=error[:2000], done_at=now)
            )

    def open_count(self, kind: str, *, key_prefix: str) -> int:
        """Intents of ``kind`` not given up whose key starts with ``key_prefix``."""
        with self._tx("count effects") as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(effect_intents)
                    .where(
                        and_(
                            effect_intents.c.kind == kind,
                            effect_intents.c.status == "pending",
                            effect_intents.c.key.startswith(key_prefix, autoescape=True),
                        )
                    )
                ).scalar_one()
            )

    def counts(self) -> dict[str, dict[str, int]]:
        """kind → status → rows."""
        q = select(effect_intents.c.kind, effect_intents.c.status, func.count()).group_by(
            effect_intents.c.kind, effect_intents.c.status
        )
        out: dict[str, dict[str, int]] = {}
        with self._tx("count effects") as conn:
            for kind, status, n in conn.execute(q).all():
                out.setdefault(str(kind), {})[str(status)] = int(n)
        return out

    def take(
        self, kind: str, write: Callable[[list[Intent]], None], *, now: datetime
    ) -> list[Intent]:
        """Hand every pending intent of ``kind`` to ``write`` (a file, say) and mark them done
        once it returned: a crash before that hands them over again next time."""
        pending = self.all(kind=kind, status="pending")
        write(pending)
        for intent in pending:
            self.complete(intent, result="handed over", now=now)
        return pending


# -- the worker -------------------------------------------------------------------------------


@dataclass
class EffectWorker:
    store: EffectStore
    performers: Mapping[str, Performer]
    clock: Clock
    #: tries in one round (in-process, tenacity) before the intent waits for a later round
    tries_per_round: int = 3
    #: first in-process wait; doubles, with jitter, up to ``round_wait_max``
    round_wait: float = 0.5
    round_wait_max: float = 4.0
    #: wait before the next round after a failed one; doubles per round up to ``backoff_max``
    backoff: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(minutes=30)
    #: rounds (claims) before an intent is given up as dead
    max_tries: int = 12
    #: how long a claimed intent is left to its worker
    lease: timedelta = timedelta(minutes=5)
    #: test hook: called with ("before" | "after", intent) around the remote call
    crash: Callable[[str, Intent], None] | None = None
    rng: random.Random = field(default_factory=random.Random)

    def run_due(
        self,
        *,
        kinds: Sequence[str] = ("rerun", "alert", "escalate"),
        run_key: str | None = None,
        deadline: float | None = None,
    ) -> list[EffectResult]:
        """Perform every due intent (of ``run_key`` when given) until ``deadline`` (a
        ``time.monotonic()`` value); what is left stays due for the next round."""
        results = []
        for intent in self.store.due(self.clock.now(), kinds=kinds, run_key=run_key):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if intent.kind not in self.performers:
                continue
            results.append(self.run_one(intent))
        return results

    def run_one(self, intent: Intent) -> EffectResult:
        performer = self.performers[intent.kind]
        now = self.clock.now()
        if not self.store.claim(intent, now=now, lease=self.lease):
            return EffectResult(intent, "busy")
        # a try claimed before this one may have reached the remote side: ask first
        maybe_done = intent.tries > 0
        reconciled = False

        def attempt() -> Done:
            nonlocal maybe_done, reconciled
            if maybe_done:
                known = performer.confirmed(intent, self.clock.now())
                if known is not None:
                    reconciled = True
                    return known
            maybe_done = True  # from here on a failure may hide a success
            if self.crash is not None:
                self.crash("before", intent)
            done = performer.perform(intent, self.clock.now())
            if self.crash is not None:
                self.crash("after", intent)
            return done

        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.tries_per_round)),
            wait=wait_exponential_jitter(
                multiplier=self.round_wait, max=self.round_wait_max, jitter=self.round_wait
            ),
            retry=retry_if_exception(_retryable),
            sleep=self.clock.sleep,
            reraise=True,
        )
        try:
            done = retrying(attempt)
        except Permanent as exc:
            self.store.give_up(intent, error=str(exc), now=self.clock.now())
            log.warning("effect %s given up: %s", intent.key, exc)
            return EffectResult(intent, "dead", str(exc))
        except (Exception, RetryError) as exc:  # the remote side did not confirm
            error = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
            if is_fatal(exc):  # a rejected token: due again once it is replaced
                self.store.retry_later(intent, error=error, at=self.clock.now())
                raise
            if intent.tries + 1 >= self.max_tries:
                self.store.give_up(intent, error=error, now=self.clock.now())
                log.warning(
                    "effect %s given up after %d tries: %s", intent.key, self.max_tries, error
                )
                return EffectResult(intent, "dead", error)
            at = self.clock.now() + self._backoff(intent.tries + 1)
            self.store.retry_later(intent, error=error, at=at)
            log.warning("effect %s failed (%s); tried again after %s", intent.key, error, at)
            return EffectResult(intent, "retry", error)
        self.store.complete(intent, result=done.result, now=self.clock.now(), record=done.record)
        return EffectResult(intent, "done", done.result, reconciled)

    def _backoff(self, rounds: int) -> timedelta:
        seconds = min(
            self.backoff.total_seconds() * 2 ** min(rounds - 1, 30),
            self.backoff_max.total_seconds(),
        )
        # full jitter on the upper half: instances that failed together do not retry together
        return timedelta(seconds=seconds * self.rng.uniform(0.5, 1.0))


# -- payloads ---------------------------------------------------------------------------------


def alert_payload(alert: Alert, *, maintenance: bool) -> dict[str, Any]:
    return {
        "repo": alert.repo,
        "severity": alert.severity.value,
        "title": alert.title,
        "body": alert.body,
        "fingerprint": alert.fingerprint,
        "kind": alert.kind,
        "pattern_id": alert.pattern_id,
        "url": alert.url,
        "created_at": alert.created_at.isoformat() if alert.created_at else None,
        "maintenance": maintenance,
    }


def alert_from(payload: Mapping[str, Any]) -> Alert:
    created = payload.get("created_at")
    return Alert(
        repo=str(payload["repo"]),
        severity=Severity(payload["severity"]),
        title=str(payload["title"]),
        body=str(payload["body"]),
        fingerprint=str(payload["fingerprint"]),
        kind=str(payload.get("kind") or "failure"),
        pattern_id=payload.get("pattern_id"),
        url=payload.get("url"),
        created_at=datetime.fromisoformat(created) if created else None,
    )


def run_payload(run: FailedRun) -> dict[str, Any]:
    return {
        "repo": run.repo,
        "run_id": run.run_id,
        "run_attempt": run.run_attempt,
        "workflow": run.workflow,
        "head_sha": run.head_sha,
        "branch": run.branch,
        "event": run.event,
        "conclusion": run.conclusion,
        "html_url": run.html_url,
    }


def run_from(payload: Mapping[str, Any]) -> FailedRun:
    return FailedRun(
        repo=str(payload["repo"]),
        run_id=int(payload["run_id"]),
        run_attempt=int(payload["run_attempt"]),
        workflow=str(payload.get("workflow") or ""),
        head_sha=str(payload.get("head_sha") or ""),
        branch=payload.get("branch"),
        event=str(payload.get("event") or ""),
        conclusion=str(payload.get("conclusion") or "failure"),
        jobs=(),
        html_url=payload.get("html_url"),
    )


def finding_from(data: Mapping[str, Any]) -> Finding:
    """A :class:`Finding` back from its ``to_json`` form."""
    owner = data.get("owner")
    return Finding(
        pattern_id=str(data["pattern_id"]),
        title=str(data["title"]),
        category=str(data["category"]),
        severity=Severity(data["severity"]),
        owner=Owner(owner) if owner else None,
        risk=int(data["risk"]),
        transient=bool(data["transient"]),
        confidence=float(data["confidence"]),
        fix_strategy=data.get("fix_strategy"),
        fingerprint=str(data["fingerprint"]),
        evidence=tuple(
            Evidence(int(e["start_line"]), int(e["end_line"]), str(e["text"]))
            for e in data.get("evidence", [])
        ),
        source=str(data.get("source", "pattern")),
        details=dict(data.get("details") or {}),
        related=tuple(data.get("related") or ()),
    )


# -- performers -------------------------------------------------------------------------------


class RunControlLike(Protocol):
    def rerun_failed_jobs(self, repo: str, run_id: int) -> object: ...

    def get_run(self, repo: str, run_id: int) -> Any: ...


@dataclass
class RerunPerformer:
    """``POST .../rerun-failed-jobs``; reconciled by reading the run: its current attempt
    beyond the failed one means the re-run was made (by us before a crash, or by anyone)."""

    run_control: RunControlLike
    record_rerun: Callable[[Connection, Intent, datetime], None]

    def confirmed(self, intent: Intent, now: datetime) -> Done | None:
        p = intent.payload
        status = self.run_control.get_run(str(p["repo"]), int(p["run_id"]))
        attempt = getattr(status, "attempt", None)
        if isinstance(attempt, int) and attempt > int(p["run_attempt"]):
            return Done(f"attempt {attempt} started", self._record(intent, now))
        return None

    def perform(self, intent: Intent, now: datetime) -> Done:
        p = intent.payload
        self.run_control.rerun_failed_jobs(str(p["repo"]), int(p["run_id"]))
        return Done("re-run requested", self._record(intent, now))

    def _record(self, intent: Intent, now: datetime) -> Recorder:
        return lambda conn: self.record_rerun(conn, intent, now)


class NotifierLike(Protocol):
    def notify(self, alert: Alert, now: datetime) -> str: ...


@dataclass
class AlertPerformer:
    """Routes the alert (the router's own outbox then delivers it to each channel);
    reconciled through the notifier's ``notified_since`` when it has one (the router's
    notification log and open groups): an alert already routed is not routed again."""

    notifier: NotifierLike | None
    alert_level: Severity
    record_alert: Callable[[Connection, Alert, str, str, datetime], None]

    def confirmed(self, intent: Intent, now: datetime) -> Done | None:
        check = getattr(self.notifier, "notified_since", None)
        if check is None:
            return None
        alert = alert_from(intent.payload)
        if check(alert.repo, alert.fingerprint, intent.created_at):
            return Done("routed", self._record(alert, "queued", "", now))
        return None

    def perform(self, intent: Intent, now: datetime) -> Done:
        alert = alert_from(intent.payload)
        muted = mute_reason(
            alert,
            maintenance=bool(intent.payload.get("maintenance")),
            alert_level=self.alert_level,
            deliverable=self.notifier is not None,
        )
        if muted is not None or self.notifier is None:
            outcome, reason = "muted", muted or "no notifier configured"
        else:
            outcome, reason = self.notifier.notify(alert, now), ""
        return Done(outcome, self._record(alert, outcome, reason, now))

    def _record(self, alert: Alert, outcome: str, reason: str, now: datetime) -> Recorder:
        return lambda conn: self.record_alert(conn, alert, outcome, reason, now)


class EscalatorLike(Protocol):
    def observe(
        self, run: FailedRun, findings: Sequence[Finding], state: HealthState, now: datetime
    ) -> object: ...


@dataclass
class EscalatePerformer:
    """Counts one occurrence per fingerprint in the escalation store (the issue writes
    themselves happen in the sweep, which finds an issue again by its marker before ever
    opening a second one). Reconciled by the store: an occurrence of this run counted
    already is not counted again."""

    escalator: EscalatorLike

    def confirmed(self, intent: Intent, now: datetime) -> Done | None:
        store = getattr(self.escalator, "store", None)
        if store is None:
            return None
        fps = [str(f["fingerprint"]) for f in intent.payload.get("findings", [])]
        counted = [store.get(intent.repo, fp) for fp in fps]
        if fps and all(
            t is not None and t.latest.get("run_key") == intent.run_key for t in counted
        ):
            return Done("occurrence counted")
        return None

    def perform(self, intent: Intent, now: datetime) -> Done:
        p = intent.payload
        run = run_from(p["run"])
        found = [finding_from(f) for f in p.get("findings", [])]
        self.escalator.observe(run, found, HealthState(p["state"]), now)
        return Done("occurrence counted")


def is_fatal(exc: BaseException) -> bool:
    """A failure that must stop everything (a rejected token), not be retried."""
    return isinstance(exc, HeeError) and bool(getattr(exc, "fatal", False))


def _retryable(exc: BaseException) -> bool:
    """Worth another try in this round: an ordinary failure, not a permanent one, not a
    rejected token, and never a crash (``BaseException``: SystemExit, a simulated kill)."""
    return isinstance(exc, Exception) and not isinstance(exc, Permanent) and not is_fatal(exc)
