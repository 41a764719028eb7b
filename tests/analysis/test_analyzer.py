from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.analyzer import (
    GENERIC_PRIORITY,
    MAX_EVIDENCE,
    Analyzer,
    fold_findings,
    survived_severity,
)
from hee_monitor.analysis.evidence import Occurrence
from hee_monitor.analysis.interface import FallbackResult, LogExcerpt
from hee_monitor.analysis.matcher import available_engines
from hee_monitor.analysis.patterns import PatternDatabase, load_database
from hee_monitor.core.errors import AnalysisError
from hee_monitor.core.models import Evidence, Finding, Owner, Severity
from tests.analysis.conftest import REFERENCE_LOGS, SAMPLE_PATTERNS

GO_LOG = """\
2022-04-13T15:05:00.0000000Z ##[group]Run go test ./...
2022-04-13T15:05:00.0000000Z \x1b[36;1mgo test ./... || echo "undefined: os"\x1b[0m
2022-04-13T15:05:00.0000000Z shell: /usr/bin/bash -e {0}
2022-04-13T15:05:00.0000000Z ##[endgroup]
2022-04-13T15:06:13.0756634Z # example.com/pkg [example.com/pkg.test]
2022-04-13T15:06:13.0832743Z ##[error]pkg/a_test.go:88:9: undefined: os
2022-04-13T15:06:13.0843579Z ##[error]pkg/a_test.go:91:3: undefined: os
2022-04-13T15:06:48.1389719Z FAIL\texample.com/pkg [build failed]
2022-04-13T15:06:49.0000000Z ##[error]Process completed with exit code 2.
"""


def ids(diagnosis: object) -> list[str]:
    return [f.pattern_id for f in diagnosis.failures]  # type: ignore[attr-defined]


def test_compile_error_beats_exit_code_and_evidence_points_at_lines(
    analyzer: Analyzer, sample_db: PatternDatabase
) -> None:
    diagnosis = analyzer.analyze_text(GO_LOG, "go.log")
    # the generic "exit code" summary is folded into the root cause, not listed
    assert ids(diagnosis) == ["TEST-GO-COMPILE"]
    root = diagnosis.failures[0]
    assert root.related == ("TEST-EXIT-CODE",)
    # context before 1, after 1 around lines 6 and 7, merged into one range
    assert [(e.start_line, e.end_line) for e in root.evidence] == [(5, 8)]
    assert root.evidence[0].text.splitlines()[1] == "##[error]pkg/a_test.go:88:9: undefined: os"
    assert root.owner is Owner.DEVELOPER and root.category == "compilation"
    assert root.details["step"] == "go test ./..."
    assert diagnosis.lines == 9
    assert 0 < root.confidence <= 1
    full = Analyzer(sample_db, all_findings=True).analyze_text(GO_LOG, "go.log")
    assert ids(full) == ["TEST-GO-COMPILE", "TEST-EXIT-CODE"]
    assert full.failures[0].related == ()
    assert root.confidence > full.failures[1].confidence


def test_step_header_lines_are_not_evidence(analyzer: Analyzer) -> None:
    """The echoed script of a step (##[group]Run … ##[endgroup]) mentions errors harmlessly."""
    header_only = "\n".join(GO_LOG.splitlines()[:4]) + "\n"
    assert analyzer.analyze_text(header_only).unexplained


def test_end_regex_bounds_multi_line_evidence(analyzer: Analyzer) -> None:
    log = (
        "ruff check .\nsrc/a.py:1:1: F401 unused\nsrc/b.py:2:1: E501 long\n"
        "noise\nFound 2 errors.\nafter\n"
    )
    root = analyzer.analyze_text(log).failures[0]
    assert root.pattern_id == "TEST-RUFF"
    assert (root.evidence[0].start_line, root.evidence[0].end_line) == (2, 5)
    assert root.evidence[0].text.endswith("Found 2 errors.")


def test_occurrences_are_capped_first_ones_first(analyzer: Analyzer) -> None:
    log = "".join(f"E   ModuleNotFoundError: No module named 'm{i}'\nok\n" for i in range(20))
    finding = analyzer.analyze_text(log).failures[0]
    assert [e.start_line for e in finding.evidence] == [1, 3, 5, 7, 9]


def test_exclude_and_ignore_case(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        """
patterns:
  - id: T-DISK
    title: Disk full
    category: resource
    severity: critical
    owner: DEVOPS
    risk: 1
    regex: no space left on device
    ignore_case: true
    exclude: 'grep'
    examples: ["No space left on device"]
""",
        encoding="utf-8",
    )
    analyzer = Analyzer(load_database([tmp_path], shipped=False))
    assert ids(analyzer.analyze_text("write: NO SPACE LEFT ON DEVICE\n")) == ["T-DISK"]
    assert analyzer.analyze_text("grep 'No space left on device' x\n").unexplained


