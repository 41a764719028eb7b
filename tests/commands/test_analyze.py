from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hee_monitor.cli import cli, run

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "analysis" / "data" / "sample_patterns.yaml"

LOG = (
    "2024-01-01T00:00:00.0000000Z ##[group]Run pytest\n"
    "2024-01-01T00:00:00.0000000Z ##[endgroup]\n"
    "2024-01-01T00:00:01.0000000Z E   ModuleNotFoundError: No module named 'requests'\n"
    "2024-01-01T00:00:02.0000000Z ##[error]Process completed with exit code 2.\n"
)

CONTRACT_KEYS = {
    "pattern_id",
    "title",
    "category",
    "severity",
    "owner",
    "risk",
    "transient",
    "confidence",
    "fix_strategy",
    "fingerprint",
    "evidence",
}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "job.log"
    path.write_text(LOG, encoding="utf-8")
    return path


def invoke(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return int(result.return_value or 0), result.stdout, result.stderr


def test_json_contract(log: Path) -> None:
    code, out, _ = invoke(
        "analyze", "--format", "json", "--no-shipped", "--patterns", str(SAMPLE), str(log)
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"log", "lines", "failures", "unexplained"}
    assert data["log"] == str(log) and data["lines"] == 4 and data["unexplained"] is False
    root = data["failures"][0]
    assert set(root) >= CONTRACT_KEYS
    assert root["pattern_id"] == "TEST-PY-MODULE-NOT-FOUND" and root["owner"] == "DEVOPS"
    assert root["evidence"] == [
        {
            "start_line": 3,
            "end_line": 3,
            "text": "E   ModuleNotFoundError: No module named 'requests'",
        }
    ]
    assert 0 <= root["confidence"] <= 1 and len(root["fingerprint"]) == 16


def test_json_lines_for_several_logs(log: Path, tmp_path: Path) -> None:
    other = tmp_path / "ok.log"
    other.write_text("all good\n", encoding="utf-8")
    code, out, _ = invoke(
        "analyze",
        "--format",
        "json",
        "--no-shipped",
        "--patterns",
        str(SAMPLE),
        str(log),
        str(other),
    )
    first, second = (json.loads(line) for line in out.splitlines())
    assert (
        code == 0
        and first["failures"]
        and second == {"log": str(other), "lines": 1, "failures": [], "unexplained": True}
    )


def test_stdin(log: Path) -> None:
    code, out, _ = invoke(
        "analyze",
        "--format",
        "json",
        "--no-shipped",
        "--patterns",
        str(SAMPLE),
        "-",
        input=log.read_bytes(),
    )
    data = json.loads(out)
    assert (
        code == 0
        and data["log"] == "<stdin>"
        and data["failures"][0]["evidence"][0]["start_line"] == 3
    )


def test_text_and_markdown(log: Path) -> None:
    code, text, _ = invoke("analyze", "--no-shipped", "--patterns", str(SAMPLE), str(log))
    assert code == 0
    assert "root cause: Python module missing [TEST-PY-MODULE-NOT-FOUND]" in text
    assert "owner DEVOPS" in text and "fix strategy: add-missing-dependency" in text
    assert "3 | E   ModuleNotFoundError" in text
    code, md, _ = invoke(
        "analyze", "--format", "markdown", "--no-shipped", "--patterns", str(SAMPLE), str(log)
    )
    assert "| 1 | **Python module missing** (`TEST-PY-MODULE-NOT-FOUND`)" in md
    assert "3: E   ModuleNotFoundError" in md


def test_junit_findings_are_added(log: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuite><testcase classname="t" name="x"><failure message="boom"/></testcase>'
        "</testsuite>",
        encoding="utf-8",
    )
    code, out, _ = invoke(
        "analyze",
        "--format",
        "json",
        "--no-shipped",
        "--patterns",
        str(SAMPLE),
        "--junit",
        str(report),
        str(log),
    )
    ids = [f["pattern_id"] for f in json.loads(out)["failures"]]
    assert code == 0 and "JUNIT-TEST-FAILED" in ids


def test_missing_file_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.log"
    assert run(["analyze", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"log file {missing} does not exist" in err and "hint:" in err


def test_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_unreadable_file_exits_2(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read a chmod 000 file")
    log.chmod(0)
    try:
        assert run(["analyze", str(log)]) == 2
    finally:
        log.chmod(0o644)
    assert "cannot read log file" in capsys.readouterr().err


def test_no_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze"]) == 2
    assert "no log given" in capsys.readouterr().err


def test_bad_pattern_file_exits_2(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("patterns:\n  - id: [\n", encoding="utf-8")
    assert run(["analyze", "--patterns", str(bad), str(log)]) == 2
    assert "bad.yaml:3: invalid YAML" in capsys.readouterr().err


def test_subprocess_stdin_json() -> None:
    """The installed entry point works end to end from stdin."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hee_monitor",
            "analyze",
            "--format",
            "json",
            "--no-shipped",
            "--patterns",
            str(SAMPLE),
            "-",
        ],
        input=LOG.encode(),
        capture_output=True,
        cwd=REPO,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["failures"][0]["pattern_id"] == "TEST-PY-MODULE-NOT-FOUND"
