"""``hee-monitor config check|show``: validate a configuration file, show the effective one."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hee_monitor.core.config import Config, load_config
from hee_monitor.core.errors import ConfigError
from hee_monitor.service.hooks import validate_sections


@click.group("config")
def config() -> None:
    """Check and show the configuration (hee-monitor.toml + HEE_* environment).

    \b
    Examples:
      hee-monitor config check                        is ./hee-monitor.toml valid?
      hee-monitor config show --format toml           what is in effect, secrets masked
    """


@config.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def check(file: Path | None) -> int:
    """Validate FILE (default: $HEE_CONFIG or ./hee-monitor.toml) and the environment.

    \b
    Examples:
      hee-monitor config check                        ./hee-monitor.toml (or defaults)
      hee-monitor config check ci/hee-monitor.toml    another file
      HEE_REPOS=acme/api,acme/web hee-monitor config check

    Exit codes: 0 valid, 2 invalid (the message names the file, key and line).
    Reads $HEE_CONFIG, $HEE_REPOS, $HEE_DATABASE_URL, $GITHUB_TOKEN, $HEE_<SECTION>__<KEY>.
    """
    cfg = load_config(file)
    problems: list[ConfigError] = []
    for check_section in (validate_sections, _check_alerts, _check_llm):
        try:
            check_section(cfg)
        except ConfigError as exc:  # every section's problems at once, not one per run
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigError(
            f"{len(problems)} problems:\n  " + "\n  ".join(p.message for p in problems),
            hint="; ".join(dict.fromkeys(p.hint for p in problems if p.hint)) or None,
        )
    where = str(cfg.path) if cfg.path else "embedded defaults (no file)"
    repos = ", ".join(cfg.repos) or "none configured"
    click.echo(f"ok: {where}; repositories: {repos}")
    return 0


@config.command("show")
@click.option("--config", "file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--format", "fmt", type=click.Choice(["toml", "json"]), default="json")
def show(file: Path | None, fmt: str) -> int:
    """Print the effective configuration (defaults, file, environment) with secrets masked.

    \b
    Examples:
      hee-monitor config show                         JSON
      hee-monitor config show --format toml           ready to paste into a file
      HEE_MONITOR__INTERVAL_FAILED=10 hee-monitor config show

    Reads --config / $HEE_CONFIG, then HEE_* variables (HEE_<SECTION>__<KEY> for any key).
    """
    cfg = load_config(file)
    data = cfg.masked()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(_to_toml(data))
    return 0


def _to_toml(data: dict[str, object], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    out: list[str] = []
    if prefix and (scalars or not tables):
        out.append(f"[{prefix}]")
    out += [f"{_key(k)} = {json.dumps(v)}" for k, v in scalars.items()]
    for key, table in tables.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if out:
            out.append("")
        out.append(_to_toml(table, name))
    return "\n".join(out)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _check_alerts(cfg: Config) -> None:
    """The [alerts] section as the monitor reads it: matrix, channels, settings, inhibit
    rules and the repositories' alert channels (nothing is sent; the store is in memory)."""
    from hee_monitor.action.alerts import AlertRouter
    from hee_monitor.core.clock import SystemClock
    from hee_monitor.record.db import open_engine

    routes = {repo: cfg.repo(repo).alert_channels for repo in cfg.data.get("repos", {})}
    AlertRouter.from_config(
        cfg.section("alerts"), open_engine("sqlite://"), SystemClock(), repo_channels=routes
    )


def _check_llm(cfg: Config) -> None:
    """The [llm] section, when there is one."""
    section = cfg.section("llm")
    if section:
        from hee_monitor.analysis.llm import LlmSettings

        LlmSettings.from_mapping(section)
