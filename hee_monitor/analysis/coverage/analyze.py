"""From coverage data to what to do about it.

Six metrics (line, branch, function from the report; integration from a second report of
the integration tests; spec and prompt from the repository), a weighted HEE total
renormalised over the metrics that are available, gaps against targets, the least-covered
files and functions, and the functions to test first.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hee_monitor.analysis.coverage.model import CoverageData, FunctionCoverage, percent
from hee_monitor.core.errors import CoverageError

METRICS = ("line", "branch", "function", "integration", "spec", "prompt")
#: weights of the HEE total (sum 1.0)
WEIGHTS: Mapping[str, float] = {
    "line": 0.30,
    "branch": 0.20,
    "function": 0.20,
    "integration": 0.10,
    "spec": 0.15,
    "prompt": 0.05,
}
DEFAULT_TARGET = 100.0
DEFAULT_REQUIREMENT_REGEX = r"\bREQ-\d+\b"
#: test files larger than this are not read for spec/prompt references
MAX_TEST_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Metric:
    name: str
    #: 0..100, or None when this metric is not available
    percent: float | None
    covered: int = 0
    total: int = 0
    #: why it is missing, or what was counted
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "covered": self.covered,
            "total": self.total,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class WeightedTotal:
    percent: float | None
    #: the weights actually used (renormalised to sum 1 over available metrics)
    weights: Mapping[str, float]
    missing: tuple[str, ...]


def weighted_total(
    values: Mapping[str, float | None], weights: Mapping[str, float] = WEIGHTS
) -> WeightedTotal:
    """The weighted mean of the available metrics; missing ones do not count as 0."""
    available = {k: v for k, v in values.items() if v is not None and weights.get(k, 0) > 0}
    missing = tuple(k for k in weights if values.get(k) is None)
    weight_sum = sum(weights[k] for k in available)
    if not available or weight_sum <= 0:
        return WeightedTotal(None, {}, missing)
    used = {k: weights[k] / weight_sum for k in available}
    total = sum(used[k] * v for k, v in available.items())
    # floating point must not put the mean outside its parts
    total = min(max(total, min(available.values())), max(available.values()))
    return WeightedTotal(round(total, 2), used, missing)


@dataclass(frozen=True)
class Targets:
    """Target percent per metric and for the total (default 100 each)."""

    values: Mapping[str, float] = field(default_factory=dict)

    def for_metric(self, name: str) -> float:
        return self.values.get(name, DEFAULT_TARGET)

    @classmethod
    def from_file(cls, path: Path) -> Targets:
        """Read ``{"line": 90, ...}`` from TOML or JSON (top level or a ``targets`` table)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CoverageError(
                f"{path}: cannot read the targets file ({exc.strerror})", hint="check the path"
            ) from None
        try:
            data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            kind = "JSON" if path.suffix == ".json" else "TOML"
            raise CoverageError(
                f"{path}: not valid {kind} ({exc})", hint='e.g. line = 90 or {"line": 90}'
            ) from None
        if isinstance(data, dict) and isinstance(data.get("targets"), dict):
            data = data["targets"]
        if not isinstance(data, dict):
            raise CoverageError(f"{path}: targets must be a table of metric = percent")
        values: dict[str, float] = {}
        for key, value in data.items():
            if key not in (*METRICS, "total"):
                raise CoverageError(
                    f"{path}: unknown target {key!r}",
                    hint=f"known: {', '.join((*METRICS, 'total'))}",
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CoverageError(f"{path}: target {key} must be a number, got {value!r}")
            if not 0 <= value <= 100:
                raise CoverageError(f"{path}: target {key} = {value} is not within 0..100")
            values[key] = float(value)
        return cls(values)


@dataclass(frozen=True)
class Gap:
    metric: str
    percent: float
    target: float

    @property
    def shortfall(self) -> float:
        return round(self.target - self.percent, 2)


@dataclass(frozen=True)
class FileGap:
    path: str
    line_percent: float
    uncovered_lines: int
    branch_percent: float | None
    uncovered_functions: int


@dataclass(frozen=True)
class TestTarget:
    """A function worth testing first: score = uncovered lines × (1 + branch outcomes)."""

    __test__ = False  # not a pytest test class, despite the name

    path: str
    function: str
    start_line: int
    end_line: int
    uncovered_lines: tuple[int, ...]
    branches: int
    missing_branches: int
    called: bool

    @property
    def score(self) -> int:
        return len(self.uncovered_lines) * (1 + self.branches)


@dataclass(frozen=True)
class CoverageAnalysis:
    source: str
    format: str
    files: int
    metrics: Mapping[str, Metric]
    total: WeightedTotal
    targets: Targets
    gaps: tuple[Gap, ...]
    least_covered_files: tuple[FileGap, ...]
    least_covered_functions: tuple[TestTarget, ...]
    test_targets: tuple[TestTarget, ...]

    @property
    def meets_targets(self) -> bool:
        return not self.gaps

    def coverage_metrics(self) -> dict[str, float | None]:
        """The state capsule's ``monitoring_state.coverage_metrics``."""
        return {name: self.metrics[name].percent for name in METRICS}

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.source,
            "format": self.format,
            "files": self.files,
            "metrics": {k: m.to_json() for k, m in self.metrics.items()},
            "coverage_metrics": self.coverage_metrics(),
            "hee_total": {
                "percent": self.total.percent,
                "weights": {k: round(v, 4) for k, v in self.total.weights.items()},
                "missing": list(self.total.missing),
                "target": self.targets.for_metric("total"),
            },
            "gaps": [
                {
                    "metric": g.metric,
                    "percent": g.percent,
                    "target": g.target,
                    "shortfall": g.shortfall,
                }
                for g in self.gaps
            ],
            "least_covered_files": [f.__dict__ for f in self.least_covered_files],
            "least_covered_functions": [_target_json(t) for t in self.least_covered_functions],
            "test_targets": [_target_json(t) for t in self.test_targets],
        }


