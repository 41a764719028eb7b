from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.core.config import load_config
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import HealthState

GOOD = """
[github]
repos = ["octo/app"]
api_url = "http://127.0.0.1:9999"

[monitor]
interval_degraded = 15
database = "postgresql://hee:pa55word@db.internal/hee"

[policy]
max_reruns = 2

[repos."octo/lib"]
risk_threshold = 1
protected = true
alert_channels = ["slack"]

[alerts.channels.slack]
urls = ["json://hooks.slack.example/T000/B000/XXXX"]

[llm]
model = "qwen2.5-coder"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hee-monitor.toml"
    path.write_text(text)
    return path


def test_embedded_defaults_work_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.path is None
    assert cfg.interval(HealthState.OPERATIONAL) == 60
    assert cfg.interval(HealthState.DEGRADED) == 30
    assert cfg.policy_for("octo/app").max_reruns == 3
    assert cfg.repos == ()


def test_file_sections_and_repo_overrides(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), env={})
    assert cfg.repos == ("octo/app", "octo/lib")
    assert cfg.interval(HealthState.DEGRADED) == 15
    assert cfg.interval(HealthState.OPERATIONAL) == 60
    assert cfg.policy_for("octo/app").max_reruns == 2
    lib = cfg.policy_for("octo/lib")
    assert (lib.risk_threshold, lib.protected) == (1, True)
    assert cfg.repo("octo/lib").alert_channels == ("slack",)
    assert cfg.section("llm") == {"model": "qwen2.5-coder"}
    assert cfg.section("coverage") == {}


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "HEE_DATABASE_URL": "sqlite:///x.db",
        "HEE_REPOS": "a/b, c/d",
        "GITHUB_TOKEN": "ghp_secret",
        "HEE_POLICY__ESCALATE_AFTER": "5",
        "HEE_LLM__MODEL": "llama3",
    }
    cfg = load_config(write(tmp_path, GOOD), env=env)
    assert cfg.database == "sqlite:///x.db"
    assert cfg.repos[:2] == ("a/b", "c/d")
    assert cfg.token == "ghp_secret"
    assert cfg.policy_for("a/b").escalate_after == 5
    assert cfg.section("llm")["model"] == "llama3"


def test_invalid_value_names_file_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[monitor]\ninterval_operational = 60\n\n[policy]\nmax_reruns = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).startswith(f"{path}:5: policy.max_reruns: -1 is less than the minimum")


def test_unknown_key_in_an_own_section_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[policy]\nmax_rerun = 2\n")
    with pytest.raises(ConfigError, match=r":2: policy.max_rerun: unknown key"):
        load_config(path, env={})


def test_bad_repo_name_and_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repos"):
        load_config(write(tmp_path, '[repos."not a repo"]\nprotected = true\n'), env={})
    with pytest.raises(ConfigError, match="polcy: unknown key"):
        load_config(write(tmp_path, "[polcy]\nmax_reruns = 2\n"), env={})


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[monitor\n"), env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", env={})


def test_invalid_environment_is_named_without_the_secret() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"HEE_GITHUB__TOKEN": "[1, 2]", "HEE_POLICY__MAX_RERUNS": "many"})
    text = str(info.value)
    assert "HEE_POLICY__MAX_RERUNS" in text and "environment" in text


def test_masked_hides_tokens_webhooks_and_url_passwords(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), env={"GITHUB_TOKEN": "ghp_secret"})
    text = json.dumps(cfg.masked())
    for secret in ("ghp_secret", "pa55word", "XXXX"):
        assert secret not in text
    assert "http://127.0.0.1:9999" in text


def test_config_check_and_show_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    path = write(tmp_path, GOOD)
    assert run(["config", "check", str(path)]) == 0
    assert "octo/app, octo/lib" in capsys.readouterr().out
    assert run(["config", "show", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["github"]["token"] == "***"
    assert run(["config", "show", "--config", str(path), "--format", "toml"]) == 0
    out = capsys.readouterr().out
    assert '[repos."octo/lib"]' in out and "ghp_secret" not in out
    bad = write(tmp_path, "[policy]\nmax_reruns = 'x'\n")
    assert run(["config", "check", str(bad)]) == 2
    assert "policy.max_reruns" in capsys.readouterr().err


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = load_config(write(tmp_path, example), env={})
    assert cfg.repos == ("octo/app", "octo/lib")
    assert cfg.policy_for("octo/lib").protected


def test_every_problem_is_reported_at_once_with_did_you_mean(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[monitor]\ninterval_operationl = 60\n\n[policy]\nmax_rerun = 2\nescalate_after = -1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith("3 problems:")
    assert f"{path}:2: monitor.interval_operationl: unknown key; did you mean " in message
    assert "'interval_operational'" in message
    assert f"{path}:5: policy.max_rerun: unknown key; did you mean 'max_reruns'?" in message
    assert f"{path}:6: policy.escalate_after:" in message


def test_the_default_state_lives_in_the_user_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hee_monitor.core.config import default_database, state_dir

    monkeypatch.delenv("HEE_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert state_dir() == tmp_path / "xdg" / "hee-monitor"
    assert default_database() == f"sqlite:///{tmp_path / 'xdg' / 'hee-monitor' / 'hee-monitor.db'}"
    assert cfg.database == default_database()
    assert cfg.state_capsule == str(tmp_path / "xdg" / "hee-monitor" / "current.json")
    assert state_dir({"HEE_STATE_DIR": str(tmp_path / "mine")}) == tmp_path / "mine"


def test_the_suite_never_writes_to_the_real_home() -> None:
    import os

    from hee_monitor.core.config import state_dir

    assert not str(state_dir()).startswith(str(Path.home() / ".local"))
    assert os.environ["XDG_STATE_HOME"] in str(state_dir())
