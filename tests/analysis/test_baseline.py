"""Last-green baselines: loading them, and what they change in a diagnosis."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from hee_monitor.analysis.analyzer import Analyzer
from hee_monitor.analysis.baseline import Baseline, baseline_from_lines, load_baseline, merged
from hee_monitor.analysis.logreader import normalise_line
from hee_monitor.core.errors import AnalysisError

SETUP = [f"2024-01-01T00:00:0{n}.0000000Z Setting up tool {n}" for n in range(5)]


def _log(body: list[str], stamp: str = "2024-01-01T00:00:09.0000000Z ") -> str:
    lines = [
        *SETUP,
        f"{stamp}##[group]Run make check",
        f"{stamp}##[endgroup]",
        *(stamp + b for b in body),
    ]
    return "\n".join(lines) + "\n"


FAILING = _log(
    [
        "checking module 1 ... ok",
        "checking module 2 ... ok",
        "Error: schema check failed for config/app.yaml",
        "  field 'port' must be an integer",
        "  field 'host' is required",
        "see the schema in docs/config.md",
        "checking module 3 ... ok",
        "##[error]Process completed with exit code 1.",
    ]
)
PASSING = _log(["checking module 1 ... ok", "checking module 2 ... ok", "checking module 3 ... ok"])


def test_templates_mask_what_changes_between_runs() -> None:
    one = baseline_from_lines("a", ["took 12ms at /tmp/a/b.c", "", "id 3f9a2b1c0d"])
    two = baseline_from_lines("b", ["took 7ms at /var/x/y.c", "id 99aa00bbcc"])
    assert one.templates == two.templates and len(one.templates) == 2
    assert merged([]) is None
    both = merged([one, Baseline("c", frozenset({"x"}))])
    assert both is not None and both.name == "a, c" and "x" in both.templates


def test_load_reads_gzip_and_refuses_binary(tmp_path: Path) -> None:
    packed = tmp_path / "pass.log.gz"
    packed.write_bytes(gzip.compress(PASSING.encode()))
    assert "checking module <N> ... ok" in load_baseline(packed).templates
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02\x03" * 1000)
    with pytest.raises(AnalysisError, match="not a text log"):
        load_baseline(binary)
    with pytest.raises(AnalysisError, match="not found"):
        load_baseline(tmp_path / "missing.log")
    (tmp_path / "empty.log").write_bytes(b"")
    assert not load_baseline(tmp_path / "empty.log")


def _passing() -> Baseline:
    return baseline_from_lines(
        "pass.log", [normalise_line(raw.encode()) for raw in PASSING.splitlines()]
    )


def test_the_diff_against_the_baseline_grows_the_root_cause(analyzer: Analyzer) -> None:
    plain = analyzer.analyze_text(FAILING)
    diffed = analyzer.analyze_text(FAILING, baseline=_passing())
    root, with_diff = plain.root_cause, diffed.root_cause
    assert root is not None and with_diff is not None
    before = {n for e in root.evidence for n in range(e.start_line, e.end_line + 1)}
    lines = {n for e in with_diff.evidence for n in range(e.start_line, e.end_line + 1)}
    # the lines the passing run never printed (13 reads like no error, and joins only by
    # the diff), not the ones it did
    assert 13 not in before and {10, 11, 12, 13} <= lines and not lines & {8, 9, 14}
    assert any("pass.log" in note for note in diffed.notes)
    assert with_diff.details["baseline"] == "pass.log" and "baseline" not in root.details


def test_a_baseline_of_another_job_is_ignored(analyzer: Analyzer) -> None:
    other = baseline_from_lines("other.log", [f"compiling unit {n}" for n in range(30)])
    diagnosis = analyzer.analyze_text(FAILING, baseline=other)
    plain = analyzer.analyze_text(FAILING)
    assert [f.evidence for f in diagnosis.failures] == [f.evidence for f in plain.failures]
    assert any("ignored" in note for note in diagnosis.notes)