def test_colour_codes_inside_whitespace_are_tolerated(analyzer: Analyzer) -> None:
    """``\\s`` in a regex also accepts colour codes around it (tools colour words)."""
    log = "ModuleNotFoundError:\x1b[0m\x1b[1m No module named 'x'\n"
    assert analyzer.analyze_text(log).unexplained  # literal space: not tolerated
    db = load_database([SAMPLE_PATTERNS], shipped=False)
    pattern = db.get("TEST-PY-MODULE-NOT-FOUND")
    assert pattern is not None
    from dataclasses import replace

    tolerant_db = PatternDatabase(
        [replace(pattern, regex=(r"ModuleNotFoundError:\s+No module named '[^']+'",))]
    )
    assert ids(Analyzer(tolerant_db).analyze_text(log)) == ["TEST-PY-MODULE-NOT-FOUND"]


def test_colour_codes_timestamps_and_crlf_do_not_hide_a_match(analyzer: Analyzer) -> None:
    log = (
        "\ufeff2024-01-01T00:00:00.1234567Z \x1b[31mFAILED tests/test_a.py::test_x - "
        "assert 1 == 2\x1b[0m\r\n2024-01-01T00:00:01.0000000Z done\r\n"
    )
    diagnosis = analyzer.analyze_text(log)
    assert ids(diagnosis) == ["TEST-PYTEST-FAILED"]
    assert diagnosis.failures[0].evidence[0] == Evidence(
        1, 1, "FAILED tests/test_a.py::test_x - assert 1 == 2"
    )


@settings(max_examples=25, deadline=None)
@given(
    before=st.integers(min_value=0, max_value=300),
    after=st.integers(min_value=0, max_value=50),
    split=st.integers(min_value=1, max_value=4096),
    crlf=st.booleans(),
    stamp=st.booleans(),
)
def test_evidence_line_is_the_original_line(
    analyzer: Analyzer, before: int, after: int, split: int, crlf: bool, stamp: bool
) -> None:
    eol = "\r\n" if crlf else "\n"
    prefix = "2024-05-05T10:00:00.0000000Z " if stamp else ""
    lines = [f"{prefix}\x1b[32mnoise {i}\x1b[0m" for i in range(before)]
    lines.append(f"{prefix}npm ERR! code E404")
    lines += [f"{prefix}tail {i}" for i in range(after)]
    data = (eol.join(lines) + eol).encode()
    chunks = [data[i : i + split] for i in range(0, len(data), split)]
    finding = analyzer.analyze_stream(chunks, "x").failures[0]
    assert finding.evidence[0].start_line == before + 1
    original = data.split(b"\n")[before].decode()
    assert "npm ERR! code E404" in original
    assert finding.evidence[0].text.splitlines()[0] == "npm ERR! code E404"


def test_blocks_boundaries_do_not_lose_context(sample_db: PatternDatabase) -> None:
    """Evidence context reaches into the next block (tiny blocks force the boundary)."""
    import hee_monitor.analysis.logreader as logreader

    log = "".join(f"line {i}\n" for i in range(1, 100)) + "npm ERR! code X\nnext 1\nnext 2\n"
    saved = logreader.BLOCK_BYTES
    try:
        logreader.BLOCK_BYTES = 64
        import hee_monitor.analysis.analyzer as analyzer_module

        original = analyzer_module.iter_raw_blocks
        analyzer_module.iter_raw_blocks = lambda chunks: original(chunks, 64)  # type: ignore[assignment]
        finding = Analyzer(sample_db).analyze_text(log).failures[0]
    finally:
        logreader.BLOCK_BYTES = saved
        analyzer_module.iter_raw_blocks = original  # type: ignore[assignment]
    assert finding.evidence[0] == Evidence(100, 102, "npm ERR! code X\nnext 1\nnext 2")


@pytest.mark.parametrize("engine", available_engines())
def test_every_engine_gives_the_same_diagnosis(sample_db: PatternDatabase, engine: str) -> None:
    """Contract test of the scanner port: each engine finds the same lines."""
    reference = Analyzer(sample_db, engine="re").analyze_text(GO_LOG + "npm ERR! x\n")
    got = Analyzer(sample_db, engine=engine).analyze_text(GO_LOG + "npm ERR! x\n")
    assert got.to_json() == reference.to_json()


