"""``hee-monitor artifacts analyze FILE...``: findings of CI reports on disk.

SARIF, pip-audit and npm audit JSON, pip-licenses and license-checker JSON, JUnit XML, or a
zip of them (an artifact as GitHub serves it). Exit 0 when nothing was found, 1 when
something was, 2 when no file could be read at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from hee_monitor.analysis.detection.artifacts.interface import ArtifactReport
from hee_monitor.analysis.detection.artifacts.reader import read_path
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.config import load_config
from hee_monitor.core.errors import UsageError


@click.group("artifacts")
def artifacts() -> None:
    """Findings in the reports CI jobs upload (security, audits, licenses, tests).

    \b
    Examples:
      hee-monitor artifacts analyze results.sarif pip-audit.json   scanner + audit
      hee-monitor artifacts analyze --format json sarif-results.zip  an artifact zip
    """


@artifacts.command("analyze")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
@click.option(
    "--allow-license",
    "allow",
    multiple=True,
    help="Allowed license (SPDX id; repeatable). Adds to [detection] licenses_allow.",
)
@click.option(
    "--deny-license",
    "deny",
    multiple=True,
    help="Denied license (repeatable). Adds to [detection] licenses_deny.",
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
def analyze(
    files: tuple[Path, ...],
    fmt: str,
    allow: tuple[str, ...],
    deny: tuple[str, ...],
    config_file: Path | None,
) -> int:
    """Read report FILES (or artifact zips) and list what they report.

    Reads SARIF, pip-audit and npm audit JSON, pip-licenses and license-checker JSON,
    JUnit XML, or a zip of them as GitHub serves an artifact.

    \b
    Examples:
      hee-monitor artifacts analyze results.sarif pip-audit.json   scanner + audit
      hee-monitor artifacts analyze --format json sarif-results.zip
      hee-monitor artifacts analyze --deny-license GPL-3.0 pip-licenses.json
      hee-monitor artifacts analyze --allow-license MIT license-checker.json

    Exit codes: 0 nothing found, 1 findings, 2 no file could be read.
    Reads [detection] of --config / $HEE_CONFIG / hee-monitor.toml.
    """
    if not files:
        raise UsageError(
            "name at least one report file",
            hint="hee-monitor artifacts analyze results.sarif pip-audit.json",
        )
    settings = DetectionSettings.from_section(load_config(config_file).section("detection"))
    if allow or deny:
        from dataclasses import replace

        settings = replace(
            settings,
            licenses_allow=(*settings.licenses_allow, *allow),
            licenses_deny=(*settings.licenses_deny, *deny),
        )
    report = ArtifactReport()
    for path in files:
        report = report + read_path(path, settings)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render(report))
    if not report.formats:
        return 2
    return 1 if report.findings else 0


def render(report: ArtifactReport) -> str:
    lines = []
    for finding in report.findings:
        details = finding.details
        where = details.get("file") or details.get("package") or ""
        line = f":{details['line']}" if details.get("line") else ""
        lines.append(
            f"{finding.severity.value.upper():8} {finding.pattern_id}  {finding.title}"
            + (f"\n         {where}{line}" if where and where not in finding.title else "")
        )
        if details.get("version") and details.get("package"):
            lines.append(f"         fix: {details['package']} {details['version']}")
    for skipped in report.skipped:
        lines.append(f"skipped  {skipped.name}: {skipped.reason}")
    read = len(report.formats)
    lines.append(f"{len(report.findings)} finding(s) in {read} report(s)")
    return "\n".join(lines)
