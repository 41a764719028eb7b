"""Alert channels: one small interface (:class:`Channel`) and its implementations.

Every outside channel (e-mail, Slack, SMS gateways, generic webhooks) goes through apprise,
the only module that imports it is this one. A channel is a name plus one or more apprise
URLs; the URLs are secrets and are only ever shown masked.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

import apprise
from rich.console import Console
from rich.text import Text

from hee_monitor.action.alerts.redact import Scrubber, mask_url
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Severity


@dataclass(frozen=True)
class Message:
    """What a channel is asked to deliver: an alert (with its count) or a resolved notice."""

    repo: str
    fingerprint: str
    severity: Severity
    title: str
    body: str
    kind: str = "failure"
    count: int = 1
    url: str | None = None

    @property
    def subject(self) -> str:
        prefix = "RESOLVED" if self.kind == "resolved" else self.severity.value.upper()
        times = f" (×{self.count})" if self.count > 1 else ""
        return f"[{prefix}] {self.repo}: {self.title}{times}"

    @property
    def text(self) -> str:
        lines = [self.body.rstrip()] if self.body else []
        if self.count > 1:
            lines.append(f"Seen {self.count} times since the last notification.")
        if self.url:
            lines.append(self.url)
        lines.append(f"fingerprint: {self.fingerprint}")
        return "\n\n".join(lines)


@dataclass(frozen=True)
class SendResult:
    """A delivery attempt's outcome. ``recoverable`` says whether trying again may help."""

    ok: bool
    recoverable: bool = True
    error: str | None = None


class Channel(Protocol):
    name: str

    def describe(self) -> str:
        """Where this channel delivers, with every secret masked."""
        ...

    def send(self, message: Message) -> SendResult: ...


class ConsoleNotifier:
    """Prints alerts to stderr through rich; never fails in a way worth retrying.

    The console is read by a person watching the monitor, so an alert is three short lines
    rather than the e-mail's paragraphs::

        [HIGH] acme/api: CI failed on main: pip dependency conflict (×2)
          fix 'pin-dependency' is partial: a pull request if it validates · 1 failed job(s)
          https://github.com/acme/api/actions/runs/1 · fingerprint fc1ba3a3d7cdbc06
    """

    def __init__(
        self,
        name: str = "console",
        *,
        file: IO[str] | None = None,
        console: Console | None = None,
    ) -> None:
        self.name = name
        self._console = console or Console(
            stderr=file is None, file=file, highlight=False, soft_wrap=True
        )

    def describe(self) -> str:
        return "console (stderr)"

    def send(self, message: Message) -> SendResult:
        try:
            for line in console_lines(message):
                self._console.print(line, highlight=False, soft_wrap=True)
        except OSError as exc:
            return SendResult(False, recoverable=False, error=f"cannot write: {exc.strerror}")
        return SendResult(True)


def console_lines(message: Message) -> list[Text]:
    """The alert as the console shows it: subject; what was decided; where to look."""
    resolved = message.kind == "resolved"
    style = "bold green" if resolved else _STYLES.get(message.severity, "")
    prefix = "RESOLVED" if resolved else message.severity.value.upper()
    head = Text.assemble((f"[{prefix}]", style), " ", (message.repo, "bold"), f": {message.title}")
    if message.count > 1:
        head.append(f" (×{message.count})", style="bold")
    lines = [head]
    details = [line.strip() for line in message.body.splitlines() if line.strip()]
    if details and not resolved:  # a resolved notice's body repeats its subject
        lines.append(Text("  " + " · ".join(details)))
    where = [message.url] if message.url else []
    if resolved:
        where.insert(0, "no longer occurs")
    lines.append(Text("  " + " · ".join([*where, f"fingerprint {message.fingerprint}"]), "dim"))
    return lines


_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}

_NOTIFY_TYPES = {
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
    Severity.HIGH: apprise.NotifyType.FAILURE,
    Severity.MEDIUM: apprise.NotifyType.WARNING,
    Severity.LOW: apprise.NotifyType.INFO,
}

# "error=404." in apprise's warnings: a client error will not heal by itself (bad token,
# unknown channel), except a timeout or rate limit.
_HTTP_ERROR = re.compile(r"error=(\d{3})")
_RETRYABLE_4XX = frozenset({408, 425, 429})


class _AppriseLogScrubber(logging.Filter):
    """Apprise logs the URLs it posts to at debug level; a URL is a secret."""

    def __init__(self) -> None:
        super().__init__()
        self.scrub = Scrubber()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A malformed record: drop it rather than risk passing its raw arguments on.
            return False
        record.msg = self.scrub(message)
        record.args = None
        return True


_LOG_SCRUBBER = _AppriseLogScrubber()
# apprise logs the URLs it posts to, urllib3 the request line (a Slack webhook path is its
# token): both go through the scrubber. A logger's filters see only its own records, so
# each logger that may quote a URL is named.
for _name in ("apprise", "urllib3.connectionpool", "urllib3.connection", "requests"):
    logging.getLogger(_name).addFilter(_LOG_SCRUBBER)