def test_fallback_gets_a_bounded_excerpt_when_nothing_matched(sample_db: PatternDatabase) -> None:
    seen: list[LogExcerpt] = []

    class Recorder:
        def classify(self, excerpt: LogExcerpt) -> FallbackResult:
            seen.append(excerpt)
            finding = Finding(
                "LLM-GUESS",
                "Guessed",
                "unknown",
                Severity.MEDIUM,
                Owner.DEVOPS,
                1,
                False,
                0.5,
                None,
                "f" * 16,
                (Evidence(3, 3, excerpt.lines[-1].text),),
                source="llm:x",
            )
            return FallbackResult((finding,), note="classified by the local model")

    log = (
        "".join(f"ok {i}\n" for i in range(500))
        + "weird thing\n##[error]Process completed with exit code 3.\n"
    )
    diagnosis = Analyzer(sample_db.merged([]), fallback=Recorder()).analyze_text(
        log.replace(
            "##[error]Process completed with exit code 3.", "Process completed with exit code 3."
        )
    )
    assert seen and seen[0].total_lines == 502
    assert seen[0].lines[-1].number == 502 and len(seen[0].lines) <= 200
    # the model's answer leads; the pattern-free block of the failing step follows it
    assert ids(diagnosis) == ["LLM-GUESS", "GEN-FAILING-STEP"]
    assert diagnosis.failures[1].evidence[0].text == "weird thing"
    assert diagnosis.notes == ("classified by the local model",)


def test_fallback_not_called_for_an_explained_log(sample_db: PatternDatabase) -> None:
    class Boom:
        def classify(self, excerpt: LogExcerpt) -> FallbackResult:
            raise AssertionError("must not be called")

    assert ids(Analyzer(sample_db, fallback=Boom()).analyze_text(GO_LOG))[0] == "TEST-GO-COMPILE"


def test_fallback_still_asked_when_only_generic_findings_match(sample_db: PatternDatabase) -> None:
    """A log with only a generic finding in its failing step: the pattern-free block
    above it is the root cause, the generic finding folds into it, and the model is still
    asked."""
    asked: list[LogExcerpt] = []

    class Note:
        def classify(self, excerpt: LogExcerpt) -> FallbackResult:
            asked.append(excerpt)
            return FallbackResult((), note="model had no idea")

    log = "something odd\n##[error]Process completed with exit code 3.\n"
    diagnosis = Analyzer(sample_db, fallback=Note()).analyze_text(log)
    assert asked and ids(diagnosis) == ["GEN-FAILING-STEP"]
    root = diagnosis.failures[0]
    assert [(e.start_line, e.end_line) for e in root.evidence] == [(1, 1), (2, 2)]
    assert root.related == ("TEST-EXIT-CODE",) and diagnosis.notes == ("model had no idea",)


def test_fallback_reads_a_file_again(sample_db: PatternDatabase, tmp_path: Path) -> None:
    class Echo:
        def classify(self, excerpt: LogExcerpt) -> FallbackResult:
            return FallbackResult((), note=f"{len(excerpt.lines)} lines read")

    log = tmp_path / "x.log"
    log.write_bytes(b"\xef\xbb\xbfsomething odd failed\nend\n")
    diagnosis = Analyzer(sample_db, fallback=Echo()).analyze_path(log)
    assert diagnosis.unexplained and diagnosis.notes == ("2 lines read",)


# --- bad input -------------------------------------------------------------------------------


def test_empty_log(analyzer: Analyzer, tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    diagnosis = analyzer.analyze_path(empty)
    assert diagnosis.lines == 0 and diagnosis.unexplained


def test_binary_log(analyzer: Analyzer, tmp_path: Path) -> None:
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 400 + b"\nnpm ERR! in binary\n")
    diagnosis = analyzer.analyze_path(binary)
    assert ids(diagnosis) == ["TEST-NPM-ERR"]
    assert diagnosis.failures[0].evidence[0].start_line == binary.read_bytes().count(b"\n")


def test_ten_megabyte_single_line(analyzer: Analyzer, tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"npm ERR! " + b"x" * (10 * 1024 * 1024) + b"\nafter\n")
    diagnosis = analyzer.analyze_path(big)
    assert diagnosis.lines == 2
    evidence = diagnosis.failures[0].evidence[0]
    assert (evidence.start_line, evidence.end_line) == (1, 2)
    assert len(evidence.text) <= 64 * 1024 + 10


def test_missing_file_raises_analysis_error(analyzer: Analyzer, tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="cannot read log"):
        analyzer.analyze_path(tmp_path / "nope.log")


# --- reference logs ---------------------------------------------------------------------------


def _ref(name: str) -> Path:
    path = REFERENCE_LOGS / name
    if not path.exists():
        pytest.skip(f"reference log {name} not available")
    return path


def test_reference_go_compile_error_lines(analyzer: Analyzer) -> None:
    diagnosis = analyzer.analyze_path(_ref("02-go-compile-error.log"))
    assert diagnosis.lines == 748
    root = diagnosis.failures[0]
    assert root.pattern_id == "TEST-GO-COMPILE"
    # the first five annotations (639-643) with one line of context each side, merged
    assert (root.evidence[0].start_line, root.evidence[0].end_line) == (638, 644)
    assert "credentials_test.go:88:9: undefined: os" in root.evidence[0].text
    assert "TEST-EXIT-CODE" in root.related
    full = Analyzer(analyzer.database, all_findings=True).analyze_path(
        _ref("02-go-compile-error.log")
    )
    exit_finding = full.failures[-1]
    assert exit_finding.pattern_id == "TEST-EXIT-CODE"
    assert exit_finding.evidence[0].start_line == 738


