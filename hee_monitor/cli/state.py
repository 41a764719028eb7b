"""``hee-monitor state show|set-maintenance|resume``: the pipeline's health state."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hee_monitor.core.capsule import CapsulePayload
from hee_monitor.core.clock import SystemClock
from hee_monitor.core.config import load_config
from hee_monitor.core.errors import StateError
from hee_monitor.core.models import HealthState
from hee_monitor.decision.health import Transition, allowed_triggers
from hee_monitor.record.state import HealthStore, read_state
from hee_monitor.service import wiring

_capsule_option = click.option(
    "--state-capsule", "capsule", help="State capsule file (default: [monitor] state_capsule)."
)
_config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path)
)
_database_option = click.option("--database", help="Audit store URL (default: [monitor] database).")


def _wiring(
    config_file: Path | None, capsule: str | None, database: str | None = None
) -> wiring.Wiring:
    config = load_config(config_file)
    return wiring.build(
        config, clock=SystemClock(), capsule_path=capsule, database=database, need_github=False
    )


@click.group("state")
def state() -> None:
    """Show or change the pipeline's health state (operational, degraded, failed, maintenance).

    \b
    Examples:
      hee-monitor state show                            current state and allowed triggers
      hee-monitor state set-maintenance --reason "runner upgrade"
      hee-monitor state resume                          back to operational
    """


@state.command("show")
@_config_option
@_capsule_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def show(config_file: Path | None, capsule: str | None, fmt: str) -> int:
    """Print the current state, since when, and the triggers allowed from it.

    \b
    Examples:
      hee-monitor state show                            from [monitor] state_capsule
      hee-monitor state show --state-capsule ci/capsule.json --format json

    Reads --config / $HEE_CONFIG ([monitor] state_capsule and database) and $HEE_DATABASE_URL.
    """
    config = load_config(config_file)
    # read-only: the capsule alone, so showing never creates the audit store
    file, _ = wiring.capsule_file(
        Path(capsule or config.state_capsule), None, config, SystemClock()
    )
    payload = file.load()
    snap = read_state(payload)
    allowed = list(allowed_triggers(snap.state))
    typed = CapsulePayload.from_dict(payload)
    incidents = typed.incidents
    waiting = _waiting_for_log(config.database)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "state": snap.state.value,
                    "since": snap.since,
                    "allowed_triggers": allowed,
                    "open_incidents": len(incidents),
                    "capsule_version": typed.version,
                    "waiting_for_log": waiting,
                },
                indent=2,
            )
        )
    else:
        click.echo(f"{snap.state.value} since {snap.since or 'unknown'}")
        click.echo(f"open incidents: {len(incidents)}")
        for item in waiting:
            click.echo(f"waiting for log: {item['run']} ({item['reason']})")
        click.echo(f"allowed triggers: {', '.join(allowed)}")
    return 0


def _waiting_for_log(database: str) -> list[dict[str, str]]:
    """Runs held because their log could not be read yet (read-only: never creates the
    store)."""
    from hee_monitor.core.errors import HeeError
    from hee_monitor.record.audit import AuditStore
    from hee_monitor.service.pending import PendingRuns

    try:
        engine = AuditStore.open(database, read_only=True).engine
        return [{"run": h.key, "reason": h.reason} for h in PendingRuns(engine).all()]
    except HeeError:  # the store is not reachable: the capsule alone is shown
        return []


def _move(w: wiring.Wiring, trigger: str, reason: str) -> Transition:
    move = HealthStore(w.capsule).fire(trigger, now=w.clock.now(), reason=reason)
    repo = str(w.capsule.load().get("repository", "-"))
    w.audit.record_transition(repo, move)
    return move


@state.command("set-maintenance")
@_config_option
@_capsule_option
@_database_option
@click.option("--reason", default="scheduled maintenance", show_default=True)
def set_maintenance(
    config_file: Path | None, capsule: str | None, database: str | None, reason: str
) -> int:
    """Enter maintenance: no fixes, re-runs or alerts until `state resume`.

    \b
    Examples:
      hee-monitor state set-maintenance                 reason: scheduled maintenance
      hee-monitor state set-maintenance --reason "runner upgrade"

    The transition is recorded in the audit log.
    Reads --config / $HEE_CONFIG ([monitor] state_capsule and database) and $HEE_DATABASE_URL.
    """
    w = _wiring(config_file, capsule, database)
    current = read_state(w.capsule.load()).state
    trigger = {
        HealthState.OPERATIONAL: "scheduled_update",
        HealthState.DEGRADED: "manual_intervention",
    }.get(current)
    if trigger is None:
        raise StateError(
            f"cannot enter maintenance from {current.value!r}; allowed: "
            f"{', '.join(allowed_triggers(current)) or 'none'}",
            hint="maintenance starts from operational (scheduled_update) or degraded "
            "(manual_intervention)",
        )
    move = _move(w, trigger, reason)
    click.echo(f"{move.from_state.value} → {move.to_state.value} ({move.trigger}): {reason}")
    return 0


@state.command("resume")
@_config_option
@_capsule_option
@_database_option
@click.option("--reason", default="maintenance finished", show_default=True)
def resume(config_file: Path | None, capsule: str | None, database: str | None, reason: str) -> int:
    """Leave maintenance (update_complete): back to operational.

    \b
    Examples:
      hee-monitor state resume
      hee-monitor state resume --reason "runners upgraded" --state-capsule ci/capsule.json

    Reads --config / $HEE_CONFIG ([monitor] state_capsule and database) and $HEE_DATABASE_URL.
    """
    move = _move(_wiring(config_file, capsule, database), "update_complete", reason)
    click.echo(f"{move.from_state.value} → {move.to_state.value} ({move.trigger}): {reason}")
    return 0
