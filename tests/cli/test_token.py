from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hee_monitor.cli import run
from tests.fakes.github import GitHubFake

TOKEN = "ghp_commandtoken0123456789abcdefAB"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_CONFIG", raising=False)
    with GitHubFake() as server:
        server.require_token(TOKEN)
        server.add_repo("octo/app")
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("HEE_GITHUB_API_URL", server.url)
        monkeypatch.setenv("HEE_REPOS", "octo/app")
        yield server


def test_ok_token_exits_0(
    fake: GitHubFake, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    fake.token_scopes = "repo"
    fake.token_expiration = "2099-01-01 00:00:00 UTC"
    (Path.cwd() / "hee-monitor.toml").write_text("[token]\nrotation_days = 40000\n")
    caplog.set_level(logging.DEBUG)
    assert run(["-vv", "token", "check"]) == 0
    out = capsys.readouterr()
    assert "token fine" in out.out
    assert TOKEN not in out.out + out.err
    assert TOKEN not in "\n".join(r.getMessage() for r in caplog.records)


def test_missing_scope_exits_1_and_warnings_only_with_strict(
    fake: GitHubFake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.token_scopes = "public_repo"
    assert run(["token", "check", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"]
    assert any(c["level"] == "problem" and c["topic"] == "scopes" for c in data["checks"])
    fake.token_scopes = "repo"  # but it never expires: a warning
    assert run(["token", "check"]) == 0
    assert "never expires" in capsys.readouterr().out
    assert run(["token", "check", "--strict"]) == 1


def test_rejected_token_exits_1_without_printing_it(
    fake: GitHubFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_revokedrevokedrevoked0123456789")
    assert run(["token", "check"]) == 1
    out = capsys.readouterr()
    assert "401" in out.out and "revoked" not in out.out + out.err


def test_token_check_explains_a_github_apps_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.sources.github.test_app import APP_ID, KEY, PUBLIC

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_CONFIG", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with GitHubFake() as server:
        server.enable_app(
            APP_ID, PUBLIC, {"octo": 7}, permissions={"actions": "read", "metadata": "read"}
        )
        server.add_repo("octo/app")
        pem = tmp_path / "app.pem"
        pem.write_text(KEY)
        monkeypatch.setenv("HEE_GITHUB_APP_ID", str(APP_ID))
        monkeypatch.setenv("HEE_GITHUB_APP_PRIVATE_KEY_FILE", str(pem))
        monkeypatch.setenv("HEE_GITHUB_API_URL", server.url)
        monkeypatch.setenv("HEE_REPOS", "octo/app,elsewhere/lib")
        code = run(["token", "check"])
    out = capsys.readouterr().out
    assert code == 1
    assert "GitHub App" in out and "installed on octo" in out
    # the default features rerun and escalate: the app may only read
    assert "rerun needs actions: write" in out
    assert "escalation needs issues: write" in out
    assert "not installed on elsewhere" in out
    assert "reads Actions of octo/app" in out
    assert "BEGIN" not in out