def _target_json(t: TestTarget) -> dict[str, Any]:
    return {
        "path": t.path,
        "function": t.function,
        "lines": [t.start_line, t.end_line],
        "uncovered_lines": list(t.uncovered_lines),
        "branches": t.branches,
        "missing_branches": t.missing_branches,
        "called": t.called,
        "score": t.score,
    }


def apply_to_capsule(payload: dict[str, Any], analysis: CoverageAnalysis) -> None:
    """A capsule mutator: record the metrics in ``monitoring_state`` (other keys kept).
    ``hee_specific`` spec and prompt coverage are set only when this analysis measured them,
    so a run without ``--spec`` / ``--prompts`` keeps the figures an earlier run recorded."""
    state = payload.setdefault("monitoring_state", {})
    state["coverage_metrics"] = analysis.coverage_metrics()
    hee = state.setdefault("hee_specific", {})
    for metric, key in (("spec", "spec_coverage"), ("prompt", "prompt_coverage")):
        percent = analysis.metrics[metric].percent
        if percent is not None or key not in hee:
            hee[key] = percent
    hee.setdefault("decision_stability", None)


# -- repository metrics ------------------------------------------------------------------


def _text_files(roots: Iterable[Path]) -> Iterable[tuple[Path, str]]:
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if any(part.startswith(".") for part in path.parts[-3:]) or "__pycache__" in str(path):
                continue
            try:
                if path.stat().st_size > MAX_TEST_FILE_BYTES:
                    continue
                yield path, path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue


def spec_coverage(
    spec_files: Sequence[Path], test_dirs: Sequence[Path], regex: str = DEFAULT_REQUIREMENT_REGEX
) -> Metric:
    """Share of requirement ids in the spec files that some test file mentions."""
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise CoverageError(f"requirement regex {regex!r} is invalid ({exc})") from None
    for spec in spec_files:
        if not spec.is_file():
            raise CoverageError(f"{spec}: spec file not found", hint="check --spec")
    required = {m.group() for _p, text in _text_files(spec_files) for m in pattern.finditer(text)}
    if not required:
        return Metric("spec", None, detail=f"no requirement ids matching {regex} in the spec")
    mentioned = {m.group() for _p, text in _text_files(test_dirs) for m in pattern.finditer(text)}
    covered = required & mentioned
    untested = sorted(required - covered)
    detail = f"{len(covered)} of {len(required)} requirements referenced by a test"
    if untested:
        detail += f"; untested: {', '.join(untested[:10])}{' …' if len(untested) > 10 else ''}"
    return Metric("spec", percent(len(covered), len(required)), len(covered), len(required), detail)


def prompt_coverage(prompt_dirs: Sequence[Path], test_dirs: Sequence[Path]) -> Metric:
    """Share of prompt template files whose name a test file mentions."""
    prompts = [p for p, _text in _text_files(prompt_dirs)]
    if not prompts:
        return Metric("prompt", None, detail="no prompt template files found")
    tests = "\n".join(text for _p, text in _text_files(test_dirs))
    covered = []
    untested = []
    for prompt in prompts:
        names = {prompt.name} | ({prompt.stem} if len(prompt.stem) >= 4 else set())
        if any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", tests) for n in names):
            covered.append(prompt)
        else:
            untested.append(prompt.name)
    detail = f"{len(covered)} of {len(prompts)} prompt templates referenced by a test"
    if untested:
        detail += f"; untested: {', '.join(sorted(untested)[:10])}"
    return Metric("prompt", percent(len(covered), len(prompts)), len(covered), len(prompts), detail)


