from __future__ import annotations

from hee_monitor.analysis.dialects import first_failing, steps_of
from tests.analysis.dialects.conftest import shared_log

LOG = (
    b"travis_fold:start:worker_info\r\x1b[0K\x1b[33;1mWorker information\x1b[0m\n"
    b"hostname: x\n"
    b"travis_fold:end:worker_info\r\x1b[0K"
    b"travis_time:start:0a1b2c3d\r\x1b[0K$ curl -sSf https://example.org/x | sh\n"
    b"curl: (7) Failed to connect\n"
    b"travis_time:end:0a1b2c3d:start=1,finish=2,duration=1\r\x1b[0K"
    b"travis_time:start:1a1b2c3d\r\x1b[0K$ make test\n"
    b"FAIL: test_x\n"
    b"travis_time:end:1a1b2c3d:start=1,finish=2,duration=1\r\x1b[0K"
    b'\x1b[31;1mThe command "make test" exited with 2.\x1b[0m\n'
    b"travis_time:start:2a1b2c3d\r\x1b[0K$ make lint\n"
    b'The command "make lint" exited with 0.\n'
    b"\n"
    b"Done. Your build exited with 1.\n"
)


def test_commands_and_their_exit_status() -> None:
    dialect, steps = steps_of(LOG)
    assert dialect == "travis"
    assert [(s.start, s.end, s.name, s.outcome, s.exit_code) for s in steps] == [
        (1, 2, None, "success", None),
        (3, 4, "curl -sSf https://example.org/x | sh", "success", None),
        (5, 7, "make test", "failure", 2),
        (8, 11, "make lint", "success", 0),
    ]
    failing = first_failing(steps)
    assert failing is not None and failing.exit_line == 7


def test_a_stalled_build_fails_the_running_command() -> None:
    log = LOG.split(b"travis_time:start:1a1b")[0] + (
        b"travis_time:start:1a1b2c3d\r\x1b[0K$ make test\n"
        b"No output has been received in the last 10m0s, this potentially indicates "
        b"a stalled build.\n"
    )
    failing = first_failing(steps_of(log)[1])
    assert failing is not None and failing.name == "make test" and failing.exit_code is None


def test_real_rust_log_boundaries() -> None:
    log = shared_log("ci-logs/logchunks-dev/Rust_jwilm_alacritty__562114003.log")
    dialect, steps = steps_of(log)
    failing = first_failing(steps)
    assert dialect == "travis" and failing is not None
    assert (failing.start, failing.exit_line, failing.exit_code) == (458, 2586, 101)
    assert failing.name == "ci/script.sh"