class AppriseNotifier:
    """Delivers through apprise to every URL of the channel."""

    def __init__(
        self,
        name: str,
        urls: list[str],
        *,
        scrubber: Scrubber | None = None,
        min_interval: float | None = None,
    ) -> None:
        """``min_interval``: seconds between two sends to one URL; None keeps apprise's
        per-service pace (e.g. 5.5 s for e-mail, 1.2 s for Slack), 0 sends at once."""
        self.name = name
        self._scrub = scrubber or Scrubber()
        for url in urls:
            self._scrub.add_url(url)
            _LOG_SCRUBBER.scrub.add_url(url)
        self._masked = [mask_url(u) for u in urls]
        # Memory storage: apprise must not write caches next to the user's files.
        self._apprise = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        for url, masked in zip(urls, self._masked, strict=True):
            service = apprise.Apprise.instantiate(url, asset=self._apprise.asset)
            if service is not None and min_interval is not None:
                service.request_rate_per_sec = min_interval
            if service is None or not self._apprise.add(service):
                raise ConfigError(
                    f"alert channel {name!r}: {masked} is not a valid notification URL",
                    hint="see https://github.com/caronc/apprise/wiki for URL formats "
                    "(mailtos://, slack://, json://, smseagle://, ...)",
                )

    def describe(self) -> str:
        return ", ".join(self._masked)

    def send(self, message: Message) -> SendResult:
        notify_type = (
            apprise.NotifyType.SUCCESS
            if message.kind == "resolved"
            else _NOTIFY_TYPES[message.severity]
        )
        try:
            result = self._apprise.notify(
                body=message.text,
                title=message.subject,
                notify_type=notify_type,
                body_format=apprise.NotifyFormat.TEXT,
            )
        except Exception as exc:  # a plugin bug must not stop the monitor
            return SendResult(False, True, self._scrub(f"{type(exc).__name__}: {exc}"))
        if result:
            return SendResult(True)
        warnings = [e.message for e in result.logs() if e.level in {"WARNING", "ERROR", "CRITICAL"}]
        error = self._scrub("; ".join(warnings[-3:]) or f"delivery failed ({result.status.name})")
        codes = [int(c) for c in _HTTP_ERROR.findall(error)]
        recoverable = not codes or any(c >= 500 or c in _RETRYABLE_4XX for c in codes)
        return SendResult(False, recoverable, f"{self.name}: {error}")


def _console_factory(
    name: str, spec: Mapping[str, Any], scrubber: Scrubber, env: Mapping[str, str]
) -> Channel:
    return ConsoleNotifier(name)


def _apprise_factory(
    name: str, spec: Mapping[str, Any], scrubber: Scrubber, env: Mapping[str, str]
) -> Channel:
    interval = spec.get("min_interval")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0
    ):
        raise ConfigError(
            f"[alerts.channels.{name}] min_interval must be a number of seconds ≥ 0",
            hint="leave it out to keep the pace each service asks for",
        )
    return AppriseNotifier(
        name,
        channel_urls(name, spec, env),
        scrubber=scrubber,
        min_interval=None if interval is None else float(interval),
    )


_Factory = Callable[[str, Mapping[str, Any], Scrubber, Mapping[str, str]], Channel]

#: channel type → factory(name, config table, scrubber, environment)
CHANNEL_TYPES: dict[str, _Factory] = {
    "console": _console_factory,
    "apprise": _apprise_factory,
}


def default_url_env(name: str) -> str:
    """``email`` → ``HEE_ALERT_EMAIL_URL``: where a channel's URLs come from by default."""
    return "HEE_ALERT_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_URL"


def channel_urls(name: str, spec: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """URLs of a channel: ``urls`` in the config and/or the variable named by ``url_env``
    (default ``HEE_ALERT_<NAME>_URL``; several URLs separated by whitespace)."""
    urls: list[str] = []
    raw = spec.get("urls", spec.get("url", []))
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
        raise ConfigError(
            f"[alerts.channels.{name}] urls must be a list of strings",
            hint="better: keep URLs out of the file and name an environment variable in url_env",
        )
    urls.extend(raw)
    var = spec.get("url_env", default_url_env(name))
    if not isinstance(var, str):
        raise ConfigError(f"[alerts.channels.{name}] url_env must be a variable name")
    urls.extend(env.get(var, "").split())
    return urls


def build_notifiers(
    section: Mapping[str, Any] | None,
    wanted: frozenset[str],
    scrubber: Scrubber,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Channel], dict[str, str]]:
    """The channels the matrix names, built from ``[alerts.channels]`` and the environment.

    Returns the notifiers and, for channels that have no URL, why they are skipped.
    """
    env = os.environ if env is None else env
    section = section or {}
    if not isinstance(section, Mapping):
        raise ConfigError("[alerts.channels] must be a table", hint="see docs/alerts.md")
    notifiers: dict[str, Channel] = {}
    skipped: dict[str, str] = {}
    for name in sorted(wanted | set(section)):
        spec = section.get(name, {})
        if not isinstance(spec, Mapping):
            raise ConfigError(f"[alerts.channels.{name}] must be a table")
        kind = spec.get("type", "console" if name == "console" else "apprise")
        factory = CHANNEL_TYPES.get(kind)
        if factory is None:
            raise ConfigError(
                f"[alerts.channels.{name}]: unknown type {kind!r}",
                hint="types are: " + ", ".join(sorted(CHANNEL_TYPES)),
            )
        if kind == "apprise" and not channel_urls(name, spec, env):
            var = spec.get("url_env", default_url_env(name))
            skipped[name] = f"no URL configured (set {var} or [alerts.channels.{name}] urls)"
            continue
        notifiers[name] = factory(name, spec, scrubber, env)
    return notifiers, skipped
