from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.analysis.logreader import READ_CHUNK_BYTES
from hee_monitor.core.errors import ConfigError, SourceError
from hee_monitor.core.models import FailedRun
from hee_monitor.sources import SOURCES, source_class
from hee_monitor.sources.interface import InMemoryProcessedRuns, Skipped, Source
from hee_monitor.sources.local.source import LocalSource

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" errors="1">
  <testcase classname="tests.test_a" name="test_ok" time="0.1"/>
  <testcase classname="tests.test_a" name="test_bad" time="0.2">
    <failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2
E       assert 1 == 2</failure>
  </testcase>
  <testcase classname="tests.test_b" name="test_crash"><error message="ImportError: x"/></testcase>
</testsuite></testsuites>
"""


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "build.log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(50_000)) + b"##[error]boom\n")
    return path


def test_log_files_become_one_failed_run(log_file: Path) -> None:
    source = LocalSource([log_file])
    assert isinstance(source, Source)
    (run,) = list(source.poll())
    assert isinstance(run, FailedRun) and run.repo == "local" and run.conclusion == "failure"
    (job,) = run.jobs
    assert job.name == "build.log" and job.open_log is not None
    chunks = list(job.open_log())
    # streamed in bounded chunks, never read whole
    assert b"".join(chunks) == log_file.read_bytes()
    assert max(map(len, chunks)) <= READ_CHUNK_BYTES
    assert list(source.poll()) == []  # handed out once


def test_run_id_follows_the_content(log_file: Path) -> None:
    first = next(iter(LocalSource([log_file]).poll()))
    again = next(iter(LocalSource([log_file]).poll()))
    log_file.write_text("different\n")
    changed = next(iter(LocalSource([log_file]).poll()))
    assert isinstance(first, FailedRun) and isinstance(again, FailedRun)
    assert isinstance(changed, FailedRun)
    assert first.run_id == again.run_id != changed.run_id
    store = InMemoryProcessedRuns()
    list(LocalSource([log_file], state=store).poll())
    assert list(LocalSource([log_file], state=store).poll()) == []


def test_junit_failures_become_failed_steps(log_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    (run,) = list(LocalSource([log_file], junit=[report]).poll())
    assert isinstance(run, FailedRun)
    junit_job = run.jobs[1]
    assert junit_job.failed_steps == ("tests.test_a.test_bad", "tests.test_b.test_crash")
    assert junit_job.open_log is not None
    text = b"".join(junit_job.open_log()).decode()
    assert "FAILURE tests.test_a.test_bad: assert 1 == 2" in text
    assert "E       assert 1 == 2" in text and "ERROR tests.test_b.test_crash" in text


def test_broken_junit_is_skipped_and_logs_still_count(log_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text("<testsuite><testcase")
    items = list(LocalSource([log_file], junit=[report]).poll())
    assert isinstance(items[0], Skipped) and "junit.xml" in items[0].reason
    assert isinstance(items[1], FailedRun) and len(items[1].jobs) == 1


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.log: not a readable file") as caught:
        LocalSource([tmp_path / "missing.log"])
    assert caught.value.hint


def test_registry_names_every_source() -> None:
    assert set(SOURCES) == {"github", "local"}
    assert source_class("local") is LocalSource
    assert source_class("github").__name__ == "GitHubSource"
    with pytest.raises(ConfigError, match="unknown source kind"):
        source_class("svn")


def test_archives_and_compressed_logs_become_jobs(tmp_path: Path) -> None:
    import gzip
    import zipfile

    run_logs = tmp_path / "logs_7.zip"
    with zipfile.ZipFile(run_logs, "w") as archive:
        archive.writestr("0_build.txt", b"error: build broke\n")
        archive.writestr("1_test.txt", b"FAILED test_x\n")
    packed = tmp_path / "lint.log.gz"
    packed.write_bytes(gzip.compress(b"E501 line too long\n"))
    source = LocalSource([run_logs, packed])
    assert source.log_names == [f"{run_logs}!0_build.txt", f"{run_logs}!1_test.txt", str(packed)]
    (run,) = [item for item in source.poll() if isinstance(item, FailedRun)]
    assert [job.name for job in run.jobs] == [
        "logs_7.zip!0_build.txt",
        "logs_7.zip!1_test.txt",
        "lint.log.gz",
    ]
    texts = [b"".join(job.open_log()) for job in run.jobs if job.open_log is not None]
    assert texts == [b"error: build broke\n", b"FAILED test_x\n", b"E501 line too long\n"]
    assert len({job.job_id for job in run.jobs}) == 3


def test_a_damaged_archive_is_refused_when_the_source_is_made(tmp_path: Path) -> None:
    broken = tmp_path / "logs.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(SourceError, match="damaged zip archive"):
        LocalSource([broken])
