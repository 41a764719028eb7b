"""``hee-monitor report``: the state capsule (and the audit store) as Markdown or HTML."""

from __future__ import annotations

from pathlib import Path

import click

from hee_monitor.core.clock import SystemClock
from hee_monitor.core.config import default_state_capsule
from hee_monitor.core.errors import UsageError
from hee_monitor.record.reports import RENDERERS, format_for, load_report


@click.command("report")
@click.option(
    "--input",
    "capsule",
    type=click.Path(path_type=Path),
    default=default_state_capsule,
    show_default="current.json in the state directory",
    help="The state capsule (a file, or a capsule store directory).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the report (default: standard output).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    help="markdown or html (default: from the --output suffix, else markdown).",
)
@click.option(
    "--database",
    envvar="HEE_DATABASE_URL",
    help="Audit store URL, for the time series, open approvals and alert volume.",
)
@click.option(
    "--trusted-key",
    "trusted",
    multiple=True,
    help="Public key to verify the capsule with (repeatable; default $HEE_TRUSTED_KEYS). "
    "Without one the report is marked unverified.",
)
@click.option(
    "--coverage-targets",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    help="Coverage targets (TOML or JSON, as for `hee-monitor coverage`): shows the gaps.",
)
def report(
    capsule: Path,
    output: Path | None,
    fmt: str | None,
    database: str | None,
    trusted: tuple[str, ...],
    coverage_targets: Path | None,
) -> int:
    """Write a state report: status, timeline, failures, fixes, approvals, coverage, alerts.

    \b
    Examples:
      hee-monitor report                                  Markdown of the current capsule
      hee-monitor report --output health.html             HTML (from the suffix)
      hee-monitor report --trusted-key pub.pem --database sqlite:///ci/hee.db
      hee-monitor report --coverage-targets coverage-targets.toml >> $GITHUB_STEP_SUMMARY

    Reads $HEE_DATABASE_URL and $HEE_TRUSTED_KEYS when the options are not given.
    """
    chosen = format_for(output, fmt)
    targets = None
    if coverage_targets is not None:
        from hee_monitor.analysis.coverage.analyze import Targets

        targets = dict(Targets.from_file(coverage_targets).values)
    model = load_report(
        capsule, now=SystemClock().now(), trusted=trusted, database=database,
        coverage_targets=targets,
    )  # fmt: skip
    text = RENDERERS[chosen](model)
    if output is None:
        click.echo(text, nl=False)
        return 0
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write the report ({exc.strerror})") from None
    state = "verified" if model.verified else "UNVERIFIED"
    click.echo(f"wrote {output} ({chosen}, capsule v{model.capsule_version}, {state})", err=True)
    return 0
