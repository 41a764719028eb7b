"""Keep channel secrets (SMTP passwords, webhook tokens, whole webhook URLs) out of every
log line, error message, alert and outbox row.

A channel URL is a secret as a whole: a Slack webhook URL *is* its token. So every URL is
registered with the :class:`Scrubber` together with its parts (user info, path segments,
query values), and only its masked form is ever shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from hee_monitor.core.redact import redact, register_secret

MASK = "****"

# A part shorter than this is too common ("api", "sms", a port) to be worth scrubbing and
# would mangle innocent text; real tokens and passwords are longer.
_MIN_SECRET_LEN = 6

# Looks like a credential whatever its origin: GitHub tokens, Slack tokens, bearer values.
_TOKEN_SHAPES = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,})"
)

# Query values are options (smtp=mail.example.org, to=a@b.org, mode=ssl, port=587) unless
# their name says credential, or they look like neither a host, an address nor a number.
_SECRET_KEY = re.compile(r"token|key|secret|pass|pw|auth|sig|cred|hook", re.IGNORECASE)
_PLAIN_VALUE = re.compile(r"^([\w.+-]*[.@][\w.@+-]*|\d+|[a-z]{1,12})$")

_NOT_SECRET_PARTS = frozenset(
    {"services", "jsonrpc", "hooks", "webhook", "webhooks", "notify", "insecure", "starttls"}
)


def url_secrets(url: str) -> list[str]:
    """The URL itself and each part of it that may be a credential."""
    found = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    candidates: list[str] = []
    host = parts.netloc.rpartition("@")[2].rpartition(":")[0] or parts.netloc.rpartition("@")[2]
    # A host without a dot is no DNS name: apprise schemes put tokens there (slack://T…/…).
    if host and "." not in host and host.lower() != "localhost" and not host.startswith("["):
        candidates.append(host)
    if parts.username:
        candidates.append(parts.username)
    if parts.password:
        candidates.append(parts.password)
    candidates.extend(seg for seg in parts.path.split("/") if seg)
    candidates.extend(
        value
        for key, value in parse_qsl(parts.query)
        if _SECRET_KEY.search(key) or not _PLAIN_VALUE.match(value)
    )
    for candidate in candidates:
        for form in {candidate, unquote(candidate)}:
            if len(form) >= _MIN_SECRET_LEN and form.lower() not in _NOT_SECRET_PARTS:
                found.append(form)
    return found


def mask_url(url: str) -> str:
    """``scheme://****@host:port/****`` — enough to tell channels apart, nothing to steal."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{MASK}"
    if host and "." not in host and host != "localhost":
        host = MASK
    userinfo = f"{MASK}@" if parts.username or parts.password else ""
    path = f"/{MASK}" if parts.path.strip("/") else ""
    query = f"?{MASK}" if parts.query else ""
    return f"{parts.scheme}://{userinfo}{host}{port}{path}{query}"


class Scrubber:
    """Replaces every registered secret (and anything shaped like a token) with ``****``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        new = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
        for secret in new:
            register_secret(secret)
        if new - self._secrets:
            self._secrets |= new
            # Longest first, so a whole URL is replaced before its parts.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_url(self, url: str) -> None:
        self.add(*url_secrets(url))

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        # then the product's one gate: known formats, keyed values, configured secrets
        return redact(_TOKEN_SHAPES.sub(MASK, text))
