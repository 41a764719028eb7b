from __future__ import annotations

import xml.etree.ElementTree as ET

from hee_monitor.record.reports import charts
from hee_monitor.record.reports.model import CoverageRow, Series, StateChange

HOSTILE = '<script>alert("x")</script>'


def test_stacked_bars_are_well_formed_svg_with_escaped_labels() -> None:
    series = Series(("2026-01-01", "2026-01-02"), ((HOSTILE, (1, 2)), ("lint", (0, 3))))
    svg = charts.stacked_bars(series, title="t")
    root = ET.fromstring(svg)  # raises if the markup is broken
    assert root.tag.endswith("svg")
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    bars = [e for e in root.iter() if e.tag.endswith("rect") and e.get("height") != "10"]
    assert len(bars) == 3  # the zero count draws no bar


def test_tallest_stack_fills_the_plot() -> None:
    series = Series(("a", "b"), (("x", (1, 4)),))
    root = ET.fromstring(charts.stacked_bars(series, title="t", height=220))
    heights = sorted(
        float(e.get("height", 0))
        for e in root.iter()
        if e.tag.endswith("rect") and e.get("height") != "10"
    )
    assert heights[-1] == 166.0  # 220 - top 10 - bottom 44
    assert heights[0] == heights[-1] / 4


def test_empty_inputs_say_nothing_recorded() -> None:
    assert "nothing recorded" in charts.stacked_bars(Series((), ()), title="t")
    assert "nothing recorded" in charts.coverage_bars([CoverageRow("line", None, None)])


def test_state_timeline_draws_one_band_per_state_period() -> None:
    changes = [
        StateChange("2026-01-01T00:00:00Z", "operational", "degraded", "degrade", ""),
        StateChange("2026-01-01T12:00:00Z", "degraded", "failed", "fail", ""),
    ]
    svg = charts.state_timeline(changes, current="failed", since="", now="2026-01-02T00:00:00Z")
    root = ET.fromstring(svg)
    fills = [e.get("fill") for e in root.iter() if e.tag.endswith("rect")][:2]
    # the zero-length operational period before the first change draws nothing
    assert fills == [charts.STATE_COLOURS["degraded"], charts.STATE_COLOURS["failed"]]


def test_coverage_bar_marks_a_gap() -> None:
    svg = charts.coverage_bars([CoverageRow("line", 50.0, 90.0), CoverageRow("branch", 95, 90)])
    ET.fromstring(svg)
    assert svg.count("#D55E00") == 1 and "target 90%" in svg
