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
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hee_monitor.core.clock import Clock
from hee_monitor.core.errors import HeeError
from hee_monitor.core.models import Alert, Diagnosis, FailedRun, Finding, HealthState, Severity
from hee_monitor.decision.facts import History, ObservedRun, gather_facts, incidents
from hee_monitor.decision.health import Transition, machine_for
from hee_monitor.decision.interface import Action, Decision, Event, Facts, Policy, PolicySettings
from hee_monitor.decision.mute import mute_reason
from hee_monitor.decision.skip import SkipDecision
from hee_monitor.decision.transient import transient_cause
from hee_monitor.record.audit import AuditStore, JobRecord
from hee_monitor.record.capsule.envelope import format_time, parse_time
from hee_monitor.record.state import apply_transitions, read_state
from hee_monitor.service.ports import (
    Analyzer,
    Capsule,
    Escalator,
    Notifier,
    RunControl,
    Skipped,
    Source,
)

log = logging.getLogger(__name__)

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

    @property
    def fix_required(self) -> bool:
        return any(r.fix_required for r in self.runs)

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
        }


@dataclass
class MonitorCycle:
    sources: Sequence[Source]
    analyzer: Analyzer
    policy: Policy
    audit: AuditStore
    capsule: Capsule
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

    def run_once(self) -> CycleReport:
        started = self.clock.now()
        self._reconcile_capsule()
        state = read_state(self.capsule.load()).state
        before = state
        outcomes: list[RunOutcome] = []
        skips: list[Skipped] = []
        recoveries: list[Decision] = []
        if self.token_watch is not None:
            try:
                token_alerts = self.token_watch(started)
            except Exception as exc:  # token hygiene must not stop monitoring
                log.warning("token check failed: %s", getattr(exc, "message", exc))
                token_alerts = ()
            for alert in token_alerts:
                self._send(alert, state is HealthState.MAINTENANCE, started)

        state, recovered = self._check_reruns(state)
        recoveries += recovered
        state, recovered = self._check_fixes(state)
        recoveries += recovered
        for source in self.sources:
            if self.should_stop():
                break
            try:
                for item in source.poll():
                    if isinstance(item, Skipped):
                        key = f"{item.repo}#{item.run_id}" if item.run_id is not None else None
                        self.audit.record_skip(
                            item.repo, item.reason, key=key, now=self.clock.now()
                        )
                        skips.append(item)
                        continue
                    if self.audit.seen(item.key):
                        continue
                    branches, _ = self.scope_for(item.repo)
                    if branches and not any(
                        fnmatch.fnmatchcase(item.branch or "", b) for b in branches
                    ):
                        self.audit.mark(item.key, now=self.clock.now(), reason="branch not watched")
                        continue
                    if self.on_run:
                        self.on_run(item.key)
                    outcome = self._process(item, state)
                    if outcome is None:
                        continue
                    outcomes.append(outcome)
                    if outcome.decision is not None:
                        state = outcome.decision.to_state
                    if self.should_stop():
                        break
            except HeeError as exc:
                log.warning("source failed: %s", exc.message)
                skips.append(Skipped(getattr(source, "kind", type(source).__name__), exc.message))
        if not outcomes:
            state, recovered = self._quiet_recovery(state)
            recoveries += recovered
        if self.escalator is not None:
            try:
                self.escalator.sweep(state, self.clock.now())
            except Exception as exc:
                log.warning("escalation sweep failed: %s", getattr(exc, "message", exc))
        self._flush_alerts(state)
        return CycleReport(
            started,
            self.clock.now(),
            before,
            state,
            tuple(outcomes),
            tuple(skips),
            tuple(recoveries),
        )

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

    def _process(self, run: FailedRun, state: HealthState) -> RunOutcome | None:
        now = self.clock.now()
        try:
            return self._process_run(run, state, now)
        except HeeError as exc:
            reason = f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:  # one bad run never stops the cycle
            log.exception("unexpected error processing %s", run.key)
            reason = f"unexpected {type(exc).__name__}: {exc}"
        self.audit.record_skip(run.repo, reason, key=run.key, mark=True, now=now)
        return RunOutcome(run.key, run.repo, skipped=(reason,), url=run.html_url)

    def _process_run(self, run: FailedRun, state: HealthState, now: datetime) -> RunOutcome | None:
        jobs = self.prepare(run, [self._analyse(run, job) for job in run.jobs])
        facts, decision = self.decide_run(run, jobs, state, now)
        skip = facts.skip
        found = list(facts.findings)
        fingerprints = [f.fingerprint for f in found]
        reason = "; ".join(decision.reasons)
        moves = self._move(state, decision, facts, now, f"{run.key}: {reason}")
        if not self.audit.record_run(run, jobs, decision, moves, now=now):
            return None  # another instance (or an earlier life of this one) recorded it
        self.capsule.update(
            lambda payload: _record_in_capsule(payload, run, decision, moves, found, now), now=now
        )
        maintenance = decision.to_state is HealthState.MAINTENANCE
        alerts = self._alert(run, decision, maintenance, now)
        rerun = False
        if Action.RERUN in decision.actions and not maintenance:
            rerun = self._rerun(run, fingerprints, now)
        if skip is None or not skip.alerts:
            self._escalate(run, found, decision, now)
        diagnoses = tuple(j.diagnosis for j in jobs if j.diagnosis is not None)
        return RunOutcome(
            run.key,
            run.repo,
            decision,
            tuple(moves),
            diagnoses,
            tuple(f"{j.job.name}: {j.skipped}" for j in jobs if j.skipped),
            tuple(alerts),
            rerun,
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
        """The facts of an analysed run (its history from the audit store and the capsule,
        its skip flag, the repository's settings) and the policy's decision on them."""
        payload = self.capsule.load()
        history = History(
            counts=self.audit,
            state=state,
            settings=self.settings_for(run.repo),
            now=now,
            open_incidents=incidents(payload.get("open_incidents", []), ()),
            skip=self.skip_for(run) if self.skip_for is not None else None,
        )
        observed = ObservedRun(run, tuple((j.job.name, j.diagnosis) for j in jobs))
        facts = gather_facts(observed, history)
        return facts, self.policy.decide(facts, now)

    def _detect(self, run: FailedRun, jobs: list[JobRecord]) -> list[JobRecord]:
        if self.detector is None:
            return jobs
        try:
            return self.detector(run, jobs)
        except Exception as exc:  # detection beyond the log must not cost the log's diagnosis
            log.warning("detection beyond the log failed for %s: %s", run.key, exc)
            return jobs

    def _escalate(
        self, run: FailedRun, found: Sequence[Finding], decision: Decision, now: datetime
    ) -> None:
        if self.escalator is None or decision.to_state is HealthState.MAINTENANCE:
            return
        try:
            self.escalator.observe(run, found, decision.to_state, now)
        except Exception as exc:  # GitHub trouble: the next occurrence tries again
            log.warning("escalation of %s failed: %s", run.key, getattr(exc, "message", exc))

    def _analyse(self, run: FailedRun, job: Any) -> JobRecord:
        if job.open_log is None:
            return JobRecord(job, None, "log not available")
        try:
            return JobRecord(
                job, self.analyzer.analyze_stream(job.open_log(), f"{run.key}/{job.name}")
            )
        except HeeError as exc:
            return JobRecord(job, None, exc.message)
        except Exception as exc:  # a bad log is a skip, not the end of the cycle
            log.warning("cannot analyse %s job %s: %s", run.key, job.name, exc)
            return JobRecord(job, None, f"{type(exc).__name__}: {exc}")

    def _move(
        self, state: HealthState, decision: Decision, facts: Facts, now: datetime, reason: str
    ) -> list[Transition]:
        """Fire the decision's triggers on the pipeline's health machine."""
        pipeline = str(self.capsule.load().get("repository", "")) or facts.repo
        machine = machine_for(pipeline, state)
        return [
            machine.fire(t, at=now, reason=reason, open_serious=facts.open_serious)
            for t in decision.triggers
        ]

    def _alert(
        self, run: FailedRun, decision: Decision, maintenance: bool, now: datetime
    ) -> list[tuple[str, str]]:
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
        return [self._send(a, maintenance, now) for a in wanted]

    def _send(self, alert: Alert, maintenance: bool, now: datetime) -> tuple[str, str]:
        muted = mute_reason(
            alert,
            maintenance=maintenance,
            alert_level=self.alert_level,
            deliverable=self.notifier is not None,
        )
        if muted is not None or self.notifier is None:
            outcome, reason = "muted", muted or "no notifier configured"
        else:
            try:
                outcome, reason = self.notifier.notify(alert, now), ""
            except Exception as exc:  # a channel failing must not stop the cycle
                outcome, reason = "failed", f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        self.audit.record_alert(alert, outcome, now=now, reason=reason)
        return outcome, alert.title

    def _rerun(self, run: FailedRun, fingerprints: list[str], now: datetime) -> bool:
        if self.run_control is None:
            return False
        try:
            self.run_control.rerun_failed_jobs(run.repo, run.run_id)
        except Exception as exc:
            log.warning("re-run of %s failed: %s", run.key, getattr(exc, "message", exc))
            return False
        self.audit.record_rerun(run.repo, run.run_id, run.head_sha, fingerprints, now=now)
        return True

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
