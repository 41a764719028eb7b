from __future__ import annotations

import subprocess
import sys

import click
import pytest

from hee_monitor import cli as cli_module
from hee_monitor.cli import run
from hee_monitor.core.errors import UsageError


def test_help_lists_every_registered_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli_module.COMMANDS:
        assert name in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_hee_error_becomes_message_hint_and_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    @click.command()
    def boom() -> None:
        raise UsageError("input.log: not readable", hint="check the path")

    monkeypatch.setattr(cli_module.cli, "get_command", lambda ctx, name: boom)
    assert run(["boom"]) == 2
    err = capsys.readouterr().err
    assert "error: input.log: not readable" in err
    assert "hint: check the path" in err


def test_module_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "hee-monitor" in proc.stdout
