"""What a coverage report says, independent of its format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def percent(covered: int, total: int) -> float | None:
    """``covered`` of ``total`` in percent, or None when there is nothing to cover."""
    if total <= 0:
        return None
    return round(100.0 * min(max(covered, 0), total) / total, 2)


@dataclass(frozen=True)
class FunctionCoverage:
    name: str
    start_line: int
    #: executable lines of the function (as the report knows them)
    lines: tuple[int, ...]
    uncovered_lines: tuple[int, ...]
    #: calls (LCOV FNDA), or hits of its most executed line when the format has no call count
    hits: int
    branches_total: int = 0
    branches_covered: int = 0

    @property
    def covered(self) -> bool:
        return self.hits > 0

    @property
    def end_line(self) -> int:
        return max((self.start_line, *self.lines))


@dataclass(frozen=True)
class FileCoverage:
    path: str
    #: line number → hits, for every executable line
    line_hits: Mapping[int, int]
    #: line number → (covered branch outcomes, total branch outcomes)
    branches: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    functions: tuple[FunctionCoverage, ...] = ()

    @property
    def lines_total(self) -> int:
        return len(self.line_hits)

    @property
    def lines_covered(self) -> int:
        return sum(1 for hits in self.line_hits.values() if hits > 0)

    @property
    def uncovered_lines(self) -> tuple[int, ...]:
        return tuple(sorted(n for n, hits in self.line_hits.items() if hits <= 0))

    @property
    def branches_total(self) -> int:
        return sum(total for _covered, total in self.branches.values())

    @property
    def branches_covered(self) -> int:
        return sum(min(covered, total) for covered, total in self.branches.values())

    @property
    def functions_total(self) -> int:
        return len(self.functions)

    @property
    def functions_covered(self) -> int:
        return sum(1 for f in self.functions if f.covered)

    @property
    def line_percent(self) -> float | None:
        return percent(self.lines_covered, self.lines_total)

    @property
    def branch_percent(self) -> float | None:
        return percent(self.branches_covered, self.branches_total)


@dataclass(frozen=True)
class CoverageData:
    """One coverage report: which lines, branches and functions ran."""

    source: str
    #: cobertura | lcov | coverage.py-json | jacoco
    format: str
    files: tuple[FileCoverage, ...]
    #: the report measured branches (even if there are none)
    has_branches: bool = False
    #: the report lists functions (even if there are none)
    has_functions: bool = False

    @property
    def lines_total(self) -> int:
        return sum(f.lines_total for f in self.files)

    @property
    def lines_covered(self) -> int:
        return sum(f.lines_covered for f in self.files)

    @property
    def branches_total(self) -> int:
        return sum(f.branches_total for f in self.files)

    @property
    def branches_covered(self) -> int:
        return sum(f.branches_covered for f in self.files)

    @property
    def functions_total(self) -> int:
        return sum(f.functions_total for f in self.files)

    @property
    def functions_covered(self) -> int:
        return sum(f.functions_covered for f in self.files)
