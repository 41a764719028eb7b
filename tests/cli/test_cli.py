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


def test_the_static_short_help_is_each_command_s_own() -> None:
    ctx = click.Context(cli_module.cli)
    for name, short in cli_module.COMMANDS.items():
        command = cli_module.cli.get_command(ctx, name)
        assert command is not None
        assert command.get_short_help_str(limit=1000) == short, name


def test_help_and_version_import_no_command_module() -> None:
    code = (
        "import sys\n"
        "from hee_monitor.cli import run\n"
        "for args in (['--help'], ['--version']):\n"
        "    run(args)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('hee_monitor.') and\n"
        "    m not in ('hee_monitor.cli', 'hee_monitor.core', 'hee_monitor.core.errors'))\n"
        "heavy = [m for m in ('sqlalchemy', 'rich', 'github', 'jsonschema') if m in sys.modules]\n"
        "print('LOADED', loaded, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED [] []" in proc.stdout, proc.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_and_quiet_work_before_and_after_the_subcommand(where: str) -> None:
    import logging

    flags = ["-vv"]
    args = [*flags, "config", "show"] if where == "before" else ["config", "show", *flags]
    root = logging.getLogger()
    level = root.level
    try:
        assert run(args) == 0
        assert root.level == logging.DEBUG
        quiet = ["-q", "config", "show"] if where == "before" else ["config", "show", "-q"]
        assert run(quiet) == 0
        assert root.level == logging.ERROR
    finally:
        root.setLevel(level)


def test_use_color_follows_no_color_then_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert cli_module.use_color(Tty()) is True
    assert cli_module.use_color(object()) is False
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli_module.use_color(object()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli_module.use_color(Tty()) is False


def _in_pty(args: list[str], env: dict[str, str]) -> str:
    """Run hee-monitor with stdout on a pseudo-terminal; what it wrote there."""
    import os
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hee_monitor", *args],
        stdout=secondary, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(primary)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_no_color_is_honoured_on_a_terminal() -> None:
    import os
    from pathlib import Path

    log = Path(__file__).resolve().parents[2] / "examples" / "logs" / "pytest-assertion-failure.log"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    coloured = _in_pty(["analyze", str(log)], env)
    assert "\x1b[" in coloured
    plain = _in_pty(["analyze", str(log)], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain
    assert "PY-" in plain or "root cause" in plain.lower()


def test_force_color_colours_a_pipe() -> None:
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    log = root / "examples" / "logs" / "pytest-assertion-failure.log"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(PYTHONPATH=str(root), FORCE_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "analyze", str(log)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert "\x1b[" in proc.stdout


def test_docs_links_in_hints_point_at_files_that_exist() -> None:
    from pathlib import Path

    text = cli_module.resolve_doc_links("see docs/alerts.md, Inhibition")
    path = Path(text.removeprefix("see ").split(",")[0])
    assert path.is_absolute() and path.is_file()
    assert cli_module.resolve_doc_links("see docs/no-such-page.md") == "see docs/no-such-page.md"


def test_the_help_documents_completion_and_colour(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "_HEE_MONITOR_COMPLETE=bash_source" in out
    assert "NO_COLOR" in out


def test_shell_completion_completes_subcommands() -> None:
    import os
    from pathlib import Path

    env = dict(
        os.environ,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        COMP_WORDS="hee-monitor ana",
        COMP_CWORD="1",
        _HEE_MONITOR_COMPLETE="bash_complete",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "hee_monitor"], env=env, capture_output=True, text=True
    )
    assert proc.stdout.split() == ["plain,analyze"]


def test_analyze_reads_a_piped_stdin_without_a_dash() -> None:
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    log = (root / "examples" / "logs" / "pytest-assertion-failure.log").read_bytes()
    env = dict(os.environ, PYTHONPATH=str(root), NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "analyze", "--format", "json"],
        input=log, env=env, capture_output=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert b'"log": "<stdin>"' in proc.stdout and b'"pattern_id"' in proc.stdout