def test_reference_pytest_missing_module_with_bom(analyzer: Analyzer) -> None:
    diagnosis = analyzer.analyze_path(_ref("11-pytest-collection-errors-missing-modules.log"))
    root = diagnosis.failures[0]
    assert root.pattern_id == "TEST-PY-MODULE-NOT-FOUND"
    assert root.evidence[0].start_line == 603
    assert root.owner is Owner.DEVOPS


def test_reference_network_timeout_is_transient(analyzer: Analyzer) -> None:
    diagnosis = analyzer.analyze_path(_ref("05-network-tls-handshake-timeout.log"))
    root = diagnosis.failures[0]
    assert root.pattern_id == "TEST-NET-TIMEOUT" and root.transient
    assert root.evidence[0].start_line == 195


def test_reference_cancellation(analyzer: Analyzer) -> None:
    diagnosis = analyzer.analyze_path(_ref("14-cancelled-operation-canceled.EXCERPT.log"))
    assert diagnosis.failures[0].pattern_id == "TEST-CANCELLED"
    assert diagnosis.failures[0].evidence[0].start_line == 714


def test_json_is_serialisable(analyzer: Analyzer) -> None:
    data = analyzer.analyze_text(GO_LOG, "go.log").to_json()
    assert json.loads(json.dumps(data))["failures"][0]["evidence"][0]["start_line"] == 5


def test_from_default_database_adds_extra_dirs(monkeypatch: pytest.MonkeyPatch) -> None:
    import hee_monitor.analysis.patterns as patterns_module

    # without the shipped patterns: compiling them is tested elsewhere and takes seconds
    monkeypatch.setattr(patterns_module, "shipped_dir", lambda: None)
    analyzer = Analyzer.from_default_database([SAMPLE_PATTERNS])
    assert len(analyzer.database) == len(load_database([SAMPLE_PATTERNS], shipped=False))
    assert analyzer.database.get("TEST-RUFF") is not None


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "logs").glob("*.log"))


@pytest.mark.parametrize("log", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_logs_are_explained_by_the_shipped_database(log: Path) -> None:
    analyzer = Analyzer.from_default_database()
    diagnosis = analyzer.analyze_path(log)
    assert diagnosis.lines == log.read_bytes().count(b"\n")
    if len(analyzer.database) == 0:
        pytest.skip("no shipped patterns in this checkout")
    assert not diagnosis.unexplained, f"{log.name} is not explained"
    for finding in diagnosis.failures:
        for ev in finding.evidence:
            assert 1 <= ev.start_line <= ev.end_line <= diagnosis.lines


# --- folding ----------------------------------------------------------------------------


def _ranked(pid: str, lines: tuple[int, int], *, transient: bool = False) -> Finding:
    start, stop = lines
    return Finding(
        pattern_id=pid,
        title=pid,
        category="test",
        severity=Severity.MEDIUM,
        owner=Owner.DEVELOPER,
        risk=1,
        transient=transient,
        confidence=0.5,
        fix_strategy=None,
        fingerprint=pid,
        evidence=(Evidence(start, stop, "x"),),
    )


def test_fold_generic_into_first_specific_and_collapse_covered_evidence() -> None:
    ranked = [
        (_ranked("EXIT", (50, 50)), 5),  # generic, ranked first (step bonus)
        (_ranked("PYTEST-SUMMARY", (40, 42)), 70),
        (_ranked("ASSERT", (10, 12)), 60),
        (_ranked("PAT-002", (41, 41)), 35),  # same line as the summary: covered
        (_ranked("SPLIT", (12, 40)), 50),  # partly new lines: kept
        (_ranked("BUILD-FAILURE", (60, 60)), 10),
    ]
    out = fold_findings(ranked)
    assert [f.pattern_id for f in out] == ["PYTEST-SUMMARY", "ASSERT", "SPLIT"]
    assert out[0].related == ("EXIT", "PAT-002", "BUILD-FAILURE")
    assert out[1].related == () and out[2].related == ()


def test_fold_keeps_transient_and_only_generic_findings() -> None:
    transient = _ranked("RUNNER-LOST", (50, 50), transient=True)
    out = fold_findings([(_ranked("COMPILE", (10, 10)), 80), (transient, 20)])
    assert [f.pattern_id for f in out] == ["COMPILE", "RUNNER-LOST"]
    covered = _ranked("NET-TIMEOUT", (10, 10), transient=True)
    out = fold_findings([(_ranked("COMPILE", (10, 10)), 80), (covered, 60)])
    assert [f.pattern_id for f in out] == ["COMPILE", "NET-TIMEOUT"]
    generic = [(_ranked("EXIT", (9, 9)), 5), (_ranked("MAKE", (9, 9)), 15)]
    assert fold_findings(generic) == [f for f, _ in generic]
    assert fold_findings([]) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.integers(0, 4), st.integers(0, 100), st.booleans()),
        max_size=8,
    )
)
def test_folding_loses_no_pattern_and_keeps_the_ranking(
    specs: list[tuple[int, int, int, bool]],
) -> None:
    ranked = [
        (_ranked(f"P{n}", (start, start + length), transient=transient), priority)
        for n, (start, length, priority, transient) in enumerate(specs)
    ]
    out = fold_findings(ranked)
    listed = [f.pattern_id for f in out]
    related = [r for f in out for r in f.related]
    # every finding is either listed or named by exactly one listed finding
    assert sorted(listed + related) == sorted(f.pattern_id for f, _ in ranked)
    order = [f.pattern_id for f, _ in ranked]
    assert listed == sorted(listed, key=order.index)
    assert bool(out) == bool(ranked)
    # transient findings are always listed; with a specific finding, no generic one is
    assert {f.pattern_id for f, _ in ranked if f.transient} <= set(listed)
    if any(priority > GENERIC_PRIORITY for _, priority in ranked):
        first = next(f for f, p in ranked if p > GENERIC_PRIORITY)
        assert first.pattern_id in listed
        assert all(p > GENERIC_PRIORITY or f.transient for f, p in ranked if f.pattern_id in listed)


