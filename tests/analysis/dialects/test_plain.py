from __future__ import annotations

from hee_monitor.analysis.dialects import DIALECTS, detect, first_failing, steps_of


def test_one_step_the_whole_log() -> None:
    dialect, steps = steps_of(b"compiling\nboom\nCommand exited with non-zero status 2\n")
    assert dialect == "plain"
    failing = first_failing(steps)
    assert failing is not None and (failing.start, failing.end, failing.exit_code) == (1, 3, 2)


def test_a_log_without_outcome_is_unknown() -> None:
    _, steps = steps_of(b"just some output\n")
    assert [s.outcome for s in steps] == ["unknown"]


def test_registry_detection_order() -> None:
    assert list(DIALECTS) == ["travis", "gitlab", "actions", "jenkins", "plain"]
    assert detect(b"travis_fold:start:x\n").name == "travis"
    assert detect(b"Started by an SCM change\n").name == "jenkins"
    assert detect(b"hello\n").name == "plain"
