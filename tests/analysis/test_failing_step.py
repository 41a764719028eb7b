"""The pattern-free fallback and the normalisation it relies on, through the analyzer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.analyzer import FAILING_STEP_ID, Analyzer
from hee_monitor.analysis.failing_step import candidates, wording
from hee_monitor.core.models import Severity

TRAVIS = (
    "travis_fold:start:worker_info\r\x1b[0KWorker information\n"
    "travis_fold:end:worker_info\r\x1b[0K"
    "travis_time:start:0a1b2c3d\r\x1b[0K$ ./check.sh\n"
    "checking 1\nchecking 2\nchecking 3\n"
    "src/app.c needs reformatting\n"
    "-int x=1;\n"
    "+int x = 1;\n"
    "checking 4\n"
    "travis_time:end:0a1b2c3d:start=1,finish=2,duration=1\r\x1b[0K"
    '\x1b[31;1mThe command "./check.sh" exited with 1.\x1b[0m\n'
    "\nDone. Your build exited with 1.\n"
)


def test_a_failure_no_pattern_knows_is_found_in_the_failing_step(analyzer: Analyzer) -> None:
    diagnosis = analyzer.analyze_text(TRAVIS)
    root = diagnosis.root_cause
    assert root is not None and root.pattern_id == FAILING_STEP_ID
    block, exit_line = root.evidence
    assert (block.start_line, block.end_line) == (6, 8)
    assert block.text.splitlines()[0] == "src/app.c needs reformatting"
    assert exit_line.start_line == 10 and "exited with 1" in exit_line.text
    assert root.severity is Severity.HIGH and root.owner is None and root.fix_strategy is None
    assert root.details["step"] == "./check.sh" and root.details["exit_code"] == 1


def test_no_fallback_when_every_step_succeeded(analyzer: Analyzer) -> None:
    green = TRAVIS.replace("exited with 1.", "exited with 0.").replace(
        "build exited with 1", "build exited with 0"
    )
    assert FAILING_STEP_ID not in [f.pattern_id for f in analyzer.analyze_text(green).failures]


_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=40
).map(lambda t: t.replace("\n", " "))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_LINE, min_size=1, max_size=30),
    st.lists(
        st.sampled_from(["error: boom", "FAILED test_x", "Traceback", "warning: x"]), max_size=5
    ),
)
def test_the_fallback_never_raises_severity_on_a_green_log(
    analyzer: Analyzer, output: list[str], noise: list[str]
) -> None:
    """A log whose steps all succeeded gains no critical or high finding from the
    fallback, whatever its output says."""
    body = "".join(f"{line}\n" for line in [*output, *noise])
    log = (
        "travis_time:start:0a1b2c3d\r\x1b[0K$ make\n"
        + body
        + 'The command "make" exited with 0.\n'
        + "travis_time:start:1a1b2c3d\r\x1b[0K$ make lint\n"
        + body
        + 'The command "make lint" exited with 0.\n\nDone. Your build exited with 0.\n'
    )
    for finding in analyzer.analyze_text(log).failures:
        assert finding.pattern_id != FAILING_STEP_ID
        assert not finding.severity.at_least(Severity.HIGH)


_ESCAPES = st.sampled_from(
    ["\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x1b]0;title\x07", "\x1b[2K", "\x1b(B", ""]
)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=20),
    st.lists(_ESCAPES, min_size=4, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_normalisation_never_moves_evidence_line_numbers(
    analyzer: Analyzer, before: int, escapes: list[str], stamp: bool, redraw: bool
) -> None:
    """Escapes, timestamps and carriage-return redraws in the raw log change what is
    matched, never the line numbers evidence points at."""
    prefix = "2024-05-01T10:00:00.1234567Z " if stamp else ""
    lines = [f"{prefix}noise {i}" for i in range(before)]
    spinner = "progress 10%\r" if redraw else ""
    error = f"{prefix}{spinner}{escapes[0]}error{escapes[1]}: undefined reference to `main'"
    lines.append(error + escapes[2])
    lines.append(f"{prefix}{escapes[3]}collect2: ld returned 1 exit status")
    lines.append(f"{prefix}##[error]Process completed with exit code 1.")
    diagnosis = analyzer.analyze_text("\n".join(lines) + "\n")
    root = diagnosis.root_cause
    assert root is not None
    numbers = {n for e in root.evidence for n in range(e.start_line, e.end_line + 1)}
    assert before + 1 in numbers
    first = root.evidence[0]
    assert first.text.splitlines()[first.start_line and before + 1 - first.start_line] == (
        "error: undefined reference to `main'"
    )


def test_wording_and_candidates_rank_the_message_above_the_exit() -> None:
    assert wording("Error: boom") > 0 > wording("ok 3 - passed")
    lines = [(n, "progress line") for n in range(1, 40)] + [(40, "Could not find file x.h")]
    best = candidates(lines, anchor=41)[0]
    assert (best.start, best.line) == (40, 40) and best.worded
    # a message also seen in passing output is noise
    seen = candidates(lines, anchor=41, noise={"Could not find file x.h"})[0]
    assert seen.score < best.score / 5
