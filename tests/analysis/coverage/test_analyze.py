from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.coverage.analyze import (
    METRICS,
    WEIGHTS,
    Targets,
    analyze,
    apply_to_capsule,
    prompt_coverage,
    spec_coverage,
    weighted_total,
)
from hee_monitor.analysis.coverage.model import CoverageData, FileCoverage, FunctionCoverage
from hee_monitor.analysis.coverage.readers import read_report
from hee_monitor.core.errors import CoverageError

FIXTURES = Path(__file__).parent / "fixtures"


def test_metrics_total_and_what_was_missing() -> None:
    result = analyze(read_report(FIXTURES / "coverage.json"))
    assert result.metrics["line"].percent == pytest.approx(46.15)  # 6 of 13
    assert result.metrics["branch"].percent == 50.0
    assert result.metrics["function"].percent == pytest.approx(66.67)
    assert result.total.missing == ("integration", "spec", "prompt")
    # renormalised over line .3, branch .2, function .2
    assert result.total.weights == pytest.approx(
        {"line": 3 / 7, "branch": 2 / 7, "function": 2 / 7}
    )
    expected = (0.3 * 46.15 + 0.2 * 50 + 0.2 * 66.67) / 0.7
    assert result.total.percent == pytest.approx(expected, abs=0.01)


def test_gaps_least_covered_and_test_targets() -> None:
    targets = Targets({"line": 40, "branch": 80, "function": 50, "total": 90})
    result = analyze(read_report(FIXTURES / "coverage.json"), targets=targets)
    assert [g.metric for g in result.gaps] == ["total", "branch"]  # biggest shortfall first
    assert result.gaps[1].shortfall == 30.0
    # pricing.py (60%) meets the line target of 40%, untested.py (0%) does not
    assert [f.path for f in result.least_covered_files] == ["src/shop/untested.py"]
    result = analyze(read_report(FIXTURES / "coverage.json"))
    assert [f.path for f in result.least_covered_files] == [
        "src/shop/untested.py",
        "src/shop/pricing.py",
    ]
    # never-called first, then by share of uncovered lines
    assert [t.function for t in result.least_covered_functions] == [
        "helper",
        "Discount.apply",
        "price",
    ]
    # uncovered lines x (1 + branches): apply 3 x 3 = 9, helper 2 x 1 = 2, price 1 x 3 = 3
    assert [(t.function, t.score) for t in result.test_targets] == [
        ("Discount.apply", 9),
        ("price", 3),
        ("helper", 2),
    ]


def test_a_fully_covered_report_has_no_gaps() -> None:
    data = CoverageData("r", "lcov", (FileCoverage("a.c", {1: 1, 2: 3}),))
    result = analyze(data)
    assert result.meets_targets
    assert result.metrics["branch"].percent is None and result.metrics["function"].percent is None
    assert result.total.percent == 100.0


