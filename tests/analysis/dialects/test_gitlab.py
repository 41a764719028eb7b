from __future__ import annotations

from hee_monitor.analysis.dialects import first_failing, steps_of

LOG = (
    b"Running with gitlab-runner 16.0.0\n"
    b"section_start:1700000000:prepare_executor\r\x1b[0KPreparing the executor\n"
    b"Using Docker executor\n"
    b"section_end:1700000001:prepare_executor\r\x1b[0K\n"
    b"section_start:1700000002:step_script\r\x1b[0KExecuting step_script\n"
    b"$ npm test\n"
    b"Error: expected 1 to equal 2\n"
    b"section_end:1700000003:step_script\r\x1b[0K\n"
    b"section_start:1700000004:after_script\r\x1b[0KRunning after_script\n"
    b"$ cat debug.log\n"
    b"section_end:1700000005:after_script\r\x1b[0K\n"
    b"\x1b[31;1mERROR: Job failed: exit code 1\n"
)


def test_the_script_section_fails_not_after_script() -> None:
    dialect, steps = steps_of(LOG)
    failing = first_failing(steps)
    assert dialect == "gitlab" and failing is not None
    assert (failing.name, failing.start, failing.end) == ("step_script", 5, 8)
    assert (failing.exit_code, failing.exit_line) == (1, 12)
    assert [s.name for s in steps if s.outcome == "success"] == [
        None,
        "prepare_executor",
        "after_script",
    ]


def test_job_succeeded_is_a_verdict() -> None:
    ok = LOG.replace(b"\x1b[31;1mERROR: Job failed: exit code 1", b"Job succeeded")
    _, steps = steps_of(ok)
    assert first_failing(steps) is None
