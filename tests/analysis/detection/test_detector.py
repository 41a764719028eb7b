from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hee_monitor.analysis.detection.detector import RunDetector
from hee_monitor.analysis.detection.durations import DurationStore
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import FailedRun, JobRecord
from hee_monitor.record.db import open_engine
from hee_monitor.sources.github.source import GitHubSource
from tests.fakes.github import GitHubFake, JobSpec

DATA = Path(__file__).resolve().parent / "data"
REPO = "octo/app"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        yield server


@pytest.fixture
def source(fake: GitHubFake, clock: FakeClock) -> Iterator[GitHubSource]:
    with GitHubSource(
        [REPO],
        token="t",
        api_url=fake.url,
        clock=clock,
        since=clock.now() - timedelta(days=30),
        write_interval=None,
    ) as s:
        yield s


def add_run(fake: GitHubFake, clock: FakeClock, conclusion: str, minutes: float) -> int:
    clock.advance(3600)
    steps = [("Set up job", "success"), ("Compile", conclusion)]
    jobs = [JobSpec("build", conclusion, steps), JobSpec("lint", "success")]
    run = fake.add_run(REPO, conclusion=conclusion, jobs=jobs)
    for job in run.current_jobs:
        job.completed_at = job.started_at + timedelta(minutes=minutes if job.name == "build" else 1)
    return run.id


def failed_run(source: GitHubSource) -> FailedRun:
    (run,) = [r for r in source.poll() if isinstance(r, FailedRun)]
    return run


def test_a_build_three_times_slower_than_its_history_is_flagged_with_its_kind(
    fake: GitHubFake, clock: FakeClock, source: GitHubSource, tmp_path: Path
) -> None:
    for minutes in (9.5, 10, 10.5, 10, 9.8, 10.2):
        add_run(fake, clock, "success", minutes)
    add_run(fake, clock, "failure", 30)
    durations = DurationStore(open_engine(f"sqlite:///{tmp_path}/a.db"))
    detector = RunDetector(DetectionSettings(), durations=durations, forge=source)
    run = failed_run(source)
    (record,) = detector.detect(run, [JobRecord(run.jobs[0], None, "log not available")])
    assert record.diagnosis is not None
    ids = [(f.pattern_id, f.details.get("reason")) for f in record.diagnosis.failures]
    assert ids == [("PAT-001", None), ("PAT-005", "slow")]
    assert record.diagnosis.failures[1].details["samples"] == 6
    # the failed run's successful lint job was learnt too; its failed build was not
    assert durations.history(REPO, "CI", "lint", limit=30) == [60.0] * 7
    assert 1800.0 not in durations.history(REPO, "CI", "build", limit=30)


def test_a_build_within_its_spread_gets_only_its_kind(
    fake: GitHubFake, clock: FakeClock, source: GitHubSource, tmp_path: Path
) -> None:
    for minutes in (9.5, 10, 10.5, 10, 9.8, 10.2):
        add_run(fake, clock, "success", minutes)
    add_run(fake, clock, "failure", 10.4)
    durations = DurationStore(open_engine(f"sqlite:///{tmp_path}/a.db"))
    detector = RunDetector(DetectionSettings(), durations=durations, forge=source)
    run = failed_run(source)
    (record,) = detector.detect(run, [JobRecord(run.jobs[0], None)])
    assert record.diagnosis is not None
    assert [f.pattern_id for f in record.diagnosis.failures] == ["PAT-001"]


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_report_artifacts_of_the_run_join_its_diagnosis(
    fake: GitHubFake, clock: FakeClock, source: GitHubSource
) -> None:
    run_id = add_run(fake, clock, "failure", 10)
    fake.add_artifact(
        run_id, "codeql-sarif", {"python.sarif": (DATA / "codeql.sarif").read_bytes()}
    )
    fake.add_artifact(
        run_id, "pip-audit-report", {"audit.json": (DATA / "pip-audit.json").read_bytes()}
    )
    fake.add_artifact(run_id, "security-broken", {"x.json": b"{not json"})
    fake.add_artifact(run_id, "coverage-html", {"index.html": b"<html/>"})
    detector = RunDetector(DetectionSettings(max_artifact_bytes=1_000_000), forge=source)
    run = failed_run(source)
    (record,) = detector.detect(run, [JobRecord(run.jobs[0], None)])
    assert record.diagnosis is not None
    sources = {f.source for f in record.diagnosis.failures}
    assert sources == {"metadata", "artifact"}
    packages = {f.details.get("package") for f in record.diagnosis.failures}
    assert {"flask", "requests"} <= packages
    rules = {f.details.get("rule_id") for f in record.diagnosis.failures}
    assert "py/sql-injection" in rules
    assert any(
        "security-broken:x.json skipped: not valid JSON" in n for n in record.diagnosis.notes
    )
    # only report-like artifacts are downloaded
    downloads = [r.path for r in fake.requests if r.path.endswith("/zip")]
    assert len(downloads) == 3


def test_an_artifact_over_the_cap_is_not_downloaded(
    fake: GitHubFake, clock: FakeClock, source: GitHubSource
) -> None:
    run_id = add_run(fake, clock, "failure", 10)
    fake.add_artifact(run_id, "sarif", {"big.sarif": b"{" + b" " * 50_000 + b"}"})
    detector = RunDetector(DetectionSettings(max_artifact_bytes=1024), forge=source)
    run = failed_run(source)
    (record,) = detector.detect(run, [JobRecord(run.jobs[0], None)])
    assert record.diagnosis is not None
    assert any("not downloaded" in note for note in record.diagnosis.notes)
    assert not [r for r in fake.requests if r.path.endswith("/zip")]


def test_github_trouble_is_a_note_not_a_lost_diagnosis(
    fake: GitHubFake, clock: FakeClock, source: GitHubSource, tmp_path: Path
) -> None:
    add_run(fake, clock, "failure", 10)
    run = failed_run(source)
    fake.forbid_repo(REPO)
    durations = DurationStore(open_engine(f"sqlite:///{tmp_path}/a.db"))
    detector = RunDetector(DetectionSettings(), durations=durations, forge=source)
    (record,) = detector.detect(run, [JobRecord(run.jobs[0], None)])
    assert record.diagnosis is not None
    assert record.diagnosis.root_cause is not None
    assert record.diagnosis.root_cause.pattern_id == "PAT-001"
    assert any("job history not updated" in n for n in record.diagnosis.notes)
    assert any("artifacts not read" in n for n in record.diagnosis.notes)


def test_history_is_backfilled_once_not_every_start(
    fake: GitHubFake, clock: FakeClock, source: GitHubSource, tmp_path: Path
) -> None:
    for minutes in (9.5, 10, 10.5, 10, 9.8, 10.2):
        add_run(fake, clock, "success", minutes)
    durations = DurationStore(open_engine(f"sqlite:///{tmp_path}/a.db"))
    assert (
        RunDetector(DetectionSettings(), durations=durations, forge=source).backfill(REPO, "CI")
        == 12
    )
    before = len(fake.requests)
    # the next process start: enough history is kept, GitHub is not asked again
    again = RunDetector(DetectionSettings(), durations=durations, forge=source)
    assert again.backfill(REPO, "CI") == 0
    assert len(fake.requests) == before