# -- the analysis ------------------------------------------------------------------------


def _report_metrics(data: CoverageData) -> dict[str, Metric]:
    line = Metric(
        "line",
        percent(data.lines_covered, data.lines_total),
        data.lines_covered,
        data.lines_total,
        "executable lines run by a test",
    )
    if data.has_branches and data.branches_total:
        branch = Metric(
            "branch",
            percent(data.branches_covered, data.branches_total),
            data.branches_covered,
            data.branches_total,
            "branch outcomes taken",
        )
    else:
        branch = Metric("branch", None, detail="the report has no branch data")
    if data.has_functions and data.functions_total:
        function = Metric(
            "function",
            percent(data.functions_covered, data.functions_total),
            data.functions_covered,
            data.functions_total,
            "functions called at least once",
        )
    else:
        function = Metric("function", None, detail="the report has no function data")
    if line.percent is None:
        line = Metric("line", None, detail="the report has no executable lines")
    return {"line": line, "branch": branch, "function": function}


def _test_target(path: str, fn: FunctionCoverage) -> TestTarget:
    return TestTarget(
        path=path,
        function=fn.name,
        start_line=fn.start_line,
        end_line=fn.end_line,
        uncovered_lines=fn.uncovered_lines,
        branches=fn.branches_total,
        missing_branches=fn.branches_total - fn.branches_covered,
        called=fn.covered,
    )


def analyze(
    data: CoverageData,
    *,
    targets: Targets | None = None,
    integration: CoverageData | None = None,
    spec: Metric | None = None,
    prompt: Metric | None = None,
    limit: int = 10,
) -> CoverageAnalysis:
    targets = targets or Targets()
    metrics = _report_metrics(data)
    if integration is not None:
        metrics["integration"] = Metric(
            "integration",
            percent(integration.lines_covered, integration.lines_total),
            integration.lines_covered,
            integration.lines_total,
            f"lines run by the integration tests ({integration.source})",
        )
    else:
        metrics["integration"] = Metric("integration", None, detail="no integration report")
    metrics["spec"] = spec or Metric("spec", None, detail="no spec file configured")
    metrics["prompt"] = prompt or Metric("prompt", None, detail="no prompt directory configured")
    total = weighted_total({k: m.percent for k, m in metrics.items()})

    gaps = [
        Gap(name, m.percent, targets.for_metric(name))
        for name, m in metrics.items()
        if m.percent is not None and m.percent < targets.for_metric(name)
    ]
    if total.percent is not None and total.percent < targets.for_metric("total"):
        gaps.append(Gap("total", total.percent, targets.for_metric("total")))
    gaps.sort(key=lambda g: -g.shortfall)

    line_target = targets.for_metric("line")
    file_gaps = [
        FileGap(
            path=f.path,
            line_percent=f.line_percent if f.line_percent is not None else 100.0,
            uncovered_lines=len(f.uncovered_lines),
            branch_percent=f.branch_percent,
            uncovered_functions=f.functions_total - f.functions_covered,
        )
        for f in data.files
        if f.line_percent is not None and f.line_percent < line_target
    ]
    file_gaps.sort(key=lambda g: (g.line_percent, -g.uncovered_lines, g.path))

    candidates = [
        _test_target(f.path, fn)
        for f in data.files
        for fn in f.functions
        if fn.uncovered_lines or not fn.covered
    ]
    least = sorted(
        candidates,
        key=lambda t: (
            t.called,
            -(len(t.uncovered_lines) / max(t.end_line - t.start_line + 1, 1)),
            -len(t.uncovered_lines),
            t.path,
            t.start_line,
        ),
    )
    ranked = sorted(
        (t for t in candidates if t.uncovered_lines),
        key=lambda t: (-t.score, t.path, t.start_line),
    )
    return CoverageAnalysis(
        source=data.source,
        format=data.format,
        files=len(data.files),
        metrics=metrics,
        total=total,
        targets=targets,
        gaps=tuple(gaps),
        least_covered_files=tuple(file_gaps[:limit]),
        least_covered_functions=tuple(least[:limit]),
        test_targets=tuple(ranked[:limit]),
    )
