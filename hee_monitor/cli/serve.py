"""``hee-monitor serve``: receive GitHub webhook deliveries of failed workflow runs."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import click

from hee_monitor.core.errors import ConfigError
from hee_monitor.sources.github.webhook import DEFAULT_MAX_BODY, OnRun, WebhookIntake, WebhookServer

log = logging.getLogger(__name__)

SECRET_ENV = "HEE_WEBHOOK_SECRET"


def print_run(repo: str, run_id: int, attempt: int) -> None:
    """Default hand-over: one JSON line per failed run attempt on stdout."""
    click.echo(json.dumps({"repo": repo, "run_id": run_id, "run_attempt": attempt}))


def build_server(
    host: str, port: int, *, on_run: OnRun = print_run, max_body: int = DEFAULT_MAX_BODY
) -> WebhookServer:
    """The webhook server with the secret from ``$HEE_WEBHOOK_SECRET``."""
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ConfigError(
            f"{SECRET_ENV} is not set",
            hint=f"export {SECRET_ENV} with the secret configured on the GitHub webhook "
            "(Settings → Webhooks → Secret)",
        )
    return WebhookServer(WebhookIntake(secret, on_run, max_body=max_body), host, port)


class DeliveryPipeline:
    """The whole pipeline for each accepted delivery: fetch the run, diagnose, decide, act
    (through the effect worker) and record, on the same audit store and capsule as
    ``monitor``. Deliveries are handed over one at a time (the intake's worker thread)."""

    def __init__(self, w: Any, level: Any) -> None:
        from hee_monitor.cli.monitor import _cycle

        self.w = w
        self.queued: list[tuple[str, int, int]] = []
        self.source = _Deliveries(w.forge, self.queued)
        self.cycle = _cycle(w, level)
        self.cycle.sources = [self.source]
        self.reports: list[Any] = []

    def __call__(self, repo: str, run_id: int, attempt: int) -> None:
        if repo not in getattr(self.w.forge, "repos", ()):
            log.warning("delivery for %s ignored: not a watched repository", repo)
            return
        self.queued.append((repo, run_id, attempt))
        report = self.cycle.run_once()
        self.reports.append(report)
        for outcome in report.runs:
            decision = outcome.decision
            actions = ", ".join(a.value for a in decision.actions) if decision else "skipped"
            click.echo(json.dumps({"run": outcome.key, "actions": actions}))
        for waiting in report.waiting:
            click.echo(json.dumps({"run": waiting.key, "waiting_for_log": waiting.waiting}))
        if report.fatal:
            log.error("%s", report.fatal)


class _Deliveries:
    """A source of the runs webhooks delivered (read through the GitHub source)."""

    kind = "webhook"

    def __init__(self, github: Any, queued: list[tuple[str, int, int]]) -> None:
        self.github = github
        self.queued = queued

    def poll(self) -> Any:
        while self.queued:
            repo, run_id, attempt = self.queued.pop(0)
            yield self.github.fetch_failed_run(repo, run_id, attempt)

    def fetch_failed_run(self, repo: str, run_id: int, attempt: int) -> Any:
        return self.github.fetch_failed_run(repo, run_id, attempt)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--max-body",
    default=DEFAULT_MAX_BODY,
    show_default=True,
    type=int,
    help="Largest delivery accepted, in bytes.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default $HEE_CONFIG or ./hee-monitor.toml).",
)
@click.option("--repo", "repos", multiple=True, help="owner/name whose deliveries are processed.")
@click.option("--database", help="Audit store URL (default: [monitor] database).")
@click.option("--state-capsule", "capsule", help="State capsule file to read and update.")
@click.option(
    "--print-only",
    is_flag=True,
    help="Only print each failed run as a JSON line (no pipeline, no store).",
)
def serve(
    host: str,
    port: int,
    max_body: int,
    config_file: Path | None,
    repos: tuple[str, ...],
    database: str | None,
    capsule: str | None,
    print_only: bool,
) -> int:
    """Receive GitHub webhooks of failed runs and run the whole pipeline for each.

    For each workflow_run / workflow_job delivery: fetch the run, diagnose, decide, act and
    record, on the same audit store and state capsule as ``monitor`` (so a run that arrives
    by webhook and by poll is processed once). It refuses to start without repositories to
    watch (--repo, $HEE_REPOS or [github] repos); --print-only instead prints each failed
    run as a JSON line and keeps nothing.

    Verifies X-Hub-Signature-256 with $HEE_WEBHOOK_SECRET, drops duplicate deliveries, and
    serves /healthz and Prometheus /metrics.

    \b
    Examples:
      HEE_WEBHOOK_SECRET=... hee-monitor serve --repo octo/app     127.0.0.1:8080
      hee-monitor serve --host 0.0.0.0 --port 9000 --repo octo/app behind a reverse proxy
      hee-monitor serve --print-only                               hand-over only
      curl -s 127.0.0.1:8080/healthz                               is it up?

    Exit 2 when $HEE_WEBHOOK_SECRET is not set or no repository is watched.
    """
    if print_only:
        server = build_server(host, port, max_body=max_body)
    else:
        server = _pipeline_server(host, port, max_body, config_file, repos, database, capsule)
    previous = signal.signal(signal.SIGTERM, _stop_serving)
    try:
        click.echo(f"hee-monitor: listening for GitHub webhooks on {server.url}", err=True)
        server.serve_forever()  # SIGTERM: deliveries in progress finish, then it returns
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    click.echo("hee-monitor: stopped", err=True)
    return 0


def _stop_serving(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM (Kubernetes, systemd, docker stop): leave the server loop; the WSGI server
    lets the deliveries it is handling finish before it closes."""
    raise SystemExit(0)


def _pipeline_server(
    host: str,
    port: int,
    max_body: int,
    config_file: Path | None,
    repos: tuple[str, ...],
    database: str | None,
    capsule: str | None,
) -> WebhookServer:
    from hee_monitor.core.clock import SystemClock
    from hee_monitor.core.config import load_config
    from hee_monitor.core.models import Severity
    from hee_monitor.service import wiring

    if not os.environ.get(SECRET_ENV, ""):
        build_server(host, port)  # raises the ConfigError that names the secret
    config = load_config(config_file, dict(os.environ))
    if not (repos or config.repos):
        raise ConfigError(
            "serve runs the pipeline for the repositories it watches, and none is named",
            hint="pass --repo owner/name (or HEE_REPOS, [github] repos), "
            "or --print-only to only print the deliveries",
        )
    w = wiring.build(
        config, clock=SystemClock(), repos=repos or None, capsule_path=capsule, database=database
    )
    level = Severity(config.data["monitor"].get("alert_level", "low"))
    pipeline = DeliveryPipeline(w, level)
    secret = os.environ[SECRET_ENV]
    intake = WebhookIntake(secret, pipeline, max_body=max_body, state=w.audit)
    from prometheus_client import Gauge

    from hee_monitor.service.pending import PendingRuns

    held = PendingRuns(w.audit.engine)
    Gauge(
        "hee_runs_waiting_for_log",
        "Failed runs held because their log could not be read yet",
        registry=intake.registry,
    ).set_function(lambda: float(len(held.all())))
    return WebhookServer(intake, host, port)
