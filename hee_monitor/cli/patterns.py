"""``hee-monitor patterns validate|list|lint|suggest``: look after the pattern database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hee_monitor.core.errors import UsageError


class _PatternsGroup(click.Group):
    """Loads ``suggest`` (and with it the LLM client) only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "suggest"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "suggest":
            from hee_monitor.cli.suggest import suggest

            return suggest
        return super().get_command(ctx, cmd_name)


@click.group("patterns", cls=_PatternsGroup)
def patterns() -> None:
    """The failure pattern database: validate, list and lint it; suggest new patterns
    from logs the local model explained.

    \b
    Examples:
      hee-monitor patterns list                         the 200+ shipped patterns
      hee-monitor patterns validate my-patterns/        check your own pattern files
      hee-monitor patterns lint --passing-logs ok-logs  patterns that fire on green builds
      hee-monitor patterns suggest failed-job.log       proposals from the local model
    """


@patterns.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--no-shipped",
    is_flag=True,
    help="Check examples against the given files only, without the shipped patterns.",
)
def validate(files: tuple[Path, ...], no_shipped: bool) -> int:
    """Check pattern files (default: the shipped database) and list every problem.

    \b
    Examples:
      hee-monitor patterns validate                     the shipped database
      hee-monitor patterns validate my-patterns/        your files, examples ranked
                                                        against the shipped ones too
      hee-monitor patterns validate --no-shipped my-patterns/docker.yaml

    Exit status 1 when a file is invalid: bad YAML, schema violations, regexes that do not
    compile (in Python or in the fast engine), duplicate ids, examples that do not match
    or do not rank their pattern first, counter-examples that match.
    """
    from hee_monitor.analysis.patterns import shipped_dir
    from hee_monitor.analysis.validation import validate_files

    targets: list[Path] = list(files)
    if not targets:
        sd = shipped_dir()
        if sd is None:
            raise UsageError("no shipped pattern directory found", hint="pass pattern files")
        targets = [sd]
    for target in targets:
        if not target.exists():
            raise UsageError(f"{target} does not exist", hint="pass pattern YAML files or dirs")
    problems = validate_files(targets, shipped=not no_shipped)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
        return 1
    click.echo("pattern files are valid", err=True)
    return 0


@patterns.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--category", help="Only patterns of this category.")
@click.option(
    "--patterns",
    "pattern_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra pattern directory or file (repeatable).",
)
def list_patterns(fmt: str, category: str | None, pattern_dirs: tuple[Path, ...]) -> int:
    """List the patterns the analyzer uses (shipped plus --patterns), highest priority first.

    \b
    Examples:
      hee-monitor patterns list                         id, category, severity, owner, scope
      hee-monitor patterns list --category dependency   one category
      hee-monitor patterns list --patterns my-patterns/ --format json
    """
    from hee_monitor.analysis.patterns import load_database

    chosen = [p for p in load_database(pattern_dirs) if category in (None, p.category)]
    if fmt == "json":
        click.echo(json.dumps([p.to_json() for p in chosen], indent=2, ensure_ascii=False))
        return 0
    for p in chosen:
        click.echo(
            f"{p.id:<28} {p.category:<15} {p.severity.value:<8} {p.owner.value:<9} "
            f"prio {p.priority:<3} {p.scope:<7} {p.title}"
        )
    click.echo(f"{len(chosen)} pattern(s)", err=True)
    return 0


@patterns.command("lint")
@click.option(
    "--passing-logs",
    "logs_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory of logs of passing builds (searched recursively for files).",
)
@click.option(
    "--threshold",
    default=0.05,
    show_default=True,
    type=float,
    help="Fail when a pattern fires on more than this share of the passing logs.",
)
@click.option(
    "--patterns",
    "pattern_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra pattern directory or file (repeatable).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--no-shipped", is_flag=True, help="Lint only the --patterns given.")
@click.option(
    "--severity",
    "min_severity",
    type=click.Choice(["low", "medium", "high", "critical"]),
    default="low",
    show_default=True,
    help="Count only findings of at least this severity, as analyze reports it (a finding "
    "in a step that ended well, or on warning lines, is at most medium).",
)
def lint(
    logs_dir: Path,
    threshold: float,
    pattern_dirs: tuple[Path, ...],
    fmt: str,
    no_shipped: bool,
    min_severity: str,
) -> int:
    """Run the database over logs of passing builds: a pattern that fires there is noise.

    \b
    Examples:
      hee-monitor patterns lint --passing-logs ok-logs
      hee-monitor patterns lint --passing-logs ok-logs --threshold 0.01 --format json
      hee-monitor patterns lint --passing-logs ok-logs --no-shipped --patterns my-patterns/
      hee-monitor patterns lint --passing-logs ok-logs --severity high --threshold 0

    Exit status 1 when a pattern fires on more than --threshold of the logs.
    """
    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.logreader import log_sources
    from hee_monitor.analysis.patterns import load_database
    from hee_monitor.core.models import Severity

    if not logs_dir.is_dir():
        raise UsageError(
            f"{logs_dir} is not a directory", hint="pass a directory of passing-build logs"
        )
    files = sorted(p for p in logs_dir.rglob("*") if p.is_file())
    if not files:
        raise UsageError(f"no log files in {logs_dir}", hint="add logs of passing builds")
    logs = []  # each job log of an archive counts as one log
    for path in files:
        logs += log_sources(path)
    analyzer = Analyzer(load_database(pattern_dirs, shipped=not no_shipped), all_findings=True)
    floor = Severity(min_severity)
    fired: dict[str, list[str]] = {}
    for log in logs:
        for finding in analyzer.analyze_source(log).failures:
            if finding.severity.at_least(floor):
                fired.setdefault(finding.pattern_id, []).append(log.name)
    rows = sorted(
        ((pid, len(names), len(names) / len(logs), names) for pid, names in fired.items()),
        key=lambda r: -r[1],
    )
    noisy = [r for r in rows if r[2] > threshold]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "logs": len(logs),
                    "threshold": threshold,
                    "severity": min_severity,
                    "patterns": [
                        {
                            "pattern_id": pid,
                            "count": n,
                            "share": round(share, 4),
                            "noisy": share > threshold,
                            "examples": names[:3],
                        }
                        for pid, n, share, names in rows
                    ],
                },
                indent=2,
            )
        )
    else:
        for pid, n, share, names in rows:
            flag = "NOISY" if share > threshold else "ok   "
            click.echo(
                f"{flag} {pid:<28} {n:>5} of {len(logs)} logs ({share:.1%})  e.g. {names[0]}"
            )
        click.echo(
            f"{len(noisy)} pattern(s) fire on more than {threshold:.0%} "
            f"of {len(logs)} passing logs",
            err=True,
        )
    return 1 if noisy else 0
