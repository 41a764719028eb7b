"""Inhibition: an open alert about a cause mutes the alerts that cause explains.

Alertmanager's inhibit rules, for CI: when the runners of a repository are lost or its
network is down, every job fails, and the test and lint alerts that follow say nothing new.
A rule names its *source* alerts (at least a severity, and optionally pattern-id globs) and
its *target* alerts (at most a severity, optionally pattern-id globs). While a source alert
of a repository is open (submitted within the rule's ``window`` and not resolved), target
alerts of the *same* repository are muted, with a reason naming the source::

    [[alerts.inhibit]]
    source_patterns = ["GHA-RUNNER-*", "NET-*"]   # any pattern when left out
    source_severity = "critical"                 # default critical
    target_severity = "high"                     # at most this; default high
    target_patterns = ["*"]                      # default every pattern
    window = "2h"                                # default 1h

Only alerts about failures take part (``failure`` and ``escalation``; never resolved
notices, approval requests or token warnings). An alert never inhibits itself (same
fingerprint), and an alert that is a source of a rule is not a target of that rule. Open
sources live in the audit store (table ``alert_inhibit_sources``), so every process on it
sees them; a resolved failure stops inhibiting at once. :func:`inhibited` is the pure
decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.action.alerts._sql import store_error, transaction
from hee_monitor.action.alerts.matrix import parse_duration
from hee_monitor.action.alerts.silences import AlertMuted
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Alert, Severity
from hee_monitor.record.schema import alert_inhibit_sources as inhibit_sources_table

DEFAULT_WINDOW = timedelta(hours=1)
#: the alerts about a failure (an escalation is a failure that persists)
FAILURE_KINDS = frozenset({"failure", "escalation"})
_KEYS = ("source_patterns", "source_severity", "target_patterns", "target_severity", "window")


@dataclass(frozen=True)
class InhibitingAlert:
    """An open alert that may inhibit others of its repository."""

    repo: str
    fingerprint: str
    pattern_id: str | None
    severity: Severity
    seen_at: datetime


@dataclass(frozen=True)
class InhibitRule:
    source_severity: Severity = Severity.CRITICAL
    #: globs over the pattern id; empty: any pattern
    source_patterns: tuple[str, ...] = ()
    target_severity: Severity = Severity.HIGH
    target_patterns: tuple[str, ...] = ()
    window: timedelta = DEFAULT_WINDOW

    def is_source(self, severity: Severity, pattern_id: str | None) -> bool:
        return severity.at_least(self.source_severity) and _matches(
            pattern_id, self.source_patterns
        )

    def is_target(self, alert: Alert) -> bool:
        return (
            alert.kind in FAILURE_KINDS
            and self.target_severity.at_least(alert.severity)
            and _matches(alert.pattern_id, self.target_patterns)
            and not self.is_source(alert.severity, alert.pattern_id)
        )


def _matches(pattern_id: str | None, globs: Sequence[str]) -> bool:
    if not globs:
        return True
    return pattern_id is not None and any(fnmatchcase(pattern_id, g) for g in globs)


def is_source(alert: Alert, rules: Iterable[InhibitRule]) -> bool:
    """Whether ``alert`` can inhibit others under any of ``rules``."""
    return alert.kind in FAILURE_KINDS and any(
        r.is_source(alert.severity, alert.pattern_id) for r in rules
    )


def inhibited(
    alert: Alert, rules: Iterable[InhibitRule], sources: Iterable[InhibitingAlert], now: datetime
) -> AlertMuted | None:
    """Why ``alert`` is muted by an open source alert of its repository, or None. Pure."""
    candidates = [s for s in sources if s.repo == alert.repo and s.fingerprint != alert.fingerprint]
    for rule in rules:
        if not rule.is_target(alert):
            continue
        for source in candidates:
            if now - source.seen_at <= rule.window and rule.is_source(
                source.severity, source.pattern_id
            ):
                return AlertMuted(
                    f"inhibited by the open {source.severity.value} alert "
                    f"{source.pattern_id or source.fingerprint} of {source.repo} "
                    f"(seen {source.seen_at.isoformat()})"
                )
    return None


def rules_from_config(value: Any) -> tuple[InhibitRule, ...]:
    """``[[alerts.inhibit]]`` tables → rules; ConfigError naming the rule and the key."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(
            "[alerts] inhibit must be a list of tables ([[alerts.inhibit]])",
            hint="see docs/alerts.md, Inhibition",
        )
    rules = []
    for number, item in enumerate(value, start=1):
        where = f"[[alerts.inhibit]] #{number}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a table", hint="see docs/alerts.md, Inhibition")
        unknown = sorted(set(map(str, item)) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}",
                hint="keys are: " + ", ".join(_KEYS),
            )
        defaults = InhibitRule()
        rules.append(
            InhibitRule(
                source_severity=_severity(item, "source_severity", defaults.source_severity, where),
                source_patterns=_globs(item, "source_patterns", where),
                target_severity=_severity(item, "target_severity", defaults.target_severity, where),
                target_patterns=_globs(item, "target_patterns", where),
                window=parse_duration(item["window"], where=f"{where} window")
                if "window" in item
                else defaults.window,
            )
        )
    return tuple(rules)


def _severity(item: Mapping[str, Any], key: str, default: Severity, where: str) -> Severity:
    if key not in item:
        return default
    try:
        return Severity(str(item[key]).lower())
    except ValueError:
        raise ConfigError(
            f"{where}: {key} must be one of {', '.join(s.value for s in Severity)}, "
            f"not {item[key]!r}"
        ) from None


def _globs(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f'{where}: {key} must be a list of pattern-id globs, e.g. ["NET-*"]',
            hint="see `hee-monitor patterns list` for the pattern ids",
        )
    return tuple(value)


class InhibitSources:
    """The open source alerts, in the audit store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, alert: Alert, now: datetime) -> None:
        key = (inhibit_sources_table.c.repo == alert.repo) & (
            inhibit_sources_table.c.fingerprint == alert.fingerprint
        )
        with transaction(self._engine, "record an inhibiting alert") as conn:
            conn.execute(delete(inhibit_sources_table).where(key))
            conn.execute(
                inhibit_sources_table.insert().values(
                    repo=alert.repo,
                    fingerprint=alert.fingerprint,
                    pattern_id=alert.pattern_id,
                    severity=alert.severity.value,
                    seen_at=now,
                )
            )

    def forget(self, repo: str, fingerprint: str) -> None:
        with transaction(self._engine, "forget an inhibiting alert") as conn:
            conn.execute(
                delete(inhibit_sources_table).where(
                    (inhibit_sources_table.c.repo == repo)
                    & (inhibit_sources_table.c.fingerprint == fingerprint)
                )
            )

    def open(self, repo: str) -> list[InhibitingAlert]:
        query = select(inhibit_sources_table).where(inhibit_sources_table.c.repo == repo)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise store_error("read the inhibiting alerts", exc) from None
        return [
            InhibitingAlert(
                r["repo"], r["fingerprint"], r["pattern_id"], Severity(r["severity"]), r["seen_at"]
            )
            for r in rows
        ]
