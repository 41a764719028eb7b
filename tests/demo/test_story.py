"""The demo, run in-process: its artefacts are real and say what happened."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select

from hee_monitor.core.errors import UsageError
from hee_monitor.demo.story import FLAKY_LOG, DemoResult, play
from hee_monitor.record.capsule.keys import TrustedKeys, load_public_key
from hee_monitor.record.capsule.store import CapsuleDirectory
from hee_monitor.record.db import open_engine
from hee_monitor.record.schema import alert_outbox as outbox_table
from hee_monitor.record.schema import alerts, decisions


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, str]:
    out = io.StringIO()
    result = play(tmp_path_factory.mktemp("demo") / "work", Console(file=out, width=120))
    return result, out.getvalue()


def test_the_capsule_verifies_with_the_generated_key(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    keys = TrustedKeys.of([load_public_key(str(result.public_key))])
    store = CapsuleDirectory(result.capsule_dir, None, keys)
    live = store.load()
    assert live.version > 3
    assert store.verify_chain().oldest_version == 1
    assert live.payload["monitoring_state"]["current_status"] == "failed"  # the compile error
    fixes = live.payload["auto_fix_history"]
    kept = [f for f in fixes if f["success"] and not f["rollback"]]
    rolled = [f for f in fixes if f["rollback"]]
    assert [f["pattern_id"] for f in kept] == ["LIC-HEADER-MISSING"]
    assert [f["pattern_id"] for f in rolled] == ["PY-PIP-RESOLUTION"]


def test_the_fix_is_on_a_branch_with_a_pull_request(demo: tuple[DemoResult, str]) -> None:
    result, out = demo
    assert len(result.pull_requests) == 1 and "/pull/1" in result.pull_requests[0]
    branch = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/hee/fix/"],
        cwd=result.origin, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert len(branch) == 1 and branch[0].startswith("hee/fix/LIC-HEADER-MISSING-")
    added = subprocess.run(
        ["git", "show", f"{branch[0]}:src/ledger/report.py"],
        cwd=result.origin, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert added.startswith("# SPDX-License-Identifier: Apache-2.0")
    # the user's checkout is as it was: the fix lives on its branch only
    assert "SPDX" not in (result.repo / "src/ledger/report.py").read_text(encoding="utf-8")
    assert "PR        " in out


def test_the_bad_fix_was_rolled_back(demo: tuple[DemoResult, str]) -> None:
    result, out = demo
    assert result.rollbacks and "check_requirements" in result.rollbacks[0]
    assert (result.repo / "requirements.txt").read_text(encoding="utf-8") == "click\n"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=result.repo, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    assert status == ""
    assert "rolled back" in out


def test_alerts_were_delivered_on_the_console(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    engine = open_engine(result.database)
    with engine.connect() as conn:
        delivered = conn.execute(
            select(outbox_table.c.severity).where(
                outbox_table.c.channel == "console", outbox_table.c.status == "delivered"
            )
        ).all()
        recorded = conn.execute(select(alerts.c.severity)).all()
    engine.dispose()
    assert "critical" in [r.severity for r in delivered]
    assert {"critical", "high", "medium"} <= {r.severity for r in recorded}


def test_the_report_shows_the_story(demo: tuple[DemoResult, str]) -> None:
    result, out = demo
    assert result.report_html is not None and result.report_markdown is not None
    html = result.report_html.read_text(encoding="utf-8")
    assert "Signature verified" in html
    for text in ("LIC-HEADER-MISSING", "NET-RESET", "PY-PIP-RESOLUTION", "RUST-RUSTC-ERROR",
                 "rolled back", 'id="current-status">failed<'):  # fmt: skip
        assert text in html
    assert "10.0 points" in html  # line coverage 80% against the 90% target
    assert str(result.report_html) in out.replace("\n", "")


def test_the_capsule_never_holds_the_private_key(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    key = (result.public_key.parent / "capsule-key").read_text(encoding="utf-8")
    body = "".join(key.splitlines()[1:-1])
    capsule = json.loads((result.capsule_dir / "current.json").read_text(encoding="utf-8"))
    assert body and body not in json.dumps(capsule)


def test_a_workdir_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError):
        play(tmp_path, Console(file=io.StringIO()))
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_flaky_test_is_re_run_from_a_realistic_log(demo: tuple[DemoResult, str]) -> None:
    result, out = demo
    assert FLAKY_LOG.rstrip().endswith("##[error]Process completed with exit code 1.")
    engine = open_engine(result.database)
    with engine.connect() as conn:
        rows = conn.execute(select(decisions.c.actions, decisions.c.rules)).all()
    engine.dispose()
    reruns = [r for r in rows if "rerun" in json.loads(r.actions)]
    assert len(reruns) == 1 and "transient_rerun" in json.loads(reruns[0].rules)
    assert "detected  NET-RESET" in out and "passed on a re-run" in out


def test_each_alert_is_shown_once_under_its_step(demo: tuple[DemoResult, str]) -> None:
    _, out = demo
    steps = out.split("\n4. CI run:")[0].split("\n2. CI run:")
    step_2 = steps[1].split("\n3. CI run:")[0]
    assert "[RESOLVED] demo/ledger: Lint failed on main" in step_2
    assert "passed on a re-run of the same commit" in step_2
    step_4 = out.split("\n4. CI run:")[1].split("\nCoverage")[0]
    assert step_4.index("detected  RUST-RUSTC-ERROR") < step_4.index("[CRITICAL] demo/ledger:")
    assert "demo/ledger: demo/ledger" not in out
    for url in {line.split()[0] for line in out.splitlines() if "actions/runs/" in line}:
        assert out.count(url) == 1, url


def test_every_path_and_the_suggested_command_are_printed_whole_on_a_narrow_console(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    result = play(tmp_path / "work", Console(file=out, width=60))
    lines = out.getvalue().splitlines()
    for path in (result.report_html, result.public_key, result.capsule_dir / "current.json"):
        assert any(line.rstrip().endswith(str(path)) for line in lines), path
    assert any(
        line.startswith("Try: hee-monitor capsule verify") and line.endswith(str(result.public_key))
        for line in lines
    )


def test_the_story_ends_in_the_past(demo: tuple[DemoResult, str]) -> None:
    """Every time the capsule records lies before the moment it is read."""
    import json
    from datetime import UTC, datetime

    result, _ = demo
    capsule = json.loads((result.capsule_dir / "current.json").read_text())["signed"]
    stamps = [capsule["created"], *(f["timestamp"] for f in capsule["auto_fix_history"])]
    stamps += [d["timestamp"] for d in capsule["decision_history"]]
    now = datetime.now(UTC)
    assert all(datetime.fromisoformat(s.replace("Z", "+00:00")) <= now for s in stamps)
