from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.core.models import AutoFix, Finding, HealthState, Owner, Severity
from hee_monitor.decision import POLICIES
from hee_monitor.decision.health import allowed_triggers, next_state
from hee_monitor.decision.interface import (
    Action,
    Cause,
    Event,
    Facts,
    OpenIncident,
    PolicySettings,
)
from hee_monitor.decision.rules import RULE_ORDER, RULES, RulesPolicy
from hee_monitor.decision.skip import SkipDecision

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
    category: str = "test",
) -> Finding:
    return Finding(
        pattern_id=pattern_id,
        title=pattern_id.lower(),
        category=category,
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
    *findings: Finding,
    state: HealthState = HealthState.OPERATIONAL,
    occurrences: int = 1,
    flaky: bool = False,
    fix_failures: int = 0,
    **kw: object,
) -> Facts:
    jobs = kw.pop("failed_jobs", max(1, len(findings)))
    causes = tuple(
        Cause(f, f"job{i}", occurrences, fix_failures if i == 0 else 0, flaky)
        for i, f in enumerate(findings)
    )
    return Facts(
        Event.FAILED_RUN,
        "octo/app",
        state,
        causes=causes,
        failed_jobs=jobs,
        **kw,  # type: ignore[arg-type]
    )


def incident(severity: Severity, pattern_id: str = "OPEN") -> OpenIncident:
    return OpenIncident(f"fp-{pattern_id}", severity, pattern_id)


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
    d = POLICY.decide(failed(finding(), occurrences=3), NOW)
    assert Action.ESCALATE in d.actions and "recurring_failure" in d.rules
    below = POLICY.decide(failed(finding(), occurrences=2), NOW)
    assert Action.ESCALATE not in below.actions


def test_known_flaky_is_labelled_and_does_not_degrade() -> None:
    d = POLICY.decide(failed(finding(), flaky=True), NOW)
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
    assert risky.rules == ("risky_fix_needs_approval", "failure_detected")
    protected = failed(
        finding(fix="ruff-fix", auto_fix=AutoFix.FULL, risk=1),
        settings=PolicySettings(protected=True),
    )
    d = POLICY.decide(protected, NOW)
    assert Action.ASK_APPROVAL in d.actions and Action.AUTO_FIX not in d.actions
    assert "fix_needs_approval" in d.rules


def test_fix_failed_three_times_is_not_tried_and_escalates() -> None:
    d = POLICY.decide(failed(finding(fix="ruff-fix", auto_fix=AutoFix.FULL), fix_failures=3), NOW)
    assert Action.AUTO_FIX not in d.actions
    assert Action.ESCALATE in d.actions and "fix_exhausted" in d.rules
    assert d.severity is Severity.HIGH


def test_remedy_worked_recovers_degraded_and_labels_flaky() -> None:
    facts = Facts(Event.RERUN_PASSED, "octo/app", HealthState.DEGRADED)
    d = POLICY.decide(facts, NOW)
    assert d.triggers == ("auto_fix_successful",) and Action.LABEL_FLAKY in d.actions
    assert d.rules == ("remedy_worked",)


def test_fix_succeeded_in_failed_with_open_critical_is_partial_recovery() -> None:
    facts = Facts(
        Event.FIX_SUCCEEDED,
        "octo/app",
        HealthState.FAILED,
        open_incidents=(incident(Severity.CRITICAL),),
    )
    d = POLICY.decide(facts, NOW)
    assert d.triggers == ("partial_recovery",) and d.rules == ("recovery_held",)
    assert "incident OPEN (critical) is still open" in d.reasons[0]
    facts = dataclasses.replace(facts, open_incidents=(incident(Severity.MEDIUM),))
    assert POLICY.decide(facts, NOW).triggers == ("full_recovery",)


@pytest.mark.parametrize("event", [Event.RERUN_PASSED, Event.FIX_SUCCEEDED])
@pytest.mark.parametrize("severity", [Severity.HIGH, Severity.CRITICAL])
def test_no_recovery_to_operational_while_a_high_or_critical_incident_is_open(
    event: Event, severity: Severity
) -> None:
    facts = Facts(event, "octo/app", HealthState.DEGRADED, open_incidents=(incident(severity),))
    d = POLICY.decide(facts, NOW)
    assert d.triggers == () and d.to_state is HealthState.DEGRADED
    assert "recovery_held" in d.rules


def test_rerun_passed_while_operational_labels_flaky_only() -> None:
    d = POLICY.decide(Facts(Event.RERUN_PASSED, "octo/app", HealthState.OPERATIONAL), NOW)
    assert d.rules == ("flaky_detected",) and d.triggers == ()


def test_quiet_window_recovers() -> None:
    d = POLICY.decide(Facts(Event.QUIET, "octo/app", HealthState.DEGRADED), NOW)
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


def test_cancelled_run_is_not_rerun_nor_escalated_unless_configured() -> None:
    cancelled = finding("GHA-CANCELLED", transient=True, fix="rerun", severity=Severity.LOW)
    facts = failed(cancelled, occurrences=5, conclusion="cancelled")
    d = POLICY.decide(facts, NOW)
    assert d.rules == ("cancelled_run",) and d.actions == (Action.NONE,)
    assert d.triggers == ()
    allowed = dataclasses.replace(facts, settings=PolicySettings(rerun_cancelled=True))
    assert Action.RERUN in POLICY.decide(allowed, NOW).actions


