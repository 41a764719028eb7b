"""The pre-commit hooks: in-process, and through the real ``pre-commit`` tool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hee_monitor.cli import hooks
from hee_monitor.record.capsule.store import new_payload

ROOT = Path(__file__).resolve().parents[2]

CRITICAL_LOG = """\
   Compiling ledger v0.3.1 (/home/runner/work/app/app)
error[E0308]: mismatched types
 --> src/main.rs:4:5
error: could not compile `ledger` (bin "ledger") due to 1 previous error
"""
BENIGN_LOG = "collected 12 items\n12 passed in 0.4s\n"
PATTERN = """\
patterns:
  - id: TEAM-LEDGER-DRIFT
    title: Ledger snapshot drift
    description: The ledger snapshot no longer matches the fixtures.
    category: test
    severity: medium
    owner: DEVELOPER
    risk: 2
    regex:
      - '^LEDGER DRIFT: '
    examples:
      - |
        LEDGER DRIFT: 3 postings differ from fixtures/2026-11.json
"""


def _capsule(path: Path) -> Path:
    path.write_text(json.dumps(new_payload("octo/app", datetime.now(UTC))), encoding="utf-8")
    return path


def test_ci_monitoring_fails_on_a_critical_finding_only(tmp_path: Path) -> None:
    bad, good = tmp_path / "build.log", tmp_path / "tests.log"
    bad.write_text(CRITICAL_LOG, encoding="utf-8")
    good.write_text(BENIGN_LOG, encoding="utf-8")
    assert hooks.ci_monitoring([str(bad)]) == 1
    assert hooks.ci_monitoring([str(good)]) == 0
    assert hooks.ci_monitoring([]) == 0  # nothing staged that the hook looks at


def test_state_validation_checks_every_file_and_keeps_the_worst(tmp_path: Path) -> None:
    good = _capsule(tmp_path / "current.json")
    broken = tmp_path / "state_capsule_old.json"
    broken.write_text('{"version": "seven"}', encoding="utf-8")
    assert hooks.state_validation([str(good)]) == 0
    assert hooks.state_validation([str(good), str(broken)]) == 1
    assert hooks.state_validation([str(broken), str(good)]) == 1


def test_patterns_validate_accepts_a_good_file_and_rejects_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "team.yaml"
    good.write_text(PATTERN, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(PATTERN.replace("'^LEDGER DRIFT: '", "'^LEDGER (DRIFT: '"), encoding="utf-8")
    assert hooks.patterns_validate([str(good)]) == 0
    assert hooks.patterns_validate([str(bad)]) == 1


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


UNFORMATTED = "import os\nimport sys\nx=[1,2]\nprint(sys.argv,x)\n"


@pytest.mark.slow
def test_the_hooks_run_under_the_real_pre_commit(tmp_path: Path) -> None:
    """pre-commit clones this repository at HEAD and pip-installs it (the wheel it builds)
    into a fresh environment of its own, ruff beside it (the first run per commit takes a
    few minutes); the commit's staged files go through every hook. The auto-fix hook fixes
    the staged Python file and leaves an untracked one byte-identical."""
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    ruff = shutil.which("ruff")
    if not Path(pre_commit).exists() or shutil.which("git") is None or ruff is None:
        pytest.skip("pre-commit, ruff or git is not installed")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        pytest.skip("the repository has no commit for pre-commit to clone")
    ruff_version = subprocess.run(
        [ruff, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {ROOT}\n"
        f"    rev: {head.stdout.strip()}\n"
        "    hooks:\n"
        "      - id: hee-ci-monitoring\n"
        "      - id: hee-artifact-check\n"
        "      - id: hee-auto-fix\n"
        f"        additional_dependencies: ['ruff=={ruff_version}']\n"
        "      - id: hee-state-validation\n"
        "      - id: hee-patterns-validate\n",
        encoding="utf-8",
    )
    (repo / "build.log").write_text(CRITICAL_LOG, encoding="utf-8")
    _capsule(repo / "current.json")
    (repo / "patterns").mkdir()
    (repo / "patterns" / "team.yaml").write_text(PATTERN, encoding="utf-8")
    sarif = ROOT / "tests" / "analysis" / "detection" / "data" / "codeql.sarif"
    (repo / "codeql.sarif").write_bytes(sarif.read_bytes())
    (repo / "staged.py").write_text(UNFORMATTED, encoding="utf-8")
    _git(repo, "add", "-A")
    untracked = repo / "untracked.py"
    untracked.write_text(UNFORMATTED, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEE_", "PYTHONPATH"))}
    env["PRE_COMMIT_HOME"] = str(Path.home() / ".cache" / "pre-commit")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(
        [pre_commit, "run", "--color", "never"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    if "Could not find a version" in out or "Network is unreachable" in out:
        pytest.skip("pre-commit cannot install the hooks' dependencies from the package index")
    results = {
        line.rsplit(".", 1)[0].rstrip(".").strip(): line.rsplit(".", 1)[-1].strip()
        for line in out.splitlines()
        if line.startswith("hee-monitor ") and line.endswith(("Passed", "Failed", "Skipped"))
    }
    assert results == {
        "hee-monitor diagnose local CI logs": "Failed",
        "hee-monitor check security, audit and license reports": "Failed",
        "hee-monitor safe auto-fix": "Failed",
        "hee-monitor validate state capsules": "Passed",
        "hee-monitor validate pattern files": "Passed",
    }, out[-4000:]
    assert "RUST-RUSTC-ERROR" in out
    assert "fixed: staged.py" in out
    assert "x = [1, 2]" in (repo / "staged.py").read_text(encoding="utf-8")
    assert untracked.read_bytes() == UNFORMATTED.encode()
    assert proc.returncode == 1
