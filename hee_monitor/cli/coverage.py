"""``hee-monitor coverage``: coverage gaps you can act on."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hee_monitor.analysis.coverage.analyze import (
    DEFAULT_REQUIREMENT_REGEX,
    METRICS,
    WEIGHTS,
    CoverageAnalysis,
    Targets,
    TestTarget,
    analyze,
    prompt_coverage,
    spec_coverage,
)
from hee_monitor.analysis.coverage.readers import read_report
from hee_monitor.analysis.coverage.skeletons import write_skeletons

_FILE = click.Path(path_type=Path, dir_okay=False)
_ANY = click.Path(path_type=Path)


@click.group("coverage")
def coverage() -> None:
    """Coverage gaps you can act on.

    \b
    Examples:
      hee-monitor coverage analyze coverage.xml         metrics, gaps, what to test first
      hee-monitor coverage analyze lcov.info --targets coverage-targets.toml --check
    """


@coverage.command("analyze")
@click.argument("report", type=_FILE)
@click.option("--targets", "targets_file", type=_FILE, help="Targets per metric (TOML or JSON).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option("--integration", type=_FILE, help="Coverage report of the integration tests.")
@click.option("--spec", "specs", multiple=True, type=_FILE, help="Spec file with requirement ids.")
@click.option(
    "--requirement-regex",
    default=DEFAULT_REQUIREMENT_REGEX,
    show_default=True,
    help="How a requirement id looks.",
)
@click.option("--prompts", "prompt_dirs", multiple=True, type=_ANY, help="Prompt templates dir.")
@click.option(
    "--tests",
    "test_dirs",
    multiple=True,
    type=_ANY,
    help="Where tests live, for spec and prompt coverage [default: tests].",
)
@click.option(
    "--skeletons",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write test skeletons for the functions to test first into this directory.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 when a metric is below its target.")
@click.option(
    "--update-capsule",
    "capsule_path",
    type=_FILE,
    help="Record the metrics in this state capsule (monitoring_state.coverage_metrics; "
    "signed when HEE_SIGNING_KEY is set).",
)
def analyze_command(
    report: Path,
    targets_file: Path | None,
    fmt: str,
    integration: Path | None,
    specs: tuple[Path, ...],
    requirement_regex: str,
    prompt_dirs: tuple[Path, ...],
    test_dirs: tuple[Path, ...],
    skeletons: Path | None,
    limit: int,
    check: bool,
    capsule_path: Path | None,
) -> int:
    """Analyse a coverage REPORT (Cobertura or JaCoCo XML, LCOV, coverage.py JSON).

    Prints line, branch and function coverage (plus integration, spec and prompt coverage
    when configured), the weighted HEE total, the gaps against targets (100% unless
    --targets says otherwise), the least-covered files and functions, and which functions
    to test first.

    \b
    Examples:
      hee-monitor coverage analyze coverage.xml
      hee-monitor coverage analyze lcov.info --targets coverage-targets.toml --check
      hee-monitor coverage analyze coverage.json --spec docs/spec.md --prompts prompts \\
          --skeletons tests/skeletons --format markdown
      hee-monitor coverage analyze coverage.xml --update-capsule state_capsules/current.json
    """
    data = read_report(report)
    targets = Targets.from_file(targets_file) if targets_file else Targets()
    tests = list(test_dirs) or [Path("tests")]
    spec = spec_coverage(list(specs), tests, requirement_regex) if specs else None
    prompt = prompt_coverage(list(prompt_dirs), tests) if prompt_dirs else None
    result = analyze(
        data,
        targets=targets,
        integration=read_report(integration) if integration else None,
        spec=spec,
        prompt=prompt,
        limit=limit,
    )
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(result))
    else:
        click.echo(render_text(result))
    if skeletons is not None:
        done = write_skeletons(result.test_targets, skeletons)
        click.echo(
            f"wrote {len(done.written)} test skeleton(s) to {skeletons}"
            + (f", kept {len(done.kept_existing)} existing" if done.kept_existing else ""),
            err=True,
        )
    if capsule_path is not None:
        _record(result, capsule_path)
    return 1 if check and result.gaps else 0


def _record(result: CoverageAnalysis, path: Path) -> None:
    """Write the metrics through the monitor's capsule file: the same signing, verification,
    versioning and atomic replace as every other writer of the capsule."""
    from hee_monitor.analysis.coverage.analyze import apply_to_capsule
    from hee_monitor.core.clock import SystemClock
    from hee_monitor.core.config import load_config
    from hee_monitor.service.wiring import capsule_file

    clock = SystemClock()
    capsule, note = capsule_file(path, None, load_config(), clock)
    capsule.update(lambda payload: apply_to_capsule(payload, result), now=clock.now())
    version = capsule.load().get("version")
    click.echo(f"recorded coverage in {path} (version {version})", err=True)
    if note:
        click.echo(f"note: {note}", err=True)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _lines(t: TestTarget) -> str:
    return f"{t.path}:{t.start_line} {t.function}"


def render_text(result: CoverageAnalysis) -> str:
    out = [f"Coverage of {result.source} ({result.format}, {result.files} files)", ""]
    out.append(f"  {'metric':<12} {'value':>7} {'target':>7} {'weight':>7}  detail")
    for name in METRICS:
        m = result.metrics[name]
        weight = result.total.weights.get(name)
        out.append(
            f"  {name:<12} {_pct(m.percent):>7} {result.targets.for_metric(name):>6.0f}% "
            f"{(f'{weight:.2f}' if weight is not None else '-'):>7}  {m.detail}"
        )
    out.append(
        f"  {'HEE total':<12} {_pct(result.total.percent):>7} "
        f"{result.targets.for_metric('total'):>6.0f}%"
    )
    if result.total.missing:
        out.append(
            f"  (weights renormalised over {', '.join(result.total.weights) or 'nothing'}; "
            f"missing: {', '.join(result.total.missing)})"
        )
    out.append("")
    if result.gaps:
        out.append("Gaps:")
        out += [
            f"  {g.metric:<12} {g.percent:.1f}% < {g.target:.0f}% (short by {g.shortfall:.1f})"
            for g in result.gaps
        ]
    else:
        out.append("Every metric meets its target.")
    if result.least_covered_files:
        out += ["", "Least-covered files:"]
        out += [
            f"  {f.line_percent:5.1f}%  {f.uncovered_lines:>5} lines uncovered  {f.path}"
            for f in result.least_covered_files
        ]
    if result.least_covered_functions:
        out += ["", "Least-covered functions:"]
        out += [
            f"  {len(t.uncovered_lines):>5} lines uncovered{'' if t.called else ', never called'}"
            f"  {_lines(t)}"
            for t in result.least_covered_functions
        ]
    if result.test_targets:
        out += ["", "Test first (uncovered lines x (1 + branches)):"]
        out += [
            f"  {i:>2}. score {t.score:>5}  {_lines(t)}  ({len(t.uncovered_lines)} lines, "
            f"{t.branches} branches)"
            for i, t in enumerate(result.test_targets, start=1)
        ]
    return "\n".join(out)


def render_markdown(result: CoverageAnalysis) -> str:
    out = [
        f"## Coverage: {result.source}",
        "",
        f"HEE total **{_pct(result.total.percent)}** "
        f"(target {result.targets.for_metric('total'):.0f}%)",
        "",
        "| metric | value | target | weight | detail |",
        "|---|---:|---:|---:|---|",
    ]
    for name in METRICS:
        m = result.metrics[name]
        weight = result.total.weights.get(name)
        out.append(
            f"| {name} | {_pct(m.percent)} | {result.targets.for_metric(name):.0f}% | "
            f"{f'{weight:.2f}' if weight is not None else '-'} (nominal {WEIGHTS[name]:.2f}) "
            f"| {m.detail} |"
        )
    if result.total.missing:
        out += ["", f"Missing metrics (not counted): {', '.join(result.total.missing)}."]
    if result.gaps:
        out += ["", "### Gaps", ""]
        out += [
            f"- **{g.metric}** {g.percent:.1f}% < {g.target:.0f}% (short by {g.shortfall:.1f})"
            for g in result.gaps
        ]
    if result.least_covered_files:
        out += [
            "",
            "### Least-covered files",
            "",
            "| file | lines | uncovered |",
            "|---|---:|---:|",
        ]
        out += [
            f"| `{f.path}` | {f.line_percent:.1f}% | {f.uncovered_lines} |"
            for f in result.least_covered_files
        ]
    if result.test_targets:
        out += ["", "### Test first", "", "| # | function | uncovered lines | branches | score |"]
        out.append("|---:|---|---:|---:|---:|")
        out += [
            f"| {i} | `{_lines(t)}` | {len(t.uncovered_lines)} | {t.branches} | {t.score} |"
            for i, t in enumerate(result.test_targets, start=1)
        ]
    return "\n".join(out)
