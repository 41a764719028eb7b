from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hee_monitor.cli import run

FIXTURES = Path(__file__).resolve().parents[1] / "analysis" / "coverage" / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["coverage", "analyze", str(FIXTURES / "coverage.json")]) == 0
    out = capsys.readouterr().out
    assert "line" in out and "46.1%" in out
    assert "missing: integration, spec, prompt" in out
    assert "Test first" in out and "src/shop/pricing.py:9 Discount.apply" in out


def test_json_report_with_targets_and_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nline = 50\nbranch = 20\nfunction = 50\ntotal = 40\n")
    args = ["coverage", "analyze", str(FIXTURES / "lcov.info"), "--targets", str(targets)]
    assert run([*args, "--format", "json", "--check"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "lcov"
    assert data["gaps"] == []
    assert set(data["coverage_metrics"]) == {
        "line",
        "branch",
        "function",
        "integration",
        "spec",
        "prompt",
    }
    targets.write_text("line = 90\n")
    assert run([*args, "--format", "json", "--check"]) == 1
    gaps = json.loads(capsys.readouterr().out)["gaps"]
    # the other metrics are back at the default target of 100
    assert [g["metric"] for g in gaps] == ["branch", "total", "line", "function"]
    line = next(g for g in gaps if g["metric"] == "line")
    assert (line["target"], line["shortfall"]) == (90.0, pytest.approx(32.86))


def test_markdown_with_spec_prompts_and_skeletons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "SPEC.md"
    spec.write_text("- REQ-1 price\n- REQ-2 discount\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_price.py").write_text("# REQ-1\n")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "triage.txt").write_text("...")
    skeletons = tmp_path / "skeletons"
    code = run(
        [
            "coverage",
            "analyze",
            str(FIXTURES / "coverage.json"),
            "--format",
            "markdown",
            "--spec",
            str(spec),
            "--tests",
            str(tests),
            "--prompts",
            str(prompts),
            "--integration",
            str(FIXTURES / "coveragepy.xml"),
            "--skeletons",
            str(skeletons),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "| spec | 50.0% |" in captured.out
    assert "| prompt | 0.0% |" in captured.out
    assert "Missing metrics" not in captured.out
    assert "### Test first" in captured.out
    assert "wrote 3 test skeleton(s)" in captured.err
    assert len(list(skeletons.glob("test_*.py"))) == 3


def test_bad_report_is_an_input_error_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "coverage.xml"
    bad.write_text("<coverage><packages>")
    assert run(["coverage", "analyze", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: malformed XML" in err
    assert "hint:" in err


def test_module_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "coverage", "analyze", str(FIXTURES / "jacoco.xml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Invoice.applyDiscount" in proc.stdout


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEE_SIGNING_KEY", "HEE_TRUSTED_KEYS", "HEE_CONFIG", "HEE_REPOS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_update_capsule_records_the_metrics_in_a_plain_capsule(
    tmp_path: Path, no_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsule = tmp_path / "state" / "current.json"
    report = str(FIXTURES / "coverage.json")
    assert run(["coverage", "analyze", report, "--update-capsule", str(capsule)]) == 0
    first = json.loads(capsule.read_text())
    metrics = first["monitoring_state"]["coverage_metrics"]
    assert metrics["line"] == pytest.approx(46.1, abs=0.05)
    assert metrics["spec"] is None and metrics["integration"] is None
    assert first["monitoring_state"]["current_status"] == "operational"
    err = capsys.readouterr().err
    assert f"recorded coverage in {capsule}" in err and "capsule not signed" in err

    # spec coverage measured now is kept by a later run that does not measure it
    spec = tmp_path / "spec.md"
    spec.write_text("REQ-001 pricing\nREQ-002 refunds\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_pricing.py").write_text("def test_req_001():  # REQ-001\n    pass\n")
    args = ["coverage", "analyze", report, "--update-capsule", str(capsule)]
    assert run([*args, "--spec", str(spec), "--tests", str(tests)]) == 0
    second = json.loads(capsule.read_text())
    assert second["version"] == first["version"] + 1
    assert second["monitoring_state"]["hee_specific"]["spec_coverage"] == 50.0
    assert run(args) == 0
    third = json.loads(capsule.read_text())
    assert third["monitoring_state"]["coverage_metrics"]["spec"] is None
    assert third["monitoring_state"]["hee_specific"]["spec_coverage"] == 50.0


def test_update_capsule_signs_when_a_signing_key_is_set(
    tmp_path: Path, no_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hee_monitor.core.clock import SystemClock
    from hee_monitor.record.capsule.files import load_capsule_file
    from hee_monitor.record.capsule.keys import Signer, TrustedKeys

    signer = Signer.generate()
    monkeypatch.setenv("HEE_SIGNING_KEY", signer.private_pem().decode())
    capsule = tmp_path / "current.json"
    report = str(FIXTURES / "lcov.info")
    assert run(["coverage", "analyze", report, "--update-capsule", str(capsule)]) == 0
    verified = load_capsule_file(
        capsule, TrustedKeys.of([signer.public_key]), now=SystemClock().now(), record=False
    )
    assert verified.payload["monitoring_state"]["coverage_metrics"]["line"] is not None
    # a tampered capsule is refused, not overwritten
    envelope = json.loads(capsule.read_text())
    envelope["signed"]["monitoring_state"]["coverage_metrics"]["line"] = 100.0
    capsule.write_text(json.dumps(envelope))
    assert run(["coverage", "analyze", report, "--update-capsule", str(capsule)]) != 0
    assert json.loads(capsule.read_text()) == envelope
