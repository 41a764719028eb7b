"""The monitoring policy, as durable-rules rules (the only module that imports durable).

The rules reason over raw facts by forward chaining. :func:`decide` posts, in a fresh
session, one ``run`` fact (the event, the state, the settings, the counts of the run), one
``finding`` fact per root cause and one ``incident`` fact per open incident, then three
``phase`` facts in order:

1. ``classify``: conclusions drawn from the raw facts alone, asserted as ``derived`` facts
   ("transient-only run", "mixed run", "cancelled run", "failing", "flaky", "recurring",
   "headline cause", "recovery allowed");
2. ``judge``: conclusions that need the first ones, including their absence ("re-run
   wanted", "re-runs exhausted", "fix candidate", "fix retries spent");
3. ``decide``: outcomes (actions, a target health state, a reason).

A rule only ever tests the absence (``none``) of facts of an earlier phase, so the order in
which durable-rules fires the rules of one phase cannot change a decision (stratified
negation). :func:`combine` then merges the outcomes in rule order into a
:class:`~hee_monitor.decision.interface.Decision`, with the state triggers planned on the
health machine.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable.engine import MessageObservedException
from durable.lang import assert_fact, c, delete_state, get_facts, m, none, ruleset, when_all

from hee_monitor.core.errors import PolicyError
from hee_monitor.core.models import Finding, HealthState, Severity
from hee_monitor.decision.health import SEVERITY_ORDER, plan
from hee_monitor.decision.interface import ACTION_ORDER, Action, Decision, Event, Facts
from hee_monitor.decision.risk import finding_risk, row_for
from hee_monitor.decision.skip import apply_skip

#: durable-rules rulesets are global per process: a name nobody else uses
RULESET = "hee_monitor.decision.policy"
PHASES = ("classify", "judge", "decide")

_O, _D, _F, _M = (
    HealthState.OPERATIONAL,
    HealthState.DEGRADED,
    HealthState.FAILED,
    HealthState.MAINTENANCE,
)
_HIGH = Severity.HIGH.rank


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
#: every rule and derivation, with its phase (documentation and tests)
RULES: dict[str, str] = {}


def _guarded(name: str, sid: Callable[[Any], str], body: Callable[[Any], None]) -> Any:
    def consequent(c: Any) -> None:
        # durable-rules swallows exceptions raised in a consequent: keep them to re-raise
        try:
            body(c)
        except Exception as exc:
            _errors[sid(c)] = f"{name}: {type(exc).__name__}: {exc}"

    consequent.__name__ = name
    return consequent


def _derive(phase: str, *conditions: Any) -> Callable[[Callable[[Any], dict[str, Any]]], None]:
    """Register ``fn(c) -> attributes`` as a derivation: its result is asserted as a
    ``derived`` fact named after ``fn`` (once per session, whatever the matches)."""

    def register(fn: Callable[[Any], dict[str, Any]]) -> None:
        name = fn.__name__.lstrip("_")
        RULES[name] = phase

        def body(c: Any) -> None:
            fact = {"kind": "derived", "name": name, **fn(c)}
            # the same conclusion from another match is already known
            with contextlib.suppress(MessageObservedException):
                c.assert_fact(fact)

        consequent = _guarded(fn.__name__, lambda c: c.p.sid, body)
        when_all(_phase(phase), *conditions)(consequent)

    return register


def _rule(*conditions: Any) -> Callable[[Callable[[Any], Outcome]], None]:
    """Register ``fn(c) -> Outcome`` as a decide-phase rule."""

    def register(fn: Callable[[Any], Outcome]) -> None:
        RULE_ORDER.append(fn.__name__)
        RULES[fn.__name__] = "decide"

        def body(c: Any) -> None:
            _outcomes.setdefault(c.p.sid, []).append(fn(c))

        when_all(_phase("decide"), *conditions)(_guarded(fn.__name__, lambda c: c.p.sid, body))

    return register


# -- fact shapes ----------------------------------------------------------------------------
def _phase(name: str) -> Any:
    return c.p << ((m.kind == "phase") & (m.name == name))


def _run() -> Any:
    return m.kind == "run"


def _failed_run() -> Any:
    return (m.kind == "run") & (m.event == Event.FAILED_RUN.value)


def _finding() -> Any:
    return m.kind == "finding"


def _real() -> Any:
    return (m.kind == "finding") & (m.transient == False)  # noqa: E712 (rule expression)


def _transient() -> Any:
    return (m.kind == "finding") & (m.transient == True)  # noqa: E712


def _derived(name: str) -> Any:
    return (m.kind == "derived") & (m.name == name)


def _serious_incident() -> Any:
    return (m.kind == "incident") & (m.rank >= _HIGH)


def _unhealthy() -> Any:
    return (m.state == _D.value) | (m.state == _F.value)


def _remedy() -> Any:
    return (m.kind == "run") & (
        (m.event == Event.RERUN_PASSED.value) | (m.event == Event.FIX_SUCCEEDED.value)
    )


def _ranks_above(name: str) -> Any:
    """A finding (or incident) more severe than the one named ``name`` in the rule, or as
    severe and earlier. (Each ``c.<name>.<attr>`` must be a fresh expression: durable-rules
    extends a reference in place when an attribute of it is read twice.)"""
    return (m.rank > getattr(c, name).rank) | (
        (m.rank == getattr(c, name).rank) & (m.order < getattr(c, name).order)
    )


#: actions a remedy event brings whatever the state does
_REMEDY_ACTIONS = {Event.RERUN_PASSED.value: (Action.LABEL_FLAKY,)}


with ruleset(RULESET):
    # Bookkeeping, not policy: every session has an outcome list, so it can be told apart
    # from one that was never evaluated.
    @when_all(+m.kind)  # type: ignore[untyped-decorator]
    def _seen(c: Any) -> None:
        _outcomes.setdefault(c.m.sid, [])

    # -- 1. classify: from the raw facts ------------------------------------------------
    @_derive(
        "classify",
        c.run << (_failed_run() & (m.unexplained_jobs == 0)),
        c.f << _transient(),
        none(_real()),
    )
    def transient_only(c: Any) -> dict[str, Any]:
        return {}

    @_derive("classify", c.run << _failed_run(), c.t << _transient(), c.r << _real())
    def mixed(c: Any) -> dict[str, Any]:
        return {}

    @_derive(
        "classify",
        c.run
        << (
            _failed_run() & (m.conclusion == "cancelled") & (m.rerun_cancelled == False)  # noqa: E712
        ),
    )
    def cancelled(c: Any) -> dict[str, Any]:
        return {}

    @_derive("classify", c.run << _failed_run(), c.f << _finding())
    def failing(c: Any) -> dict[str, Any]:
        return {}

    @_derive("classify", c.run << (_failed_run() & (m.unexplained_jobs > 0)))
    def _failing(c: Any) -> dict[str, Any]:
        return {}

    @_derive("classify", c.run << _failed_run(), c.f << (_finding() & (m.flaky == True)))  # noqa: E712
    def flaky(c: Any) -> dict[str, Any]:
        return {}

    @_derive(
        "classify",
        c.run << _failed_run(),
        c.f << (_finding() & (m.occurrences >= c.run.escalate_after)),
    )
    def recurring(c: Any) -> dict[str, Any]:
        return {"occurrences": c.f.occurrences, "order": c.f.order}

    # the headline cause: the most severe real (not transient) root cause across jobs
    @_derive("classify", c.run << _failed_run(), c.f << _real(), none(_real() & _ranks_above("f")))
    def headline(c: Any) -> dict[str, Any]:
        return {"fingerprint": c.f.fingerprint}

    # ... or, in a run with only transient causes, the most severe of those
    @_derive(
        "classify",
        c.run << _failed_run(),
        c.f << _transient(),
        none(_real()),
        none(_transient() & _ranks_above("f")),
    )
    def _headline(c: Any) -> dict[str, Any]:
        return {"fingerprint": c.f.fingerprint}

    # a remedy resolves only its own fingerprints: high or critical incidents still open
    # keep the pipeline from being called operational
    @_derive("classify", c.run << _run(), none(_serious_incident()))
    def recovery_allowed(c: Any) -> dict[str, Any]:
        return {}

    # -- 2. judge: from the conclusions of classify --------------------------------------
    @_derive("judge", _derived("transient_only"), _derived("cancelled"))
    def cancelled_only(c: Any) -> dict[str, Any]:
        return {}

    @_derive(
        "judge",
        c.run << (_failed_run() & (m.reruns_requested < m.max_reruns)),
        _derived("transient_only"),
        none(_derived("cancelled")),
    )
    def rerun_wanted(c: Any) -> dict[str, Any]:
        return {}

    @_derive(
        "judge",
        c.run << (_failed_run() & (m.reruns_requested >= m.max_reruns)),
        _derived("transient_only"),
        none(_derived("cancelled")),
    )
    def reruns_exhausted(c: Any) -> dict[str, Any]:
        return {}

    # only a real cause is fixed: a transient one is re-run or nothing
    @_derive(
        "judge",
        c.run << _failed_run(),
        c.h << _derived("headline"),
        c.f
        << (
            _real()
            & (m.fingerprint == c.h.fingerprint)
            & (m.fix_strategy != "")
            & (m.fix_failures < c.run.max_fix_failures)
        ),
    )
    def fix_candidate(c: Any) -> dict[str, Any]:
        return {
            "fingerprint": c.f.fingerprint,
            "strategy": c.f.fix_strategy,
            "auto_fix": c.f.auto_fix,
            "mode": c.f.mode,
            "kind_of_failure": c.f.kind_of_failure,
            "risk": c.f.risk,
            "threshold": c.run.risk_threshold,
            "protected": c.run.protected,
        }

    @_derive(
        "judge",
        c.run << _failed_run(),
        c.h << _derived("headline"),
        c.f
        << (
            _real()
            & (m.fingerprint == c.h.fingerprint)
            & (m.fix_strategy != "")
            & (m.fix_failures >= c.run.max_fix_failures)
        ),
    )
    def fix_retries_spent(c: Any) -> dict[str, Any]:
        return {"strategy": c.f.fix_strategy, "failures": c.f.fix_failures}

    # -- 3. decide ------------------------------------------------------------------------
    @_rule(
        c.run << _failed_run(),
        c.f << (_finding() & (m.severity == Severity.CRITICAL.value)),
        none(_finding() & (m.severity == Severity.CRITICAL.value) & (m.order < c.f.order)),
    )
    def critical_finding(c: Any) -> Outcome:
        return Outcome(
            "critical_finding", (Action.ALERT,), _F, reason=f"critical finding {c.f.pattern_id}"
        )

    @_rule(
        c.run << _failed_run(),
        c.r << _derived("recurring"),
        none(
            _derived("recurring")
            & (
                (m.occurrences > c.r.occurrences)
                | ((m.occurrences == c.r.occurrences) & (m.order < c.r.order))
            )
        ),
        none(_derived("cancelled_only")),
    )
    def recurring_failure(c: Any) -> Outcome:
        return Outcome(
            "recurring_failure",
            (Action.ESCALATE,),
            reason=f"{c.r.occurrences} failures of one fingerprint within "
            f"{c.run.window_seconds}s (threshold {c.run.escalate_after})",
        )

    @_rule(_derived("flaky"))
    def flaky_failure(c: Any) -> Outcome:
        return Outcome(
            "flaky_failure",
            (Action.LABEL_FLAKY,),
            hold=True,
            reason="passed on a re-run of the same commit before: flaky, state unchanged",
        )

    @_rule(c.run << _failed_run(), _derived("rerun_wanted"))
    def transient_rerun(c: Any) -> Outcome:
        return Outcome(
            "transient_rerun",
            (Action.RERUN,),
            hold=True,
            reason=f"every failed job matches a transient pattern: re-run "
            f"{c.run.reruns_requested + 1} of {c.run.max_reruns}",
        )

    @_rule(c.run << _failed_run(), _derived("reruns_exhausted"))
    def transient_reruns_exhausted(c: Any) -> Outcome:
        return Outcome(
            "transient_reruns_exhausted",
            (Action.ALERT,),
            reason=f"transient failure still failing after {c.run.max_reruns} re-runs",
        )

    @_rule(_derived("cancelled_only"))
    def cancelled_run(c: Any) -> Outcome:
        return Outcome(
            "cancelled_run",
            hold=True,
            reason="the run was cancelled: not re-run, not escalated "
            "([policy] rerun_cancelled = false)",
        )

    @_rule(_derived("mixed"))
    def mixed_run(c: Any) -> Outcome:
        return Outcome(
            "mixed_run",
            reason="transient and real failures mixed: not re-run, alerted on the real cause",
        )

    @_rule(c.x << _derived("fix_retries_spent"))
    def fix_exhausted(c: Any) -> Outcome:
        # The incident behind this rule: an enforcement loop retried one fix forever and
        # wrote 600 identical violation entries with no recovery.
        return Outcome(
            "fix_exhausted",
            (Action.ESCALATE,),
            reason=f"fix {c.x.strategy!r} failed {c.x.failures} times for this "
            f"fingerprint: no longer tried",
        )

    @_rule(
        c.x
        << (
            _derived("fix_candidate")
            & (m.auto_fix == "full")
            & (m.protected == False)  # noqa: E712
            & (m.mode != "manual-only")
            & (m.risk <= m.threshold)
        )
    )
    def auto_fix(c: Any) -> Outcome:
        return Outcome(
            "auto_fix",
            (Action.AUTO_FIX,),
            reason=f"fix {c.x.strategy!r} is automatic and risk {c.x.risk} <= {c.x.threshold}",
        )

    @_rule(
        c.x
        << (
            _derived("fix_candidate")
            & (m.auto_fix == "partial")
            & (m.protected == False)  # noqa: E712
            & (m.mode != "manual-only")
        )
    )
    def fix_by_pull_request(c: Any) -> Outcome:
        return Outcome(
            "fix_by_pull_request",
            (Action.OPEN_PR,),
            reason=f"fix {c.x.strategy!r} is partial: a pull request if it validates",
        )

    @_rule(c.x << (_derived("fix_candidate") & (m.protected == True)))  # noqa: E712
    def fix_needs_approval(c: Any) -> Outcome:
        return Outcome(
            "fix_needs_approval",
            (Action.ASK_APPROVAL,),
            reason=f"fix {c.x.strategy!r} needs approval: the repository is protected",
        )

    @_rule(
        c.x
        << (
            _derived("fix_candidate")
            & (m.auto_fix == "full")
            & (m.protected == False)  # noqa: E712
            & (m.risk > m.threshold)
        )
    )
    def risky_fix_needs_approval(c: Any) -> Outcome:
        return Outcome(
            "risky_fix_needs_approval",
            (Action.ASK_APPROVAL,),
            reason=f"fix {c.x.strategy!r} needs approval: risk {c.x.risk} > {c.x.threshold}",
        )

    @_rule(
        c.x
        << (
            _derived("fix_candidate")
            & ((m.auto_fix == "none") | (m.mode == "manual-only"))
            & (m.protected == False)  # noqa: E712
        )
    )
    def manual_fix_needs_approval(c: Any) -> Outcome:
        return Outcome(
            "manual_fix_needs_approval",
            (Action.ASK_APPROVAL,),
            reason=f"fix {c.x.strategy!r} needs approval: {c.x.kind_of_failure} are not "
            f"fixed automatically",
        )

    @_rule(
        c.run << _failed_run(),
        _derived("failing"),
        none(_derived("flaky")),
        none(_derived("rerun_wanted")),
        none(_derived("cancelled_only")),
    )
    def failure_detected(c: Any) -> Outcome:
        what = f"{c.run.failed_jobs} failed job(s)"
        if c.run.unexplained_jobs:
            what += f", {c.run.unexplained_jobs} unexplained"
        return Outcome("failure_detected", (Action.ALERT,), _D, reason=what)

    @_rule(c.run << (_remedy() & _unhealthy()), _derived("recovery_allowed"))
    def remedy_worked(c: Any) -> Outcome:
        event = c.run.event
        return Outcome(
            "remedy_worked", _REMEDY_ACTIONS.get(event, ()), _O, reason=event.replace("_", " ")
        )

    @_rule(
        c.run << (_remedy() & _unhealthy()),
        c.i << _serious_incident(),
        none(_serious_incident() & _ranks_above("i")),
    )
    def recovery_held(c: Any) -> Outcome:
        event = c.run.event
        return Outcome(
            "recovery_held",
            _REMEDY_ACTIONS.get(event, ()),
            _D,
            reason=f"{event.replace('_', ' ')}, but incident {c.i.pattern_id} ({c.i.severity}) "
            f"is still open: not operational yet",
        )

    @_rule(
        c.run
        << (
            (m.kind == "run")
            & (m.event == Event.RERUN_PASSED.value)
            & (m.state != _D.value)
            & (m.state != _F.value)
        )
    )
    def flaky_detected(c: Any) -> Outcome:
        return Outcome(
            "flaky_detected",
            (Action.LABEL_FLAKY,),
            reason="passed on a re-run of the same commit: flaky",
        )

    @_rule(
        c.run << ((m.kind == "run") & (m.event == Event.QUIET.value) & _unhealthy()),
        _derived("recovery_allowed"),
    )
    def quiet_recovery(c: Any) -> Outcome:
        return Outcome(
            "quiet_recovery", target=_O, reason=f"no failure for {c.run.recovery_seconds}s"
        )


# -- posting the facts ----------------------------------------------------------------------
def _run_fact(facts: Facts, sid: str) -> dict[str, Any]:
    s = facts.settings
    return {
        "sid": sid,
        "kind": "run",
        "event": facts.event.value,
        "state": facts.state.value,
        "conclusion": facts.conclusion,
        "failed_jobs": facts.failed_jobs,
        "unexplained_jobs": facts.unexplained_jobs,
        "reruns_requested": facts.reruns_requested,
        "max_reruns": s.max_reruns,
        "rerun_cancelled": s.rerun_cancelled,
        "escalate_after": s.escalate_after,
        "window_seconds": s.window_seconds,
        "max_fix_failures": s.max_fix_failures,
        "risk_threshold": s.risk_threshold,
        "protected": s.protected,
        "recovery_seconds": s.recovery_seconds,
    }


def _fact_list(facts: Facts, sid: str) -> list[dict[str, Any]]:
    """The raw facts as durable-rules facts: plain names and values, nothing judged."""
    out = [_run_fact(facts, sid)]
    for order, cause in enumerate(facts.causes):
        f = cause.finding
        row = row_for(f.category)
        out.append(
            {
                "sid": sid,
                "kind": "finding",
                "order": order,
                "job": cause.job,
                "fingerprint": f.fingerprint,
                "pattern_id": f.pattern_id,
                "category": f.category,
                "severity": f.severity.value,
                "rank": f.severity.rank,
                "transient": f.transient,
                "fix_strategy": f.fix_strategy or "",
                "auto_fix": f.auto_fix.value,
                "mode": row.mode.value,
                "kind_of_failure": row.kind,
                "risk": finding_risk(f.category, f.risk),
                "occurrences": cause.occurrences,
                "fix_failures": cause.fix_failures,
                "flaky": cause.flaky,
            }
        )
    for order, incident in enumerate(facts.open_incidents):
        out.append(
            {
                "sid": sid,
                "kind": "incident",
                "order": order,
                "fingerprint": incident.fingerprint,
                "pattern_id": incident.pattern_id or incident.fingerprint[:12],
                "severity": incident.severity.value,
                "rank": incident.severity.rank,
            }
        )
    return out


@dataclass(frozen=True)
class _Session:
    outcomes: list[Outcome]
    derived: dict[str, dict[str, Any]]


def _evaluate(facts: Facts, sid: str) -> _Session:
    error: str | None = None
    derived: dict[str, dict[str, Any]] = {}
    outcomes: list[Outcome] = []
    try:
        for fact in _fact_list(facts, sid):
            assert_fact(RULESET, fact)
        for phase in PHASES:
            assert_fact(RULESET, {"sid": sid, "kind": "phase", "name": phase})
        derived = {f["name"]: f for f in get_facts(RULESET, sid) if f.get("kind") == "derived"}
        outcomes = _outcomes.pop(sid, [])
        error = _errors.pop(sid, None)
    except Exception as exc:  # durable-rules raises bare Exceptions for engine failures
        error = str(exc)
    finally:
        _outcomes.pop(sid, None)
        _errors.pop(sid, None)
        delete_state(RULESET, sid)
    if error is not None:
        raise PolicyError(
            f"the policy rules failed on {facts.event.value} facts: {error}",
            hint="this is a bug in the policy rules; run with -vv and report it",
        )
    return _Session(outcomes, derived)


# -- combining the outcomes -----------------------------------------------------------------
def _goal(facts: Facts, outcomes: list[Outcome]) -> HealthState:
    """The state the outcomes ask for: a failed run only ever worsens it (unless a rule
    holds it), any other event only ever improves it, and the most cautious target wins."""
    state = facts.state
    targets = [o.target for o in outcomes if o.target is not None]
    goal = max(targets, key=lambda s: SEVERITY_ORDER[s], default=state)
    if facts.event is Event.FAILED_RUN:
        held = any(o.hold for o in outcomes) and _F not in targets
        worse = SEVERITY_ORDER[goal] > SEVERITY_ORDER[state]
        return goal if worse and not held else state
    return goal if SEVERITY_ORDER[goal] < SEVERITY_ORDER[state] else state


def _finding_named(facts: Facts, derived: dict[str, Any] | None) -> Finding | None:
    if derived is None:
        return None
    return next((f for f in facts.findings if f.fingerprint == derived["fingerprint"]), None)


def combine(facts: Facts, session: _Session) -> Decision:
    """Merge what fired into one decision: actions in fixed order, one target state, the
    trigger path to reach it (only ever a valid one from the current state)."""
    position = {name: i for i, name in enumerate(RULE_ORDER)}
    outcomes = sorted(session.outcomes, key=lambda o: position[o.rule])
    wanted = {a for o in outcomes for a in o.actions}
    actions = tuple(a for a in ACTION_ORDER if a in wanted) or (Action.NONE,)
    reasons = [o.reason for o in outcomes if o.reason]
    state = facts.state
    goal = _goal(facts, outcomes)
    if state is _M and goal is not state:
        reasons.append("maintenance: state held")
        goal = state
    fixing = wanted & {Action.AUTO_FIX, Action.OPEN_PR, Action.ASK_APPROVAL}
    return Decision(
        actions=actions,
        triggers=plan(state, goal, open_serious=facts.open_serious),
        from_state=state,
        to_state=goal,
        reasons=tuple(reasons),
        rules=tuple(o.rule for o in outcomes),
        severity=_severity(facts, actions),
        headline=_finding_named(facts, session.derived.get("headline")),
        fix=_finding_named(facts, session.derived.get("fix_candidate")) if fixing else None,
    )


def _severity(facts: Facts, actions: tuple[Action, ...]) -> Severity | None:
    if Action.ALERT not in actions and Action.ESCALATE not in actions:
        return None
    found = max((f.severity for f in facts.findings), key=lambda v: v.rank, default=Severity.MEDIUM)
    if Action.ESCALATE in actions and not found.at_least(Severity.HIGH):
        return Severity.HIGH
    return found


def decide(facts: Facts, now: datetime) -> Decision:
    """The decision on ``facts``; the run's skip flag (if any) withholds what it says."""
    # durable-rules sessions are global: one decision at a time, each in a fresh session
    with _lock:
        session = _evaluate(facts, f"d{next(_ids)}")
    return apply_skip(combine(facts, session), facts.skip)


class RulesPolicy:
    """The policy of :mod:`hee_monitor.decision.rules`, evaluated by durable-rules."""

    def decide(self, facts: Facts, now: datetime) -> Decision:
        return decide(facts, now)
