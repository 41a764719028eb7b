"""``hee-monitor silence add|list|expire``: mute alerts by repository, pattern and severity
until a given time. Silences live in the audit store, where the monitor reads them."""

from __future__ import annotations

import getpass
import json

import click

from hee_monitor.action.alerts.matrix import parse_duration
from hee_monitor.action.alerts.silences import Silence, SilenceStore, parse_severities
from hee_monitor.core.clock import SystemClock
from hee_monitor.core.errors import ConfigError, UsageError
from hee_monitor.core.models import Severity
from hee_monitor.record.db import default_database, open_engine

_database = click.option(
    "--database",
    envvar="HEE_DATABASE_URL",
    default=default_database,
    show_default="hee-monitor.db in the state directory",
    help="Audit store (SQLAlchemy URL); env HEE_DATABASE_URL.",
)


def _store(database: str, *, read_only: bool = False) -> SilenceStore:
    return SilenceStore(open_engine(database, read_only=read_only))


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


@click.group()
def silence() -> None:
    """Mute alerts for a while (by repository, pattern, severity).

    \b
    Examples:
      hee-monitor silence add --repo 'acme/*' --pattern 'JS-NPM-*' -c "registry down"
      hee-monitor silence list                          what is muted now
      hee-monitor silence expire 081c67211db5           end it early

    Silences live in the audit store (--database or $HEE_DATABASE_URL).
    """


@silence.command("add")
@click.option("--repo", default="*", show_default=True, help="Repository glob, e.g. acme/*.")
@click.option(
    "--pattern",
    default="*",
    show_default=True,
    help="Glob over the alert's pattern id and fingerprint (case-sensitive), e.g. JS-NPM-*.",
)
@click.option(
    "--severity",
    "severities",
    multiple=True,
    type=click.Choice([s.value for s in Severity]),
    help="Only these severities (repeatable); all when left out.",
)
@click.option("--expires", default="2h", show_default=True, help="Duration from now: 30m, 2h, 1d.")
@click.option("-c", "--comment", default="", help="Why (shown in muted outcomes).")
@click.option("--created-by", default=_user, help="Who (default: the current user).")
@_database
def add(
    repo: str,
    pattern: str,
    severities: tuple[str, ...],
    expires: str,
    comment: str,
    created_by: str,
    database: str,
) -> int:
    """Add a silence that mutes matching alerts until it expires; prints its id.

    \b
    Examples:
      hee-monitor silence add --repo 'acme/*' --pattern 'JS-NPM-*' --expires 2h \\
          -c "npm registry outage"
      hee-monitor silence add --severity low --expires 1d -c "release week"
      hee-monitor silence add --repo acme/api --expires 30m --database sqlite:///ci/hee.db

    Pattern ids are upper case (hee-monitor patterns list). Reads $HEE_DATABASE_URL.
    """
    try:
        duration = parse_duration(expires, where="--expires")
    except ConfigError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    now = SystemClock().now()
    created = _store(database).add(
        now=now,
        expires_at=now + duration,
        repo=repo,
        pattern=pattern,
        severities=parse_severities(severities),
        comment=comment,
        created_by=created_by,
    )
    click.echo(created.id)
    return 0


@silence.command("list")
@click.option("--all", "include_expired", is_flag=True, help="Include expired silences.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@_database
def list_(include_expired: bool, fmt: str, database: str) -> int:
    """List active silences (with --all, expired ones too).

    \b
    Examples:
      hee-monitor silence list                          active silences
      hee-monitor silence list --all --format json      every silence, for scripts

    Reads $HEE_DATABASE_URL.
    """
    now = SystemClock().now()
    found = _store(database, read_only=True).entries(now, include_expired=include_expired)
    if fmt == "json":
        click.echo(json.dumps([_to_json(s) for s in found], indent=2))
        return 0
    if not found:
        click.echo("no silences" if include_expired else "no active silences")
        return 0
    for s in found:
        state = "active" if s.active(now) else "expired"
        sev = ",".join(v.value for v in s.severities) or "*"
        click.echo(
            f"{s.id}  {state:7}  repo={s.repo}  pattern={s.pattern}  severity={sev}  "
            f"until {s.expires_at:%Y-%m-%d %H:%M}Z"
            + (f"  by {s.created_by}" if s.created_by else "")
            + (f"  — {s.comment}" if s.comment else "")
        )
    return 0


@silence.command("expire")
@click.argument("silence_id")
@_database
def expire(silence_id: str, database: str) -> int:
    """End a silence now; alerts it muted flow again.

    \b
    Examples:
      hee-monitor silence list                          find the id
      hee-monitor silence expire 081c67211db5

    Exit 2 when no silence has that id. Reads $HEE_DATABASE_URL.
    """
    ended = _store(database).expire(silence_id, SystemClock().now())
    click.echo(f"{ended.id} expired at {ended.expires_at:%Y-%m-%d %H:%M:%S}Z")
    return 0


def _to_json(s: Silence) -> dict[str, object]:
    return {
        "id": s.id,
        "repo": s.repo,
        "pattern": s.pattern,
        "severities": [v.value for v in s.severities],
        "comment": s.comment,
        "created_by": s.created_by,
        "created_at": s.created_at.isoformat(),
        "expires_at": s.expires_at.isoformat(),
    }
