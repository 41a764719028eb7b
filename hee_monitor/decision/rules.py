"""The monitoring policy, as durable-rules rules (the only module that imports durable).

Read the rules top to bottom: each says when it fires and what it asks for (actions, a
target health state, a reason). :class:`RulesPolicy` posts one fact per decision under a
fresh session id, collects what fired, deletes the session, then combines the outcomes
into a :class:`Decision` in a fixed order, so the same facts always give the same decision.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable.lang import assert_fact, delete_state, m, ruleset, when_all

from hee_monitor.core.errors import PolicyError
from hee_monitor.core.models import AutoFix, HealthState, Severity
from hee_monitor.decision.health import SEVERITY_ORDER, path
from hee_monitor.decision.interface import ACTION_ORDER, Action, Decision, Event, PolicyFacts

RULESET = "hee_monitor_policy"

_O, _D, _F = HealthState.OPERATIONAL, HealthState.DEGRADED, HealthState.FAILED


@dataclass(frozen=True)
class Outcome:
    rule: str
    actions: tuple[Action, ...] = ()
    #: the health state this rule wants (None: no opinion)
    target: HealthState | None = None
    #: this rule keeps the state where it is, whatever another rule wants
    hold: bool = False
    reason: str = ""


_outcomes: dict[str, list[Outcome]] = {}
_errors: dict[str, str] = {}
_lock = threading.Lock()
_ids = itertools.count(1)

#: rule name → its position: outcomes are combined in this order, whatever order they fired
RULE_ORDER: list[str] = []


def _rule(condition: Any) -> Callable[[Callable[[Any], Outcome]], None]:
    """Register ``fn(fact) -> Outcome`` as the consequent of ``condition``."""

    def register(fn: Callable[[Any], Outcome]) -> None:
        RULE_ORDER.append(fn.__name__)

        def consequent(c: Any) -> None:
            # durable-rules swallows exceptions raised in a consequent: keep them to re-raise
            try:
                outcome = fn(c.m)
            except Exception as exc:
                _errors[c.m.sid] = f"{fn.__name__}: {type(exc).__name__}: {exc}"
                return
            _outcomes.setdefault(c.m.sid, []).append(outcome)

        consequent.__name__ = fn.__name__
        when_all(condition)(consequent)

    return register


failed_run = m.event == Event.FAILED_RUN.value

with ruleset(RULESET):
    # Bookkeeping, not policy: every fact is handled by at least this rule, so the session
    # exists and can be deleted afterwards (durable-rules aborts deleting an unknown one).
    @when_all(+m.event)  # type: ignore[untyped-decorator]
    def _evaluated(c: Any) -> None:
        _outcomes.setdefault(c.m.sid, [])

    @_rule(failed_run & (m.max_severity == Severity.CRITICAL.value))
    def critical_finding(f: Any) -> Outcome:
        return Outcome(
            "critical_finding", (Action.ALERT,), _F, reason=f"critical finding {f.critical_pattern}"
        )

    @_rule(failed_run & (m.recurring == True))  # noqa: E712 (durable-rules expression)
    def recurring_failure(f: Any) -> Outcome:
        return Outcome(
            "recurring_failure",
            (Action.ESCALATE,),
            reason=f"{f.recent_occurrences} failures of one fingerprint within "
            f"{f.window_seconds}s (threshold {f.escalate_after})",
        )

    @_rule(failed_run & (m.known_flaky == True))  # noqa: E712
    def flaky_failure(f: Any) -> Outcome:
        return Outcome(
            "flaky_failure",
            (Action.LABEL_FLAKY,),
            hold=True,
            reason="passed on a re-run of the same commit before: flaky, state unchanged",
        )

    @_rule(failed_run & (m.all_transient == True) & (m.reruns_left == True))  # noqa: E712
    def transient_rerun(f: Any) -> Outcome:
        return Outcome(
            "transient_rerun",
            (Action.RERUN,),
            hold=True,
            reason=f"every failed job matches a transient pattern: re-run "
            f"{f.reruns_requested + 1} of {f.max_reruns}",
        )

    @_rule(failed_run & (m.all_transient == True) & (m.reruns_left == False))  # noqa: E712
    def transient_reruns_exhausted(f: Any) -> Outcome:
        return Outcome(
            "transient_reruns_exhausted",
            (Action.ALERT,),
            reason=f"transient failure still failing after {f.max_reruns} re-runs",
        )

    @_rule(failed_run & (m.mixed == True))  # noqa: E712
    def mixed_run(f: Any) -> Outcome:
        return Outcome("mixed_run", reason="transient and real failures mixed: not re-run")

    @_rule(failed_run & (m.fix_exhausted == True))  # noqa: E712
    def fix_exhausted(f: Any) -> Outcome:
        # The incident behind this rule: an enforcement loop retried one fix forever and
        # wrote 600 identical violation entries with no recovery.
        return Outcome(
            "fix_exhausted",
            (Action.ESCALATE,),
            reason=f"fix {f.fix_strategy!r} failed {f.failed_fix_attempts} times for this "
            f"fingerprint: no longer tried",
        )

    @_rule(failed_run & (m.fix_mode == "auto"))
    def auto_fix(f: Any) -> Outcome:
        return Outcome(
            "auto_fix",
            (Action.AUTO_FIX,),
            reason=f"fix {f.fix_strategy!r} is automatic and risk {f.risk} <= {f.risk_threshold}",
        )

    @_rule(failed_run & (m.fix_mode == "pr"))
    def fix_by_pull_request(f: Any) -> Outcome:
        return Outcome(
            "fix_by_pull_request",
            (Action.OPEN_PR,),
            reason=f"fix {f.fix_strategy!r} is partial: a pull request if it validates",
        )

    @_rule(failed_run & (m.fix_mode == "approval"))
    def fix_needs_approval(f: Any) -> Outcome:
        why = (
            "the repository is protected" if f.protected else f"risk {f.risk} > {f.risk_threshold}"
        )
        return Outcome(
            "fix_needs_approval",
            (Action.ASK_APPROVAL,),
            reason=f"fix {f.fix_strategy!r} needs approval: {why}",
        )

    @_rule(failed_run & (m.degrading == True))  # noqa: E712
    def failure_detected(f: Any) -> Outcome:
        what = f"{f.failed_jobs} failed job(s)"
        if f.unexplained_jobs:
            what += f", {f.unexplained_jobs} unexplained"
        return Outcome("failure_detected", (Action.ALERT,), _D, reason=what)

    @_rule(
        ((m.event == Event.RERUN_PASSED.value) | (m.event == Event.FIX_SUCCEEDED.value))
        & (m.unhealthy == True)  # noqa: E712
    )
    def remedy_worked(f: Any) -> Outcome:
        actions = (Action.LABEL_FLAKY,) if f.event == Event.RERUN_PASSED.value else ()
        return Outcome("remedy_worked", actions, _O, reason=f"{f.event.replace('_', ' ')}")

    @_rule((m.event == Event.RERUN_PASSED.value) & (m.unhealthy == False))  # noqa: E712
    def flaky_detected(f: Any) -> Outcome:
        return Outcome(
            "flaky_detected",
            (Action.LABEL_FLAKY,),
            reason="passed on a re-run of the same commit: flaky",
        )

    @_rule((m.event == Event.QUIET.value) & (m.unhealthy == True))  # noqa: E712
    def quiet_recovery(f: Any) -> Outcome:
        return Outcome(
            "quiet_recovery",
            target=_O,
            reason=f"no failure for {f.recovery_seconds}s",
        )


def _fact(facts: PolicyFacts, sid: str) -> dict[str, Any]:
    """Flatten the facts into what the rules read: plain names, precomputed judgements."""
    s = facts.settings
    findings = facts.findings
    severities = [f.severity for f in findings]
    max_severity = max(severities, key=lambda v: v.rank).value if severities else "none"
    critical = next((f.pattern_id for f in findings if f.severity is Severity.CRITICAL), "")
    explained_all = facts.unexplained_jobs == 0 and bool(findings)
    all_transient = explained_all and all(f.transient for f in findings)
    any_transient = any(f.transient for f in findings)
    reruns_left = facts.reruns_requested < s.max_reruns
    root = findings[0] if findings else None
    exhausted = root is not None and facts.failed_fix_attempts >= s.max_fix_failures
    fix_mode = "none"
    if root is not None and root.fix_strategy and not exhausted and not all_transient:
        if root.auto_fix is AutoFix.FULL and root.risk <= s.risk_threshold and not s.protected:
            fix_mode = "auto"
        elif root.auto_fix is AutoFix.PARTIAL and not s.protected:
            fix_mode = "pr"
        else:
            fix_mode = "approval"
    will_rerun = all_transient and reruns_left
    failing = bool(findings) or facts.unexplained_jobs > 0
    return {
        "sid": sid,
        "event": facts.event.value,
        "state": facts.state.value,
        "unhealthy": facts.state in (_D, _F),
        "max_severity": max_severity,
        "critical_pattern": critical,
        "failed_jobs": facts.failed_jobs,
        "unexplained_jobs": facts.unexplained_jobs,
        "all_transient": all_transient,
        "mixed": any_transient and not all_transient,
        "reruns_requested": facts.reruns_requested,
        "max_reruns": s.max_reruns,
        "reruns_left": reruns_left,
        "recent_occurrences": facts.recent_occurrences,
        "escalate_after": s.escalate_after,
        "window_seconds": s.window_seconds,
        "recurring": facts.recent_occurrences >= s.escalate_after,
        "known_flaky": facts.known_flaky,
        "fix_strategy": root.fix_strategy if root and root.fix_strategy else "",
        "failed_fix_attempts": facts.failed_fix_attempts,
        "fix_exhausted": exhausted,
        "fix_mode": fix_mode,
        "risk": root.risk if root else 0,
        "risk_threshold": s.risk_threshold,
        "protected": s.protected,
        "degrading": failing and not facts.known_flaky and not will_rerun,
        "recovery_seconds": s.recovery_seconds,
    }


def _fire(fact: dict[str, Any]) -> list[Outcome]:
    sid = fact["sid"]
    try:
        assert_fact(RULESET, fact)
        outcomes = _outcomes.pop(sid, [])
        error = _errors.pop(sid, None)
    except Exception as exc:  # durable-rules raises bare Exceptions for engine failures
        error = str(exc)
    finally:
        _outcomes.pop(sid, None)
        delete_state(RULESET, sid)
    if error is not None:
        raise PolicyError(
            f"the policy rules failed on {fact.get('event')} facts: {error}",
            hint="this is a bug in the policy rules; run with -vv and report it",
        )
    return outcomes


def combine(facts: PolicyFacts, outcomes: list[Outcome]) -> Decision:
    """Merge what fired into one decision: actions in fixed order, one target state, the
    trigger path to reach it (only ever a valid one from the current state)."""
    position = {name: i for i, name in enumerate(RULE_ORDER)}
    outcomes = sorted(outcomes, key=lambda o: position[o.rule])
    wanted = {a for o in outcomes for a in o.actions}
    actions = tuple(a for a in ACTION_ORDER if a in wanted) or (Action.NONE,)
    reasons = [o.reason for o in outcomes if o.reason]
    state = facts.state
    targets = [o.target for o in outcomes if o.target is not None]
    goal = state
    if facts.event is Event.FAILED_RUN:
        held = any(o.hold for o in outcomes) and _F not in targets
        worst = max(targets, key=lambda s: SEVERITY_ORDER[s], default=state)
        if not held and SEVERITY_ORDER[worst] > SEVERITY_ORDER[state]:
            goal = worst
    elif _O in targets and state in (_D, _F):
        # a critical incident still open keeps a failed pipeline degraded
        goal = _D if state is _F and facts.open_critical_incidents else _O
    if state is HealthState.MAINTENANCE and goal is not state:
        reasons.append("maintenance: state held")
        goal = state
    triggers = path(state, goal)
    return Decision(
        actions=actions,
        triggers=triggers,
        from_state=state,
        to_state=goal,
        reasons=tuple(reasons),
        rules=tuple(o.rule for o in outcomes),
        severity=_severity(facts, actions),
    )


def _severity(facts: PolicyFacts, actions: tuple[Action, ...]) -> Severity | None:
    if Action.ALERT not in actions and Action.ESCALATE not in actions:
        return None
    found = max((f.severity for f in facts.findings), key=lambda v: v.rank, default=Severity.MEDIUM)
    if Action.ESCALATE in actions and not found.at_least(Severity.HIGH):
        return Severity.HIGH
    return found


class RulesPolicy:
    """The policy of :mod:`hee_monitor.decision.rules`, evaluated by durable-rules."""

    def decide(self, facts: PolicyFacts, now: datetime) -> Decision:
        # durable-rules sessions are global: one decision at a time, each in a fresh session
        with _lock:
            sid = f"d{next(_ids)}"
            outcomes = _fire(_fact(facts, sid))
        return combine(facts, outcomes)
