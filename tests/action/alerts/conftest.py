from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.core.clock import FakeClock
from hee_monitor.record.db import open_engine
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook

SMTP_USER = "alerts-bot"
SMTP_PASSWORD = "s3cret-SMTP-passw0rd"
HOOK_TOKEN = "hook-T0KEN-9f8e7d6c5b4a"
SMS_TOKEN = "smseagle-T0KEN-1a2b3c4d"
SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7")


@pytest.fixture
def engine(tmp_path: Any) -> Engine:
    return open_engine(f"sqlite:///{tmp_path / 'audit.db'}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    server = FakeSMTP(user=SMTP_USER, password=SMTP_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as hook:
        yield hook


@pytest.fixture
def slack_on_loopback(webhook: FakeWebhook, monkeypatch: pytest.MonkeyPatch) -> str:
    """apprise's slack:// plugin posts to a fixed https://hooks.slack.com/services; this is
    the one thing the loopback peer cannot stand in for, so the endpoint constant is
    pointed at the fake. Everything else (payload, tokens in the path, the ``ok`` answer
    check) is apprise's real Slack code."""
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://{webhook.base}/services")
    return "slack://" + "/".join(SLACK_TOKENS)


def channels_config(
    smtp: FakeSMTP, webhook: FakeWebhook, slack_url: str | None = None
) -> dict[str, Any]:
    """Every channel kind on loopback, with apprise's pacing turned off (tests don't sleep)."""
    return {
        "email": {"urls": [smtp.url()], "min_interval": 0},
        "slack": {
            "urls": [slack_url or f"json://{webhook.base}/slack/{HOOK_TOKEN}"],
            "min_interval": 0,
        },
        "sms": {
            "urls": [f"smseagle://{SMS_TOKEN}@{webhook.base}/+15551234567"],
            "min_interval": 0,
        },
    }