def test_mixed_run_headline_is_the_real_cause_and_no_rerun_fix() -> None:
    blip = finding("NET", transient=True, fix="rerun", auto_fix=AutoFix.FULL, severity=Severity.LOW)
    real = finding("PY-TEST", severity=Severity.HIGH)
    d = POLICY.decide(failed(blip, real), NOW)
    assert d.headline == real and d.fix is None
    assert Action.AUTO_FIX not in d.actions and Action.RERUN not in d.actions
    assert d.rules == ("mixed_run", "failure_detected")


def test_headline_is_the_most_severe_root_cause_across_jobs() -> None:
    first = finding("GO-TEST", severity=Severity.HIGH)
    second = finding("GO-COMPILE", severity=Severity.CRITICAL)
    d = POLICY.decide(failed(first, second), NOW)
    assert d.headline == second and d.severity is Severity.CRITICAL
    # equal severity: the earlier job's
    tie = finding("LINT", severity=Severity.HIGH)
    assert POLICY.decide(failed(first, tie), NOW).headline == first


def test_transient_only_run_headline_is_its_most_severe_transient_cause() -> None:
    low = finding("DNS", transient=True, severity=Severity.LOW)
    medium = finding("NET", transient=True, severity=Severity.MEDIUM)
    assert POLICY.decide(failed(low, medium), NOW).headline == medium


def test_the_fix_is_for_the_headline_cause() -> None:
    lint = finding("RUFF", severity=Severity.MEDIUM, fix="ruff-fix", auto_fix=AutoFix.FULL)
    tests = finding("PY-TEST", severity=Severity.HIGH)
    d = POLICY.decide(failed(lint, tests), NOW)
    assert d.headline == tests and d.fix is None and Action.AUTO_FIX not in d.actions
    d = POLICY.decide(failed(lint), NOW)
    assert d.fix == lint and Action.AUTO_FIX in d.actions


def test_manual_only_kinds_ask_approval_with_the_one_risk_model() -> None:
    vuln = finding("CVE", category="security", fix="bump", auto_fix=AutoFix.PARTIAL, risk=0)
    d = POLICY.decide(failed(vuln), NOW)
    assert d.rules == ("manual_fix_needs_approval", "failure_detected")
    assert "security vulnerabilities are not fixed automatically" in d.reasons[0]
    # a dependency fix scores its kind's penalty: risk 3 + 1 > 3
    dep = finding("DEP", category="dependency", fix="pin", auto_fix=AutoFix.FULL, risk=3)
    assert "risk 4 > 3" in " ".join(POLICY.decide(failed(dep), NOW).reasons)


def test_a_skip_flag_withholds_fixes_inside_the_decision() -> None:
    fixable = finding(fix="ruff-fix", auto_fix=AutoFix.FULL)
    skip = SkipDecision("commit", "[skip hee]")
    d = POLICY.decide(failed(fixable, skip=skip), NOW)
    assert Action.AUTO_FIX not in d.actions and Action.ALERT in d.actions
    assert d.rules[-1] == "skip_flag"


def test_rules_are_in_three_phases() -> None:
    assert set(RULES.values()) == {"classify", "judge", "decide"}
    assert [r for r in RULE_ORDER if RULES[r] != "decide"] == []


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
causes_st = st.builds(
    Cause,
    finding=findings_st,
    job=st.just("job"),
    occurrences=st.integers(1, 5),
    fix_failures=st.integers(0, 4),
    flaky=st.booleans(),
)
facts_st = st.builds(
    Facts,
    event=st.sampled_from(list(Event)),
    repo=st.just("octo/app"),
    state=st.sampled_from(list(HealthState)),
    settings=st.builds(
        PolicySettings,
        protected=st.booleans(),
        risk_threshold=st.integers(0, 5),
        rerun_cancelled=st.booleans(),
    ),
    conclusion=st.sampled_from(["failure", "cancelled", "timed_out"]),
    causes=st.lists(causes_st, max_size=3, unique_by=lambda c: c.finding.fingerprint).map(tuple),
    failed_jobs=st.integers(0, 3),
    unexplained_jobs=st.integers(0, 2),
    reruns_requested=st.integers(0, 4),
    open_incidents=st.lists(
        st.builds(incident, st.sampled_from(list(Severity)), st.sampled_from(["X", "Y"])),
        max_size=2,
    ).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(facts_st)
def test_decide_is_deterministic_and_only_valid_triggers(facts: Facts) -> None:
    d = POLICY.decide(facts, NOW)
    assert POLICY.decide(facts, NOW) == d
    state = facts.state
    for trigger in d.triggers:
        assert trigger in allowed_triggers(state)
        state = next_state(state, trigger)
    assert state is d.to_state
    assert d.actions and (d.actions == (Action.NONE,) or Action.NONE not in d.actions)
    # the misfires: never operational with a serious incident open, never a re-run of a
    # cancelled or mixed run, never a fix for a transient cause
    if facts.open_serious and d.to_state is HealthState.OPERATIONAL:
        assert facts.state is HealthState.OPERATIONAL
    transient = [f.transient for f in facts.findings]
    if Action.RERUN in d.actions:
        assert all(transient) and not facts.unexplained_jobs
        assert facts.conclusion != "cancelled" or facts.settings.rerun_cancelled
    assert d.fix is None or not d.fix.transient
    real = [f for f in facts.findings if not f.transient]
    if real and d.headline is not None:
        assert not d.headline.transient
        assert d.headline.severity.rank == max(f.severity.rank for f in real)


@pytest.mark.parametrize("state", list(HealthState))
def test_maintenance_never_moves(state: HealthState) -> None:
    d = POLICY.decide(failed(finding(severity=Severity.CRITICAL), state=state), NOW)
    if state is HealthState.MAINTENANCE:
        assert d.triggers == ()
    else:
        assert d.to_state in (HealthState.FAILED,)
