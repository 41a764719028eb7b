"""The HTML report, rendered by a real headless Chromium where one is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hee_monitor.record.db import open_engine
from hee_monitor.record.reports.html import render_html
from hee_monitor.record.reports.model import build_model, read_audit
from tests.record.reports.conftest import HOSTILE, NOW, payload

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium): cannot render the HTML")
    profile = tmp_path / "profile"
    return subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def _report(tmp_path: Path, database: str | None = None) -> Path:
    audit = read_audit(open_engine(database), "octo/app") if database else None
    model = build_model(
        payload(),
        verified=False,
        verification="no trusted key given",
        now=NOW,
        audit=audit,
        coverage_targets={"line": 95, "branch": 80},
    )
    path = tmp_path / "report.html"
    path.write_text(render_html(model), encoding="utf-8")
    return path


def test_html_is_self_contained_and_escapes_what_users_control(tmp_path: Path) -> None:
    text = _report(tmp_path).read_text(encoding="utf-8")
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text  # jinja2's autoescape
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=\"?(https?:)?//", text)  # nothing fetched
    for svg in re.findall(r"<svg.*?</svg>", text, re.S):
        ET.fromstring(svg)


def test_html_with_the_audit_store_shows_approvals_and_alerts(
    tmp_path: Path, database: str
) -> None:
    text = _report(tmp_path, database).read_text(encoding="utf-8")
    assert "risk 7 is above the threshold 5" in text
    assert "alerts by outcome" in text
    assert "Not shown: needs the audit store" not in text


@pytest.mark.slow
def test_a_browser_shows_status_tables_and_charts(tmp_path: Path, database: str) -> None:
    path = _report(tmp_path, database)
    proc = _chromium(tmp_path, "--dump-dom", path.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert re.search(r'id="current-status">degraded<', dom)
    assert "UNVERIFIED" in dom
    # the hostile title arrives as text, never as an element
    assert "&lt;script&gt;alert" in dom and "<script>alert" not in dom
    fixes = re.search(r'<section id="fixes">(.*?)</section>', dom, re.S)
    assert fixes is not None and fixes.group(1).count("<tr>") == 3  # header + 2 fixes
    assert "rolled back" in fixes.group(1)
    assert dom.count("<svg") >= 5
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,2400", path.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
