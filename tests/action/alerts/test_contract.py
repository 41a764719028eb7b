"""The contract every alert channel passes: no configured secret (SMTP password, webhook
URL or token, a GitHub token that leaked into an alert) appears in an alert, a log line,
an error message, a delivery result or any row of the audit store — whatever happens to
the delivery (sent, server error, client error, peer down, bad configuration)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from hee_monitor.action.alerts import AlertRouter
from hee_monitor.action.alerts.channels import default_url_env
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Alert, HealthState, Severity
from hee_monitor.record.schema import metadata
from tests.action.alerts.conftest import (
    HOOK_TOKEN,
    SLACK_TOKENS,
    SMS_TOKEN,
    SMTP_PASSWORD,
)
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook

GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
HOOK_PASSWORD = "hook-basic-auth-pw-77"


def _email(smtp: FakeSMTP, webhook: FakeWebhook, slack: str) -> tuple[str, list[str]]:
    return smtp.url(), [SMTP_PASSWORD, smtp.url()]


def _json(smtp: FakeSMTP, webhook: FakeWebhook, slack: str) -> tuple[str, list[str]]:
    url = f"json://ops:{HOOK_PASSWORD}@{webhook.base}/in/{HOOK_TOKEN}"
    return url, [HOOK_PASSWORD, HOOK_TOKEN, url]


def _slack(smtp: FakeSMTP, webhook: FakeWebhook, slack: str) -> tuple[str, list[str]]:
    return slack, [*SLACK_TOKENS, slack, "/".join(SLACK_TOKENS)]


def _sms(smtp: FakeSMTP, webhook: FakeWebhook, slack: str) -> tuple[str, list[str]]:
    url = f"smseagle://{SMS_TOKEN}@{webhook.base}/+15551234567"
    return url, [SMS_TOKEN, url]


CHANNEL_KINDS: dict[str, Callable[[FakeSMTP, FakeWebhook, str], tuple[str, list[str]]]] = {
    "email": _email,
    "json": _json,
    "slack": _slack,
    "sms": _sms,
}


def _store_dump(engine: Engine) -> str:
    parts = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name.startswith("alert_"):
                parts.extend(repr(dict(r)) for r in conn.execute(select(table)).mappings())
    return "\n".join(parts)


def _break(kind: str, how: str, smtp: FakeSMTP, webhook: FakeWebhook) -> None:
    if how == "server-error":
        if kind == "email":
            smtp.handler.fail_next = 10
        webhook.fail_next, webhook.fail_status = 10, 500
    elif how == "client-error":
        if kind == "email":
            smtp.handler.fail_next = 10
        webhook.fail_next, webhook.fail_status = 10, 403
    elif how == "down":
        smtp.stop()
        webhook.down()


@pytest.mark.parametrize("how", ["ok", "server-error", "client-error", "down"])
@pytest.mark.parametrize("kind", sorted(CHANNEL_KINDS))
def test_no_secret_escapes(
    kind: str,
    how: str,
    engine: Engine,
    clock: FakeClock,
    smtp: FakeSMTP,
    webhook: FakeWebhook,
    slack_on_loopback: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    url, secrets = CHANNEL_KINDS[kind](smtp, webhook, slack_on_loopback)
    secrets.append(GITHUB_TOKEN)
    env = {default_url_env("pager"): url}
    section = {
        "channels": {"pager": {"min_interval": 0}},
        "matrix": {"critical": {"channels": ["console", "pager"]}},
        "in_process_tries": 2,
        "max_attempts": 2,
    }
    router = AlertRouter.from_config(section, engine, clock, env=env)
    seen: list[Any] = [router.notifiers["pager"].describe()]
    _break(kind, how, smtp, webhook)
    leaked = Alert(
        repo="acme/api",
        severity=Severity.CRITICAL,
        title=f"push rejected for {GITHUB_TOKEN}",
        body=f"the job echoed GITHUB_TOKEN={GITHUB_TOKEN} and posted to {url}",
        fingerprint="auth-rejected",
        url=f"https://x:{GITHUB_TOKEN}@github.com/acme/api",
    )
    seen.append(router.submit(leaked, state=HealthState.FAILED, now=clock.now()))
    clock.advance(3600)
    seen.append(router.flush(clock.now()))
    seen.append(router.resolved("acme/api", "auth-rejected", clock.now()))
    seen.append(router.outbox.counts())

    received = [m.subject + m.text for m in smtp.received] + [
        r.body.decode() for r in webhook.requests
    ]
    out = capsys.readouterr()
    haystacks = {
        "results": "\n".join(map(repr, seen)),
        "logs": caplog.text,
        "store": _store_dump(engine),
        "console": out.out + out.err,
        "delivered payloads": "\n".join(received),
    }
    for where, text in haystacks.items():
        # A peer must of course receive its own credential (SMSEagle's access_token, basic
        # auth): in what it received, look for the leaked token and the whole URL only.
        for secret in [GITHUB_TOKEN, url] if where == "delivered payloads" else secrets:
            assert secret not in text, f"{kind}/{how}: a secret appears in {where}"
    if how == "ok":  # the contract is not met by sending nothing
        assert received, "nothing was delivered"


@pytest.mark.parametrize("kind", sorted(CHANNEL_KINDS))
def test_no_secret_in_configuration_errors(
    kind: str,
    engine: Engine,
    clock: FakeClock,
    smtp: FakeSMTP,
    webhook: FakeWebhook,
    slack_on_loopback: str,
) -> None:
    url, secrets = CHANNEL_KINDS[kind](smtp, webhook, slack_on_loopback)
    broken = url.replace("://", "-broken://", 1)
    with pytest.raises(ConfigError) as info:
        AlertRouter.from_config({"channels": {"email": {"urls": [broken]}}}, engine, clock, env={})
    message = f"{info.value.message} {info.value.hint}"
    for secret in secrets:
        assert secret not in message
