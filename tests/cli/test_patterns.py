from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.cli import run

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "analysis" / "data" / "sample_patterns.yaml"


def test_validate_valid_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["patterns", "validate", "--no-shipped", str(SAMPLE)]) == 0
    assert "valid" in capsys.readouterr().err


def test_validate_invalid_file_lists_problems_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "patterns:\n  - id: B-1\n    title: Bad\n    category: test\n    severity: high\n"
        "    owner: DEVOPS\n    risk: 1\n    regex: 'x('\n    examples: ['x']\n",
        encoding="utf-8",
    )
    assert run(["patterns", "validate", "--no-shipped", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:8: [B-1] regex 'x(': does not compile" in out


def test_list_json_and_category(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            [
                "patterns",
                "list",
                "--format",
                "json",
                "--patterns",
                str(SAMPLE),
                "--category",
                "network",
            ]
        )
        == 0
    )
    listed = json.loads(capsys.readouterr().out)
    assert "TEST-NET-TIMEOUT" in [p["id"] for p in listed]
    assert all(p["scope"] in ("failure", "summary", "setup") for p in listed)
    assert all(p["category"] == "network" for p in listed)


def test_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["patterns", "list", "--patterns", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "TEST-RUFF" in out
    assert any(line.startswith("TEST-RUFF") and " failure " in line for line in out.splitlines())


def test_lint_flags_noisy_patterns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "passing"
    logs.mkdir()
    for n in range(10):
        text = "build ok\n" + ("npm ERR! peer dep warning\n" if n < 3 else "")
        (logs / f"{n}.log").write_text(text, encoding="utf-8")
    code = run(
        [
            "patterns",
            "lint",
            "--format",
            "json",
            "--passing-logs",
            str(logs),
            "--no-shipped",
            "--patterns",
            str(SAMPLE),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["logs"] == 10
    (row,) = report["patterns"]
    assert row["pattern_id"] == "TEST-NPM-ERR" and row["count"] == 3 and row["noisy"]
    assert (
        run(
            [
                "patterns",
                "lint",
                "--passing-logs",
                str(logs),
                "--no-shipped",
                "--patterns",
                str(SAMPLE),
                "--threshold",
                "0.5",
            ]
        )
        == 0
    )


def test_lint_counts_each_job_log_of_an_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip
    import zipfile

    logs = tmp_path / "passing"
    logs.mkdir()
    (logs / "a.log.gz").write_bytes(gzip.compress(b"build ok\nnpm ERR! peer dep warning\n"))
    with zipfile.ZipFile(logs / "run.zip", "w") as archive:
        archive.writestr("0_build.txt", "build ok\n")
        archive.writestr("1_test.txt", "npm ERR! peer dep warning\n")
    args = ["patterns", "lint", "--format", "json", "--passing-logs", str(logs)]
    assert run([*args, "--no-shipped", "--patterns", str(SAMPLE)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["logs"] == 3
    (row,) = report["patterns"]
    assert row["count"] == 2 and row["examples"] == [
        str(logs / "a.log.gz"),
        f"{logs / 'run.zip'}!1_test.txt",
    ]
    (logs / "cut.log.gz").write_bytes(gzip.compress(b"build ok\n" * 500)[:30])
    assert run([*args, "--no-shipped", "--patterns", str(SAMPLE)]) == 2
    assert "cut.log.gz: damaged gzip file" in capsys.readouterr().err


def test_lint_needs_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["patterns", "lint", "--passing-logs", str(tmp_path / "x")]) == 2
    assert "not a directory" in capsys.readouterr().err


PASSING_LOGS = REPO / "examples" / "logs" / "passing"


def test_shipped_database_gives_no_passing_build_a_high_finding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The passing-build logs in examples/ (retried downloads, `cmd || fallback`, warnings,
    test names with error words) get no critical or high finding; counting every severity,
    patterns do fire on them, so the severity filter is what makes the difference."""
    logs = sorted(PASSING_LOGS.glob("*.log"))
    assert len(logs) >= 10
    args = ["patterns", "lint", "--format", "json", "--passing-logs", str(PASSING_LOGS)]
    assert run([*args, "--severity", "high", "--threshold", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["logs"] == len(logs) and report["severity"] == "high"
    assert report["patterns"] == []
    assert run([*args, "--threshold", "0"]) == 1
    fired = {row["pattern_id"] for row in json.loads(capsys.readouterr().out)["patterns"]}
    assert {"NET-TIMEOUT", "CI-NOT-A-GIT-REPO"} <= fired


def test_validate_refuses_a_regex_only_a_backtracking_engine_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user pattern whose exclusion needs lookahead is refused with file, line and id:
    confirming a line must take time linear in its length."""
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "patterns:\n  - id: MY-1\n    title: Mine\n    category: test\n    severity: high\n"
        "    owner: DEVOPS\n    risk: 1\n    regex: 'boom'\n    exclude: 'boom(?! ok)'\n"
        "    examples: ['boom']\n",
        encoding="utf-8",
    )
    assert run(["patterns", "validate", "--no-shipped", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:9: [MY-1] exclude 'boom(?! ok)': the linear-time engine (RE2)" in out
    assert run(["analyze", "--patterns", str(bad), str(bad)]) != 0
    assert "MY-1" in capsys.readouterr().err
