from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hee_monitor.cli import run

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "analysis" / "detection" / "data"


@pytest.fixture(autouse=True)
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_CONFIG", raising=False)


def test_findings_of_local_reports(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["artifacts", "analyze", str(DATA / "codeql.sarif"), str(DATA / "pip-audit.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "PAT-003" in out and "py/sql-injection" in out
    assert "fix: flask 0.12.3" in out
    assert "4 finding(s) in 2 report(s)" in out


def test_license_lists_from_options_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        ["artifacts", "analyze", "--format", "json", "--deny-license", "AGPL-3.0",
         str(DATA / "license-checker.json")]
    )  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [f["details"]["package"] for f in data["findings"]] == ["@scope/agpl-widget"]


def test_clean_report_is_exit_0_and_unreadable_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = tmp_path / "clean.sarif"
    clean.write_text('{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, '
                     '"results": []}]}')  # fmt: skip
    assert run(["artifacts", "analyze", str(clean)]) == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert run(["artifacts", "analyze", str(broken), str(tmp_path / "missing.json")]) == 2
    out = capsys.readouterr().out
    assert "not valid JSON" in out and "cannot read" in out
    assert run(["artifacts", "analyze"]) == 2


def test_runs_as_a_module(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HEE_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "artifacts", "analyze", str(DATA / "trivy.sarif")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "CVE-2023-44487" in done.stdout
