"""The decision stage stays readable: no function above cyclomatic complexity 15.

The same check from a shell: ``radon cc -s -n C hee_monitor/decision``.
"""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit

import hee_monitor.decision

LIMIT = 15


def test_no_function_in_the_decision_stage_is_too_complex() -> None:
    package = Path(hee_monitor.decision.__file__).parent
    scores = {
        f"{path.name}:{block.fullname}": block.complexity
        for path in sorted(package.glob("*.py"))
        for block in cc_visit(path.read_text(encoding="utf-8"))
    }
    assert scores, "radon found no functions"
    assert {name: score for name, score in scores.items() if score > LIMIT} == {}
