"""The shipped workflow keeps the monitor's memory: three scheduled runs, each starting in an
empty directory with only what the workflow persists (read from the workflow file itself),
behave like one monitor that kept its directory."""

from __future__ import annotations

import re
import shlex
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from hee_monitor.cli import run as cli_run
from tests.decision.test_transient import PYTEST_CONNECTION_RESET
from tests.fakes.github import GitHubFake, JobSpec

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "hee-monitor.yml"
ACTION = ROOT / "action.yml"
REPO = "octo/app"
COMPILE_ERROR = "src/main.c:3:1: error: expected ';' before '}' token\n"


def monitor_job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]["monitor"]
    return job


def persisted_paths() -> list[str]:
    """What the monitor job hands to the next run: the paths of its cache saves and of its
    capsule artifact."""
    paths: list[str] = []
    for step in monitor_job()["steps"]:
        uses = str(step.get("uses", ""))
        saves = uses.startswith(("actions/cache/save@", "actions/cache@")) or (
            uses.startswith("actions/upload-artifact@")
            and step["with"].get("name") == "hee-state-capsule"
        )
        if saves:
            paths += [p.strip() for p in str(step["with"]["path"]).splitlines() if p.strip()]
    return paths


def monitor_arguments() -> list[str]:
    """The arguments the composite action gives ``scripts/ci_monitor.py``, with the inputs
    the workflow passes (and the action's defaults for the others)."""
    action = yaml.safe_load(ACTION.read_text())
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    step_with = next(s for s in monitor_job()["steps"] if s.get("id") == "monitor")["with"]
    inputs.update({k: str(v) for k, v in step_with.items()})
    [step] = [s for s in action["runs"]["steps"] if s.get("id") == "monitor"]
    command = str(step["run"])
    command = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], command)
    command = command.replace("${{ github.repository }}", REPO)
    command = command.replace("${{ github.action_path }}", str(ROOT))
    argv = shlex.split(command)
    script = next(i for i, a in enumerate(argv) if a.endswith("scripts/ci_monitor.py"))
    return argv[script + 1 :]


def scenario(fake: GitHubFake) -> None:
    # a transient failure whose re-runs keep failing (limit 3), and a critical compile error
    fake.add_run(
        REPO,
        jobs=[JobSpec("test", log_text=PYTEST_CONNECTION_RESET)],
        rerun_conclusions=["failure"],
    )
    fake.add_run(REPO, jobs=[JobSpec("build", log_text=COMPILE_ERROR)])


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def recorded(work: Path) -> tuple[int, int]:
    """(decisions on failed runs, alerts routed) in the store of ``work``."""
    db = work / "hee-store" / "hee-monitor.db"
    if not db.exists():
        return 0, 0
    return (
        count(db, "SELECT count(*) FROM audit_decisions WHERE run_key IS NOT NULL"),
        count(db, "SELECT count(*) FROM alert_outbox WHERE kind != 'resolved'"),
    )


def scheduled_runs(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, keep: list[str] | None, runs: int = 3
) -> dict[str, int]:
    """``runs`` scheduled runs, each in a new empty directory given only ``keep`` (paths
    relative to the workspace) from the run before; ``keep=None``: one directory for all."""
    totals = {"decisions": 0, "alerts": 0, "reruns": 0}
    with GitHubFake() as fake:
        scenario(fake)
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("HEE_GITHUB_API_URL", fake.url)
        for name in ("HEE_SIGNING_KEY", "HEE_CONFIG", "HEE_DATABASE_URL", "GITHUB_OUTPUT"):
            monkeypatch.delenv(name, raising=False)
        previous: Path | None = None
        for n in range(runs):
            work = tmp / (f"run{n}" if keep is not None else "workspace")
            work.mkdir(parents=True, exist_ok=True)
            for rel in keep if (keep is not None and previous is not None) else []:
                source = previous / rel  # type: ignore[operator]
                if source.is_dir():
                    shutil.copytree(source, work / rel)
                elif source.is_file():
                    (work / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, work / rel)
            monkeypatch.chdir(work)
            before = recorded(work)
            assert cli_run(["monitor", *monitor_arguments()]) == 0
            after = recorded(work)
            totals["decisions"] += after[0] - before[0]
            totals["alerts"] += after[1] - before[1]
            previous = work
        totals["reruns"] = len(fake.reruns)
    return totals


def test_the_workflow_persists_the_audit_store_with_a_concurrency_group() -> None:
    assert any(p.startswith("hee-store") for p in persisted_paths())
    assert "--database" in monitor_arguments()
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "github.repository" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_three_scheduled_runs_behave_like_one_continuous_monitor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    continuous = scheduled_runs(tmp_path / "continuous", monkeypatch, None)
    scheduled = scheduled_runs(tmp_path / "scheduled", monkeypatch, persisted_paths())
    assert scheduled == continuous
    # the transient failure was re-run up to the limit, never beyond; one critical alert
    assert continuous["reruns"] == 3
    assert continuous["alerts"] >= 1


def test_without_the_store_scheduled_runs_repeat_their_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_store = [p for p in persisted_paths() if not p.startswith("hee-store")]
    forgetful = scheduled_runs(tmp_path / "forgetful", monkeypatch, without_store)
    remembering = scheduled_runs(tmp_path / "remembering", monkeypatch, persisted_paths())
    assert (
        forgetful["alerts"] > remembering["alerts"] or forgetful["reruns"] > remembering["reruns"]
    )
