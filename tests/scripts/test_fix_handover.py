"""The monitor hands its diagnoses to the fix engine: scripts/ci_monitor.py --mode hee
against the loopback GitHub fake writes hee-diagnosis.json next to the state capsule, and
scripts/auto_fix.py --mode hee-safe picks it up from there and fixes a real repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.action.fixes.conftest import init_repo, tool_env
from tests.fakes.github import GitHubFake, JobSpec

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_handover_token_0123456789abcdef"
RUFF_LOG = (
    "2026-01-01T00:00:01.0000000Z ##[group]Run ruff check .\n"
    "2026-01-01T00:00:01.5000000Z ruff check .\n"
    "2026-01-01T00:00:02.0000000Z ##[endgroup]\n"
    "2026-01-01T00:00:02.1000000Z app.py:1:8: F401 [*] `os` imported but unused\n"
    "2026-01-01T00:00:02.2000000Z Found 1 error.\n"
    "2026-01-01T00:00:02.3000000Z [*] 1 fixable with the `--fix` option.\n"
    "2026-01-01T00:00:02.4000000Z ##[error]Process completed with exit code 1.\n"
)


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in tool_env(tmp_path / "home").items()
        if not k.startswith(("HEE_", "GITHUB_"))
    }
    env.pop("OLLAMA_HOST", None)
    env.update(PYTHONPATH=str(ROOT), GITHUB_TOKEN=TOKEN, GITHUB_OUTPUT=str(tmp_path / "out.txt"))
    return env


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_monitor_diagnosis_drives_the_auto_fix(tmp_path: Path) -> None:
    env = _env(tmp_path)
    work = init_repo(tmp_path / "repo", env)
    work.write("app.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    work.commit("init")
    state = tmp_path / "state"
    capsule = state / "current.json"
    with GitHubFake() as fake:
        fake.require_token(TOKEN)
        run = fake.add_run("octo/app", jobs=[JobSpec("lint", log_text=RUFF_LOG)])
        monitor = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "ci_monitor.py"), "--mode", "hee",
             "--api-url", fake.url, "--repo", "octo/app", "--state-capsule", str(capsule),
             "--database", f"sqlite:///{tmp_path}/audit.db"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert monitor.returncode == 0, monitor.stdout + monitor.stderr
    outputs = _outputs(tmp_path / "out.txt")
    assert outputs["fix_required"] == "true", monitor.stdout
    handed = Path(outputs["diagnosis"])
    assert handed == state / "hee-diagnosis.json"
    (line,) = handed.read_text().splitlines()
    diagnosis = json.loads(line)
    assert diagnosis["repo"] == "octo/app" and diagnosis["run"] == f"octo/app#{run.id}.1"
    assert diagnosis["failures"][0]["pattern_id"] == "PY-RUFF-FLAKE8"
    assert diagnosis["failures"][0]["fix_strategy"] == "ruff-fix"

    # no --diagnosis: auto_fix.py finds the monitor's file next to --state-capsule
    fixer = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "auto_fix.py"), "--mode", "hee-safe",
         "--state-capsule", str(capsule), "--max-severity", "medium", "--no-push",
         "--repo-path", str(work.path), "--run-id", str(run.id),
         "--database", f"sqlite:///{tmp_path}/audit.db"],
        env=env, cwd=work.path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert fixer.returncode == 0, fixer.stdout + fixer.stderr
    branch = f"hee/fix/PY-RUFF-FLAKE8-{run.id}"
    assert f"FIXED PY-RUFF-FLAKE8 with ruff-fix on branch {branch}" in fixer.stdout
    assert work.git("show", f"{branch}:app.py") == "import sys\n\nprint(sys.argv)\n"
    history = json.loads(capsule.read_text())["auto_fix_history"]
    assert [(h["strategy"], h["success"], h["branch"]) for h in history] == [
        ("ruff-fix", True, branch)
    ]


def test_auto_fix_without_the_monitor_file_says_what_to_run(tmp_path: Path) -> None:
    env = _env(tmp_path)
    work = init_repo(tmp_path / "repo", env)
    work.write("a.txt", "a")
    work.commit()
    capsule = tmp_path / "current.json"
    capsule.write_text('{"version": 1}')
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "auto_fix.py"), "--mode", "hee-safe",
         "--state-capsule", str(capsule), "--no-push", "--repo-path", str(work.path)],
        env=env, cwd=work.path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"no hee-diagnosis.json next to the state capsule ({tmp_path}/hee-diagnosis.json" in (
        proc.stderr
    )
    assert "hint: run the monitor first (scripts/ci_monitor.py --mode hee" in proc.stderr


def test_a_cycle_with_nothing_to_fix_empties_the_file(tmp_path: Path) -> None:
    env = _env(tmp_path)
    handover = tmp_path / "custom" / "fixes.jsonl"
    handover.parent.mkdir()
    handover.write_text('{"log": "stale", "failures": []}\n')
    with GitHubFake() as fake:
        fake.require_token(TOKEN)
        fake.add_run("octo/app", jobs=[JobSpec("build", log_text="all quiet\n")])
        proc = subprocess.run(
            [sys.executable, "-m", "hee_monitor", "monitor", "--api-url", fake.url,
             "--repo", "octo/app", "--state-capsule", str(tmp_path / "current.json"),
             "--database", f"sqlite:///{tmp_path}/audit.db",
             "--diagnosis-output", str(handover)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    outputs = _outputs(tmp_path / "out.txt")
    assert outputs["fix_required"] == "false"
    assert outputs["diagnosis"] == str(handover)
    assert handover.read_text() == ""
