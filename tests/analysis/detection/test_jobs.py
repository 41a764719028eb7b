from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hee_monitor.analysis.detection.jobs import classify, join, metadata_findings
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.models import (
    Diagnosis,
    Evidence,
    FailedJob,
    FailedRun,
    Finding,
    Owner,
    Severity,
)

SETTINGS = DetectionSettings()
START = datetime(2026, 3, 1, tzinfo=UTC)


def job(
    name: str, conclusion: str = "failure", steps: tuple[str, ...] = (), minutes: float = 5
) -> FailedJob:
    return FailedJob(1, name, conclusion, steps, START, START + timedelta(minutes=minutes))


def run(*jobs: FailedJob) -> FailedRun:
    return FailedRun("o/a", 7, 1, "CI", "abc", "main", "push", "failure", jobs)


@pytest.mark.parametrize(
    ("name", "steps", "kind"),
    [
        ("build", (), "build"),
        ("Compile (ubuntu-latest)", (), "build"),
        ("test (3.12)", (), "test"),
        ("check", (), "test"),
        ("build-and-test", ("Run tests",), "test"),  # the failed step says more
        ("lint", (), "lint"),
        ("Check formatting", (), "lint"),
        ("Deploy to staging", (), "deploy"),
        ("CI", ("Run make",), "build"),
        ("docs", (), None),
    ],
)
def test_jobs_are_classified_by_failed_step_then_name(
    name: str, steps: tuple[str, ...], kind: str | None
) -> None:
    found = classify(name, steps, SETTINGS)
    assert (found.kind if found else None) == kind


def test_a_failed_build_job_is_a_compilation_failure_and_a_test_job_a_test_failure() -> None:
    build = job("build", steps=("Compile",))
    (finding,) = metadata_findings(run(build), build, SETTINGS)
    assert finding.pattern_id == "PAT-001" and finding.source == "metadata"
    assert finding.category == "compilation"
    assert finding.details["job_kind"] == "build"
    test = job("unit tests")
    (finding,) = metadata_findings(run(test), test, SETTINGS)
    assert finding.pattern_id == "PAT-002"
    # lint and deploy jobs and cancelled ones say nothing on their own
    assert metadata_findings(run(job("lint")), job("lint"), SETTINGS) == []
    cancelled = job("build", "cancelled")
    assert metadata_findings(run(cancelled), cancelled, SETTINGS) == []


def test_time_limits() -> None:
    timed_out = job("e2e", "timed_out", minutes=30)
    (finding,) = metadata_findings(run(timed_out), timed_out, SETTINGS)
    assert finding.pattern_id == "PAT-005" and finding.details["reason"] == "time_limit"
    # cancelled by timeout-minutes: it ran for its configured limit
    limited = DetectionSettings(timeout_minutes={"e2e": 30})
    cancelled = job("e2e", "cancelled", minutes=30)
    (finding,) = metadata_findings(run(cancelled), cancelled, limited)
    assert "timeout-minutes of 30" in finding.title
    # cancelled early (by a person or a newer push) is not a timeout
    early = job("e2e", "cancelled", minutes=4)
    assert metadata_findings(run(early), early, limited) == []


def test_slow_job_joins_the_kind_finding() -> None:
    history = [300.0] * 10
    slow = job("integration tests", minutes=16)
    found = metadata_findings(run(slow), slow, SETTINGS, history)
    assert [f.pattern_id for f in found] == ["PAT-002", "PAT-005"]
    assert found[1].details["ratio"] == pytest.approx(3.2)
    normal = job("integration tests", minutes=5.5)
    assert [f.pattern_id for f in metadata_findings(run(normal), normal, SETTINGS, history)] == [
        "PAT-002"
    ]


def log_finding(pid: str, confidence: float) -> Finding:
    return Finding(
        pid,
        "log",
        "test",
        Severity.HIGH,
        Owner.DEVELOPER,
        3,
        False,
        confidence,
        None,
        f"fp-{pid}",
        (Evidence(3, 3, "E   assert 1 == 2"),),
    )


def test_metadata_never_outranks_a_log_finding() -> None:
    test = job("test")
    extra = metadata_findings(run(test), test, SETTINGS)
    diagnosis = Diagnosis("x", 10, (log_finding("PY-ASSERT", 0.9), log_finding("GEN", 0.2)))
    joined = join(diagnosis, extra)
    assert [f.pattern_id for f in joined.failures] == ["PY-ASSERT", "GEN", "PAT-002"]
    confidences = [f.confidence for f in joined.failures]
    assert confidences == sorted(confidences, reverse=True)
    # the log found the same pattern: the metadata adds nothing
    same = Diagnosis("x", 10, (log_finding("PAT-002", 0.6),))
    assert join(same, extra).failures == same.failures
    # the log explained nothing: the metadata is the root cause
    assert join(Diagnosis("x", 10, ()), extra).root_cause == extra[0]


def test_fingerprints_are_stable_across_runs_and_differ_by_job() -> None:
    a = metadata_findings(run(job("test (3.11)")), job("test (3.11)"), SETTINGS)[0]
    b = metadata_findings(run(job("test (3.12)")), job("test (3.12)"), SETTINGS)[0]
    c = metadata_findings(run(job("unit")), job("unit"), SETTINGS)[0]
    assert a.fingerprint == b.fingerprint  # numbers are masked like in log fingerprints
    assert a.fingerprint != c.fingerprint
