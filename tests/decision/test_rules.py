from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.core.models import AutoFix, Finding, HealthState, Owner, Severity
from hee_monitor.decision import POLICIES
from hee_monitor.decision.health import allowed_triggers, next_state
from hee_monitor.decision.interface import Action, Event, PolicyFacts, PolicySettings
from hee_monitor.decision.rules import RULE_ORDER, RulesPolicy

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
POLICY = RulesPolicy()


def finding(
    pattern_id: str = "PY-TEST-FAIL",
    *,
    severity: Severity = Severity.HIGH,
    transient: bool = False,
    fix: str | None = None,
    auto_fix: AutoFix = AutoFix.NONE,
    risk: int = 2,
) -> Finding:
    return Finding(
        pattern_id=pattern_id,
        title=pattern_id.lower(),
        category="test",
        severity=severity,
        owner=Owner.DEVELOPER,
        risk=risk,
        transient=transient,
        confidence=0.9,
        fix_strategy=fix,
        fingerprint=f"fp-{pattern_id}",
        evidence=(),
        auto_fix=auto_fix,
    )


def failed(
    *findings: Finding, state: HealthState = HealthState.OPERATIONAL, **kw: object
) -> PolicyFacts:
    jobs = kw.pop("failed_jobs", max(1, len(findings)))
    return PolicyFacts(
        Event.FAILED_RUN,
        "octo/app",
        state,
        findings=findings,
        failed_jobs=jobs,
        **kw,  # type: ignore[arg-type]
    )


def test_registry_names_the_rules_policy() -> None:
    assert isinstance(POLICIES["rules"](), RulesPolicy)


def test_no_rule_fires_gives_none() -> None:
    d = POLICY.decide(failed(failed_jobs=0), NOW)
    assert d.actions == (Action.NONE,)
    assert d.triggers == () and d.rules == () and d.severity is None


def test_failure_detected_alerts_and_degrades() -> None:
    d = POLICY.decide(failed(finding()), NOW)
    assert d.actions == (Action.ALERT,)
    assert d.triggers == ("failures_detected",)
    assert d.to_state is HealthState.DEGRADED
    assert d.severity is Severity.HIGH


def test_unexplained_job_alerts_and_degrades() -> None:
    d = POLICY.decide(failed(unexplained_jobs=1), NOW)
    assert d.rules == ("failure_detected",)
    assert "1 unexplained" in d.reasons[0]
    assert d.severity is Severity.MEDIUM


def test_critical_finding_moves_to_failed_through_degraded() -> None:
    d = POLICY.decide(failed(finding(severity=Severity.CRITICAL)), NOW)
    assert "critical_finding" in d.rules
    assert d.triggers == ("failures_detected", "critical_failure")
    assert d.to_state is HealthState.FAILED
    d = POLICY.decide(failed(finding(severity=Severity.CRITICAL), state=HealthState.DEGRADED), NOW)
    assert d.triggers == ("critical_failure",)


def test_recurring_fingerprint_escalates() -> None:
    d = POLICY.decide(failed(finding(), recent_occurrences=3), NOW)
    assert Action.ESCALATE in d.actions and "recurring_failure" in d.rules
    below = POLICY.decide(failed(finding(), recent_occurrences=2), NOW)
    assert Action.ESCALATE not in below.actions


def test_known_flaky_is_labelled_and_does_not_degrade() -> None:
    d = POLICY.decide(failed(finding(), known_flaky=True), NOW)
    assert Action.LABEL_FLAKY in d.actions and "flaky_failure" in d.rules
    assert d.triggers == () and d.to_state is HealthState.OPERATIONAL


def test_all_transient_run_is_rerun_without_degrading() -> None:
    d = POLICY.decide(failed(finding("NET-TIMEOUT", transient=True), reruns_requested=2), NOW)
    assert d.actions == (Action.RERUN,) and d.rules == ("transient_rerun",)
    assert d.triggers == ()
    assert "re-run 3 of 3" in d.reasons[0]


def test_transient_run_is_not_rerun_a_fourth_time() -> None:
    d = POLICY.decide(failed(finding("NET-TIMEOUT", transient=True), reruns_requested=3), NOW)
    assert Action.RERUN not in d.actions
    assert "transient_reruns_exhausted" in d.rules
    assert d.triggers == ("failures_detected",)


def test_mixed_run_is_not_rerun() -> None:
    d = POLICY.decide(failed(finding("NET-TIMEOUT", transient=True), finding("PY-TEST-FAIL")), NOW)
    assert Action.RERUN not in d.actions
    assert "mixed_run" in d.rules
    assert d.triggers == ("failures_detected",)


def test_transient_with_an_unexplained_job_is_not_rerun() -> None:
    d = POLICY.decide(
        failed(finding("NET-TIMEOUT", transient=True), failed_jobs=2, unexplained_jobs=1), NOW
    )
    assert Action.RERUN not in d.actions


def test_automatic_low_risk_fix_is_applied() -> None:
    d = POLICY.decide(failed(finding(fix="ruff-fix", auto_fix=AutoFix.FULL, risk=2)), NOW)
    assert Action.AUTO_FIX in d.actions and "auto_fix" in d.rules


def test_partial_fix_opens_a_pull_request() -> None:
    d = POLICY.decide(failed(finding(fix="pin-dep", auto_fix=AutoFix.PARTIAL)), NOW)
    assert Action.OPEN_PR in d.actions and Action.AUTO_FIX not in d.actions
    assert "fix_by_pull_request" in d.rules
    # the decision is sent before the fix runs: it says what will happen if the fix
    # validates, never announces a pull request that a rollback may never let exist
    reasons = " ".join(d.reasons)
    assert "proposed" not in reasons
    assert "a pull request if it validates" in reasons


