from __future__ import annotations

from pathlib import Path

from hee_monitor.analysis.dialects import first_failing, steps_of

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "logs" / "jenkins-maven-compile.log"


def test_the_error_at_the_end_belongs_to_the_last_command() -> None:
    dialect, steps = steps_of(EXAMPLE.read_bytes())
    failing = first_failing(steps)
    assert dialect == "jenkins" and failing is not None
    # "[Pipeline] sh" at line 8, its output up to the next [Pipeline] line; the exit
    # status is printed at line 19, after the pipeline ended
    assert (failing.start, failing.end, failing.name) == (8, 14, "Build: sh")
    assert (failing.exit_code, failing.exit_line) == (1, 19)


def test_a_passing_pipeline() -> None:
    log = (
        b"Started by user x\n[Pipeline] { (Test)\n[Pipeline] sh\n+ make\nok\n"
        b"[Pipeline] }\nFinished: SUCCESS\n"
    )
    dialect, steps = steps_of(log)
    assert dialect == "jenkins" and first_failing(steps) is None
    assert all(s.outcome == "success" for s in steps)
