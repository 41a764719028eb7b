"""The contract every registered strategy keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.action.fixes.strategies import STRATEGIES, registry
from hee_monitor.action.fixes.strategies.commands import COMMAND_STRATEGIES, CommandStrategy
from hee_monitor.action.fixes.strategies.interface import FixStrategy, Requirements, Safety

PATTERN_DATABASE_IDS = {
    "ruff-fix", "ruff-format", "black", "isort", "eslint-fix", "prettier-write", "clippy-fix",
    "cargo-fmt", "gofmt", "go-mod-tidy", "npm-audit-fix", "license-header", "pin-dependency",
    "bump-dependency", "regenerate-lockfile", "workflow-permissions", "workflow-timeout", "rerun",
}  # fmt: skip


def test_every_strategy_id_of_the_pattern_database_is_registered() -> None:
    assert set(STRATEGIES) == PATTERN_DATABASE_IDS


@pytest.mark.parametrize("sid", sorted(STRATEGIES))
def test_strategy_contract(sid: str) -> None:
    strategy = STRATEGIES[sid]
    assert isinstance(strategy, FixStrategy)
    assert strategy.id == sid
    assert 0 <= strategy.risk <= 10
    assert isinstance(strategy.safety, Safety)
    assert isinstance(strategy.requirements, Requirements)


@pytest.mark.parametrize("sid", sorted(COMMAND_STRATEGIES))
def test_command_strategies_validate_with_the_check_that_failed(sid: str) -> None:
    strategy = COMMAND_STRATEGIES[sid]
    tool = strategy.commands[0][0]
    assert strategy.validate.argv[0] == tool
    assert strategy.validate.argv != strategy.commands[0]
    assert tool in strategy.requirements.tools


def test_requirements_name_what_is_missing(tmp_path: Path) -> None:
    req = Requirements(tools=("no-such-tool-hee",), files=("Cargo.toml",))
    assert req.missing(tmp_path) == (
        "tool 'no-such-tool-hee' is not on PATH",
        "none of Cargo.toml is in the repository",
    )
    (tmp_path / "Cargo.toml").write_text("")
    assert req.missing(tmp_path, path_env="") == ("tool 'no-such-tool-hee' is not on PATH",)


def test_repository_strategies_join_the_registry_but_cannot_replace_built_ins() -> None:
    from hee_monitor.action.fixes.strategies.commands import command_strategy_from_config
    from hee_monitor.core.errors import ConfigError

    extra = command_strategy_from_config(
        {"id": "taplo-fmt", "command": "taplo fmt", "validate": "taplo fmt --check", "risk": 1,
         "safety": "high"},
        "cfg",
    )  # fmt: skip
    assert isinstance(extra, CommandStrategy)
    merged = registry([extra])
    assert merged["taplo-fmt"] is extra
    assert extra.requirements.tools == ("taplo",)
    clash = command_strategy_from_config({"id": "black", "command": "x", "validate": "y"}, "cfg")
    with pytest.raises(ConfigError, match="built-in strategy"):
        registry([clash])
    with pytest.raises(ConfigError, match="missing 'validate'"):
        command_strategy_from_config({"id": "x", "command": "x"}, "cfg")
    with pytest.raises(ConfigError, match="risk must be"):
        command_strategy_from_config({"id": "x", "command": "x", "validate": "y", "risk": 11}, "c")
