from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.analysis.coverage.model import FileCoverage, FunctionCoverage, percent


@given(st.integers(-5, 1000), st.integers(-5, 1000))
def test_percent_is_within_0_and_100_or_missing(covered: int, total: int) -> None:
    value = percent(covered, total)
    if total <= 0:
        assert value is None
    else:
        assert value is not None and 0 <= value <= 100


def test_file_counts() -> None:
    fn = FunctionCoverage("f", 1, (1, 2, 3), (3,), hits=2)
    cov = FileCoverage("a.py", {1: 2, 2: 1, 3: 0}, {2: (1, 2), 3: (5, 4)}, (fn,))
    assert (cov.lines_covered, cov.lines_total, cov.uncovered_lines) == (2, 3, (3,))
    # a report claiming more outcomes taken than exist is clamped
    assert (cov.branches_covered, cov.branches_total) == (5, 6)
    assert (cov.functions_covered, cov.functions_total) == (1, 1)
    assert fn.end_line == 3 and fn.covered
