"""``monitor --mode pre-commit`` reads SARIF, audit and license reports too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.cli import run

DATA = Path(__file__).resolve().parents[1] / "analysis" / "detection" / "data"


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_CONFIG", raising=False)


def test_reports_join_logs_in_pre_commit_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hee-monitor.toml").write_text('[detection]\nlicenses_deny = ["AGPL-3.0"]\n')
    log = tmp_path / "build.log"
    log.write_text("all good\n")
    code = run(
        ["monitor", "--mode", "pre-commit", "--format", "json", str(log),
         str(DATA / "npm-audit-v2.json"), str(DATA / "license-checker.json")]
    )  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    by_file = {Path(f["path"]).name: f["findings"] for f in data["files"]}
    assert by_file["build.log"] == []
    assert {f["details"]["package"] for f in by_file["npm-audit-v2.json"]} == {
        "lodash",
        "minimist",
    }
    assert [f["pattern_id"] for f in by_file["license-checker.json"]] == ["PAT-004"]
    assert code == 1  # lodash is critical


def test_an_unreadable_report_is_a_skip_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "results.sarif"
    broken.write_text("{")
    assert run(["monitor", "--mode", "pre-commit", str(broken)]) == 0
    err = capsys.readouterr().err
    assert "results.sarif: skipped: not valid JSON" in err
