"""The alert router: mute → group → dedupe → deliver with retry → record.

Each stage is a small class with one method; what a stage decides is a value
(:class:`AlertMuted`, :class:`AlertGrouped`, :class:`AlertDeduped`, :class:`AlertQueued`,
:class:`DeliveryResult`), never an exception. Time comes in as ``now``; the clock is only
used to time real deliveries and to sleep between in-process retries.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from hee_monitor.action.alerts.channels import Channel, Message, SendResult, build_notifiers
from hee_monitor.action.alerts.dedupe import DedupeReason, dedupe
from hee_monitor.action.alerts.grouping import Group, GroupStore, NotificationLog
from hee_monitor.action.alerts.inhibit import (
    InhibitRule,
    InhibitSources,
    inhibited,
    is_source,
    rules_from_config,
)
from hee_monitor.action.alerts.matrix import (
    LOG_ACTIONS,
    EscalationMatrix,
    matrix_from_config,
    parse_duration,
)
from hee_monitor.action.alerts.outbox import DELIVERY_LEASE, Outbox, OutboxRow, backoff
from hee_monitor.action.alerts.redact import Scrubber
from hee_monitor.action.alerts.silences import AlertMuted, SilenceStore, mute
from hee_monitor.core.clock import Clock
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Alert, HealthState, Severity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertGrouped:
    """Waiting in its group (with ``count`` alerts so far) until ``due_at``."""

    count: int
    due_at: datetime


@dataclass(frozen=True)
class AlertDeduped:
    """Not told again yet: people were told within the repeat interval."""

    reason: str
    next_due: datetime | None


@dataclass(frozen=True)
class AlertQueued:
    """Put in the outbox for these channels."""

    channels: tuple[str, ...]
    count: int
    reason: str


Outcome = AlertMuted | AlertGrouped | AlertDeduped | AlertQueued


@dataclass(frozen=True)
class DeliveryResult:
    outbox_id: int
    channel: str
    repo: str
    fingerprint: str
    kind: str
    count: int
    delivered: bool
    #: delivery rounds so far (in-process retries count as one round)
    attempts: int
    error: str | None = None
    #: no more tries: not recoverable, or out of attempts
    dead: bool = False
    next_attempt_at: datetime | None = None
    #: detected → delivered
    latency: timedelta | None = None


@dataclass(frozen=True)
class RoutingResult:
    outcome: Outcome
    #: what the caller does besides channels (capsule-update, agent-alert); empty if muted
    actions: tuple[str, ...] = ()
    #: deliveries made at once (critical alerts, resolved notices)
    deliveries: tuple[DeliveryResult, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouterSettings:
    repeat_interval: timedelta = timedelta(hours=4)
    #: delivery rounds (each with in-process retries) before a row is given up
    max_attempts: int = 12
    retry_base: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)
    #: tries within one round, with exponential sleeps starting at ``in_process_wait``
    in_process_tries: int = 3
    in_process_wait: timedelta = timedelta(seconds=1)


# ── stages ──────────────────────────────────────────────────────────────────────────────


class MuteStage:
    """Maintenance state and silences."""

    def __init__(self, silences: SilenceStore) -> None:
        self._silences = silences

    def run(self, alert: Alert, state: HealthState, now: datetime) -> AlertMuted | None:
        return mute(alert, state, self._silences.active(now), now)


class GroupStage:
    def __init__(self, groups: GroupStore, matrix: EscalationMatrix) -> None:
        self._groups = groups
        self._matrix = matrix

    def run(self, alert: Alert, now: datetime) -> Group:
        return self._groups.add(alert, now=now, wait=self._matrix[alert.severity].group_wait)


class DedupeStage:
    """Due groups → outbox rows (or postponed until the repeat interval has passed)."""

    def __init__(
        self,
        groups: GroupStore,
        log_: NotificationLog,
        outbox: Outbox,
        matrix: EscalationMatrix,
        notifiers: Mapping[str, Channel],
        repeat_interval: timedelta,
        repo_channels: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._groups = groups
        self._log = log_
        self._outbox = outbox
        self._matrix = matrix
        self._notifiers = notifiers
        self._repeat = repeat_interval
        self._repo_channels = dict(repo_channels or {})

    def channels_for(self, repo: str, severity: Severity) -> tuple[str, ...]:
        """The repository's own channels (``[repos."owner/name"] alert_channels``) when it
        names some, else the matrix row's; wait, repeat and actions stay the matrix's."""
        return self._repo_channels.get(repo) or self._matrix[severity].channels

    def run(self, group: Group, now: datetime) -> AlertDeduped | AlertQueued:
        last = self._log.last(group.repo, group.fingerprint)
        decision = dedupe(last[0] if last else None, now, self._repeat, group.severity)
        if not decision.send:
            assert decision.next_due is not None
            self._groups.postpone(group, decision.next_due)
            return AlertDeduped(decision.reason.value, decision.next_due)
        row = self._matrix[group.severity]
        wanted = self.channels_for(group.repo, group.severity)
        channels = tuple(c for c in wanted if c in self._notifiers)
        message = Message(
            repo=group.repo,
            fingerprint=group.fingerprint,
            severity=group.severity,
            title=group.title,
            body=group.body,
            kind=group.kind,
            count=group.count,
            url=group.url,
        )
        for channel in channels:
            self._outbox.enqueue(channel, message, detected_at=group.detected_at, now=now)
        self._log.record(
            group.repo,
            group.fingerprint,
            at=now,
            severity=group.severity,
            channels=channels,
            title=group.title,
        )
        self._groups.settle(group)
        for action in row.actions:
            if action in LOG_ACTIONS:
                # INFO, not WARNING: the channels are where people read alerts; a WARNING
                # here would print each one a second time on the CLI's default log level.
                log.info(
                    "%s alert for %s: %s (×%d, %s)",
                    group.severity.value,
                    group.repo,
                    group.title,
                    group.count,
                    group.fingerprint,
                )
        return AlertQueued(channels, group.count, decision.reason.value)


class DeliverStage:
    """Sends one message through its channel, retrying in-process (tenacity, sleeping on
    the injected clock) while the failure is recoverable."""

    def __init__(
        self, notifiers: Mapping[str, Channel], settings: RouterSettings, clock: Clock
    ) -> None:
        self._notifiers = notifiers
        self._settings = settings
        self._clock = clock

    def run(self, row: OutboxRow) -> SendResult:
        notifier = self._notifiers.get(row.channel)
        if notifier is None:
            # Configuration changed since the row was queued: keep it for when it is back.
            return SendResult(False, True, f"channel {row.channel!r} is not configured")

        def give_up(state: RetryCallState) -> SendResult:
            assert state.outcome is not None
            last: SendResult = state.outcome.result()
            return last

        retrying = Retrying(
            stop=stop_after_attempt(self._settings.in_process_tries),
            wait=wait_exponential(
                multiplier=self._settings.in_process_wait.total_seconds(), max=60
            ),
            retry=retry_if_result(lambda r: not r.ok and r.recoverable),
            sleep=self._clock.sleep,
            retry_error_callback=give_up,
        )
        result: SendResult = retrying(notifier.send, row.message)
        return result


class RecordStage:
    """Writes a delivery's outcome to the outbox: delivered (with its latency),
    rescheduled with exponential backoff, or dead (not recoverable / out of attempts)."""

    def __init__(
        self, outbox: Outbox, settings: RouterSettings, clock: Clock, scrub: Scrubber
    ) -> None:
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        self._scrub = scrub

    def run(self, row: OutboxRow, result: SendResult, now: datetime) -> DeliveryResult:
        attempts = row.attempts + 1
        base = DeliveryResult(
            outbox_id=row.id,
            channel=row.channel,
            repo=row.message.repo,
            fingerprint=row.message.fingerprint,
            kind=row.message.kind,
            count=row.message.count,
            delivered=False,
            attempts=attempts,
        )
        if result.ok:
            delivered_at = self._clock.now()
            self._outbox.mark_delivered(row.id, attempts=attempts, at=delivered_at)
            return dataclasses.replace(
                base, delivered=True, latency=max(timedelta(0), delivered_at - row.detected_at)
            )
        error = self._scrub(result.error or "delivery failed")
        if not result.recoverable or attempts >= self._settings.max_attempts:
            self._outbox.mark_dead(row.id, attempts=attempts, error=error)
            log.error(
                "giving up on %s alert for %s via %s after %d round(s): %s",
                row.message.severity.value,
                row.message.repo,
                row.channel,
                attempts,
                error,
            )
            return dataclasses.replace(base, error=error, dead=True)
        at = now + backoff(attempts, self._settings.retry_base, self._settings.retry_max)
        self._outbox.reschedule(row.id, attempts=attempts, error=error, at=at)
        log.warning(
            "could not deliver via %s (round %d), next try at %s: %s",
            row.channel,
            attempts,
            at.isoformat(),
            error,
        )
        return dataclasses.replace(base, error=error, next_attempt_at=at)


# ── the router ──────────────────────────────────────────────────────────────────────────


class AlertRouter:
    """Routes alerts by the escalation matrix; the monitor's one entry point for alerting.

    ``submit`` for every new alert, ``flush`` on every monitoring cycle (it sends what is
    due: grouped alerts whose wait is over, and outbox rows due for another try),
    ``resolved`` when a failure is gone.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        notifiers: Mapping[str, Channel],
        matrix: EscalationMatrix,
        settings: RouterSettings | None = None,
        scrubber: Scrubber | None = None,
        skipped_channels: Mapping[str, str] | None = None,
        repo_channels: Mapping[str, tuple[str, ...]] | None = None,
        inhibit_rules: Sequence[InhibitRule] = (),
    ) -> None:
        self.matrix = matrix
        self.inhibit_rules = tuple(inhibit_rules)
        self._sources = InhibitSources(engine)
        self.settings = settings or RouterSettings()
        self.notifiers = dict(notifiers)
        self.skipped_channels = dict(skipped_channels or {})
        self._clock = clock
        self._scrub = scrubber or Scrubber()
        self.silences = SilenceStore(engine)
        self.outbox = Outbox(engine)
        self._groups = GroupStore(engine)
        self._log = NotificationLog(engine)
        self._mute = MuteStage(self.silences)
        self._group = GroupStage(self._groups, matrix)
        self._dedupe = DedupeStage(
            self._groups,
            self._log,
            self.outbox,
            matrix,
            self.notifiers,
            self.settings.repeat_interval,
            repo_channels,
        )
        self._deliver = DeliverStage(self.notifiers, self.settings, clock)
        self._record = RecordStage(self.outbox, self.settings, clock, self._scrub)

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any] | None,
        engine: Engine,
        clock: Clock,
        *,
        env: Mapping[str, str] | None = None,
        repo_channels: Mapping[str, Sequence[str]] | None = None,
    ) -> AlertRouter:
        """Build from the ``[alerts]`` section (see docs/alerts.md); channel URLs may come
        from the environment (``HEE_ALERT_<CHANNEL>_URL``). ``repo_channels``: per
        repository, the channels its alerts go to instead of the matrix row's."""
        section = section or {}
        if not isinstance(section, Mapping):
            raise ConfigError("[alerts] must be a table", hint="see docs/alerts.md")
        known = {
            "matrix",
            "channels",
            "repeat_interval",
            "max_attempts",
            "retry_base",
            "retry_max",
            "in_process_tries",
            "in_process_wait",
            "inhibit",
        }
        unknown = set(section) - known
        if unknown:
            raise ConfigError(
                f"[alerts]: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                hint="keys are: " + ", ".join(sorted(known)),
            )
        matrix = matrix_from_config(section.get("matrix"))
        defaults = RouterSettings()
        settings = RouterSettings(
            repeat_interval=_duration(section, "repeat_interval", defaults.repeat_interval),
            max_attempts=_positive_int(section, "max_attempts", defaults.max_attempts),
            retry_base=_duration(section, "retry_base", defaults.retry_base),
            retry_max=_duration(section, "retry_max", defaults.retry_max),
            in_process_tries=_positive_int(section, "in_process_tries", defaults.in_process_tries),
            in_process_wait=_duration(section, "in_process_wait", defaults.in_process_wait),
        )
        channels_section = section.get("channels")
        declared = set(channels_section or {}) | {"console", "email", "slack", "sms"}
        undeclared = sorted(matrix.channel_names - declared)
        if undeclared:
            raise ConfigError(
                f"[alerts.matrix] names channel(s) {', '.join(undeclared)} that are not "
                "declared in [alerts.channels]",
                hint="declare each channel in [alerts.channels.<name>] or fix the name",
            )
        routes = {repo: tuple(names) for repo, names in (repo_channels or {}).items() if names}
        for repo, names in sorted(routes.items()):
            unknown_channels = sorted(set(names) - declared)
            if unknown_channels:
                raise ConfigError(
                    f'[repos."{repo}"] alert_channels names channel(s) '
                    f"{', '.join(unknown_channels)} that are not declared in [alerts.channels]",
                    hint="declare each channel in [alerts.channels.<name>] or fix the name",
                )
        wanted = matrix.channel_names | {name for names in routes.values() for name in names}
        scrubber = Scrubber()
        notifiers, skipped = build_notifiers(channels_section, wanted, scrubber, env)
        for name, why in skipped.items():
            log.info("alert channel %s is off: %s", name, why)
        return cls(
            engine,
            clock,
            notifiers=notifiers,
            matrix=matrix,
            settings=settings,
            scrubber=scrubber,
            skipped_channels=skipped,
            repo_channels=routes,
            inhibit_rules=rules_from_config(section.get("inhibit")),
        )

    # ── public API ──

    def submit(self, alert: Alert, *, state: HealthState, now: datetime) -> RoutingResult:
        alert = dataclasses.replace(
            alert,
            title=self._scrub(alert.title),
            body=self._scrub(alert.body),
            url=self._scrub(alert.url) if alert.url else None,
        )
        if self.inhibit_rules and is_source(alert, self.inhibit_rules):
            # a cause inhibits what it explains even while its own alert is silenced
            self._sources.record(alert, now)
        muted = self._mute.run(alert, state, now) or self._inhibited(alert, now)
        if muted is not None:
            return RoutingResult(muted)
        row = self.matrix[alert.severity]
        notes = tuple(
            f"{name}: {self.skipped_channels[name]}"
            for name in self._dedupe.channels_for(alert.repo, alert.severity)
            if name in self.skipped_channels
        )
        actions = tuple(a for a in row.actions if a not in LOG_ACTIONS)
        group = self._group.run(alert, now)
        if group.due_at > now:
            waiting: Outcome = (
                AlertDeduped(DedupeReason.WITHIN_REPEAT.value, group.due_at)
                if group.held
                else AlertGrouped(group.count, group.due_at)
            )
            return RoutingResult(waiting, actions, notes=notes)
        outcome = self._dedupe.run(group, now)
        deliveries = tuple(
            d
            for d in self._deliver_due(now)
            if (d.repo, d.fingerprint) == (alert.repo, alert.fingerprint)
        )
        return RoutingResult(outcome, actions, deliveries, notes)

    def notify(
        self, alert: Alert, now: datetime, *, state: HealthState = HealthState.OPERATIONAL
    ) -> RoutingResult:
        """:meth:`submit` under the monitor's ``Notifier`` port (``notify(alert, now)``),
        for a caller that has already muted alerts during maintenance itself."""
        return self.submit(alert, state=state, now=now)

    def flush(self, now: datetime) -> list[DeliveryResult]:
        """Send what is due at ``now``: groups whose wait is over, outbox rows due a retry."""
        silences = self.silences.active(now)
        for group in self._groups.due(now):
            if not self._groups.claim(group, now=now, lease=DELIVERY_LEASE):
                continue  # another process is sending it
            # A silence added, or a cause that opened, while the group waited still applies.
            waiting = group.as_alert()
            if (
                mute(waiting, HealthState.OPERATIONAL, silences, now) is not None
                or self._inhibited(waiting, now) is not None
            ):
                self._groups.close(group.repo, group.fingerprint)
                continue
            self._dedupe.run(group, now)
        return self._deliver_due(now)

    def resolved(self, repo: str, fingerprint: str, now: datetime) -> RoutingResult:
        """The failure is gone: drop what is still waiting and tell those who were told."""
        self._groups.close(repo, fingerprint)
        if self.inhibit_rules:
            self._sources.forget(repo, fingerprint)
        last = self._log.last(repo, fingerprint)
        if last is None or last[0].resolved:
            return RoutingResult(AlertMuted("nobody was told about this failure"))
        notification, channels, title = last
        message = Message(
            repo=repo,
            fingerprint=fingerprint,
            severity=notification.severity,
            title=title,
            body=f"Resolved: {title} no longer occurs in {repo}.",
            kind="resolved",
        )
        for channel in channels:
            self.outbox.enqueue(channel, message, detected_at=now, now=now)
        self._log.record(
            repo,
            fingerprint,
            at=now,
            severity=notification.severity,
            channels=channels,
            title=title,
            resolved=True,
        )
        deliveries = tuple(
            d for d in self._deliver_due(now) if (d.repo, d.fingerprint) == (repo, fingerprint)
        )
        return RoutingResult(AlertQueued(channels, 1, "resolved"), deliveries=deliveries)

    def recovered(self, repo: str, now: datetime) -> list[RoutingResult]:
        """The repository's health is back to operational: every failure people were told
        about and not yet told is resolved gets its resolved notice; alerts still waiting
        in their group are dropped (nobody needs to hear of a failure that is gone)."""
        results = [self.resolved(repo, fp, now) for fp in self._log.unresolved(repo)]
        for group in self._groups.open():
            if group.repo == repo:
                self._groups.close(repo, group.fingerprint)
        return results

    def pending_groups(self) -> list[Group]:
        return self._groups.open()

    def notified_since(self, repo: str, fingerprint: str, since: datetime) -> bool:
        """Whether an alert of (repo, fingerprint) was routed at or after ``since``: told,
        or waiting in its group. How an effect worker that crashed after routing an alert
        learns not to route it a second time."""
        last = self._log.last(repo, fingerprint)
        if last is not None and last[0].at >= since:
            return True
        return any(g.repo == repo and g.fingerprint == fingerprint for g in self._groups.open())

    # ── internals ──

    def _inhibited(self, alert: Alert, now: datetime) -> AlertMuted | None:
        if not self.inhibit_rules:
            return None
        return inhibited(alert, self.inhibit_rules, self._sources.open(alert.repo), now)

    def _deliver_due(self, now: datetime) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        failing: set[str] = set()
        for row in self.outbox.due(now):
            if row.channel in failing:
                # The channel just failed all its tries: don't spend them again on every
                # queued row in this round; the row stays due for the next flush.
                continue
            if not self.outbox.claim(row.id, now=now):
                continue  # another process is delivering it
            result = self._record.run(row, self._deliver.run(row), now)
            if not result.delivered and not result.dead:
                failing.add(row.channel)
            results.append(result)
        return results


def _duration(section: Mapping[str, Any], key: str, default: timedelta) -> timedelta:
    return parse_duration(section[key], where=f"[alerts] {key}") if key in section else default


def _positive_int(section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"[alerts] {key} must be a positive integer, got {value!r}")
    return value