# --- findings a passing build shows ---------------------------------------------------------

ESC = "\x1b"


def _travis(*commands: tuple[str, list[str], str | None]) -> str:
    """A Travis log: each command as (command, output lines, status line or None). Travis
    prints 'The command "…" exited with N.' after script commands; install commands that
    succeed print nothing."""
    out = ["travis_fold:start:worker_info\r" + ESC + "[0KWorker information", "hostname: w-7"]
    out.append("travis_fold:end:worker_info\r" + ESC + "[0K")
    for n, (command, output, status) in enumerate(commands):
        out.append(f"travis_time:start:0a{n:02d}\r{ESC}[0K$ {command}")
        out.extend(output)
        end = f"travis_time:end:0a{n:02d}:start=1,finish=2,duration=1\r{ESC}[0K"
        out.append(end + (f"{ESC}[31;1m{status}{ESC}[0m" if status else ""))
    return "\n".join(out) + "\n"


def _finding(analyzer: Analyzer, log: str, pattern_id: str) -> Finding:
    diagnosis = analyzer.analyze_text(log)
    return next(f for f in diagnosis.failures if f.pattern_id == pattern_id)


PIP_PROBE = [
    "Traceback (most recent call last):",
    '  File "<string>", line 1, in <module>',
    "ModuleNotFoundError: No module named 'lxml'",
]


def test_a_command_that_exited_with_0_lowers_its_findings(analyzer: Analyzer) -> None:
    """`python -c 'import lxml' || pip install lxml`: the probe fails, the build goes on."""
    log = _travis(
        (
            "python -c 'import lxml' || pip install lxml",
            [*PIP_PROBE, "Collecting lxml", "Successfully installed lxml-5.2.1"],
            "The command \"python -c 'import lxml' || pip install lxml\" exited with 0.",
        ),
        ("pytest -q", ["12 passed in 0.41s"], 'The command "pytest -q" exited with 0.'),
    )
    finding = _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.severity is Severity.MEDIUM
    assert finding.details["step_succeeded"] is True


def test_a_command_that_failed_keeps_the_pattern_severity(analyzer: Analyzer) -> None:
    log = _travis(
        ("python -m app.check", PIP_PROBE, 'The command "python -m app.check" exited with 1.'),
        ("echo done", ["done"], 'The command "echo done" exited with 0.'),
    )
    finding = _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.severity is Severity.HIGH
    assert "step_succeeded" not in finding.details


def test_a_multi_line_command_reports_its_exit_status_on_a_later_line(
    analyzer: Analyzer,
) -> None:
    """Travis quotes a multi-line script whole: 'exited with 1.' ends a later line."""
    log = "\r\n".join(
        [
            f'travis_time:start:0b01\r{ESC}[0K$ bash -c "',
            "  python -m app.check",
            '"',
            *PIP_PROBE,
            f"travis_time:end:0b01:start=1,finish=2,duration=1\r{ESC}[0K{ESC}[31;1m"
            'The command "bash -c "',
            "  python -m app.check",
            f'" exited with 1.{ESC}[0m',
            f"travis_time:start:0b02\r{ESC}[0K$ echo next",
            "next",
            "",
        ]
    )
    finding = _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.severity is Severity.HIGH


