"""``hee-monitor escalation``: the failures tracked for GitHub issues, and a sweep on demand.

``status`` lists each tracked fingerprint with its count and issue; ``sweep --dry-run``
shows what the next sweep would file, update, reopen or close without writing to GitHub.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from hee_monitor.action.escalation.issues import EscalationSettings, IssueEscalator, plan
from hee_monitor.action.escalation.store import EscalationStore
from hee_monitor.core.config import load_config
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import HealthState
from hee_monitor.record.db import open_engine

_database = click.option("--database", help="Audit store URL (default: [monitor] database).")
_config = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
_fmt = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                    show_default=True)  # fmt: skip


@click.group("escalation")
def escalation() -> None:
    """Persistent failures tracked as GitHub issues.

    \b
    Examples:
      hee-monitor escalation status                     tracked failures and their issues
      hee-monitor escalation sweep --dry-run            what would be filed, nothing sent
    """


@escalation.command("status")
@_fmt
@_database
@_config
def status(fmt: str, database: str | None, config_file: Path | None) -> int:
    """List tracked failure fingerprints, their counts and issues.

    \b
    Examples:
      hee-monitor escalation status
      hee-monitor escalation status --format json --database sqlite:///ci/hee.db

    Reads --config / $HEE_CONFIG ([monitor] database) and $HEE_DATABASE_URL.
    """
    config = load_config(config_file)
    settings = EscalationSettings.from_section(config.section("escalation"))
    store = EscalationStore(open_engine(database or config.database, read_only=True))
    now = datetime.now(UTC)
    rows = store.all()
    if fmt == "json":
        click.echo(json.dumps([
            {"repo": t.repo, "fingerprint": t.fingerprint, "pattern_id": t.pattern_id,
             "title": t.title, "occurrences": t.occurrences, "issue": t.issue_number,
             "issue_state": t.issue_state, "next": plan(t, settings, HealthState.DEGRADED,
                                                        now)[0].value}
            for t in rows
        ], indent=2))  # fmt: skip
        return 0
    if not rows:
        click.echo("no failures tracked")
    for t in rows:
        issue = f"#{t.issue_number} {t.issue_state}" if t.issue_number else "no issue"
        click.echo(f"{t.repo}  {t.fingerprint}  {t.occurrences}×  {issue}  {t.title}")
    return 0


@escalation.command("sweep")
@click.option("--dry-run", is_flag=True, help="Show what would be filed; write nothing.")
@click.option("--state", type=click.Choice([s.value for s in HealthState]), default="degraded",
              show_default=True, help="Health state to judge by.")  # fmt: skip
@_fmt
@_database
@_config
def sweep(
    dry_run: bool, state: str, fmt: str, database: str | None, config_file: Path | None
) -> int:
    """Open, update, reopen or close issues now, as the end of a cycle would.

    \b
    Examples:
      hee-monitor escalation sweep --dry-run            what it would file, with bodies
      hee-monitor escalation sweep --state failed       judge as if the pipeline failed
      hee-monitor escalation sweep --format json        file them; JSON for scripts

    Exit 2 unless [escalation] enabled = true (not needed with --dry-run).
    Reads $HEE_CONFIG, $GITHUB_TOKEN, $HEE_DATABASE_URL.
    """
    config = load_config(config_file)
    settings = EscalationSettings.from_section(config.section("escalation"))
    if dry_run:
        # a dry run shows what escalation would do, also before it is switched on
        settings = replace(settings, dry_run=True, enabled=True)
    elif not settings.enabled:
        raise ConfigError(
            "escalation into GitHub issues is not enabled",
            hint="set enabled = true in [escalation] of hee-monitor.toml "
            "(see docs/escalation.md), or look first with --dry-run",
        )
    store = EscalationStore(open_engine(database or config.database))
    forge = None
    if not settings.dry_run:
        from hee_monitor.service import wiring

        forge = wiring.forge(config, list(config.repos))
    try:
        actions = IssueEscalator(store, forge, settings).sweep(
            HealthState(state), datetime.now(UTC)
        )
    finally:
        if forge is not None:
            forge.close()
    if fmt == "json":
        click.echo(json.dumps([a.to_json() for a in actions], indent=2))
        return 0
    if not actions:
        click.echo("nothing to do")
    for a in actions:
        verb = {"open": "open", "reopen": "reopen", "update": "update", "close": "close"}[a.step]
        prefix = "would " if a.dry_run else ""
        target = f"#{a.number}" if a.number else "a new issue"
        click.echo(f"{prefix}{verb} {target} in {a.repo}: {a.title} ({a.reason})")
        if a.dry_run and a.body:
            click.echo("  " + a.body.replace("\n", "\n  "))
    return 0
