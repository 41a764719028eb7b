from __future__ import annotations

import dataclasses
import io

import pytest

from hee_monitor.action.alerts.channels import (
    AppriseNotifier,
    ConsoleNotifier,
    Message,
    build_notifiers,
    default_url_env,
)
from hee_monitor.action.alerts.redact import Scrubber
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Severity
from tests.action.alerts.conftest import HOOK_TOKEN, SLACK_TOKENS, SMS_TOKEN, SMTP_PASSWORD
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook

MESSAGE = Message(
    repo="acme/api",
    fingerprint="npm-registry-timeout",
    severity=Severity.CRITICAL,
    title="npm ci cannot reach the registry",
    body="ETIMEDOUT registry.npmjs.org (job build, step Install)",
    count=3,
    url="https://github.com/acme/api/actions/runs/1",
)


def test_email_reaches_a_real_smtp_server_with_login(smtp: FakeSMTP) -> None:
    notifier = AppriseNotifier("email", [smtp.url("oncall@acme.org")], min_interval=0)
    assert notifier.send(MESSAGE).ok
    assert smtp.logins == ["alerts-bot"]
    [mail] = smtp.received
    assert mail.rcpt_tos == ["oncall@acme.org"]
    assert mail.subject == "[CRITICAL] acme/api: npm ci cannot reach the registry (×3)"
    assert "ETIMEDOUT registry.npmjs.org" in mail.text
    assert "Seen 3 times" in mail.text
    assert SMTP_PASSWORD not in notifier.describe()


def test_smtp_temporary_failure_is_recoverable(smtp: FakeSMTP) -> None:
    smtp.handler.fail_next = 1
    result = AppriseNotifier("email", [smtp.url()], min_interval=0).send(MESSAGE)
    assert not result.ok and result.recoverable
    assert result.error and result.error.startswith("email:")


def test_generic_json_webhook_payload(webhook: FakeWebhook) -> None:
    notifier = AppriseNotifier("hook", [f"json://{webhook.base}/in/{HOOK_TOKEN}"], min_interval=0)
    assert notifier.send(MESSAGE).ok
    [request] = webhook.requests
    assert request.path == f"/in/{HOOK_TOKEN}"
    payload = request.json()
    assert payload["title"].startswith("[CRITICAL] acme/api")
    assert "fingerprint: npm-registry-timeout" in payload["message"]
    assert payload["type"] == "failure"


def test_slack_webhook_payload_is_apprises_real_slack_format(
    webhook: FakeWebhook, slack_on_loopback: str
) -> None:
    notifier = AppriseNotifier("slack", [slack_on_loopback], min_interval=0)
    assert notifier.send(MESSAGE).ok
    [request] = webhook.requests
    assert request.path == "/services/" + "/".join(SLACK_TOKENS)
    attachment = request.json()["attachments"][0]
    assert attachment["title"] == "[CRITICAL] acme/api: npm ci cannot reach the registry (×3)"
    assert "ETIMEDOUT" in attachment["text"]
    assert attachment["color"]  # severity colour


def test_sms_through_an_smseagle_gateway(webhook: FakeWebhook) -> None:
    url = f"smseagle://{SMS_TOKEN}@{webhook.base}/+15551234567"
    assert AppriseNotifier("sms", [url], min_interval=0).send(MESSAGE).ok
    [request] = webhook.posts_to("/jsonrpc/sms")
    params = request.json()["params"]
    assert params["to"] == "+15551234567"
    assert "npm ci cannot reach the registry" in params["message"]


def test_server_error_is_recoverable_client_error_is_not(webhook: FakeWebhook) -> None:
    notifier = AppriseNotifier("hook", [f"json://{webhook.base}/in/{HOOK_TOKEN}"], min_interval=0)
    webhook.fail_next, webhook.fail_status = 1, 500
    first = notifier.send(MESSAGE)
    assert not first.ok and first.recoverable and "500" in (first.error or "")
    webhook.fail_next, webhook.fail_status = 1, 404
    second = notifier.send(MESSAGE)
    assert not second.ok and not second.recoverable
    assert notifier.send(MESSAGE).ok


