from __future__ import annotations

from hee_monitor.record.reports.markdown import render_markdown, sparkline
from hee_monitor.record.reports.model import build_model
from tests.record.reports.conftest import HOSTILE, NOW, payload


def test_markdown_report_sections_and_escaping() -> None:
    model = build_model(payload(), verified=False, verification="no key", now=NOW)
    text = render_markdown(model)
    assert "**UNVERIFIED**" in text
    assert "**Current status: DEGRADED**" in text
    for heading in ("State timeline", "Failures by pattern", "Fix history", "Open approvals",
                    "Coverage and gaps", "Alert volume"):  # fmt: skip
        assert f"## {heading}" in text
    assert HOSTILE not in text and "&lt;script&gt;" in text
    assert "finding PY-RUFF-LINT \\| piped" in text  # a pipe never splits a table cell
    assert "| 2026-11-21T08:00:00Z | PY-PIP-RESOLUTION | pin-dependency | rolled back |" in text


def test_sparkline_scales_to_the_peak() -> None:
    assert sparkline([0, 4, 8]) == "▁▄█"
    assert sparkline([0, 0]) == "▁▁"
