"""The escalation matrix: who is told, how fast, and what else happens, per severity.

Data, not code: the defaults below follow the product brief and every part of them can be
overridden from the ``[alerts]`` configuration section (see docs/alerts.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Severity

#: actions the router performs itself (a log line); the others are returned to the caller
LOG_ACTIONS = frozenset({"log-entry", "monitoring-log"})
#: every action a matrix row may name
KNOWN_ACTIONS = frozenset({"capsule-update", "agent-alert", *LOG_ACTIONS})


@dataclass(frozen=True)
class Escalation:
    """One row of the matrix.

    ``group_wait`` is "within N minutes": alerts of this severity are batched for at most
    that long before they are delivered; zero means at once.
    """

    severity: Severity
    group_wait: timedelta
    channels: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class EscalationMatrix:
    rows: Mapping[Severity, Escalation]

    def __getitem__(self, severity: Severity) -> Escalation:
        return self.rows[severity]

    @property
    def channel_names(self) -> frozenset[str]:
        return frozenset(name for row in self.rows.values() for name in row.channels)


DEFAULT_MATRIX = EscalationMatrix(
    {
        Severity.CRITICAL: Escalation(
            Severity.CRITICAL,
            timedelta(0),
            ("console", "email", "slack", "sms"),
            ("capsule-update", "agent-alert"),
        ),
        Severity.HIGH: Escalation(
            Severity.HIGH,
            timedelta(minutes=5),
            ("console", "email", "slack"),
            ("capsule-update",),
        ),
        Severity.MEDIUM: Escalation(
            Severity.MEDIUM, timedelta(minutes=15), ("console", "email"), ("log-entry",)
        ),
        Severity.LOW: Escalation(
            Severity.LOW, timedelta(hours=1), ("console",), ("monitoring-log",)
        ),
    }
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any, *, where: str) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"2d"`` or a number of seconds → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration, got {value!r}", hint=_DURATION_HINT)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise ConfigError(f"{where}: {value!r} is not a duration", hint=_DURATION_HINT)
    if seconds < 0:
        raise ConfigError(f"{where}: a duration cannot be negative", hint=_DURATION_HINT)
    return timedelta(seconds=seconds)


_DURATION_HINT = 'write a duration like "30s", "5m", "1h", "2d" or a number of seconds'


def _str_tuple(value: Any, *, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of names", hint='e.g. ["console", "email"]')
    return tuple(value)


def matrix_from_config(section: Mapping[str, Any] | None) -> EscalationMatrix:
    """The default matrix with the rows of ``[alerts.matrix.<severity>]`` laid over it.

    A row given in the configuration replaces only the keys it names (``wait``,
    ``channels``, ``actions``).
    """
    if section is None:
        return DEFAULT_MATRIX
    if not isinstance(section, Mapping):
        raise ConfigError("[alerts.matrix] must be a table", hint="see docs/alerts.md")
    rows = dict(DEFAULT_MATRIX.rows)
    for key, row in section.items():
        try:
            severity = Severity(str(key).lower())
        except ValueError:
            raise ConfigError(
                f"[alerts.matrix.{key}]: unknown severity",
                hint="use one of: " + ", ".join(s.value for s in Severity),
            ) from None
        where = f"[alerts.matrix.{severity.value}]"
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where} must be a table", hint="see docs/alerts.md")
        unknown = set(row) - {"wait", "channels", "actions"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                hint="a matrix row takes wait, channels and actions",
            )
        base = rows[severity]
        actions = (
            _str_tuple(row["actions"], where=f"{where} actions")
            if "actions" in row
            else base.actions
        )
        bad = [a for a in actions if a not in KNOWN_ACTIONS]
        if bad:
            raise ConfigError(
                f"{where}: unknown action(s) {', '.join(bad)}",
                hint="actions are: " + ", ".join(sorted(KNOWN_ACTIONS)),
            )
        rows[severity] = Escalation(
            severity,
            parse_duration(row["wait"], where=f"{where} wait")
            if "wait" in row
            else base.group_wait,
            _str_tuple(row["channels"], where=f"{where} channels")
            if "channels" in row
            else base.channels,
            actions,
        )
    return EscalationMatrix(rows)
