"""One monitoring cycle: poll → analyse → decide → move the state → record → act.

For every new failed run: each failed job's log is analysed, the policy decides from the
findings and recent history, the health state moves by the decision's triggers, and the
run's records land in the audit store in one transaction (the exactly-once mark included)
before anything is sent: a crash then never alerts twice for one run. The capsule is
updated next, then alerts go to the notifier and re-runs to the forge.

One bad log or run never stops a cycle: it is recorded as a skip. In maintenance nothing
is fixed, re-run or alerted; alerts are recorded as muted.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from hee_monitor.analysis.baseline import Baseline
from hee_monitor.core.clock import Clock
from hee_monitor.core.errors import HeeError, SourceError, StoreError
from hee_monitor.core.models import (
    Alert,
    Diagnosis,
    FailedJob,
    FailedRun,
    Finding,
    HealthState,
    JobRecord,
    Severity,
)
from hee_monitor.decision.facts import History, ObservedRun, gather_facts, incidents
from hee_monitor.decision.health import Transition, machine_for
from hee_monitor.decision.interface import Action, Decision, Event, Facts, Policy, PolicySettings
from hee_monitor.decision.skip import SkipDecision
from hee_monitor.decision.transient import transient_cause
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.capsule.envelope import format_time, parse_time
from hee_monitor.record.leases import Leases
from hee_monitor.record.schema import alerts as alerts_table
from hee_monitor.record.schema import reruns as reruns_table
from hee_monitor.record.state import apply_transitions, read_state
from hee_monitor.service.effects import (
    AlertPerformer,
    EffectResult,
    EffectStore,
    EffectWorker,
    EscalatePerformer,
    Intent,
    Performer,
    RerunPerformer,
    alert_payload,
    is_fatal,
    run_payload,
)
from hee_monitor.service.pending import PendingRuns
from hee_monitor.service.ports import (
    CapsuleStore,
    Escalator,
    LogAnalyzer,
    Notifier,
    RunControl,
    Skipped,
    Source,
)

log = logging.getLogger(__name__)

#: the lease kind under which instances sharing a database claim a failed run
RUN_WORK = "run"

#: entries kept in the capsule's decision_history (the audit store keeps everything)
HISTORY_LIMIT = 200

FIX_ACTIONS = frozenset({Action.AUTO_FIX, Action.OPEN_PR})


@dataclass(frozen=True)
class RunOutcome:
    key: str
    repo: str
    decision: Decision | None = None
    transitions: tuple[Transition, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    #: why the run (or some of its jobs) could not be processed
    skipped: tuple[str, ...] = ()
    alerts: tuple[tuple[str, str], ...] = ()  # (outcome, title)
    rerun_requested: bool = False
    url: str | None = None
    #: not understood yet (its log could not be read): why; retried on later cycles
    waiting: str | None = None

    @property
    def fix_required(self) -> bool:
        """A fix was decided and may run: never in maintenance."""
        return (
            self.decision is not None
            and self.decision.to_state is not HealthState.MAINTENANCE
            and bool(FIX_ACTIONS & set(self.decision.actions))
        )


@dataclass(frozen=True)
class CycleReport:
    started_at: datetime
    finished_at: datetime
    state_before: HealthState
    state_after: HealthState
    runs: tuple[RunOutcome, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    recoveries: tuple[Decision, ...] = ()
    #: what the effect worker did this cycle
    effects: tuple[EffectResult, ...] = ()
    #: runs held back because their log (or their data) could not be read yet
    waiting: tuple[RunOutcome, ...] = ()
    #: why the cycle had to stop as a whole (a rejected token); None when it did not
    fatal: str | None = None
    #: True when the cycle deadline cut the cycle short
    deadline_hit: bool = False

    @property
    def fix_required(self) -> bool:
        return any(r.fix_required for r in self.runs)

    @property
    def unread(self) -> list[str]:
        """What this cycle could not read: repositories and runs, with the reason."""
        out = [
            f"{s.repo}" + (f" run {s.run_id}" if s.run_id is not None else "") + f": {s.reason}"
            for s in self.skipped
        ]
        listed = {(s.repo, s.run_id) for s in self.skipped}
        out += [
            f"{w.key}: waiting for log ({w.waiting})"
            for w in self.waiting
            if (w.repo, _run_id(w.key)) not in listed
        ]
        return out

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.runs for d in r.diagnoses for f in d.failures]

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "state_before": self.state_before.value,
            "state_after": self.state_after.value,
            "fix_required": self.fix_required,
            "runs": [
                {
                    "key": r.key,
                    "repo": r.repo,
                    "url": r.url,
                    "decision": r.decision.to_json() if r.decision else None,
                    "diagnoses": [d.to_json() for d in r.diagnoses],
                    "skipped": list(r.skipped),
                    "alerts": [{"outcome": o, "title": t} for o, t in r.alerts],
                    "rerun_requested": r.rerun_requested,
                }
                for r in self.runs
            ],
            "skipped": [
                {"repo": s.repo, "run_id": s.run_id, "reason": s.reason} for s in self.skipped
            ],
            "recoveries": [d.to_json() for d in self.recoveries],
            "waiting_for_log": [
                {"key": w.key, "repo": w.repo, "reason": w.waiting, "url": w.url}
                for w in self.waiting
            ],
            "effects": [
                {
                    "key": e.intent.key,
                    "kind": e.intent.kind,
                    "status": e.status,
                    "detail": e.detail,
                    "reconciled": e.reconciled,
                }
                for e in self.effects
            ],
            "unread": self.unread,
            "fatal": self.fatal,
            "deadline_hit": self.deadline_hit,
        }


@dataclass
class MonitorCycle:
    sources: Sequence[Source]
    analyzer: LogAnalyzer
    policy: Policy
    audit: AuditStore
    capsule: CapsuleStore
    clock: Clock
    notifier: Notifier | None = None
    run_control: RunControl | None = None
    #: repository → its policy settings (default settings when absent)
    settings_for: Callable[[str], PolicySettings] = field(default=lambda _repo: PolicySettings())
    #: alerts below this severity are recorded as muted, not sent
    alert_level: Severity = Severity.LOW
    #: called with each run key as it is processed (progress display)
    on_run: Callable[[str], None] | None = None
    #: repository → branches watched (empty: all) and pattern ids enabled (empty: all)
    scope_for: Callable[[str], tuple[tuple[str, ...], tuple[str, ...]]] = field(
        default=lambda _repo: ((), ())
    )
    #: asked between runs: True ends the cycle after the current run (SIGTERM)
    should_stop: Callable[[], bool] = field(default=lambda: False)
    #: joins findings beyond the log (job metadata, artifacts) into the analysed jobs
    detector: Callable[[FailedRun, list[JobRecord]], list[JobRecord]] | None = None
    #: a run's skip flag, which withholds fixes (and optionally alerts) from its decision
    skip_for: Callable[[FailedRun], SkipDecision | None] | None = None
    #: files persistent failures as GitHub issues and closes them on recovery
    escalator: Escalator | None = None
    #: called at the start of each cycle; checks the token when due and returns its alerts
    token_watch: Callable[[datetime], Sequence[Alert]] | None = None
    #: a failed job's last-green baseline (the same job's log in the newest green run)
    baseline_for: Callable[[FailedRun, Any], Baseline | None] | None = None
    #: work shared with other instances on one database: a run is processed only by the
    #: instance holding its lease (None: this instance works alone)
    leases: Leases | None = None
    #: seconds a whole cycle may take (polling, analysis, effects); None: no limit
    deadline: float | None = None
    #: repositories polled at the same time per source (one source is one API host)
    poll_concurrency: int = 4
    #: a log that could not be read is retried after this (doubling, up to log_retry_max) …
    log_retry_base: timedelta = timedelta(seconds=30)
    log_retry_max: timedelta = timedelta(minutes=5)
    #: … and after this long the run is diagnosed from its metadata, log unreadable
    log_wait: timedelta = timedelta(hours=6)
    #: the effect worker (built on the audit store's database when not given)
    worker: EffectWorker | None = None
    #: (repo, run_id, attempt) → the run read again (a held run's retry); default: the
    #: first source that has ``fetch_failed_run``
    refetch: Callable[[str, int, int], FailedRun | Skipped] | None = None

    def __post_init__(self) -> None:
        self.effects = EffectStore(self.audit.engine)
        self.pending = PendingRuns(
            self.audit.engine, base=self.log_retry_base, cap=self.log_retry_max
        )
        if self.worker is None:
            self.worker = EffectWorker(self.effects, {}, self.clock)
        self._given_performers = dict(self.worker.performers)
        # The cycle marks runs itself (recorded, skipped or held): a source's own mark must
        # not mark a run handed out to a thread before the cycle processed it.
        for source in self.sources:
            if getattr(source, "state", None) is self.audit:
                source.state = _SeenOnly(self.audit)  # type: ignore[attr-defined]
        self._repo_failures: dict[str, tuple[int, datetime]] = {}
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()

    def _performers(self) -> dict[str, Performer]:
        performers: dict[str, Performer] = {
            "alert": AlertPerformer(self.notifier, self.alert_level, _record_alert)
        }
        if self.run_control is not None:
            performers["rerun"] = RerunPerformer(self.run_control, _record_rerun)
        if self.escalator is not None:
            performers["escalate"] = EscalatePerformer(self.escalator)
        return performers

    def _time_left(self, started: float) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - (time.monotonic() - started)

    def _prepare(self) -> None:
        assert self.worker is not None
        self.pending.base, self.pending.cap = self.log_retry_base, self.log_retry_max
        # built each cycle: the notifier, the alert level or run control may have changed
        self.worker.performers = {**self._performers(), **self._given_performers}

    def perform_due(self) -> list[EffectResult]:
        """Only the effect worker's part of a cycle: perform the intents that are due (a
        worker process of its own: ``monitor --mode effects``). A rejected token raises."""
        self._prepare()
        results = self._perform(None if self.deadline is None else time.monotonic() + self.deadline)
        self._flush_alerts(read_state(self.capsule.load()).state)
        return results

    def run_once(self) -> CycleReport:
        assert self.worker is not None
        self._prepare()
        started = self.clock.now()
        began = time.monotonic()
        stop_at = None if self.deadline is None else began + self.deadline
        renew = getattr(self.capsule, "renew_if_due", None)
        if renew is not None and renew(started):
            log.info("state capsule renewed before it expires (heartbeat version)")
        self._reconcile_capsule()
        state = read_state(self.capsule.load()).state
        before = state
        outcomes: list[RunOutcome] = []
        waiting: list[RunOutcome] = []
        skips: list[Skipped] = []
        recoveries: list[Decision] = []
        effects: list[EffectResult] = []
        fatal: str | None = None
        deadline_hit = False
        try:
            if self.token_watch is not None:
                try:
                    token_alerts = self.token_watch(started)
                except Exception as exc:  # token hygiene must not stop monitoring
                    if is_fatal(exc):
                        raise
                    log.warning("token check failed: %s", getattr(exc, "message", exc))
                    token_alerts = ()
                for alert in token_alerts:
                    self._queue_alert(alert, state is HealthState.MAINTENANCE, started)
            # what an earlier cycle (or a crashed one) left to do comes first
            effects += self._perform(stop_at)
            state, recovered = self._check_reruns(state)
            recoveries += recovered
            state, recovered = self._check_fixes(state)
            recoveries += recovered
            for item in self._retry_held(stop_at):
                state = self._handle(item, state, outcomes, waiting, skips, effects, stop_at)
            for item in self._poll_all(stop_at, skips):
                state = self._handle(item, state, outcomes, waiting, skips, effects, stop_at)
                if self.should_stop():
                    break
            deadline_hit = stop_at is not None and time.monotonic() >= stop_at
            if not outcomes:
                state, recovered = self._quiet_recovery(state)
                recoveries += recovered
            if self.escalator is not None:
                try:
                    self.escalator.sweep(state, self.clock.now())
                except Exception as exc:
                    if is_fatal(exc):
                        raise
                    log.warning("escalation sweep failed: %s", getattr(exc, "message", exc))
            effects += self._perform(stop_at)
            self._flush_alerts(state)
        except SourceError as exc:
            if not is_fatal(exc):
                raise
            fatal = exc.message
            effects += self._token_rejected(exc, state, started)
        return CycleReport(
            started,
            self.clock.now(),
            before,
            state,
            tuple(outcomes),
            tuple(skips),
            tuple(recoveries),
            tuple(effects),
            tuple(waiting),
            fatal,
            deadline_hit or (stop_at is not None and time.monotonic() > stop_at),
        )

    # -- effects ---------------------------------------------------------------------------

    def _perform(self, stop_at: float | None, *, run_key: str | None = None) -> list[EffectResult]:
        assert self.worker is not None
        return self.worker.run_due(run_key=run_key, deadline=stop_at)

    def _queue_alert(self, alert: Alert, maintenance: bool, now: datetime) -> None:
        """An alert no run's decision causes (the token's): queued in its own transaction,
        at most once per fingerprint and day (the router dedupes repeats within that)."""
        self.effects.enqueue(
            key=f"alert:{alert.repo}:{alert.fingerprint}:{now.date().isoformat()}",
            kind="alert",
            repo=alert.repo,
            payload=alert_payload(alert, maintenance=maintenance),
            now=now,
        )

    def _token_rejected(
        self, exc: SourceError, state: HealthState, now: datetime
    ) -> list[EffectResult]:
        """GitHub refused the token: one critical alert (deduplicated by day and by the
        router) that says why; GitHub itself is not asked anything more."""
        repos = sorted({r for s in self.sources for r in getattr(s, "repos", ())}) or ["*"]
        alert = Alert(
            repo=",".join(repos),
            severity=Severity.CRITICAL,
            title="GitHub rejected the token (401): monitoring has stopped",
            body=f"{exc.message}\n{exc.hint or ''}".strip(),
            fingerprint="token:rejected",
            kind="token",
            created_at=now,
        )
        self._queue_alert(alert, state is HealthState.MAINTENANCE, now)
        assert self.worker is not None
        try:
            return self.worker.run_due(kinds=("alert",))
        except Exception as inner:  # the alert stays queued for the next cycle
            log.warning("cannot route the token alert: %s", inner)
            return []

    # -- polling ---------------------------------------------------------------------------

    def _poll_all(self, stop_at: float | None, skips: list[Skipped]) -> Iterator[PollItem]:
        """Every source's new items; repositories of a source that polls per repository are
        read at the same time (``poll_concurrency`` per source), each on its own: one that
        hangs or keeps failing is skipped (and retried with backoff) while the others go on."""
        for source in self.sources:
            if self.should_stop():
                return
            repos = getattr(source, "repos", None)
            if hasattr(source, "poll_repo") and repos:
                yield from self._poll_concurrently(source, tuple(repos), stop_at, skips)
                continue
            try:
                for item in source.poll():
                    yield PollItem(item)
            except HeeError as exc:
                if is_fatal(exc):
                    raise
                log.warning("source failed: %s", exc.message)
                skips.append(Skipped(getattr(source, "kind", type(source).__name__), exc.message))

    def _poll_concurrently(
        self, source: Any, repos: tuple[str, ...], stop_at: float | None, skips: list[Skipped]
    ) -> Iterator[PollItem]:
        now = self.clock.now()
        wanted = []
        for repo in repos:
            failures, not_before = self._repo_failures.get(repo, (0, now))
            with self._busy_lock:
                busy = repo in self._busy
            if busy:
                skips.append(Skipped(repo, "still being read by an earlier cycle (not answering)"))
            elif not_before > now:
                skips.append(
                    Skipped(
                        repo,
                        f"failed {failures} cycle(s) in a row; tried again after "
                        f"{format_time(not_before)}",
                    )
                )
            else:
                wanted.append(repo)
        if not wanted:
            return
        out: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancelled = threading.Event()

        def read(repo: str) -> None:
            # Each item waits for the cycle to have handled it before the source is asked
            # for the next: the source stores the listing's ETag only after its last item,
            # so a cycle cut short (deadline, crash) never hides an unhandled run behind a 304.
            try:
                for item in source.poll_repo(repo):
                    if isinstance(item, FailedRun) and not self.audit.seen(item.key):
                        polled = PollItem(item, self._read_jobs(item))
                    else:
                        polled = PollItem(item)
                    out.put((repo, polled))
                    while not polled.ack.wait(0.1):
                        if cancelled.is_set():
                            return
            except BaseException as exc:  # handed to the cycle's thread
                out.put((repo, exc))
            finally:
                with self._busy_lock:
                    self._busy.discard(repo)
                out.put((repo, _DONE))

        with self._busy_lock:
            self._busy.update(wanted)
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(self.poll_concurrency, len(wanted))),
            thread_name_prefix="hee-poll",
        )
        for repo in wanted:
            pool.submit(read, repo)
        pool.shutdown(wait=False)  # a thread hung on a call is left behind, not waited for
        try:
            yield from self._drain(out, wanted, stop_at, skips)
        finally:
            cancelled.set()

    def _drain(
        self,
        out: queue.Queue[tuple[str, Any]],
        wanted: list[str],
        stop_at: float | None,
        skips: list[Skipped],
    ) -> Iterator[PollItem]:
        open_repos = set(wanted)
        failed: set[str] = set()
        fatal: BaseException | None = None
        while open_repos:
            timeout = None if stop_at is None else max(0.0, stop_at - time.monotonic())
            try:
                if timeout == 0.0:
                    raise queue.Empty  # the deadline passed: what is left waits
                repo, got = out.get(timeout=timeout)
            except queue.Empty:
                for repo in sorted(open_repos):
                    skips.append(Skipped(repo, "not read before the cycle deadline"))
                    failed.add(repo)
                break
            if got is _DONE:
                open_repos.discard(repo)
            elif isinstance(got, BaseException):
                if is_fatal(got):
                    fatal = got
                    continue
                reason = getattr(got, "message", None) or f"{type(got).__name__}: {got}"
                log.warning("polling %s failed: %s", repo, reason)
                skips.append(Skipped(repo, reason))
                failed.add(repo)
            else:
                item = got.item
                if isinstance(item, Skipped) and item.run_id is None:
                    failed.add(repo)
                if fatal is None:
                    yield got
                got.ack.set()
        if fatal is not None:
            raise fatal
        now = self.clock.now()
        for repo in wanted:
            if repo in failed:
                count = self._repo_failures.get(repo, (0, now))[0] + 1
                wait = min(30.0 * 2 ** min(count - 1, 10), 900.0)
                self._repo_failures[repo] = (count, now + timedelta(seconds=wait))
            else:
                self._repo_failures.pop(repo, None)

    def _retry_held(self, stop_at: float | None) -> Iterator[PollItem]:
        """Runs held for their log whose retry is due: read again. Between retries one
        held run a cycle is tried anyway, and a log that reads again makes the repository's
        other held runs due, so they are read soon after the fault clears."""
        held = self.pending.all()
        if not held:
            return
        now = self.clock.now()
        due = [h for h in held if h.next_attempt_at <= now]
        probing = not due
        if probing:
            due = held[:1]  # the probe
        done: set[str] = set()
        while due:
            h = due.pop(0)
            done.add(h.key)
            if stop_at is not None and time.monotonic() >= stop_at:
                return
            fetched = self._refetch(h.repo, h.run_id, h.run_attempt)
            if fetched is None:
                continue
            if isinstance(fetched, FailedRun):
                yield PollItem(fetched, self._read_jobs(fetched), held=True)
            else:
                yield PollItem(
                    Skipped(fetched.repo, fetched.reason, h.run_id, h.run_attempt), held=True
                )
            if probing:
                # the probe read its log: the others it made due are read in this cycle
                probing = False
                due = [d for d in self.pending.due(self.clock.now()) if d.key not in done]

    def _refetch(self, repo: str, run_id: int, attempt: int) -> FailedRun | Skipped | None:
        if self.refetch is not None:
            return self.refetch(repo, run_id, attempt)
        for source in self.sources:
            fetch = getattr(source, "fetch_failed_run", None)
            repos = getattr(source, "repos", None)
            if fetch is not None and (not repos or repo in repos):
                try:
                    result: FailedRun | Skipped = fetch(repo, run_id, attempt)
                except HeeError as exc:
                    if is_fatal(exc):
                        raise
                    return Skipped(repo, exc.message, run_id, attempt)
                return result
        return None

    def _handle(
        self,
        polled: PollItem,
        state: HealthState,
        outcomes: list[RunOutcome],
        waiting: list[RunOutcome],
        skips: list[Skipped],
        effects: list[EffectResult],
        stop_at: float | None,
    ) -> HealthState:
        item = polled.item
        now = self.clock.now()
        if isinstance(item, Skipped):
            if item.run_id is None:
                self.audit.record_skip(item.repo, item.reason, now=now)
                skips.append(item)
                return state
            # a run whose data came back truncated or malformed: held, read again later
            attempt = item.attempt or 1
            key = f"{item.repo}#{item.run_id}.{attempt}"
            if not polled.held and self.audit.seen(key):
                return state
            self.audit.record_skip(item.repo, item.reason, key=key, now=now)
            skips.append(item)
            held = self.pending.hold(key, item.repo, item.run_id, attempt, item.reason, now=now)
            if now - held.first_seen < self.log_wait:
                waiting.append(RunOutcome(key, item.repo, waiting=item.reason))
                return state
            run = FailedRun(
                item.repo, item.run_id, attempt, "workflow", "", None, "", "failure", ()
            )
            polled = PollItem(run, [], held=True, unreadable=f"run data unreadable: {item.reason}")
            item = run
        if not polled.held and self.audit.seen(item.key):
            return state
        branches, _ = self.scope_for(item.repo)
        if (
            branches
            and item.branch is not None
            and not any(fnmatch.fnmatchcase(item.branch or "", b) for b in branches)
        ):
            self.pending.forget(item.key)
            self.audit.mark(item.key, now=now, reason="branch not watched")
            return state
        if self.leases is not None and not self._claim(item.key, polled.held):
            return state  # another instance is processing it, or just did
        if self.on_run:
            self.on_run(item.key)
        try:
            outcome = self._process(item, state, polled)
        except BaseException:
            if self.leases is not None:
                self.leases.release(RUN_WORK, item.key)
            raise
        if self.leases is not None:
            if outcome is not None and outcome.waiting is not None:
                self.leases.release(RUN_WORK, item.key)  # tried again on a later cycle
            else:
                self.leases.complete(RUN_WORK, item.key)  # recorded: never claimed again
        if outcome is None:
            return state
        if outcome.waiting is not None:
            waiting.append(outcome)
            return state
        outcomes.append(outcome)
        if outcome.decision is not None:
            state = outcome.decision.to_state
        # the decision's effects at once (an earlier run's leftovers at the cycle's end)
        done = self._perform(stop_at, run_key=item.key)
        effects += done
        outcomes[-1] = dataclasses.replace(
            outcome,
            alerts=tuple(
                (_alert_outcome(e), str(e.intent.payload.get("title", "")))
                for e in done
                if e.intent.kind == "alert"
            ),
            rerun_requested=any(e.intent.kind == "rerun" and e.status == "done" for e in done),
        )
        return state

    def _claim(self, key: str, held: bool) -> bool:
        """Take the run's lease; False when another instance holds it or finished the run
        between our look at the register and the claim."""
        assert self.leases is not None
        if not self.leases.claim(RUN_WORK, key):
            return False
        if not held and self.audit.seen(key):
            self.leases.release(RUN_WORK, key)
            return False
        return True

    def _read_jobs(self, run: FailedRun) -> list[tuple[JobRecord, str | None]]:
        return [self._analyse(run, job) for job in run.jobs]

    def _reconcile_capsule(self) -> None:
        """Bring into the capsule what the audit store recorded but a crash kept out of it.

        A run's records are committed before the capsule is written; a crash in between
        leaves the capsule one decision (and maybe one state change) behind.
        """
        payload = self.capsule.load()
        history = payload.get("decision_history", [])
        known = {e.get("run_key") for e in history}
        # what a crash kept out is newer than the capsule's last entry (or its creation)
        last = history[-1]["timestamp"] if history else payload.get("created")
        since = parse_time(str(last)) if last else None
        missing = [
            row
            for row in reversed(self.audit.query(since=since, limit=HISTORY_LIMIT))
            if row["event"] == Event.FAILED_RUN.value and row["run_key"] not in known
        ]
        if not missing:
            return
        latest = self.audit.latest_transition()
        snapshot = read_state(payload)
        status_since = parse_time(snapshot.since) if snapshot.since else None

        def mutate(p: dict[str, Any]) -> None:
            for row in missing:
                entry = {
                    "timestamp": format_time(parse_time(row["decided_at"])),
                    "run_key": row["run_key"],
                    "action": row["actions"][0],
                    "actions": row["actions"],
                    "trigger": row["triggers"][-1] if row["triggers"] else None,
                    "from_state": row["from_state"],
                    "to_state": row["to_state"],
                    "reasons": row["reasons"],
                }
                if row["fingerprint"]:
                    entry["fingerprint"] = row["fingerprint"]
                    entry["pattern_id"] = row["pattern_id"]
                _append_history(p, entry)
            if latest is not None and (status_since is None or latest[1] > status_since):
                monitoring = p.setdefault("monitoring_state", {})
                monitoring["current_status"] = latest[0]
                monitoring["status_since"] = format_time(latest[1])

        log.warning("capsule was %d decision(s) behind the audit store; caught up", len(missing))
        self.capsule.update(mutate, now=self.clock.now())

    # -- one failed run --------------------------------------------------------------------

    def _process(self, run: FailedRun, state: HealthState, polled: PollItem) -> RunOutcome | None:
        now = self.clock.now()
        try:
            return self._process_run(run, state, now, polled)
        except StoreError:
            raise  # the store is busy or gone: nothing is marked, the run is read again
        except HeeError as exc:
            if is_fatal(exc):
                raise
            reason = f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:  # one bad run never stops the cycle
            log.exception("unexpected error processing %s", run.key)
            reason = f"unexpected {type(exc).__name__}: {exc}"
        self.pending.forget(run.key)
        self.audit.record_skip(run.repo, reason, key=run.key, mark=True, now=now)
        return RunOutcome(run.key, run.repo, skipped=(reason,), url=run.html_url)

    def _hold_or_give_up(
        self, run: FailedRun, read: list[tuple[JobRecord, str | None]], now: datetime
    ) -> tuple[list[JobRecord], str | None]:
        """The jobs as read, or (when a log could not be read and the run's wait is not
        over) the reason to hold the run. Past its wait, each unread job gets a finding from
        its metadata that says its log was unreadable."""
        unread = [(rec, why) for rec, why in read if why is not None]
        if not unread:
            if read:
                self.pending.wake(run.repo, now)  # the log host answers again
            return [rec for rec, _ in read], None
        reason = "; ".join(f"{rec.job.name}: {why}" for rec, why in unread)
        held = self.pending.get(run.key)
        if held is None or now - held.first_seen < self.log_wait:
            held = self.pending.hold(
                run.key, run.repo, run.run_id, run.run_attempt, reason, now=now
            )
            if now - held.first_seen < self.log_wait:
                return [], reason
        jobs = [
            rec if why is None else JobRecord(rec.job, _unreadable_diagnosis(run, rec.job, why))
            for rec, why in read
        ]
        return jobs, None

    def _process_run(
        self, run: FailedRun, state: HealthState, now: datetime, polled: PollItem
    ) -> RunOutcome | None:
        read = polled.jobs if polled.jobs is not None else self._read_jobs(run)
        if polled.unreadable is not None:
            jobs = [JobRecord(_metadata_job(), _unreadable_diagnosis(run, None, polled.unreadable))]
        else:
            jobs, waiting_for = self._hold_or_give_up(run, read, now)
            if waiting_for is not None:
                return RunOutcome(run.key, run.repo, url=run.html_url, waiting=waiting_for)
        jobs = self.prepare(run, jobs)
        facts, decision = self.decide_run(run, jobs, state, now)
        skip = facts.skip
        found = list(facts.findings)
        fingerprints = [f.fingerprint for f in found]
        reason = "; ".join(decision.reasons)
        moves = self._move(state, decision, facts, now, f"{run.key}: {reason}")
        diagnoses = tuple(j.diagnosis for j in jobs if j.diagnosis is not None)
        intents = self._intents(run, decision, found, fingerprints, diagnoses, skip, now)

        def also(conn: Connection) -> None:
            PendingRuns.release(conn, run.key)
            for intent in intents:
                EffectStore.add(conn, now=now, run_key=run.key, **intent)

        if not self.audit.record_run(run, jobs, decision, moves, now=now, also=also):
            return None  # another instance (or an earlier life of this one) recorded it
        self.capsule.update(
            lambda payload: _record_in_capsule(payload, run, decision, moves, found, now), now=now
        )
        return RunOutcome(
            run.key,
            run.repo,
            decision,
            tuple(moves),
            diagnoses,
            tuple(f"{j.job.name}: {j.skipped}" for j in jobs if j.skipped),
            (),
            False,
            run.html_url,
        )

    def prepare(self, run: FailedRun, jobs: list[JobRecord]) -> list[JobRecord]:
        """The analysed jobs as the policy sees them (and the audit store records them)."""
        jobs = self._detect(run, jobs)
        # The policy reasons from each job's root cause: secondary findings (a generic
        # "error:" line under a network timeout) must not turn a transient run into a mixed one.
        _, enabled = self.scope_for(run.repo)
        if enabled:
            jobs = [_only(j, enabled) for j in jobs]
        # A job whose root cause is only a symptom of a transient finding below it (a test
        # that failed on a connection reset) has that transient finding as its root cause.
        return [_transient_cause_first(j) for j in jobs]

    def decide_run(
        self, run: FailedRun, jobs: Sequence[JobRecord], state: HealthState, now: datetime
    ) -> tuple[Facts, Decision]:
        """The facts of an analysed run (its history from the audit store, the effects
        outbox and the capsule, its skip flag, the repository's settings) and the policy's
        decision on them."""
        payload = self.capsule.load()
        history = History(
            counts=_Counts(self.audit, self.effects),
            state=state,
            settings=self.settings_for(run.repo),
            now=now,
            open_incidents=incidents(payload.get("open_incidents", []), ()),
            skip=self.skip_for(run) if self.skip_for is not None else None,
        )
        observed = ObservedRun(run, tuple((j.job.name, j.diagnosis) for j in jobs))
        facts = gather_facts(observed, history)
        return facts, self.policy.decide(facts, now)

    def _move(
        self, state: HealthState, decision: Decision, facts: Facts, now: datetime, reason: str
    ) -> list[Transition]:
        """Fire the decision's triggers on the pipeline's health machine (kept across
        cycles; the capsule's stored state is the truth it starts from)."""
        pipeline = str(self.capsule.load().get("repository", "")) or facts.repo
        machine = machine_for(pipeline, state)
        return [
            machine.fire(t, at=now, reason=reason, open_serious=facts.open_serious)
            for t in decision.triggers
        ]

    def _intents(
        self,
        run: FailedRun,
        decision: Decision,
        found: Sequence[Finding],
        fingerprints: list[str],
        diagnoses: Sequence[Diagnosis],
        skip: SkipDecision | None,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """The effects ``decision`` causes, as intents written with it."""
        maintenance = decision.to_state is HealthState.MAINTENANCE
        intents: list[dict[str, Any]] = [
            {
                "key": f"alert:{run.key}:{alert.kind}",
                "kind": "alert",
                "repo": run.repo,
                "payload": alert_payload(alert, maintenance=maintenance),
            }
            for alert in self._alerts(run, decision, now)
        ]
        if Action.RERUN in decision.actions and not maintenance and self.run_control is not None:
            intents.append(
                {
                    "key": f"rerun:{run.key}",
                    "kind": "rerun",
                    "repo": run.repo,
                    "payload": {**run_payload(run), "fingerprints": sorted(set(fingerprints))},
                }
            )
        if self.escalator is not None and not maintenance and (skip is None or not skip.alerts):
            intents.append(
                {
                    "key": f"escalate:{run.key}",
                    "kind": "escalate",
                    "repo": run.repo,
                    "payload": {
                        "run": run_payload(run),
                        "findings": [f.to_json() for f in found],
                        "state": decision.to_state.value,
                    },
                }
            )
        fix = decision.fix
        if not maintenance and fix is not None and FIX_ACTIONS & set(decision.actions):
            for n, diagnosis in enumerate(diagnoses):
                # only the job whose root cause the decision fixes: never a transient one
                if diagnosis.failures and diagnosis.failures[0].fingerprint == fix.fingerprint:
                    intents.append(
                        {
                            "key": f"fix:{run.key}:{n}",
                            "kind": "fix_handover",
                            "repo": run.repo,
                            "payload": {
                                **diagnosis.to_json(),
                                "repo": run.repo,
                                "run": run.key,
                                "url": run.html_url,
                            },
                        }
                    )
        return intents

    def _detect(self, run: FailedRun, jobs: list[JobRecord]) -> list[JobRecord]:
        if self.detector is None:
            return jobs
        try:
            return self.detector(run, jobs)
        except Exception as exc:  # detection beyond the log must not cost the log's diagnosis
            if is_fatal(exc):
                raise
            log.warning("detection beyond the log failed for %s: %s", run.key, exc)
            return jobs

    def _analyse(self, run: FailedRun, job: Any) -> tuple[JobRecord, str | None]:
        """The job analysed, and why its log could not be read (None when it was)."""
        if job.open_log is None:
            return JobRecord(job, None, "log not available"), None
        name = f"{run.key}/{job.name}"
        try:
            baseline = self.baseline_for(run, job) if self.baseline_for is not None else None
            failed_steps = tuple(getattr(job, "failed_steps", ()) or ())
            if baseline is None and not failed_steps:
                return JobRecord(job, self.analyzer.analyze_stream(job.open_log(), name)), None
            return JobRecord(
                job,
                self.analyzer.analyze_stream(
                    job.open_log(), name, failed_steps=failed_steps, baseline=baseline
                ),
            ), None
        except SourceError as exc:  # the download failed or broke off: read it again later
            if is_fatal(exc):
                raise
            return JobRecord(job, None, exc.message), exc.message
        except HeeError as exc:
            return JobRecord(job, None, exc.message), None
        except Exception as exc:  # a bad log is a skip, not the end of the cycle
            log.warning("cannot analyse %s job %s: %s", run.key, job.name, exc)
            return JobRecord(job, None, f"{type(exc).__name__}: {exc}"), None

    def _alerts(self, run: FailedRun, decision: Decision, now: datetime) -> list[Alert]:
        wanted: list[Alert] = []
        severity = decision.severity or Severity.MEDIUM
        # The alert names its repository and carries the run's URL in their own fields: every
        # channel shows them, so neither is repeated in the title or the body.
        body = "\n".join(decision.reasons)
        spec = decision.alert
        if spec is not None:
            # the headline is the run's most severe real root cause, whichever job it is in
            root = spec.headline
            cause = root.title if root else "no known pattern explains the log"
            wanted.append(
                Alert(
                    repo=run.repo,
                    severity=spec.severity,
                    title=f"{run.workflow} failed on {run.branch or run.head_sha[:7]}: {cause}",
                    body=body,
                    fingerprint=(
                        root.fingerprint if root else f"{run.repo}:{run.workflow}:unexplained"
                    ),
                    kind=spec.kind,
                    pattern_id=root.pattern_id if root else None,
                    url=run.html_url,
                    created_at=now,
                )
            )
        fix = decision.fix
        if Action.ASK_APPROVAL in decision.actions and fix is not None:
            wanted.append(
                Alert(
                    repo=run.repo,
                    severity=severity,
                    title=f"approve fix {fix.fix_strategy!r} for {fix.pattern_id}?",
                    body=body,
                    fingerprint=f"{fix.fingerprint}:approval",
                    kind="approval",
                    pattern_id=fix.pattern_id,
                    url=run.html_url,
                    created_at=now,
                )
            )
        return wanted

    def _flush_alerts(self, state: HealthState) -> None:
        if self.notifier is None or state is HealthState.MAINTENANCE:
            return
        try:
            self.notifier.flush(self.clock.now())
        except Exception as exc:  # delivery trouble is retried next cycle
            log.warning("alert flush failed: %s", getattr(exc, "message", exc))

    # -- recovery --------------------------------------------------------------------------

    def _check_reruns(self, state: HealthState) -> tuple[HealthState, list[Decision]]:
        """Resolve re-runs asked for earlier: one that passed marks its failures flaky and
        may recover the pipeline."""
        if self.run_control is None:
            return state, []
        decisions: list[Decision] = []
        for pending in self.audit.pending_reruns():
            try:
                status = self.run_control.get_run(pending.repo, pending.run_id)
            except Exception as exc:
                log.warning(
                    "cannot look up run %s: %s", pending.run_id, getattr(exc, "message", exc)
                )
                continue
            if status.status != "completed":
                continue
            now = self.clock.now()
            passed = status.conclusion == "success"
            self.audit.resolve_rerun(pending.id, "passed" if passed else "failed", now=now)
            if not passed:
                continue  # the failed attempt arrives through the source as a new run key
            self.audit.label_flaky(pending.repo, pending.fingerprints, now=now)
            state, decision = self._recover(
                Event.RERUN_PASSED, pending.repo, state, now, closes=pending.fingerprints
            )
            decisions.append(decision)
        return state, decisions

    def _check_fixes(self, state: HealthState) -> tuple[HealthState, list[Decision]]:
        """Fixes the fix engine applied since the last cycle: each may recover the pipeline
        (auto_fix_successful) and closes the incident of its fingerprint."""
        decisions: list[Decision] = []
        applied = self.audit.new_applied_fixes()
        now = self.clock.now()
        for _attempt, repo, fingerprint in applied:
            state, decision = self._recover(
                Event.FIX_SUCCEEDED, repo, state, now, closes=(fingerprint,)
            )
            decisions.append(decision)
        self.audit.mark_fixes_seen([a for a, _, _ in applied], now=now)
        return state, decisions

    def _quiet_recovery(self, state: HealthState) -> tuple[HealthState, list[Decision]]:
        if state not in (HealthState.DEGRADED, HealthState.FAILED):
            return state, []
        now = self.clock.now()
        last = self.audit.last_failure_at()
        repo = str(self.capsule.load().get("repository", ""))
        quiet = self.settings_for(repo).recovery_seconds
        if last is not None and (now - last).total_seconds() < quiet:
            return state, []
        state, decision = self._recover(Event.QUIET, repo, state, now, closes=None)
        return state, [decision]

    def _recover(
        self,
        event: Event,
        repo: str,
        state: HealthState,
        now: datetime,
        closes: Sequence[str] | None,
    ) -> tuple[HealthState, Decision]:
        payload = self.capsule.load()
        remaining = [
            i
            for i in payload.get("open_incidents", [])
            if closes is not None and i.get("fingerprint") not in closes
        ]
        # a remedy resolves only its own fingerprints; what is still open is a fact
        facts = Facts(
            event=event,
            repo=repo,
            state=state,
            settings=self.settings_for(repo),
            open_incidents=incidents(remaining, ()),
        )
        decision = self.policy.decide(facts, now)
        moves = self._move(state, decision, facts, now, "; ".join(decision.reasons))
        self.audit.record_decision(repo, decision, moves, event=event.value, now=now)

        def mutate(p: dict[str, Any]) -> None:
            apply_transitions(p, moves)
            p["open_incidents"] = remaining
            _append_history(p, _history_entry(now, "", None, decision))

        self.capsule.update(mutate, now=now)
        if (
            self.notifier is not None
            and decision.to_state is HealthState.OPERATIONAL
            and state is not HealthState.OPERATIONAL
        ):
            try:
                self.notifier.recovered(repo, now)
            except Exception as exc:
                log.warning("resolved notices failed: %s", getattr(exc, "message", exc))
        return decision.to_state, decision


class _Counts:
    """The audit store's counts for the decision, re-runs still in the effects outbox
    (decided, not yet confirmed by GitHub) counted as asked."""

    def __init__(self, audit: AuditStore, effects: EffectStore) -> None:
        self._audit = audit
        self._effects = effects
        self.occurrences = audit.occurrences
        self.failed_fix_attempts = audit.failed_fix_attempts
        self.is_flaky = audit.is_flaky

    def reruns_requested(self, repo: str, run_id: int) -> int:
        pending = self._effects.open_count("rerun", key_prefix=f"rerun:{repo}#{run_id}.")
        return self._audit.reruns_requested(repo, run_id) + pending


def _alert_outcome(effect: EffectResult) -> str:
    """How the router took an alert (queued, grouped, muted …), or that it is retried."""
    if effect.status == "done":
        return effect.detail
    return {"retry": "retrying", "busy": "in progress"}.get(effect.status, "failed")


def _run_id(key: str) -> int | None:
    try:
        return int(key.rsplit("#", 1)[1].split(".", 1)[0])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class PollItem:
    """One item a source handed out, with its jobs when they were read on a polling thread."""

    item: FailedRun | Skipped
    jobs: list[tuple[JobRecord, str | None]] | None = None
    #: a held run read again (its key is in the register as pending)
    held: bool = False
    #: the run's wait for its data is over: diagnose it from this reason
    unreadable: str | None = None
    #: set once the cycle handled the item (the polling thread then asks for the next)
    ack: threading.Event = field(default_factory=threading.Event, compare=False)


_DONE = object()


class _SeenOnly:
    """The audit store as a source's processed-runs register, marking nothing: the cycle
    records each run (processed, skipped or held) itself."""

    def __init__(self, audit: AuditStore) -> None:
        self._audit = audit

    def seen(self, key: str) -> bool:
        return self._audit.seen(key)

    def mark(self, key: str) -> None:
        return None


def _record_alert(conn: Connection, alert: Alert, outcome: str, reason: str, now: datetime) -> None:
    conn.execute(
        insert(alerts_table).values(
            repo=alert.repo,
            at=_naive(now),
            severity=alert.severity.value,
            kind=alert.kind,
            title=alert.title,
            fingerprint=alert.fingerprint,
            outcome=outcome,
            reason=reason,
        )
    )


def _record_rerun(conn: Connection, intent: Intent, now: datetime) -> None:
    p = intent.payload
    conn.execute(
        insert(reruns_table).values(
            repo=p["repo"],
            run_id=int(p["run_id"]),
            head_sha=p.get("head_sha"),
            fingerprints=json.dumps(sorted(set(p.get("fingerprints", [])))),
            requested_at=_naive(now),
            outcome="pending",
        )
    )


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _metadata_job() -> FailedJob:
    return FailedJob(0, "run", "failure")


def _unreadable_diagnosis(run: FailedRun, job: FailedJob | None, why: str) -> Diagnosis:
    """What is known of a job (or run) whose log (or data) could not be read in time."""
    name = job.name if job is not None else "run"
    steps = f" (failed step: {', '.join(job.failed_steps)})" if job and job.failed_steps else ""
    finding = Finding(
        pattern_id="log-unreadable",
        title=f"the log of job '{name}' could not be read{steps}; diagnosed from its metadata",
        category="infrastructure",
        severity=Severity.MEDIUM,
        owner=None,
        risk=3,
        transient=False,
        confidence=0.3,
        fix_strategy=None,
        fingerprint=f"{run.repo}:{run.workflow}:{name}:log-unreadable",
        evidence=(),
        source="metadata",
        details={"reason": why[:500]},
    )
    return Diagnosis(log=f"{run.key}/{name}", lines=0, failures=(finding,))


def _only(record: JobRecord, enabled: tuple[str, ...]) -> JobRecord:
    """The job's diagnosis keeping only the repository's enabled patterns."""
    if record.diagnosis is None:
        return record
    kept = tuple(f for f in record.diagnosis.failures if f.pattern_id in enabled)
    return dataclasses.replace(
        record, diagnosis=dataclasses.replace(record.diagnosis, failures=kept)
    )


def _transient_cause_first(record: JobRecord) -> JobRecord:
    """The job's diagnosis with its :func:`transient_cause` (if any) ranked first, so the
    policy, the audit store, alerts and reports all see the network, not the test it broke."""
    if record.diagnosis is None:
        return record
    failures = record.diagnosis.failures
    cause = transient_cause(failures)
    if cause is None or cause is failures[0]:
        return record
    ranked = (cause, *(f for f in failures if f is not cause))
    return dataclasses.replace(
        record, diagnosis=dataclasses.replace(record.diagnosis, failures=ranked)
    )


def _iso(at: datetime) -> str:
    return format_time(at)


def _history_entry(
    now: datetime, run_key: str, root: Finding | None, decision: Decision
) -> dict[str, Any]:
    entry: dict[str, Any] = {"timestamp": _iso(now)}
    if run_key:
        entry["run_key"] = run_key
    if root is not None:
        entry["fingerprint"] = root.fingerprint
        entry["pattern_id"] = root.pattern_id
    entry.update(
        {
            "action": decision.primary_action.value,
            "actions": [a.value for a in decision.actions],
            "trigger": decision.triggers[-1] if decision.triggers else None,
            "from_state": decision.from_state.value,
            "to_state": decision.to_state.value,
            "reasons": list(decision.reasons),
        }
    )
    return entry


def _append_history(payload: dict[str, Any], entry: dict[str, Any]) -> None:
    history = payload.setdefault("decision_history", [])
    history.append(entry)
    del history[:-HISTORY_LIMIT]


def _record_in_capsule(
    payload: dict[str, Any],
    run: FailedRun,
    decision: Decision,
    moves: Sequence[Transition],
    found: Sequence[Finding],
    now: datetime,
) -> None:
    apply_transitions(payload, list(moves))
    monitoring = payload.setdefault("monitoring_state", {})
    monitoring["last_run_id"] = str(run.run_id)
    monitoring.setdefault("current_status", decision.to_state.value)
    _append_history(payload, _history_entry(now, run.key, decision.headline, decision))
    if not {Action.ALERT, Action.ESCALATE} & set(decision.actions):
        return  # flaky failures and pending re-runs are not incidents (yet)
    incidents = payload.setdefault("open_incidents", [])
    by_fp = {i.get("fingerprint"): i for i in incidents}
    for f in found:
        incident = by_fp.get(f.fingerprint)
        if incident is None:
            incidents.append(
                {
                    "id": f"INC-{f.fingerprint[:12]}",
                    "opened": _iso(now),
                    "last_seen": _iso(now),
                    "fingerprint": f.fingerprint,
                    "pattern_id": f.pattern_id,
                    "severity": f.severity.value,
                    "title": f.title,
                    "occurrences": 1,
                }
            )
        else:
            incident["last_seen"] = _iso(now)
            incident["occurrences"] = int(incident.get("occurrences", 0)) + 1
