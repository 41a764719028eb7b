from __future__ import annotations

from hee_monitor.analysis.dialects import first_failing, steps_of
from tests.analysis.dialects.conftest import shared_log

LOG = b"""\xef\xbb\xbf2024-01-01T00:00:00.0000000Z Current runner version: '2.300.0'
2024-01-01T00:00:01.0000000Z ##[group]Run actions/checkout@v4
2024-01-01T00:00:01.0000000Z with:
2024-01-01T00:00:01.0000000Z ##[endgroup]
2024-01-01T00:00:02.0000000Z Syncing repository
2024-01-01T00:00:03.0000000Z ##[group]Run pytest -q
2024-01-01T00:00:03.0000000Z \x1b[36;1mpytest -q\x1b[0m
2024-01-01T00:00:03.0000000Z ##[endgroup]
2024-01-01T00:00:04.0000000Z E   assert 1 == 2
2024-01-01T00:00:05.0000000Z ##[error]Process completed with exit code 1.
2024-01-01T00:00:06.0000000Z Post job cleanup.
2024-01-01T00:00:07.0000000Z Cleaning up orphan processes
"""


def test_steps_headers_and_the_failing_step() -> None:
    dialect, steps = steps_of(LOG)
    assert dialect == "actions"
    assert [(s.start, s.end, s.name, s.outcome) for s in steps] == [
        (1, 1, None, "success"),
        (2, 5, "actions/checkout@v4", "success"),
        (6, 10, "pytest -q", "failure"),
        (11, 11, "Post job cleanup", "success"),
        (12, 12, "Cleaning up orphan processes", "success"),
    ]
    failing = first_failing(steps)
    assert failing is not None
    assert (failing.body_start, failing.exit_code, failing.exit_line) == (9, 1, 10)


def test_the_api_step_list_names_a_failed_step_the_log_does_not() -> None:
    cut = LOG.replace(b"##[error]Process completed with exit code 1.", b"(log cut)")
    assert first_failing(steps_of(cut)[1]) is None
    failing = first_failing(steps_of(cut, failed_steps=["Run pytest -q"])[1])
    assert failing is not None and failing.start == 6


def test_real_go_test_failure_boundaries() -> None:
    dialect, steps = steps_of(shared_log("reference/actions-logs/01-go-test-failure.log"))
    failing = first_failing(steps)
    assert dialect == "actions" and failing is not None
    assert (failing.start, failing.exit_line, failing.exit_code) == (589, 735, 1)
    assert failing.name == "go test ./..."


def test_real_maven_failure_boundaries() -> None:
    log = shared_log("reference/actions-logs/13-maven-surefire-failures-after-dependency-bump.log")
    failing = first_failing(steps_of(log)[1])
    assert failing is not None and (failing.start, failing.exit_line) == (894, 1915)


def test_real_last_green_log_has_no_failing_step() -> None:
    log = shared_log("reference/actions-logs/last-green/01-go-test-failure.pass.log")
    _, steps = steps_of(log)
    assert len(steps) > 3 and all(s.outcome == "success" for s in steps)
