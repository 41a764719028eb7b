"""A loopback HTTP server standing in for Slack, SMS gateways and generic webhooks.

It records every request and answers what each service expects (Slack webhooks ``ok``,
SMSEagle a JSON-RPC result, anything else ``{}``). It can be told to fail (``fail_next``
answers with 500) and be taken down and brought back on the same port (``down``/``up``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _answer(path: str) -> bytes:
    if path.startswith("/services/") or path.startswith("/workflows/"):
        return b"ok"
    if path.startswith("/jsonrpc/sms"):
        return b'{"result": {"message_id": 4753, "status": "ok"}}'
    return b"{}"


class FakeWebhook:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        #: answer the next N requests with this status instead of 200
        self.fail_next = 0
        self.fail_status = 500
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> FakeWebhook:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with fake._lock:
                    fake.requests.append(
                        Request("POST", self.path, dict(self.headers.items()), body)
                    )
                    failing = fake.fail_next > 0
                    if failing:
                        fake.fail_next -= 1
                status = fake.fail_status if failing else 200
                payload = b'{"error": "server error"}' if failing else _answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop answering: connections to the port are refused until :meth:`up`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def posts_to(self, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def __enter__(self) -> FakeWebhook:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()
