"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import socket
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# The fake takes AUTH over plain loopback on purpose, so the password really travels.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain", "html"))
        return body.get_content() if body is not None else ""


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    #: answer the next N messages with a temporary failure (451)
    fail_next: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 Requested action aborted: local error in processing"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class FakeSMTP:
    """``with FakeSMTP(user=..., password=...) as smtp:`` → ``smtp.url(to)`` for apprise.

    With a user and password the server requires AUTH LOGIN/PLAIN over the plain loopback
    connection, so the password really travels (and the secret contract test means it).
    """

    def __init__(self, *, user: str | None = None, password: str | None = None) -> None:
        self.user = user
        self.password = password
        self.port = free_port()
        self.handler = _Handler()
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            ok = (auth_data.login.decode(), auth_data.password.decode()) == (
                self.user,
                self.password,
            )
            if ok:
                self.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)
        return AuthResult(success=False)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def url(self, to: str = "oncall@example.org", sender: str = "hee@example.org") -> str:
        creds = f"{self.user}:{self.password}@" if self.user else ""
        return (
            f"mailto://{creds}example.org?smtp=127.0.0.1&port={self.port}&mode=insecure"
            f"&from={sender}&to={to}"
        )

    def start(self) -> FakeSMTP:
        """Listen on :attr:`port` (again, after :meth:`stop`: a controller runs once)."""
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until :meth:`start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSMTP:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
