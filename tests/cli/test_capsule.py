from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.record.capsule import Signer
from hee_monitor.record.capsule.sealing import EncryptionKey

NOW = "2026-11-22T19:00:00Z"
EMAIL = "oncall@example.com"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    signer = Signer.generate()
    values = {
        "HEE_SIGNING_KEY": signer.private_pem().decode(),
        "HEE_CAPSULE_ENCRYPTION_KEY": EncryptionKey.generate().decode(),
        "HEE_STATE_DIR": str(tmp_path / "state"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("HEE_TRUSTED_KEYS", "GITHUB_REPOSITORY", "STATE_CAPSULE", "HEE_KEY_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return values


def capsule(*args: str, now: str = NOW) -> int:
    return run(["capsule", *args, "--now", now])


def test_keygen_writes_a_private_key_0600_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["capsule", "keygen", "--out", str(tmp_path / "ci-key")]) == 0
    private, public = tmp_path / "ci-key", tmp_path / "ci-key.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    out = capsys.readouterr().out
    assert "key id:" in out and "PRIVATE" not in out
    before = private.read_bytes()
    assert run(["capsule", "keygen", "--out", str(private)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert private.read_bytes() == before
    assert run(["capsule", "keygen", "--encryption", "--out", str(tmp_path / "enc")]) == 0
    assert stat.S_IMODE((tmp_path / "enc").stat().st_mode) == 0o600
    EncryptionKey((tmp_path / "enc").read_bytes())


def test_state_directory_lifecycle(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert capsule("generate", "--repository", "octo/app") == 0
    monkeypatch.setenv("NOTIFY", EMAIL)
    assert (
        capsule(
            "update",
            "--set-status",
            "failed",
            "--last-run-id",
            "123456789",
            "--set",
            "monitoring_state.hee_specific.spec_coverage=80",
            "--set",
            "/monitoring_state/coverage_metrics/line=91.5",
            "--set",
            "x-team=platform",
            "--add-fix-json",
            '{"pattern_id": "PY-RUFF-LINT", "success": true, "rollback": false}',
            "--open-incident-json",
            '{"id": "INC-1", "severity": "high", "title": "tests fail"}',
            "--set-sensitive",
            "notify_email=NOTIFY",
        )
        == 0
    )
    assert (
        capsule(
            "update",
            "--close-incident",
            "INC-1",
            "--set-status",
            "operational",
            "--add-decision-json",
            '{"action": "close", "reasons": ["fixed"]}',
        )
        == 0
    )
    capsys.readouterr()

    assert capsule("load") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["version"] == 3
    state = payload["monitoring_state"]
    assert (state["last_run_id"], state["hee_specific"]["spec_coverage"]) == ("123456789", 80)
    assert state["coverage_metrics"]["line"] == 91.5 and payload["x-team"] == "platform"
    fix = payload["auto_fix_history"][0]
    assert fix["timestamp"] == NOW and fix["hee_context"]["state_capsule_version"] == 1
    assert payload["open_incidents"] == [] and payload["decision_history"][0]["action"] == "close"
    assert payload["sensitive"]["notify_email"] == "<encrypted>"

    assert capsule("show") == 0
    shown = capsys.readouterr().out
    assert "version 3" in shown and "notify_email = <encrypted>" in shown and EMAIL not in shown
    assert capsule("show", "--reveal") == 0
    assert f"notify_email = {EMAIL}" in capsys.readouterr().out

    assert capsule("verify") == 0
    assert "3 version(s) from 1 to 3 link up" in capsys.readouterr().out
    assert capsule("restore", "1") == 0
    assert "restored the content of version 1" in capsys.readouterr().out
    assert capsule("history") == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 4 and listing[-1].startswith("* v4")
    assert capsule("archive", "--older-than-days", "0", now="2026-11-23T00:00:00Z") == 0
    assert "archived 3 version(s) (1-3)" in capsys.readouterr().out
    assert capsule("verify") == 0
    assert "(3 archived)" in capsys.readouterr().out
    for secret in (env["HEE_SIGNING_KEY"], env["HEE_CAPSULE_ENCRYPTION_KEY"], EMAIL):
        assert secret not in (tmp_path / "state" / "current.json").read_text()


def test_errors_are_specific_and_say_what_to_do(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert capsule("generate", "--repository", "octo/app") == 0
    old = (tmp_path / "state" / "current.json").read_bytes()
    assert capsule("update", "--set-status", "degraded") == 0
    (tmp_path / "state" / "current.json").write_bytes(old)
    capsys.readouterr()
    seen: list[str] = []
    assert capsule("load") == 1
    seen.append(err := capsys.readouterr().err)
    assert "capsule version 1 is older than the trusted version 2" in err
    assert "hint:" in err and "hee-monitor capsule restore" in err

    assert capsule("update", "--add-fix-json", "{not json") == 2
    seen.append(err := capsys.readouterr().err)
    assert "--add-fix-json: not valid JSON" in err
    assert capsule("update", "--set", "nothing") == 2
    seen.append(capsys.readouterr().err)
    assert capsule("load", now="2027-01-30T00:00:00Z") == 1
    seen.append(err := capsys.readouterr().err)
    assert "expired" in err
    assert capsule("verify", "--signing-key", "no-such-key") == 1
    seen.append(err := capsys.readouterr().err)
    assert "cannot read signing key no-such-key" in err
    for secret in (env["HEE_SIGNING_KEY"].splitlines()[1], env["HEE_CAPSULE_ENCRYPTION_KEY"]):
        assert all(secret not in text for text in seen)


def test_single_file_mode_with_input_and_output(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert capsule("generate", "--repository", "octo/app", "--output", "current.json") == 0
    assert (tmp_path / "trusted.json").exists()
    assert capsule("generate", "--repository", "octo/app", "--output", "current.json") == 1
    assert (
        capsule(
            "update",
            "--input",
            "current.json",
            "--output",
            "next.json",
            "--set-status",
            "degraded",
            "--expected-version",
            "1",
        )
        == 0
    )
    assert (
        capsule(
            "update",
            "--input",
            "current.json",
            "--output",
            "other.json",
            "--set-status",
            "maintenance",
        )
        == 1
    )  # version 1 is no longer current
    assert "older than the trusted version 2" in capsys.readouterr().err
    monkeypatch.setenv("STATE_CAPSULE", (tmp_path / "next.json").read_text())
    assert (
        capsule(
            "load",
            "--input-env",
            "STATE_CAPSULE",
            "--state-dir",
            ".",
            "--field",
            "/monitoring_state/current_status",
            "--output",
            "copy.json",
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == "degraded"
    assert (tmp_path / "copy.json").read_bytes() == (tmp_path / "next.json").read_bytes()
    assert capsule("verify", "--input", "next.json") == 0
    # as a shell passes it: STATE_CAPSULE="$(cat next.json)" drops the final newline
    monkeypatch.setenv("STATE_CAPSULE", (tmp_path / "next.json").read_text().rstrip("\n"))
    assert capsule("verify", "--input-env", "STATE_CAPSULE", "--state-dir", ".") == 0
    # but a changed byte inside the capsule is still refused
    tampered = (tmp_path / "next.json").read_text().replace("degraded", "degradeD")
    monkeypatch.setenv("STATE_CAPSULE", tampered)
    assert capsule("verify", "--input-env", "STATE_CAPSULE", "--state-dir", ".") == 1


def test_trusted_keys_and_threshold_on_the_command_line(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("a", "b"):
        assert run(["capsule", "keygen", "--out", str(tmp_path / name)]) == 0
    monkeypatch.delenv("HEE_SIGNING_KEY")
    both = [
        "--signing-key",
        "a",
        "--signing-key",
        "b",
        "--trusted-key",
        "a.pub",
        "--trusted-key",
        "b.pub",
        "--threshold",
        "2",
    ]
    assert capsule("generate", "--repository", "octo/app", *both) == 0
    assert (
        capsule("verify", "--trusted-key", "a.pub", "--trusted-key", "b.pub", "--threshold", "2")
        == 0
    )
    assert (
        capsule(
            "update",
            "--signing-key",
            "a",
            "--trusted-key",
            "a.pub",
            "--trusted-key",
            "b.pub",
            "--threshold",
            "2",
            "--set-status",
            "degraded",
        )
        == 0
    )
    # signed by "a" only: a 2-of-2 verifier refuses it
    capsys.readouterr()
    assert (
        capsule("verify", "--trusted-key", "a.pub", "--trusted-key", "b.pub", "--threshold", "2")
        == 1
    )
    assert "1 valid signature(s) by trusted keys, 2 required" in capsys.readouterr().err
    assert capsule("verify", "--trusted-key", "b.pub") == 1
    assert "untrusted key" in capsys.readouterr().err


def _write(tmp_path: Path, payload: object, name: str = "capsule.json") -> str:
    (tmp_path / name).write_text(json.dumps(payload), encoding="utf-8")
    return str(tmp_path / name)


def test_validate_lists_every_problem_with_its_pointer(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert capsule("generate", "--repository", "octo/app", "--output", "good.json") == 0
    capsys.readouterr()
    assert (
        run(
            [
                "capsule",
                "validate",
                "--input",
                "good.json",
                "--hee-rules",
                "--patterns-dir",
                str(_patterns(tmp_path)),
            ]
        )
        == 0
    )
    assert "valid (schema and hee rules)" in capsys.readouterr().out

    payload = json.loads((tmp_path / "good.json").read_text())["signed"]
    payload["monitoring_state"]["current_status"] = "failed"
    payload["monitoring_state"]["coverage_metrics"]["line"] = 250
    payload["auto_fix_history"] = [
        {
            "timestamp": "2026-11-22T18:00:00Z",
            "pattern_id": "NOPE",
            "success": True,
            "rollback": False,
            "hee_context": {
                "state_capsule_version": 0,
                "decision_impact": "low",
                "context_preservation": True,
            },
        }
    ]
    bad = _write(tmp_path, payload)
    assert (
        run(
            [
                "capsule",
                "validate",
                "--input",
                bad,
                "--hee-rules",
                "--patterns-dir",
                str(_patterns(tmp_path)),
                "--format",
                "json",
            ]
        )
        == 1
    )
    report = json.loads(capsys.readouterr().out)
    assert {(p["pointer"], p["rule"]) for p in report["problems"]} == {
        ("/monitoring_state/coverage_metrics/line", "maximum"),
        ("/monitoring_state/coverage_metrics/line", "percent"),
        ("/monitoring_state/current_status", "failed-needs-incident"),
        ("/auto_fix_history/0/pattern_id", "known-pattern"),
    }
    (tmp_path / "torn.json").write_bytes(b'{"signed": {')
    assert run(["capsule", "validate", "--input", str(tmp_path / "torn.json")]) == 1
    assert "not valid JSON" in capsys.readouterr().out
    assert run(["capsule", "validate", "--input", str(tmp_path / "missing.json")]) == 2


def _patterns(tmp_path: Path) -> Path:
    directory = tmp_path / "patterns"
    directory.mkdir(exist_ok=True)
    (directory / "python.yaml").write_text(
        "patterns:\n  - id: PY-RUFF-LINT\n    title: ruff\n    category: lint\n"
        "    severity: low\n    owner: DEVELOPER\n    risk: 1\n    regex: ['ruff']\n"
        "    examples: ['ruff']\n",
        encoding="utf-8",
    )
    return directory