def test_integration_spec_and_prompt_metrics(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    spec.write_text("REQ-1 login\nREQ-2 logout\nREQ-3 audit (see REQ-1)\nREQ-4 export\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_auth.py").write_text("def test_login():  # REQ-1, REQ-2\n    ...\n")
    (tests / "test_audit.py").write_text('"""Covers REQ-3 and REQ-99."""\nload("triage.j2")\n')
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name in ("triage.j2", "summarise.txt", "fix_plan.md"):
        (prompts / name).write_text("You are ...")
    (tests / "test_prompts.py").write_text("render('summarise')\n")

    spec_metric = spec_coverage([spec], [tests])
    assert (spec_metric.covered, spec_metric.total, spec_metric.percent) == (3, 4, 75.0)
    assert "untested: REQ-4" in spec_metric.detail
    prompt_metric = prompt_coverage([prompts], [tests])
    assert (prompt_metric.covered, prompt_metric.total) == (2, 3)
    assert "fix_plan.md" in prompt_metric.detail

    result = analyze(
        read_report(FIXTURES / "lcov.info"),
        integration=read_report(FIXTURES / "coveragepy.xml"),
        spec=spec_metric,
        prompt=prompt_metric,
    )
    assert result.total.missing == ()
    assert result.coverage_metrics() == {
        "line": pytest.approx(57.14),
        "branch": 25.0,
        "function": 75.0,
        "integration": pytest.approx(64.29),
        "spec": 75.0,
        "prompt": pytest.approx(66.67),
    }
    payload: dict[str, object] = {"monitoring_state": {"hee_specific": {"decision_stability": 9}}}
    apply_to_capsule(payload, result)
    state = payload["monitoring_state"]
    assert isinstance(state, dict)
    assert state["coverage_metrics"] == result.coverage_metrics()
    assert state["hee_specific"] == {
        "decision_stability": 9,
        "spec_coverage": 75.0,
        "prompt_coverage": pytest.approx(66.67),
    }
    json.dumps(result.to_json())  # serialisable as is


def test_spec_without_requirement_ids_is_missing_not_zero(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    spec.write_text("no ids here")
    assert spec_coverage([spec], [tmp_path]).percent is None
    with pytest.raises(CoverageError, match="spec file not found"):
        spec_coverage([tmp_path / "nope.md"], [tmp_path])
    with pytest.raises(CoverageError, match="requirement regex"):
        spec_coverage([spec], [tmp_path], regex="REQ-(")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("t.toml", "line = 90\nbranch = 75.5\n", {"line": 90.0, "branch": 75.5}),
        ("t.toml", "[targets]\ntotal = 80\n", {"total": 80.0}),
        ("t.json", '{"function": 60}', {"function": 60.0}),
    ],
)
def test_targets_file(tmp_path: Path, name: str, text: str, expected: dict[str, float]) -> None:
    path = tmp_path / name
    path.write_text(text)
    targets = Targets.from_file(path)
    assert dict(targets.values) == expected
    assert targets.for_metric("prompt") == 100.0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.toml", "line = [", "not valid TOML"),
        ("t.json", "{", "not valid JSON"),
        ("t.toml", "lines = 90", "unknown target 'lines'"),
        ("t.toml", "line = 190", "not within 0..100"),
        ("t.toml", 'line = "high"', "must be a number"),
    ],
)
def test_bad_targets_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CoverageError, match=message) as err:
        Targets.from_file(path)
    assert str(path) in err.value.message


PERCENT = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({m: PERCENT for m in METRICS}))
def test_weighted_total_lies_between_its_parts(values: dict[str, float | None]) -> None:
    total = weighted_total(values)
    present = [v for v in values.values() if v is not None]
    if not present:
        assert total.percent is None
        return
    assert total.percent is not None
    assert min(present) - 0.01 <= total.percent <= max(present) + 0.01
    assert sum(total.weights.values()) == pytest.approx(1.0)
    assert set(total.missing) == {k for k, v in values.items() if v is None}
    assert all(total.weights[k] >= WEIGHTS[k] - 1e-9 for k in total.weights)


@st.composite
def coverage_data(draw: st.DrawFn) -> CoverageData:
    files = []
    for i in range(draw(st.integers(0, 4))):
        lines = draw(st.dictionaries(st.integers(1, 60), st.integers(-1, 5), max_size=30))
        branches = draw(
            st.dictionaries(
                st.integers(1, 60),
                st.tuples(st.integers(0, 4), st.integers(0, 4)).map(lambda ct: (min(ct), max(ct))),
                max_size=6,
            )
        )
        functions = tuple(
            FunctionCoverage(
                name=f"f{j}",
                start_line=draw(st.integers(1, 60)),
                lines=(),
                uncovered_lines=tuple(sorted(draw(st.sets(st.integers(1, 60), max_size=5)))),
                hits=draw(st.integers(0, 3)),
                branches_total=draw(st.integers(0, 6)),
            )
            for j in range(draw(st.integers(0, 3)))
        )
        files.append(FileCoverage(f"f{i}.py", lines, branches, functions))
    return CoverageData("r", "lcov", tuple(files), has_branches=True, has_functions=True)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(coverage_data(), PERCENT)
def test_every_metric_and_the_total_stay_within_0_and_100(
    data: CoverageData, spec: float | None
) -> None:
    from hee_monitor.analysis.coverage.analyze import Metric

    result = analyze(data, spec=Metric("spec", spec), integration=data)
    for metric in result.metrics.values():
        assert metric.percent is None or 0 <= metric.percent <= 100
    for gap in result.least_covered_files:
        assert 0 <= gap.line_percent <= 100
    if result.total.percent is not None:
        parts = [m.percent for m in result.metrics.values() if m.percent is not None]
        assert 0 <= result.total.percent <= 100
        assert min(parts) - 0.01 <= result.total.percent <= max(parts) + 0.01
    scores = [t.score for t in result.test_targets]
    assert scores == sorted(scores, reverse=True)