def test_an_install_command_followed_by_the_next_one_succeeded(analyzer: Analyzer) -> None:
    """Install commands that succeed print no status: the next command starting says so,
    unless Travis reported "failed and exited with" first."""
    ok = _travis(
        ("./ci/bootstrap.sh", PIP_PROBE, None),
        ("pip install -e .", ["Successfully installed app-0.1"], None),
    )
    assert _finding(analyzer, ok, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.MEDIUM
    failed = _travis(
        (
            "./ci/bootstrap.sh",
            PIP_PROBE,
            'The command "./ci/bootstrap.sh" failed and exited with 1 during install.',
        ),
        ("cache store", ["nothing changed"], None),
    )
    assert _finding(analyzer, failed, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.HIGH


def test_a_log_that_ends_inside_the_command_keeps_the_severity(analyzer: Analyzer) -> None:
    """A cut or still-running log: nothing says the command ended well."""
    log = _travis(("./ci/bootstrap.sh", PIP_PROBE, None))
    log = log[: log.rindex("travis_time:end")]
    assert _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.HIGH


def test_a_travis_retry_that_succeeded_is_lowered(analyzer: Analyzer) -> None:
    log = _travis(
        (
            "travis_retry ./ci/fetch-fixtures.sh",
            [
                *PIP_PROBE,
                f"{ESC}[31;1mThe command "
                f'"./ci/fetch-fixtures.sh" failed. Retrying, 2 of 3.{ESC}[0m',
                "fixtures: 14 files",
            ],
            None,
        ),
        ("make test", ["ok"], 'The command "make test" exited with 0.'),
    )
    assert _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.MEDIUM


GHA_TWO_STEPS = """\
2024-03-02T10:00:00.0000000Z ##[group]Run python tools/optional_plugins.py
2024-03-02T10:00:00.0000000Z python tools/optional_plugins.py
2024-03-02T10:00:00.0000000Z shell: /usr/bin/bash -e {{0}}
2024-03-02T10:00:00.0000000Z ##[endgroup]
2024-03-02T10:00:01.0000000Z ModuleNotFoundError: No module named 'uvloop'
2024-03-02T10:00:01.0000000Z optional plugin uvloop skipped
{between}2024-03-02T10:00:02.0000000Z ##[group]Run pytest -q
2024-03-02T10:00:02.0000000Z pytest -q
2024-03-02T10:00:02.0000000Z ##[endgroup]
2024-03-02T10:00:09.0000000Z 31 passed in 6.20s
2024-03-02T10:00:09.5000000Z Post job cleanup.
2024-03-02T10:00:09.6000000Z Cleaning up orphan processes
"""


def test_github_actions_step_followed_by_the_next_step(analyzer: Analyzer) -> None:
    ok = GHA_TWO_STEPS.format(between="")
    finding = _finding(analyzer, ok, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.severity is Severity.MEDIUM and finding.details["step_succeeded"]
    # continue-on-error: the step failed (the job went on, but the log says it failed)
    failed = GHA_TWO_STEPS.format(
        between="2024-03-02T10:00:01.5000000Z ##[error]Process completed with exit code 1.\n"
    )
    assert _finding(analyzer, failed, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.HIGH


def test_github_actions_last_step_ends_with_the_job_cleanup(analyzer: Analyzer) -> None:
    """The last step is closed by "Post job cleanup."; a log cut before it is not."""
    log = GHA_TWO_STEPS.format(between="").replace("31 passed in 6.20s", PIP_PROBE[2])
    finding = _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.details["occurrences"] == 2 and finding.severity is Severity.MEDIUM
    cut = log[: log.index("2024-03-02T10:00:09.5")]
    assert _finding(analyzer, cut, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.HIGH


def test_a_finding_with_all_its_evidence_kept_keeps_its_severity(analyzer: Analyzer) -> None:
    """After MAX_EVIDENCE occurrences later ones are not looked at: they may lie in the
    failed step, so the severity stays."""
    lines = [f"ModuleNotFoundError: No module named 'mod{n}'" for n in range(MAX_EVIDENCE)]
    log = GHA_TWO_STEPS.format(between="").replace(
        PIP_PROBE[2].replace("lxml", "uvloop"), "\n".join(lines)
    )
    assert _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.HIGH


def test_warning_lines_are_at_most_medium(analyzer: Analyzer) -> None:
    for line in (
        "##[warning]ModuleNotFoundError: No module named 'uvloop' (falling back to asyncio)",
        "warning: ModuleNotFoundError: No module named 'orjson'; using json",
        "[WARNING] ModuleNotFoundError: No module named 'ujson'",
    ):
        finding = _finding(analyzer, line + "\n", "TEST-PY-MODULE-NOT-FOUND")
        assert finding.severity is Severity.MEDIUM, line
        assert "step_succeeded" not in finding.details
    # one plain occurrence is enough to keep the pattern's severity
    mixed = f"{line}\nModuleNotFoundError: No module named 'ujson'\n"
    assert _finding(analyzer, mixed, "TEST-PY-MODULE-NOT-FOUND").severity is Severity.HIGH


def test_lines_of_passing_tests_are_never_evidence(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        """
patterns:
  - id: T-TOKEN
    title: Token expired
    category: auth
    severity: high
    owner: DEVOPS
    risk: 1
    regex: 'token[ _-]?(has[ _-]?)?expired'
    ignore_case: true
    examples: ["Error: token expired"]
""",
        encoding="utf-8",
    )
    analyzer = Analyzer(load_database([tmp_path], shipped=False))
    passing = [
        "        ✓ rejects a request when the token has expired (25ms)",
        "  ✔ refreshes when token expired",
        "ok 7 - returns 401 when token expired",
        "--- PASS: TestTokenExpired (0.00s)",
        "=== RUN   TestRefresh/token_has_expired",
        "[       OK ] Session.TokenExpired (0 ms)",
        "    [+] reports that the token has expired 31ms",
        "  Passed Session_WhenTokenExpired_Refreshes [4 ms]",
        "tests/test_session.py::test_token_expired_is_refreshed PASSED          [ 40%]",
        "test_token_expired (tests.test_session.SessionTest) ... ok",
        "PASS src/token-expired.test.ts",
    ]
    regex = re.compile(r"token[ _-]?(has[ _-]?)?expired", re.IGNORECASE)
    assert all(regex.search(line) for line in passing)
    assert analyzer.analyze_text("\n".join(passing) + "\n").unexplained
    failing = "  ✕ rejects a request when the token has expired (25ms)\nError: token expired\n"
    assert analyzer.analyze_text(failing).failures[0].details["occurrences"] == 2


@given(
    st.sampled_from(list(Severity)),
    st.lists(st.booleans(), max_size=MAX_EVIDENCE + 1),
    st.booleans(),
)
def test_survived_severity_never_raises_and_caps_at_medium(
    severity: Severity, warnings: list[bool], succeeded: bool
) -> None:
    occurrences = [Occurrence(n, "x", None, 0, w) for n, w in enumerate(warnings)]
    out = survived_severity(severity, occurrences, succeeded)
    assert out.rank <= severity.rank
    lowered = succeeded or (bool(warnings) and all(warnings) and len(warnings) < MAX_EVIDENCE)
    assert out is (min(severity, Severity.MEDIUM, key=lambda s: s.rank) if lowered else severity)


def test_shell_traces_of_echo_and_grep_are_not_evidence(analyzer: Analyzer) -> None:
    log = (
        "+ grep -q \"ModuleNotFoundError: No module named 'yaml'\" build.log\n"
        "$ echo \"ModuleNotFoundError: No module named 'yaml' is handled\"\n"
        "++ printf '%s\\n' \"ModuleNotFoundError: No module named 'x'\"\n"
    )
    assert analyzer.analyze_text(log).unexplained
    # the command's output is output
    printed = log + "ModuleNotFoundError: No module named 'x'\n"
    assert ids(analyzer.analyze_text(printed)) == ["TEST-PY-MODULE-NOT-FOUND"]


def test_passing_build_examples_get_no_high_finding() -> None:
    """examples/logs/passing: logs of passing builds with retries, fallbacks, warnings and
    test names full of error words. The shipped database gives none of them a critical or
    high finding (before lowering, several patterns would: see the step_succeeded flag)."""
    analyzer = Analyzer.from_default_database(all_findings=True)
    logs = sorted((Path(__file__).resolve().parents[2] / "examples/logs/passing").glob("*.log"))
    assert len(logs) >= 10
    lowered = 0
    for log in logs:
        for finding in analyzer.analyze_path(log).failures:
            assert not finding.severity.at_least(Severity.HIGH), (log.name, finding.pattern_id)
            shipped = analyzer.database.get(finding.pattern_id)
            assert shipped is not None
            lowered += shipped.severity.at_least(Severity.HIGH)
    assert lowered >= 2


def test_a_finding_of_a_command_that_ended_well_ranks_below_the_failed_one(
    analyzer: Analyzer,
) -> None:
    """A download that timed out once and was retried ranks below the failing test run
    (network errors would otherwise outrank test failures)."""
    log = _travis(
        (
            "travis_retry pip download -d wheels -r requirements.txt",
            [
                "ERROR: connection timed out while fetching https://pypi.org/simple/attrs/",
                f'{ESC}[31;1mThe command "pip download -d wheels -r requirements.txt" failed. '
                f"Retrying, 2 of 3.{ESC}[0m",
                "Saved ./wheels/attrs-23.2.0-py3-none-any.whl",
            ],
            None,
        ),
        (
            "python -m pytest -q",
            ["FAILED tests/test_totals.py::test_rounding - assert 3 == 4", "1 failed, 9 passed"],
            'The command "python -m pytest -q" exited with 1.',
        ),
    )
    diagnosis = Analyzer(analyzer.database, all_findings=True).analyze_text(log)
    assert ids(diagnosis) == ["TEST-PYTEST-FAILED", "TEST-NET-TIMEOUT"]
    network = diagnosis.failures[1]
    assert network.details["step_succeeded"] is True
    assert network.confidence < diagnosis.failures[0].confidence
    # the same timeout in a command that failed keeps its rank (priority 75 over 70)
    failed = log.replace("Retrying, 2 of 3.", 'Retrying, 2 of 3.\nThe command "x" exited with 1.')
    assert ids(Analyzer(analyzer.database, all_findings=True).analyze_text(failed))[0] == (
        "TEST-NET-TIMEOUT"
    )


JENKINS_CAUGHT = """\
Started by timer
[Pipeline] Start of Pipeline
[Pipeline] node
Running on agent-linux-2 in /var/lib/jenkins/workspace/reports
[Pipeline] {
[Pipeline] stage
[Pipeline] { (Optional plugins)
[Pipeline] catchError
[Pipeline] {
[Pipeline] sh
+ python -m reports.plugins.check
ModuleNotFoundError: No module named 'weasyprint'
[Pipeline] }
ERROR: script returned exit code 1
[Pipeline] // catchError
[Pipeline] }
[Pipeline] // stage
[Pipeline] }
[Pipeline] End of Pipeline
Finished: VERDICT
"""


@pytest.mark.parametrize(
    ("log", "severity"),
    [
        (JENKINS_CAUGHT.replace("VERDICT", "SUCCESS"), Severity.MEDIUM),
        (JENKINS_CAUGHT.replace("VERDICT", "UNSTABLE"), Severity.HIGH),
        (JENKINS_CAUGHT.replace("VERDICT", "FAILURE"), Severity.HIGH),
        (
            "$ pip install -r requirements.txt\n"
            "ModuleNotFoundError: No module named 'setuptools_scm'\n"
            "\x1b[32;1mJob succeeded\x1b[0;m\n",
            Severity.MEDIUM,
        ),
        (
            "ModuleNotFoundError: No module named 'setuptools_scm'\n"
            "\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n",
            Severity.HIGH,
        ),
        (
            _travis(("make docs", PIP_PROBE, 'The command "make docs" exited with 1.'))
            + "\r\nDone. Your build exited with 1.\r\n",
            Severity.HIGH,
        ),
    ],
)
def test_the_build_verdict_at_the_end_of_the_log(
    analyzer: Analyzer, log: str, severity: Severity
) -> None:
    """A log that ends saying the build passed (Jenkins catchError, GitLab) shows nothing
    that failed it: every finding is at most medium, however many occurrences it has."""
    finding = _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.severity is severity
    assert finding.details.get("step_succeeded", False) is (severity is Severity.MEDIUM)


def test_a_passing_build_lowers_findings_that_kept_all_their_occurrences(
    analyzer: Analyzer,
) -> None:
    lines = [f"ModuleNotFoundError: No module named 'mod{n}'" for n in range(MAX_EVIDENCE + 2)]
    log = JENKINS_CAUGHT.replace("VERDICT", "SUCCESS").replace(
        "ModuleNotFoundError: No module named 'weasyprint'", "\n".join(lines)
    )
    finding = _finding(analyzer, log, "TEST-PY-MODULE-NOT-FOUND")
    assert finding.details["occurrences"] == MAX_EVIDENCE
    assert finding.severity is Severity.MEDIUM


_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"
_TIMESTAMPED = [
    p
    for p in sorted(_EXAMPLES.glob("*.log"))
    if re.match(rb"(\xef\xbb\xbf)?\d{4}-", p.read_bytes())
]


def _as_gh_cli(data: bytes, job: str = "build / test (3.11)") -> bytes:
    """What ``gh run view --log`` prints: job and step names, tab-separated, before each
    line (the step changes at each ``##[group]Run``)."""
    out = []
    step = "Set up job"
    for line in data.split(b"\n")[:-1]:
        m = re.search(rb"##\[group\]Run (.*)", line)
        if m:
            step = m.group(1).decode()[:60]
        out.append(f"{job}\t{step}\t".encode() + line)
    return b"\n".join(out) + b"\n"


@pytest.mark.parametrize("engine", available_engines())
@pytest.mark.parametrize("log", _TIMESTAMPED, ids=lambda p: p.name)
def test_gh_run_view_output_gives_the_diagnosis_of_the_raw_log(
    log: Path, engine: str, tmp_path: Path
) -> None:
    database = load_database()
    raw = Analyzer(database, engine=engine).analyze_path(log)
    cli = tmp_path / "gh.log"
    cli.write_bytes(_as_gh_cli(log.read_bytes()))
    via_gh = Analyzer(database, engine=engine).analyze_path(cli)
    assert raw.failures, log.name
    assert [(f.pattern_id, f.severity, f.evidence) for f in via_gh.failures] == [
        (f.pattern_id, f.severity, f.evidence) for f in raw.failures
    ]
