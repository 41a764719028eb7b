"""The ``hee-monitor`` command line.

Thin by design: each command group lives in ``hee_monitor/cli/<name>.py`` and is
listed in :data:`COMMANDS`. Commands raise :class:`~hee_monitor.core.errors.HeeError`; only
:func:`main` turns errors into messages and exit codes (1 expected failure, 2 usage or
input error, 3 unexpected error, 130 interrupted).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import Any

import click

from hee_monitor import __version__
from hee_monitor.core.errors import HeeError
from hee_monitor.core.redact import redact

#: module name under hee_monitor.cli → attribute holding the click command
COMMANDS: dict[str, str] = {
    "analyze": "analyze",
    "approvals": "approvals",
    "artifacts": "artifacts",
    "audit": "audit",
    "capsule": "capsule",
    "config": "config",
    "coverage": "coverage",
    "demo": "demo",
    "escalation": "escalation",
    "fix": "fix",
    "llm": "llm",
    "metrics": "metrics",
    "monitor": "monitor",
    "patterns": "patterns",
    "report": "report",
    "serve": "serve",
    "silence": "silence",
    "state": "state",
    "token": "token",
}


class _Group(click.Group):
    """Loads each subcommand's module only when that subcommand runs, so start-up stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        attr = COMMANDS.get(cmd_name)
        if attr is None:
            return None
        module = importlib.import_module(f"hee_monitor.cli.{cmd_name.replace('-', '_')}")
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hee-monitor")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Keep CI pipelines healthy.

    hee-monitor watches GitHub Actions, works out why a job failed from its log, fixes what
    is safe to fix, alerts the right people and keeps a signed record of pipeline health.

    \b
    Start here:
      hee-monitor demo                       the whole product on a scratch repository
      hee-monitor analyze job.log            why did this job fail?
      hee-monitor analyze --format json -    the same, from stdin, for other tools
      hee-monitor patterns list              the failure patterns it knows
      hee-monitor monitor --repo owner/name  watch a repository (GITHUB_TOKEN)
      hee-monitor capsule show               the signed record of pipeline health

    Every command has --help with examples. Configuration: hee-monitor.toml and HEE_*
    variables (hee-monitor config check).
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises SystemExit)."""
    try:
        result: Any = cli.main(args=args, prog_name="hee-monitor", standalone_mode=False)
    except HeeError as exc:
        click.echo(f"hee-monitor: error: {redact(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"hint: {redact(exc.hint)}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("hee-monitor: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("hee-monitor: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception:  # the last line of defence: report, never a bare crash
        click.echo("hee-monitor: unexpected error (this is a bug, please report it):", err=True)
        click.echo(traceback.format_exc(), err=True)
        return 3
    return int(result) if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