def test_risky_or_protected_fix_asks_approval() -> None:
    risky = POLICY.decide(failed(finding(fix="ruff-fix", auto_fix=AutoFix.FULL, risk=4)), NOW)
    assert Action.ASK_APPROVAL in risky.actions and "risk 4 > 3" in " ".join(risky.reasons)
    protected = failed(
        finding(fix="ruff-fix", auto_fix=AutoFix.FULL, risk=1),
        settings=PolicySettings(protected=True),
    )
    d = POLICY.decide(protected, NOW)
    assert Action.ASK_APPROVAL in d.actions and Action.AUTO_FIX not in d.actions
    assert "fix_needs_approval" in d.rules


def test_fix_failed_three_times_is_not_tried_and_escalates() -> None:
    d = POLICY.decide(
        failed(finding(fix="ruff-fix", auto_fix=AutoFix.FULL), failed_fix_attempts=3), NOW
    )
    assert Action.AUTO_FIX not in d.actions
    assert Action.ESCALATE in d.actions and "fix_exhausted" in d.rules
    assert d.severity is Severity.HIGH


def test_remedy_worked_recovers_degraded_and_labels_flaky() -> None:
    facts = PolicyFacts(Event.RERUN_PASSED, "octo/app", HealthState.DEGRADED)
    d = POLICY.decide(facts, NOW)
    assert d.triggers == ("auto_fix_successful",) and Action.LABEL_FLAKY in d.actions
    assert d.rules == ("remedy_worked",)


def test_fix_succeeded_in_failed_with_open_critical_is_partial_recovery() -> None:
    facts = PolicyFacts(
        Event.FIX_SUCCEEDED, "octo/app", HealthState.FAILED, open_critical_incidents=1
    )
    assert POLICY.decide(facts, NOW).triggers == ("partial_recovery",)
    facts = dataclasses.replace(facts, open_critical_incidents=0)
    assert POLICY.decide(facts, NOW).triggers == ("full_recovery",)


def test_rerun_passed_while_operational_labels_flaky_only() -> None:
    d = POLICY.decide(PolicyFacts(Event.RERUN_PASSED, "octo/app", HealthState.OPERATIONAL), NOW)
    assert d.rules == ("flaky_detected",) and d.triggers == ()


def test_quiet_window_recovers() -> None:
    d = POLICY.decide(PolicyFacts(Event.QUIET, "octo/app", HealthState.DEGRADED), NOW)
    assert d.triggers == ("auto_fix_successful",) and d.rules == ("quiet_recovery",)


def test_maintenance_holds_the_state() -> None:
    d = POLICY.decide(
        failed(finding(severity=Severity.CRITICAL), state=HealthState.MAINTENANCE), NOW
    )
    assert d.triggers == () and d.to_state is HealthState.MAINTENANCE
    assert "maintenance: state held" in d.reasons


def test_decisions_do_not_leak_between_calls() -> None:
    first = POLICY.decide(failed(finding(severity=Severity.CRITICAL)), NOW)
    second = POLICY.decide(failed(failed_jobs=0), NOW)
    assert first.rules and second.rules == ()


def test_every_rule_has_a_test_here() -> None:
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    tests = source.split("def test_every_rule")[0]
    assert [r for r in RULE_ORDER if f'"{r}"' not in tests] == []


severities = st.sampled_from(list(Severity))
findings_st = st.builds(
    finding,
    pattern_id=st.sampled_from(["A", "B", "C"]),
    severity=severities,
    transient=st.booleans(),
    fix=st.sampled_from([None, "ruff-fix"]),
    auto_fix=st.sampled_from(list(AutoFix)),
    risk=st.integers(0, 5),
)
facts_st = st.builds(
    PolicyFacts,
    event=st.sampled_from(list(Event)),
    repo=st.just("octo/app"),
    state=st.sampled_from(list(HealthState)),
    settings=st.builds(PolicySettings, protected=st.booleans(), risk_threshold=st.integers(0, 5)),
    findings=st.lists(findings_st, max_size=3).map(tuple),
    failed_jobs=st.integers(0, 3),
    unexplained_jobs=st.integers(0, 2),
    reruns_requested=st.integers(0, 4),
    recent_occurrences=st.integers(0, 5),
    failed_fix_attempts=st.integers(0, 4),
    known_flaky=st.booleans(),
    open_critical_incidents=st.integers(0, 2),
)


@settings(max_examples=150, deadline=None)
@given(facts_st)
def test_decide_is_deterministic_and_only_valid_triggers(facts: PolicyFacts) -> None:
    d = POLICY.decide(facts, NOW)
    assert POLICY.decide(facts, NOW) == d
    state = facts.state
    for trigger in d.triggers:
        assert trigger in allowed_triggers(state)
        state = next_state(state, trigger)
    assert state is d.to_state
    assert d.actions and (d.actions == (Action.NONE,) or Action.NONE not in d.actions)


@pytest.mark.parametrize("state", list(HealthState))
def test_maintenance_never_moves(state: HealthState) -> None:
    d = POLICY.decide(failed(finding(severity=Severity.CRITICAL), state=state), NOW)
    if state is HealthState.MAINTENANCE:
        assert d.triggers == ()
    else:
        assert d.to_state in (HealthState.FAILED,)
