"""``hee-monitor audit query|transitions``: what the monitor decided, and how the health
state moved, filtered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from hee_monitor.core.config import load_config
from hee_monitor.core.errors import UsageError
from hee_monitor.decision.interface import Action
from hee_monitor.record.audit import AuditStore


def parse_when(value: str | None, now: datetime) -> datetime | None:
    """An ISO date/time (UTC when no zone) or a duration ago: 30m, 12h, 7d."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if value[:-1].isdigit() and value[-1:] in units:
        return now - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read {value!r} as a time",
            hint="use an ISO time (2026-11-22T18:00:00Z, 2026-11-22) or a duration ago (12h, 7d)",
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@click.group("audit")
def audit() -> None:
    """Query the audit log of decisions, state transitions and actions.

    \b
    Examples:
      hee-monitor audit query --since 24h             the last day's decisions
      hee-monitor audit query --repo acme/api --action escalate --format json
      hee-monitor audit transitions --since 7d       how the health state moved
    """


@audit.command("query")
@click.option("--repo", help="owner/name")
@click.option("--since", help="ISO time or duration ago (24h, 7d).")
@click.option("--until", help="ISO time or duration ago.")
@click.option("--action", type=click.Choice([a.value for a in Action]))
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--database", help="Audit store URL (default: [monitor] database).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
def query(
    repo: str | None,
    since: str | None,
    until: str | None,
    action: str | None,
    limit: int,
    fmt: str,
    database: str | None,
    config_file: Path | None,
) -> int:
    """List the monitor's decisions, newest first, filtered by repository, time and action.

    \b
    Examples:
      hee-monitor audit query --since 24h                      the last day
      hee-monitor audit query --repo acme/api --since 7d       one repository, a week
      hee-monitor audit query --action auto_fix --format json  every automatic fix, JSON
      hee-monitor audit query --since 2026-11-01 --until 2026-11-08

    --since/--until take an ISO time (UTC when no zone) or a duration ago (30m, 12h, 7d).
    Reads --database, else [monitor] database / $HEE_DATABASE_URL.
    """
    config = load_config(config_file)
    now = datetime.now(UTC)
    rows = AuditStore.open(database or config.database, read_only=True).query(
        repo=repo,
        since=parse_when(since, now),
        until=parse_when(until, now),
        action=action,
        limit=limit,
    )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("time", "repo", "run", "pattern", "actions", "state", "reasons")
    for r in rows:
        moved = f"{r['from_state']}→{r['to_state']}" if r["triggers"] else r["to_state"]
        table.add_row(
            r["decided_at"],
            r["repo"],
            r["run_key"] or r["event"],
            r["pattern_id"] or "-",
            ",".join(r["actions"]),
            moved,
            "; ".join(r["reasons"]),
        )
    Console(width=200).print(table)
    click.echo(f"{len(rows)} decision(s)")
    return 0


@audit.command("transitions")
@click.option("--repo", help="owner/name")
@click.option("--since", help="ISO time or duration ago (24h, 7d).")
@click.option("--until", help="ISO time or duration ago.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--database", help="Audit store URL (default: [monitor] database).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
def transitions_cmd(
    repo: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    fmt: str,
    database: str | None,
    config_file: Path | None,
) -> int:
    """List health state transitions, newest first: the monitor's and those made by hand
    (state set-maintenance / resume).

    \b
    Examples:
      hee-monitor audit transitions --since 24h                 the last day
      hee-monitor audit transitions --repo acme/api --format json

    Reads --database, else [monitor] database / $HEE_DATABASE_URL.
    """
    config = load_config(config_file)
    now = datetime.now(UTC)
    rows = AuditStore.open(database or config.database, read_only=True).transition_log(
        repo=repo, since=parse_when(since, now), until=parse_when(until, now), limit=limit
    )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("time", "repo", "trigger", "state", "reason")
    for r in rows:
        table.add_row(
            r["at"], r["repo"], r["trigger"], f"{r['from_state']}→{r['to_state']}", r["reason"]
        )
    Console(width=200).print(table)
    click.echo(f"{len(rows)} transition(s)")
    return 0
