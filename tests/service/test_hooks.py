from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.action.escalation.issues import IssueEscalator
from hee_monitor.core.config import load_config
from hee_monitor.core.errors import ConfigError
from hee_monitor.record.db import open_engine
from hee_monitor.service.hooks import cycle_hooks
from hee_monitor.sources.github.source import GitHubSource
from hee_monitor.sources.github.token import TokenWatch
from tests.fakes.github import GitHubFake


def config(tmp_path: Path, text: str) -> object:
    path = tmp_path / "hee-monitor.toml"
    path.write_text(text)
    return load_config(path, env={})


def test_without_github_only_local_hooks(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[skip]\nmarkers = ["[no fix]"]\n')
    hooks = cycle_hooks(cfg, engine=open_engine(f"sqlite:///{tmp_path}/a.db"))  # type: ignore[arg-type]
    assert set(hooks) == {"detector", "skip_for"}


def test_with_github_escalation_is_opt_in(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path}/a.db")
    with GitHubFake() as fake, GitHubSource(["o/a"], token="t", api_url=fake.url) as github:
        off = cycle_hooks(config(tmp_path, ""), engine=engine, github=github)  # type: ignore[arg-type]
        assert set(off) == {"detector", "skip_for", "token_watch"}
        on = cycle_hooks(
            config(tmp_path, "[escalation]\nenabled = true\noccurrences = 5\n"),  # type: ignore[arg-type]
            engine=engine,
            github=github,
        )
        assert isinstance(on["escalator"], IssueEscalator)
        assert on["escalator"].settings.occurrences == 5
        assert isinstance(on["token_watch"], TokenWatch)


def test_invalid_sections_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rotation_days"):
        cycle_hooks(
            config(tmp_path, "[token]\nrotation_days = 0\n"),  # type: ignore[arg-type]
            engine=open_engine(f"sqlite:///{tmp_path}/a.db"),
        )


def test_config_check_validates_these_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hee_monitor.cli import run

    path = tmp_path / "hee-monitor.toml"
    path.write_text('[escalation]\nupdate = "email"\n')
    assert run(["config", "check", str(path)]) == 2
    assert "escalation.update" in capsys.readouterr().err
    path.write_text('[escalation]\nupdate = "body"\n[token]\ncreated_at = 2026-09-01\n')
    assert run(["config", "check", str(path)]) == 0
