"""``hee-monitor serve``: receive GitHub webhook deliveries of failed workflow runs."""

from __future__ import annotations

import json
import logging
import os

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
def serve(host: str, port: int, max_body: int) -> int:
    """Receive GitHub webhooks (workflow_run, workflow_job) of failed runs.

    Verifies X-Hub-Signature-256 with $HEE_WEBHOOK_SECRET, drops duplicate deliveries and
    prints each completed failed run attempt as a JSON line. Also serves /healthz and
    Prometheus /metrics.

    \b
    Examples:
      HEE_WEBHOOK_SECRET=... hee-monitor serve            127.0.0.1:8080
      hee-monitor serve --host 0.0.0.0 --port 9000        behind a reverse proxy
      curl -s 127.0.0.1:8080/healthz                      is it up?

    Exit 2 when $HEE_WEBHOOK_SECRET is not set.
    """
    server = build_server(host, port, max_body=max_body)
    click.echo(f"hee-monitor: listening for GitHub webhooks on {server.url}", err=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0
