"""``hee-monitor token check``: does the GitHub token fit what is configured, and when does
it need rotating? Exit 0 when fine (warnings are printed), 1 on problems (or warnings with
``--strict``). The token itself is never printed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from hee_monitor.core.config import load_config
from hee_monitor.sources.github.token import Level, TokenReport, TokenSettings, check_token

_MARK = {Level.OK: "ok     ", Level.WARNING: "warning", Level.PROBLEM: "PROBLEM"}


@click.group("token")
def token() -> None:
    """GitHub token hygiene: scopes, expiry, rotation.

    \b
    Examples:
      hee-monitor token check                         scopes and expiry vs. features
      hee-monitor token check --strict --format json  for a scheduled CI job
    """


@token.command("check")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--api-url", help="GitHub API root (default: [github] api_url).")
@click.option("--repo", "repos", multiple=True, help="Repository to probe (default: watched).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
def check(
    fmt: str, strict: bool, api_url: str | None, repos: tuple[str, ...], config_file: Path | None
) -> int:
    """Check the token's scopes and lifetime against the configured features.

    \b
    Examples:
      hee-monitor token check                         the watched repositories
      hee-monitor token check --repo acme/api         probe one repository
      hee-monitor token check --strict --format json  warnings fail too; for CI
      hee-monitor token check --api-url https://ghe.example.com/api/v3

    With a GitHub App ($HEE_GITHUB_APP_ID and its private key) it lists the app's
    installations and compares each one's permissions with the enabled features instead.

    Exit codes: 0 fine (warnings printed), 1 problems (or warnings with --strict).
    Reads $GITHUB_TOKEN (never printed), $HEE_CONFIG, $HEE_REPOS, $HEE_GITHUB_API_URL.
    """
    from hee_monitor.service.wiring import forge

    config = load_config(config_file)
    settings = TokenSettings.from_section(config.section("token"))
    watched = list(repos) or list(config.repos)
    source = forge(config, watched, api_url=api_url, retries=2)
    try:
        report = check_token(source, settings, datetime.now(UTC), token=config.token, repos=watched)
    finally:
        source.close()
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render(report))
    if not report.ok or (strict and report.warnings):
        return 1
    return 0


def render(report: TokenReport) -> str:
    who = f" of {report.login}" if report.login else ""
    lines = [f"GitHub token{who} ({report.kind})"]
    lines += [f"  {_MARK[c.level]}  {c.topic:7} {c.message}" for c in report.checks]
    verdict = (
        "fine"
        if report.ok and not report.warnings
        else ("fine, with warnings" if report.ok else "has problems")
    )
    lines.append(f"token {verdict}")
    return "\n".join(lines)
