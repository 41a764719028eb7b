"""``hee-monitor approvals list|show|approve|reject|escalate``: fixes waiting for a person."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click

from hee_monitor.action.alerts.interface import Notifier
from hee_monitor.action.fixes.approvals import STATUSES, ApprovalStore
from hee_monitor.action.fixes.config import DEFAULT_APPROVAL_TIMEOUT_HOURS
from hee_monitor.core.clock import SystemClock
from hee_monitor.core.models import Alert, HealthState
from hee_monitor.record.db import default_database, open_engine

_database = click.option(
    "--database", envvar="HEE_DATABASE_URL", default=default_database,
    show_default="hee-monitor.db in the state directory",
    help="Audit store URL.",
)  # fmt: skip


@click.group("approvals")
def approvals() -> None:
    """Fixes above the risk threshold wait here for a person's decision.

    \b
    Examples:
      hee-monitor approvals list                      pending requests
      hee-monitor approvals show APR-3f2a9c1b0e       the plan and why it waits
      hee-monitor approvals approve APR-3f2a9c1b0e --by alice --reason "reviewed"
      hee-monitor fix apply --approval APR-3f2a9c1b0e then run the approved fix

    Every subcommand reads the audit store from --database or $HEE_DATABASE_URL.
    """


@approvals.command("list")
@_database
@click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Every request, whatever its status.")
def list_cmd(database: str, status: str, show_all: bool) -> int:
    """List approval requests (the pending ones unless --status or --all says otherwise).

    \b
    Examples:
      hee-monitor approvals list                       what waits for a decision
      hee-monitor approvals list --status approved     approved, not yet applied
      hee-monitor approvals list --all --database sqlite:///ci/hee.db

    Reads $HEE_DATABASE_URL when --database is not given.
    """
    store = ApprovalStore(open_engine(database, read_only=True))
    requests = store.requests(None if show_all else status)
    for r in requests:
        click.echo(
            f"{r.id}  {r.status:<9} {r.created:%Y-%m-%d %H:%M}  risk {r.risk:>2}  "
            f"{r.strategy:<20} {r.pattern_id}  {r.repository or r.repo_path or ''}"
            + ("  (escalated)" if r.escalated else "")
        )
    if not requests:
        click.echo("no approval requests" + ("" if show_all else f" with status {status}"))
    return 0


@approvals.command("show")
@_database
@click.argument("request_id")
def show_cmd(database: str, request_id: str) -> int:
    """Show one request as JSON: the finding, the exact plan, why it needs approval.

    \b
    Examples:
      hee-monitor approvals show APR-3f2a9c1b0e              the full request
      hee-monitor approvals show APR-3f2a9c1b0e | jq .plan   just the plan

    Exit 2 when no request has that id. Reads $HEE_DATABASE_URL.
    """
    request = ApprovalStore(open_engine(database, read_only=True)).get(request_id)
    click.echo(json.dumps(request.to_json(), indent=2))
    return 0


def _decide(action: str, database: str, request_id: str, by: str, reason: str) -> int:
    store = ApprovalStore(open_engine(database))
    getattr(store, action)(request_id, by=by, reason=reason, now=SystemClock().now())
    click.echo(f"{request_id} {action.removesuffix('e')}ed by {by}")
    if action == "approve":
        click.echo(f"run it: hee-monitor fix apply --approval {request_id}")
    return 0


@approvals.command("approve")
@_database
@click.argument("request_id")
@click.option("--by", required=True, help="Who approves (recorded in the audit log).")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
def approve_cmd(database: str, request_id: str, by: str, reason: str) -> int:
    """Approve a request; then `hee-monitor fix apply --approval ID` runs it.

    \b
    Examples:
      hee-monitor approvals approve APR-3f2a9c1b0e --by alice --reason "lockfile only"
      hee-monitor fix apply --approval APR-3f2a9c1b0e   then run it

    --by and --reason go to the audit log. Reads $HEE_DATABASE_URL.
    """
    return _decide("approve", database, request_id, by, reason)


@approvals.command("reject")
@_database
@click.argument("request_id")
@click.option("--by", required=True)
@click.option("--reason", required=True)
def reject_cmd(database: str, request_id: str, by: str, reason: str) -> int:
    """Reject a request; the fix never runs.

    \b
    Examples:
      hee-monitor approvals reject APR-3f2a9c1b0e --by bob --reason "touches prod"
      hee-monitor approvals list --status rejected     what was turned down

    --by and --reason go to the audit log. Reads $HEE_DATABASE_URL.
    """
    return _decide("reject", database, request_id, by, reason)


class _Printer:
    """Hands escalations to stdout as JSON lines."""

    def notify(self, alert: Alert, now: datetime) -> str:
        data = {"kind": alert.kind, "severity": alert.severity.value, "repo": alert.repo}
        click.echo(json.dumps(data | {"title": alert.title, "body": alert.body}))
        return "printed"

    def flush(self, now: datetime) -> None:
        pass

    def recovered(self, repo: str, now: datetime) -> None:
        pass


class _Recorded:
    """A notifier that remembers what its inner notifier did with each alert."""

    def __init__(self, inner: Notifier) -> None:
        self.inner = inner
        self.outcomes: list[str] = []

    def notify(self, alert: Alert, now: datetime) -> str:
        outcome = self.inner.notify(alert, now)
        self.outcomes.append(outcome)
        return outcome

    def flush(self, now: datetime) -> None:
        self.inner.flush(now)

    def recovered(self, repo: str, now: datetime) -> None:
        self.inner.recovered(repo, now)


@approvals.command("escalate")
@_database
@click.option("--timeout-hours", type=float, default=DEFAULT_APPROVAL_TIMEOUT_HOURS,
              show_default=True)  # fmt: skip
@click.option("--print", "print_only", is_flag=True,
              help="Hand the alerts to stdout as JSON lines (for another alerting system) "
                   "instead of the router; they count as escalated.")  # fmt: skip
def escalate_cmd(database: str, timeout_hours: float, print_only: bool) -> int:
    """Escalate requests pending longer than the timeout, once each, through the alert
    router ([alerts] of hee-monitor.toml).

    \b
    Examples:
      hee-monitor approvals escalate                   route overdue requests (cron)
      hee-monitor approvals escalate --timeout-hours 4 a tighter deadline
      hee-monitor approvals escalate --print | my-pager   hand them to another system

    Reads $HEE_DATABASE_URL and the [alerts] section of $HEE_CONFIG / hee-monitor.toml.
    """
    # the router's tables must be declared before the store creates what is missing
    from hee_monitor.action.alerts.pipeline import AlertRouter
    from hee_monitor.core.config import load_config

    engine = open_engine(database)
    store = ApprovalStore(engine)
    clock = SystemClock()
    now = clock.now()
    notifier: Notifier = _Printer()
    routed: _Recorded | None = None
    if not print_only:
        from hee_monitor.service.notify import RouterNotifier

        router = AlertRouter.from_config(load_config().section("alerts"), engine, clock)
        notifier = routed = _Recorded(RouterNotifier(router, lambda: HealthState.OPERATIONAL))
    sent = store.escalate_due(now, timedelta(hours=timeout_hours), notifier)
    if routed is not None:
        routed.flush(now)
        for alert, outcome in zip(sent, routed.outcomes, strict=True):
            click.echo(f"escalated ({outcome}): {alert.title}")
    if not sent:
        click.echo("nothing to escalate", err=True)
    return 0
