"""The ``hee-monitor`` command line.

Thin by design: each command group lives in ``hee_monitor/cli/<name>.py`` and is
listed in :data:`COMMANDS`. Commands raise :class:`~hee_monitor.core.errors.HeeError`; only
:func:`main` turns errors into messages and exit codes (1 expected failure, 2 usage or
input error, 3 unexpected error, 130 interrupted).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import traceback
from typing import Any

import click

from hee_monitor import __version__
from hee_monitor.core.errors import HeeError

#: subcommand → its one-line help, shown by ``hee-monitor --help`` without importing the
#: command's module (tests/cli/test_help.py checks each against the command's own help).
#: The module is ``hee_monitor.cli.<name>`` and the click command its attribute ``<name>``.
COMMANDS: dict[str, str] = {
    "analyze": "Tell why a CI job failed: pattern, severity, owner, fix strategy and the "
    "log lines that prove it.",
    "approvals": "Fixes above the risk threshold wait here for a person's decision.",
    "artifacts": "Findings in the reports CI jobs upload (security, audits, licenses, tests).",
    "audit": "Query the audit log of decisions, state transitions and actions.",
    "capsule": "Signed, versioned record of pipeline health (the state capsule).",
    "config": "Check and show the configuration (hee-monitor.toml + HEE_* environment).",
    "coverage": "Coverage gaps you can act on.",
    "demo": "Play the whole product against a local fake of GitHub: no token, no server.",
    "escalation": "Persistent failures tracked as GitHub issues.",
    "fix": "Fix what is safe to fix: plan, apply (validated, rolled back on failure), recover.",
    "llm": "The local LLM fallback (Ollama) for logs no pattern explains.",
    "metrics": "How the monitor and the pipelines are doing: latency, timings, success rate, "
    "top failures.",
    "monitor": "Watch repositories: diagnose each failed job once, decide, move the health state.",
    "patterns": "The failure pattern database: validate, list and lint it; suggest new "
    "patterns from logs the local model explained.",
    "report": "Write a state report: status, timeline, failures, fixes, approvals, coverage, "
    "alerts.",
    "serve": "Receive GitHub webhooks of failed runs and run the whole pipeline for each.",
    "silence": "Mute alerts for a while (by repository, pattern, severity).",
    "state": "Show or change the pipeline's health state (operational, degraded, failed, "
    "maintenance).",
    "token": "GitHub token hygiene: scopes, expiry, rotation.",
}

_VERBOSE = "hee.verbose"
_QUIET = "hee.quiet"


def use_color(stream: Any = None) -> bool:
    """Colour for ``stream`` (stdout by default)? ``NO_COLOR`` (any non-empty value) says
    never, else ``FORCE_COLOR`` says always, else only on a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _apply_log_level(ctx: click.Context) -> None:
    meta = ctx.find_root().meta
    if meta.get(_QUIET):
        level = logging.ERROR
    else:
        level = max(logging.WARNING - 10 * int(meta.get(_VERBOSE, 0)), logging.DEBUG)
    logging.getLogger().setLevel(level)


def _count_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        meta = ctx.find_root().meta
        meta[_VERBOSE] = int(meta.get(_VERBOSE, 0)) + value
        _apply_log_level(ctx)


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta[_QUIET] = True
        _apply_log_level(ctx)


def _verbosity_options() -> list[click.Option]:
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_count_verbose,
            help="More log output (-vv for debug); also before the subcommand.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="Only errors on stderr (no warnings, no progress).",
        ),
    ]


def _add_verbosity(command: click.Command) -> None:
    """Give ``command`` (and, for a group, every subcommand) ``-v``/``-q`` of its own, so
    ``hee-monitor analyze -v job.log`` works like ``hee-monitor -v analyze job.log``."""
    names = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if not names & {"-v", "--verbose", "-q", "--quiet"}:
        command.params.extend(_verbosity_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbosity(sub)


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters, as click shortens help."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(",;:") + "..."


class _Group(click.Group):
    """Loads each subcommand's module only when that subcommand runs; ``--help`` lists the
    static one-line helps of :data:`COMMANDS`, so start-up stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"hee_monitor.cli.{cmd_name.replace('-', '_')}")
        command: click.Command = getattr(module, cmd_name.replace("-", "_"))
        _add_verbosity(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, _shorten(COMMANDS[name], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hee-monitor")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (no warnings).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
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
    variables (hee-monitor config check). Colour follows NO_COLOR and FORCE_COLOR. Shell
    completion: eval "$(_HEE_MONITOR_COMPLETE=bash_source hee-monitor)" (zsh_source,
    fish_source for those shells).
    """
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    ctx.meta[_VERBOSE] = verbose
    ctx.meta[_QUIET] = quiet
    _apply_log_level(ctx)
    if os.environ.get("NO_COLOR"):
        ctx.color = False
    elif os.environ.get("FORCE_COLOR"):
        ctx.color = True


_DOC_LINK = re.compile(r"\bdocs/([\w./-]+\.md)\b")


def resolve_doc_links(text: str) -> str:
    """``docs/X.md`` in a message → the path of the documentation shipped with this install
    (the wheel carries ``docs/``), so the link opens wherever hee-monitor runs."""
    from hee_monitor.core.resources import data_dir

    try:
        docs = data_dir("docs")
    except FileNotFoundError:
        return text

    def one(match: re.Match[str]) -> str:
        path = docs / match.group(1)
        return str(path) if path.is_file() else match.group(0)

    return _DOC_LINK.sub(one, text)


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises SystemExit)."""
    try:
        result: Any = cli.main(args=args, prog_name="hee-monitor", standalone_mode=False)
    except HeeError as exc:
        from hee_monitor.core.redact import redact  # only on the error path: start fast

        click.echo(f"hee-monitor: error: {redact(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"hint: {redact(resolve_doc_links(exc.hint))}", err=True)
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
