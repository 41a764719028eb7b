"""A loopback HTTP server that speaks the Ollama REST API (the parts hee-monitor uses).

Shapes follow Ollama's API documentation and server source: ``POST /api/chat`` and
``/api/generate`` (single JSON object, or NDJSON when ``stream`` is true), ``GET /api/tags``,
``/api/version``, ``GET /`` ("Ollama is running"), and error bodies ``{"error": "..."}``
with 400/404/500. Every request is recorded so tests can inspect what reached the "model".

Script the replies with :meth:`FakeOllama.script`; each chat/generate request takes the
next reply (the last one repeats). A reply is an :class:`Answer` (text or a JSON value the
model "writes"), :class:`Slow` (answer after a delay, for client timeouts) or
:class:`Fail` (HTTP status + body).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED_AT = "2024-12-06T00:46:58.265747Z"
FINAL_FIELDS = {
    "done_reason": "stop",
    "done": True,
    "total_duration": 2254970291,
    "load_duration": 574751416,
    "prompt_eval_count": 34,
    "prompt_eval_duration": 1502000000,
    "eval_count": 12,
    "eval_duration": 175000000,
}


@dataclass(frozen=True)
class Answer:
    """The model answers ``content``: a string as-is, anything else JSON-encoded."""

    content: Any

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else json.dumps(self.content)


@dataclass(frozen=True)
class Slow:
    """Answer only after ``seconds`` (longer than the client's timeout)."""

    seconds: float
    then: Answer = field(default_factory=lambda: Answer({"late": True}))


@dataclass(frozen=True)
class Fail:
    status: int
    body: str = '{"error":"the model failed to generate a response"}'
    content_type: str = "application/json; charset=utf-8"


Reply = Answer | Slow | Fail


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


class FakeOllama:
    def __init__(self, models: tuple[str, ...] = ("llama3.2:latest",)) -> None:
        self.models = models
        self.requests: list[Recorded] = []
        self._replies: list[Reply] = [Answer("Hello! How are you today?")]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                fake._record(self, b"")
                self._send(200, b"", "text/plain; charset=utf-8")

            def do_GET(self) -> None:
                fake._record(self, b"")
                if self.path == "/":
                    self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
                elif self.path == "/api/version":
                    self._json(200, {"version": "0.5.1"})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [fake._model_entry(m) for m in fake.models]})
                elif self.path == "/api/ps":
                    self._json(200, {"models": []})
                else:
                    self._send(404, b"404 page not found", "text/plain; charset=utf-8")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake._record(self, raw)
                if self.path not in ("/api/chat", "/api/generate"):
                    self._send(404, b"404 page not found", "text/plain; charset=utf-8")
                    return
                if not raw:
                    self._json(400, {"error": "missing request body"})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._json(400, {"error": "invalid character in request body"})
                    return
                model = str(body.get("model", ""))
                if not fake._installed(model):
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                reply = fake._next_reply()
                if isinstance(reply, Slow):
                    if fake._stop.wait(reply.seconds):
                        return
                    reply = reply.then
                if isinstance(reply, Fail):
                    self._send(reply.status, reply.body.encode(), reply.content_type)
                    return
                chat = self.path == "/api/chat"
                if body.get("stream", True):
                    self._stream(model, reply.text, chat)
                else:
                    self._json(200, fake._final(model, reply.text, chat))

            def _stream(self, model: str, text: str, chat: bool) -> None:
                half = len(text) // 2
                lines = [
                    fake._chunk(model, text[:half], chat),
                    fake._chunk(model, text[half:], chat),
                    fake._final(model, "", chat),
                ]
                payload = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
                self._send(200, payload, "application/x-ndjson")

            def _json(self, status: int, data: Any) -> None:
                self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

            def _send(self, status: int, payload: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    # -- scripting -------------------------------------------------------------------
    def script(self, *replies: Reply) -> FakeOllama:
        with self._lock:
            self._replies = list(replies)
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/api/chat"]

    def start(self) -> FakeOllama:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------
    def _record(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, headers, raw))

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    def _installed(self, model: str) -> bool:
        names = set(self.models) | {m.removesuffix(":latest") for m in self.models}
        return model in names

    @staticmethod
    def _model_entry(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }

    @staticmethod
    def _chunk(model: str, text: str, chat: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"model": model, "created_at": CREATED_AT, "done": False}
        if chat:
            out["message"] = {"role": "assistant", "content": text}
        else:
            out["response"] = text
        return out

    @staticmethod
    def _final(model: str, text: str, chat: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"model": model, "created_at": CREATED_AT}
        if chat:
            out["message"] = {"role": "assistant", "content": text}
        else:
            out["response"] = text
        out.update(FINAL_FIELDS)
        return out


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def iter_bodies(fake: FakeOllama) -> Iterator[str]:
    """Every request body the fake saw, as text (for "no secret reached it" checks)."""
    for request in fake.requests:
        yield request.raw.decode("utf-8", "replace")