def test_unreachable_peer_is_recoverable(webhook: FakeWebhook) -> None:
    notifier = AppriseNotifier("hook", [f"json://{webhook.base}/in/{HOOK_TOKEN}"], min_interval=0)
    webhook.down()
    result = notifier.send(MESSAGE)
    assert not result.ok and result.recoverable
    assert HOOK_TOKEN not in (result.error or "")


def test_console_prints_an_alert_in_three_lines_each_field_once() -> None:
    out = io.StringIO()
    assert ConsoleNotifier(file=out).send(MESSAGE).ok
    lines = out.getvalue().splitlines()
    assert lines == [
        "[CRITICAL] acme/api: npm ci cannot reach the registry (×3)",
        "  ETIMEDOUT registry.npmjs.org (job build, step Install)",
        "  https://github.com/acme/api/actions/runs/1 · fingerprint npm-registry-timeout",
    ]


def test_console_joins_body_lines_and_keeps_brackets_in_titles_literal() -> None:
    out = io.StringIO()
    message = dataclasses.replace(
        MESSAGE, title="[bold]x[/] failed", body="first reason\n\nsecond reason", count=1
    )
    ConsoleNotifier(file=out).send(message)
    assert out.getvalue().splitlines()[:2] == [
        "[CRITICAL] acme/api: [bold]x[/] failed",
        "  first reason · second reason",
    ]


def test_console_resolved_notice_does_not_repeat_its_subject() -> None:
    out = io.StringIO()
    resolved = Message(
        "acme/api", "fp-1", Severity.HIGH, "CI failed on main: x", "Resolved: CI failed ...",
        kind="resolved",
    )  # fmt: skip
    ConsoleNotifier(file=out).send(resolved)
    assert out.getvalue().splitlines() == [
        "[RESOLVED] acme/api: CI failed on main: x",
        "  no longer occurs · fingerprint fp-1",
    ]


def test_invalid_url_is_a_config_error_without_the_url() -> None:
    with pytest.raises(ConfigError) as info:
        AppriseNotifier("pager", ["nosuchscheme://s3cr3t-t0ken-value@host/x"])
    assert "s3cr3t-t0ken-value" not in str(info.value)
    assert "pager" in str(info.value)


def test_channel_urls_come_from_config_or_environment() -> None:
    env = {default_url_env("email"): "json://127.0.0.1:9/a json://127.0.0.1:9/b"}
    notifiers, skipped = build_notifiers(
        {"pager": {"url_env": "PAGER_URL"}},
        frozenset({"console", "email", "slack", "pager"}),
        Scrubber(),
        env,
    )
    assert set(notifiers) == {"console", "email"}
    assert notifiers["email"].describe() == "json://127.0.0.1:9/****, json://127.0.0.1:9/****"
    assert "HEE_ALERT_SLACK_URL" in skipped["slack"]
    assert "PAGER_URL" in skipped["pager"]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"email": {"type": "carrier-pigeon"}}, "unknown type"),
        ({"email": {"urls": "json://x"}}, None),
        ({"email": {"urls": [1]}}, "list of strings"),
        ({"email": {"urls": ["json://127.0.0.1/x"], "min_interval": -1}}, "min_interval"),
        ({"email": "json://x"}, "must be a table"),
    ],
)
def test_bad_channel_config(section: dict, words: str | None) -> None:
    if words is None:
        notifiers, _ = build_notifiers(section, frozenset(), Scrubber(), {})
        assert "email" in notifiers
        return
    with pytest.raises(ConfigError, match=words):
        build_notifiers(section, frozenset(), Scrubber(), {})


def test_message_text_for_a_resolved_notice() -> None:
    resolved = Message("acme/api", "fp", Severity.HIGH, "tests fail", "gone", kind="resolved")
    assert resolved.subject == "[RESOLVED] acme/api: tests fail"
    assert resolved.text.startswith("gone")
