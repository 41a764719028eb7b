from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from hee_monitor.action.alerts.inhibit import (
    InhibitingAlert,
    InhibitRule,
    InhibitSources,
    inhibited,
    is_source,
    rules_from_config,
)
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Alert, Severity

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)
RUNNERS = InhibitRule(source_patterns=("GHA-RUNNER-*", "NET-*"), window=timedelta(hours=2))


def alert(pattern: str, severity: Severity, repo: str = "octo/app", kind: str = "failure") -> Alert:
    return Alert(
        repo, severity, pattern, "body", fingerprint=f"fp-{pattern}", kind=kind, pattern_id=pattern
    )


def source(
    pattern: str, severity: Severity = Severity.CRITICAL, *, repo: str = "octo/app"
) -> InhibitingAlert:
    return InhibitingAlert(repo, f"fp-{pattern}", pattern, severity, T0)


def test_a_lost_runner_mutes_the_test_failures_it_explains() -> None:
    muted = inhibited(
        alert("PY-PYTEST-FAILED", Severity.HIGH),
        [RUNNERS],
        [source("GHA-RUNNER-LOST")],
        T0 + timedelta(minutes=5),
    )
    assert muted is not None
    assert "GHA-RUNNER-LOST" in muted.reason and "octo/app" in muted.reason


@pytest.mark.parametrize(
    ("target", "sources", "now"),
    [
        # above the target severity: a compile error is news of its own
        (alert("CC-COMPILER-ERROR", Severity.CRITICAL), [source("GHA-RUNNER-LOST")], T0),
        # another repository
        (alert("PY-PYTEST-FAILED", Severity.HIGH), [source("NET-DNS", repo="octo/lib")], T0),
        # the source is older than the window
        (alert("PY-PYTEST-FAILED", Severity.HIGH), [source("NET-DNS")], T0 + timedelta(hours=3)),
        # the source is below the source severity
        (alert("PY-PYTEST-FAILED", Severity.HIGH), [source("NET-DNS", Severity.HIGH)], T0),
        # the source's pattern is not a source pattern
        (alert("PY-PYTEST-FAILED", Severity.HIGH), [source("PY-MYPY")], T0),
        # not a failure
        (alert("PY-PYTEST-FAILED", Severity.HIGH, kind="resolved"), [source("NET-DNS")], T0),
        # a source itself is not a target of its rule
        (alert("NET-RESET", Severity.CRITICAL), [source("NET-DNS")], T0),
    ],
)
def test_what_is_not_inhibited(
    target: Alert, sources: list[InhibitingAlert], now: datetime
) -> None:
    assert inhibited(target, [RUNNERS], sources, now) is None


severities = st.sampled_from(list(Severity))
patterns = st.sampled_from(["GHA-RUNNER-LOST", "NET-DNS", "PY-PYTEST-FAILED", "JS-JEST"])


@given(patterns, severities, st.lists(st.tuples(patterns, severities), max_size=4))
def test_an_alert_is_never_inhibited_by_itself_nor_above_the_target_severity(
    pattern: str, severity: Severity, others: list[tuple[str, Severity]]
) -> None:
    target = alert(pattern, severity)
    own = InhibitingAlert(target.repo, target.fingerprint, pattern, severity, T0)
    everything = [own, *(source(p, s) for p, s in others if p != pattern)]
    muted = inhibited(target, [RUNNERS], everything, T0)
    assert inhibited(target, [RUNNERS], [own], T0) is None
    if severity.at_least(Severity.CRITICAL):
        assert muted is None
    if muted is not None:  # then a different open source of the rule explains it
        assert any(
            s.fingerprint != target.fingerprint and RUNNERS.is_source(s.severity, s.pattern_id)
            for s in everything
        )


def test_rules_from_config_with_defaults_and_errors() -> None:
    (rule,) = rules_from_config([{"source_patterns": ["NET-*"], "window": "30m"}])
    assert rule == InhibitRule(source_patterns=("NET-*",), window=timedelta(minutes=30))
    assert is_source(alert("NET-DNS", Severity.CRITICAL), [rule])
    assert not is_source(alert("NET-DNS", Severity.HIGH), [rule])
    for bad, words in [
        ({"inhibit": 1}, "list of tables"),
        ([{"source_severity": "urgent"}], "#1: source_severity must be one of"),
        ([{}, {"target": "x"}], "#2: unknown key(s) target"),
        ([{"source_patterns": "", "window": "1h"}], "list of pattern-id globs"),
        ([{"window": "soon"}], "#1 window"),
    ]:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
            rules_from_config(bad)


def test_open_sources_are_shared_through_the_store(engine: Engine) -> None:
    mine, theirs = InhibitSources(engine), InhibitSources(engine)
    lost = alert("GHA-RUNNER-LOST", Severity.CRITICAL)
    mine.record(lost, T0)
    mine.record(lost, T0 + timedelta(minutes=1))  # seen again: one source, newer
    assert theirs.open("octo/app") == [
        InhibitingAlert(
            "octo/app",
            lost.fingerprint,
            "GHA-RUNNER-LOST",
            Severity.CRITICAL,
            T0 + timedelta(minutes=1),
        )
    ]
    assert theirs.open("octo/lib") == []
    theirs.forget("octo/app", lost.fingerprint)
    assert mine.open("octo/app") == []
