from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.action.fixes.conftest import Repo, init_repo, tool_env, tree_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def work(tmp_path: Path) -> Repo:
    (tmp_path / "home").mkdir()
    return init_repo(tmp_path / "repo", tool_env(tmp_path / "home"))


DIAGNOSIS = {
    "log": "job.log",
    "lines": 40,
    "failures": [
        {
            "pattern_id": "PY-RUFF-LINT",
            "title": "ruff found lint errors",
            "category": "lint",
            "severity": "low",
            "owner": "DEVELOPER",
            "risk": 1,
            "transient": False,
            "confidence": 0.95,
            "fix_strategy": "ruff-fix",
            "fingerprint": "9f2c",
            "evidence": [{"start_line": 12, "end_line": 12, "text": "F401 `os` imported"}],
        },
        {
            "pattern_id": "NPM-AUDIT",
            "title": "npm audit found vulnerabilities",
            "category": "security",
            "severity": "high",
            "fix_strategy": "npm-audit-fix",
            "fingerprint": "77aa",
        },
    ],
    "unexplained": False,
}


def _run(work: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(work.env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "auto_fix.py"), *args],
        cwd=work.path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def _lint_repo(work: Repo, tmp_path: Path) -> Path:
    work.write("app.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    work.commit("init")
    diagnosis = tmp_path / "diagnosis.json"
    diagnosis.write_text(json.dumps(DIAGNOSIS))
    return diagnosis


def test_dry_run_prints_the_exact_plan_and_touches_nothing(work: Repo, tmp_path: Path) -> None:
    diagnosis = _lint_repo(work, tmp_path)
    capsule = tmp_path / "current.json"
    capsule.write_text('{"version": 3, "constraints": {"max_fix_severity": "medium"}}')
    before, refs, capsule_bytes = tree_state(work.path), work.refs(), capsule.read_bytes()
    git_before = tree_state(work.path / ".git")

    proc = _run(work, "--mode", "hee-safe", "--state-capsule", str(capsule), "--max-severity",
                "medium", "--diagnosis", str(diagnosis), "--hee-dry-run",
                "--report", "detailed")  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert "PLAN PY-RUFF-LINT → ruff-fix: apply ruff's safe lint fixes" in proc.stdout
    assert "  run:      ruff check --fix --no-cache --quiet ." in proc.stdout
    assert "  validate: ruff check --no-cache --quiet ." in proc.stdout
    assert "SKIPPED NPM-AUDIT (npm-audit-fix)" in proc.stdout
    assert tree_state(work.path) == before
    assert tree_state(work.path / ".git") == git_before
    assert work.refs() == refs
    assert capsule.read_bytes() == capsule_bytes


def test_hee_safe_run_fixes_on_a_branch_and_records_the_capsule(work: Repo, tmp_path: Path) -> None:
    diagnosis = _lint_repo(work, tmp_path)
    capsule = tmp_path / "current.json"
    capsule.write_text('{"version": 3, "constraints": {"max_fix_severity": "medium"}}')
    proc = _run(work, "--mode", "hee-safe", "--state-capsule", str(capsule), "--max-severity",
                "medium", "--diagnosis", str(diagnosis), "--no-push", "--run-id", "555",
                "--database", f"sqlite:///{tmp_path / 'audit.db'}")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FIXED PY-RUFF-LINT with ruff-fix on branch hee/fix/PY-RUFF-LINT-555" in proc.stdout
    assert "refs/heads/hee/fix/PY-RUFF-LINT-555" in work.refs()
    history = json.loads(capsule.read_text())["auto_fix_history"]
    assert [(h["strategy"], h["success"], h["branch"]) for h in history] == [
        ("ruff-fix", True, "hee/fix/PY-RUFF-LINT-555")
    ]


def test_pre_commit_mode_fixes_the_staged_files_only_and_fails_when_it_changed_one(
    work: Repo,
) -> None:
    work.write("app.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    untracked = work.write("scratch.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    work.git("add", "app.py")
    proc = _run(work, "--mode", "pre-commit", "--safety", "high", "--strategy", "ruff-fix")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "fixed: app.py" in proc.stdout
    assert (work.path / "app.py").read_text() == "import sys\n\nprint(sys.argv)\n"
    assert untracked.read_bytes() == b"import os\nimport sys\n\nprint(sys.argv)\n"
    work.git("add", "app.py")
    again = _run(work, "--mode", "pre-commit", "--safety", "high", "--strategy", "ruff-fix")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 file(s) checked, nothing to fix" in again.stdout


def test_without_input_hee_safe_mode_says_what_to_pass(work: Repo) -> None:
    work.write("a.txt", "a")
    work.commit()
    proc = _run(work, "--mode", "hee-safe")
    assert proc.returncode == 2
    assert "nothing to fix" in proc.stderr
    assert "hint: hee-monitor analyze --format json" in proc.stderr


def test_fix_recover_reports_nothing_to_do(work: Repo, tmp_path: Path) -> None:
    from hee_monitor.cli import run

    work.write("a.txt", "a")
    work.commit()
    assert run(["fix", "recover", "--repo-path", str(work.path), "--database",
                f"sqlite:///{tmp_path / 'a.db'}"]) == 0  # fmt: skip


def test_a_log_is_analysed_on_the_spot_and_one_fix_serves_its_findings(
    work: Repo, tmp_path: Path
) -> None:
    work.write("app.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    work.write("b.py", "import re\n")
    work.commit("init")
    log = tmp_path / "job.log"
    log.write_text(
        "Run ruff check .\n"
        "app.py:1:8: F401 [*] `os` imported but unused\n"
        "b.py:1:8: F401 [*] `re` imported but unused\n"
        "Found 2 errors.\n"
        "Error: Process completed with exit code 1.\n"
    )
    proc = _run(work, "--log", str(log), "--no-push", "--run-id", "8", "--report", "detailed",
                "--database", f"sqlite:///{tmp_path / 'a.db'}")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "with ruff-fix on branch hee/fix/" in proc.stdout
    assert "files: app.py, b.py" in proc.stdout
    assert proc.stdout.count("FIXED") == 1


def test_a_repository_protected_in_the_service_configuration_is_never_changed(
    work: Repo, tmp_path: Path
) -> None:
    diagnosis = _lint_repo(work, tmp_path)
    config = tmp_path / "hee-monitor.toml"
    config.write_text('[github]\nrepos = ["octo/app"]\n\n[repos."octo/app"]\nprotected = true\n')
    before = tree_state(work.path)
    work.env["HEE_CONFIG"] = str(config)
    proc = _run(work, "--diagnosis", str(diagnosis), "--repo", "octo/app", "--no-push",
                "--database", f"sqlite:///{tmp_path / 'a.db'}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "SKIPPED PY-RUFF-LINT (ruff-fix): the repository is protected" in proc.stdout
    assert tree_state(work.path) == before
    assert "hee/fix" not in work.refs()


def test_a_signed_capsule_is_updated_through_the_capsule_store(work: Repo, tmp_path: Path) -> None:
    from hee_monitor.record.capsule import CapsuleDirectory, Signer, TrustedKeys

    signer = Signer.generate()
    state = tmp_path / "state"
    capsules = CapsuleDirectory(state, signer, TrustedKeys.of([signer.public_key]), None)
    capsules.initialise("octo/app")
    diagnosis = _lint_repo(work, tmp_path)
    work.env["HEE_SIGNING_KEY"] = signer.private_pem().decode()
    current = str(state / "current.json")
    proc = _run(work, "--diagnosis", str(diagnosis), "--state-capsule", current, "--no-push",
                "--run-id", "5", "--database", f"sqlite:///{tmp_path / 'a.db'}")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    live = capsules.load()
    assert live.version == 2
    assert [h["branch"] for h in live.payload["auto_fix_history"]] == ["hee/fix/PY-RUFF-LINT-5"]
    assert signer.private_pem().decode() not in proc.stdout + proc.stderr


def test_fix_plan_prints_json_plans(
    work: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from hee_monitor.cli import run

    monkeypatch.setenv("PATH", work.env["PATH"])
    diagnosis = _lint_repo(work, tmp_path)
    before = tree_state(work.path)
    code = run(["fix", "plan", "--diagnosis", str(diagnosis), "--repo-path", str(work.path),
                "--format", "json", "--database", f"sqlite:///{tmp_path / 'a.db'}"])  # fmt: skip
    assert code == 0
    plans = json.loads(capsys.readouterr().out)
    assert [p["outcome"] for p in plans] == ["planned", "skipped"]
    assert plans[0]["plan"]["validation"] == ["ruff check --no-cache --quiet ."]
    assert plans[1]["reason"].startswith("cannot run here:")
    assert "package.json" in plans[1]["reason"]
    assert tree_state(work.path) == before


def test_the_audit_store_goes_to_the_state_directory_never_the_repository(
    work: Repo, tmp_path: Path
) -> None:
    diagnosis = _lint_repo(work, tmp_path)
    state = tmp_path / "xdg-state"
    env_work = Repo(work.path, dict(work.env, XDG_STATE_HOME=str(state)))
    env_work.env.pop("HEE_DATABASE_URL", None)
    env_work.env.pop("HEE_STATE_DIR", None)
    proc = _run(env_work, "--mode", "hee-safe", "--diagnosis", str(diagnosis), "--no-push",
                "--run-id", "556")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (state / "hee-monitor" / "hee-monitor.db").is_file()
    assert not (work.path / "state_capsules").exists()
    assert work.git("status", "--porcelain", "--ignored") == ""
