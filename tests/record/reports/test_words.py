"""The report's words and colours say what happened: alerts the outbox delivered are
"delivered" (not "queued"), and a colour means one category in every chart."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import insert

from hee_monitor.core.models import Alert, Severity
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.db import open_engine
from hee_monitor.record.reports import charts
from hee_monitor.record.reports.html import render_html
from hee_monitor.record.reports.markdown import render_markdown
from hee_monitor.record.reports.model import build_model, read_audit
from hee_monitor.record.schema import alert_outbox as outbox_table
from tests.record.reports.conftest import NOW, payload


def _queued_alerts(url: str) -> None:
    """Three alerts the monitor handed to the outbox: one delivered, one still waiting for
    its channel, one given up on."""
    audit = AuditStore.open(url)
    at = NOW - timedelta(hours=3)
    for fingerprint, status in (("fp-a", "delivered"), ("fp-b", "pending"), ("fp-c", "dead")):
        alert = Alert(
            repo="octo/app",
            severity=Severity.HIGH,
            title=f"alert {fingerprint}",
            body="",
            fingerprint=fingerprint,
            kind="failure",
            created_at=at,
        )
        audit.record_alert(alert, "queued", now=at)
        with audit.engine.begin() as conn:
            conn.execute(
                insert(outbox_table).values(
                    channel="console", repo="octo/app", fingerprint=fingerprint,
                    severity="high", kind="failure", title=alert.title, body="", url=None,
                    count=1, detected_at=at, enqueued_at=at, next_attempt_at=at,
                    attempts=1, status=status,
                    delivered_at=at if status == "delivered" else None,
                )
            )  # fmt: skip


def test_alert_volume_says_delivered_waiting_and_failed_never_queued(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    _queued_alerts(url)
    audit = read_audit(open_engine(url), "octo/app")
    model = build_model(payload(), verified=False, verification="-", now=NOW, audit=audit)
    assert model.alerts is not None
    assert model.alerts.totals() == {"delivered": 1, "waiting": 1, "failed": 1}
    markdown = render_markdown(model).split("## Alert volume", 1)[1]
    html = render_html(model).split('<section id="alerts">', 1)[1]
    for text in (markdown, html):
        assert "delivered" in text and "waiting" in text
        assert "queued" not in text


def test_one_colour_per_category_across_the_report_s_charts(database: str) -> None:
    audit = read_audit(open_engine(database), "octo/app")
    model = build_model(payload(), verified=False, verification="-", now=NOW, audit=audit)
    html = render_html(model)
    used: dict[str, set[str]] = {}
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        title = re.search(r"<title>(.*?)</title>", svg)
        assert title is not None
        if title.group(1) not in ("failures by category", "failures by pattern"):
            continue
        for fill, name in re.findall(
            r'fill="(#[0-9a-fA-F]{6})"[^>]*>\s*<title>[^:<]*: (\S+) ', svg
        ):
            category = model.pattern_categories.get(name, name)
            used.setdefault(fill.lower(), set()).add(category)
    assert used, "the charts drew no bars"
    # each colour stands for exactly one category, in both charts
    assert all(len(categories) == 1 for categories in used.values()), used
    lint = charts.category_colour("lint").lower()
    assert used[lint] == {"lint"}


def test_category_state_and_outcome_colours_never_coincide() -> None:
    categories = set(charts.CATEGORY_COLOURS.values())
    states = set(charts.STATE_COLOURS.values())
    outcomes = set(charts.OUTCOME_COLOURS.values())
    assert len(categories) == len(charts.CATEGORY_COLOURS)
    assert len(outcomes) == len(charts.OUTCOME_COLOURS)
    assert not categories & states and not categories & outcomes and not states & outcomes
