"""A repository's fix settings: the ``fixes:`` section of ``.hee-monitor.yml``.

```yaml
fixes:
  risk_threshold: 3            # 0-10; riskier fixes wait for an approval
  protected: false             # true: never change this repository automatically
  protected_paths: [".github/workflows/**", "migrations/**"]
  max_attempts: 3              # per failure fingerprint
  approval_timeout_hours: 24   # then the request escalates
  command_timeout: 600         # seconds the re-run of the failing command may take
  checks:                      # must keep passing after any fix (if they passed before)
    - pytest -q -x
  validation:                  # how this repository runs a strategy's check
    ruff-fix: ruff check src tests
  strategies:                  # command strategies of its own
    - id: taplo-fmt
      command: taplo fmt
      validate: taplo fmt --check
      risk: 1
      safety: high
  settings:
    license_header: "SPDX-License-Identifier: Apache-2.0"
    timeout_minutes: 30
```
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hee_monitor.action.fixes.strategies.commands import (
    CommandStrategy,
    command_strategy_from_config,
)
from hee_monitor.core.errors import ConfigError
from hee_monitor.decision.risk import DEFAULT_RISK_THRESHOLD

CONFIG_FILE = ".hee-monitor.yml"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_APPROVAL_TIMEOUT_HOURS = 24.0
DEFAULT_COMMAND_TIMEOUT = 600.0

_KNOWN = {
    "risk_threshold",
    "protected",
    "protected_paths",
    "max_attempts",
    "approval_timeout_hours",
    "command_timeout",
    "checks",
    "validation",
    "strategies",
    "settings",
}


@dataclass(frozen=True)
class FixConfig:
    risk_threshold: int = DEFAULT_RISK_THRESHOLD
    protected: bool = False
    protected_paths: tuple[str, ...] = ()
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    approval_timeout_hours: float = DEFAULT_APPROVAL_TIMEOUT_HOURS
    #: seconds the re-run of the failing command may take before it counts as failed
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    checks: tuple[tuple[str, ...], ...] = ()
    validation: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    strategies: tuple[CommandStrategy, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> FixConfig:
        unknown = set(data) - _KNOWN
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                hint="known keys: " + ", ".join(sorted(_KNOWN)),
            )
        threshold = data.get("risk_threshold", DEFAULT_RISK_THRESHOLD)
        if not isinstance(threshold, int) or not 0 <= threshold <= 10:
            raise ConfigError(f"{where}: risk_threshold must be an integer from 0 to 10")
        attempts = data.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
        if not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(f"{where}: max_attempts must be a positive integer")
        timeout = data.get("approval_timeout_hours", DEFAULT_APPROVAL_TIMEOUT_HOURS)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"{where}: approval_timeout_hours must be a positive number")
        command_timeout = data.get("command_timeout", DEFAULT_COMMAND_TIMEOUT)
        if not isinstance(command_timeout, int | float) or command_timeout <= 0:
            raise ConfigError(f"{where}: command_timeout must be a positive number of seconds")
        paths = data.get("protected_paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ConfigError(f"{where}: protected_paths must be a list of glob patterns")
        checks = tuple(
            _argv(c, f"{where}: checks[{i}]") for i, c in enumerate(data.get("checks", []))
        )
        validation = {
            str(k): _argv(v, f"{where}: validation.{k}")
            for k, v in (data.get("validation") or {}).items()
        }
        strategies = tuple(
            command_strategy_from_config(s, f"{where}: strategies[{i}]")
            for i, s in enumerate(data.get("strategies") or [])
        )
        settings = data.get("settings") or {}
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}: settings must be a mapping")
        return cls(
            risk_threshold=threshold,
            protected=bool(data.get("protected", False)),
            protected_paths=tuple(paths),
            max_attempts=attempts,
            approval_timeout_hours=float(timeout),
            command_timeout=float(command_timeout),
            checks=checks,
            validation=validation,
            strategies=strategies,
            settings=settings,
        )


def _argv(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        # split as a shell would; a misquoted command is an error now, before any fix runs,
        # not a check that "fails at baseline" and is then silently treated as optional
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: cannot be read as a command ({exc}): {value!r}",
                hint="balance the quotes, or write the command as a list of words",
            ) from None
        if words:
            return tuple(words)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where} must be a command string or a list of strings")


def repository_section(repo: Path, path: Path | None = None) -> dict[str, Any]:
    """The raw ``fixes:`` mapping of the repository's file; empty when it has none."""
    file = path or repo / CONFIG_FILE
    if not file.is_file():
        if path is not None:
            raise ConfigError(f"configuration file {file} does not exist")
        return {}
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    section = data.get("fixes") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: 'fixes' must be a mapping")
    return section


def load_config(
    repo: Path, path: Path | None = None, base: Mapping[str, Any] | None = None
) -> FixConfig:
    """The repository's fix settings over ``base`` (the service's ``[policy]`` and ``[fix]``
    settings); defaults where neither says anything."""
    merged = {**(base or {}), **repository_section(repo, path)}
    where = str(path or repo / CONFIG_FILE) + ": fixes"
    return FixConfig.from_mapping(merged, where)
