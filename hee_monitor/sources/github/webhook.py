"""Webhook intake: GitHub pushes ``workflow_run`` / ``workflow_job`` deliveries to us.

:class:`WebhookIntake` is the transport-free core (verify, dedupe, decide, dispatch);
:class:`WebhookServer` puts it on HTTP with ``/healthz`` and Prometheus ``/metrics``.

* The ``X-Hub-Signature-256`` HMAC over the exact raw body is checked in constant time
  before anything else is read from the body; a missing or wrong signature gets a bare
  401 (the same answer for both, nothing about what was expected).
* Deliveries are deduplicated by ``X-GitHub-Delivery`` (GitHub's redeliveries reuse it) in a
  bounded LRU, and run attempts by the same :class:`ProcessedRuns` store the poller uses,
  so a run that arrives both by webhook and by poll is handled once.
* Completed runs that did not succeed are handed to ``on_run(repo, run_id, attempt)`` on a
  worker thread, so GitHub gets its answer at once (it gives up after 10 s); the attempt is
  marked processed only after the callback returned.
* The secret is never logged nor put in an answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from waitress.server import TcpWSGIServer

from hee_monitor.core.errors import ConfigError
from hee_monitor.sources.interface import InMemoryProcessedRuns, ProcessedRuns

log = logging.getLogger(__name__)

FAILED_CONCLUSIONS: Final = frozenset({"failure", "timed_out", "cancelled", "startup_failure"})
DEFAULT_MAX_BODY: Final = 5 * 1024 * 1024
#: seconds a delivery may take to arrive in full
READ_TIMEOUT: Final = 10.0

OnRun = Callable[[str, int, int], None]
OnJob = Callable[[str, int, int, int], None]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def signature(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Answer:
    """What the intake answers a delivery: HTTP status and a short reason (no secrets)."""

    status: int
    reason: str


class WebhookIntake:
    """Verifies, deduplicates and dispatches GitHub webhook deliveries."""

    def __init__(
        self,
        secret: str | bytes,
        on_run: OnRun,
        *,
        on_job: OnJob | None = None,
        state: ProcessedRuns | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        dedupe_size: int = 10_000,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if not secret:
            raise ConfigError(
                "the webhook secret is empty",
                hint="set HEE_WEBHOOK_SECRET to the secret configured on the GitHub webhook",
            )
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.on_run = on_run
        self.on_job = on_job
        self.state: ProcessedRuns = state if state is not None else InMemoryProcessedRuns()
        self.max_body = max_body
        self._dedupe_size = dedupe_size
        self._deliveries: OrderedDict[str, None] = OrderedDict()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self.registry = registry or CollectorRegistry()
        self.received = Counter(
            "hee_webhook_deliveries",
            "Webhook deliveries received, by event and outcome",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "hee_webhook_rejected",
            "Webhook deliveries rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "hee_webhook_duplicates",
            "Webhook deliveries or run attempts seen before",
            registry=self.registry,
        )
        self.callback_errors = Counter(
            "hee_webhook_callback_errors",
            "Failed runs whose hand-over to the pipeline raised",
            registry=self.registry,
        )
        self.processing = Histogram(
            "hee_webhook_processing_seconds",
            "Seconds from a delivery's arrival to the end of its hand-over to the pipeline",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self._queue: queue.Queue[tuple[str, Callable[[], None], float] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="webhook-dispatch", daemon=True)
        self._worker.start()

    # -- the decision --------------------------------------------------------------------

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one delivery. ``headers`` keys are case-insensitive (lower-cased here)."""
        arrived = time.monotonic()
        lower = {k.lower(): v for k, v in headers.items()}
        event = lower.get("x-github-event", "")
        sent = lower.get("x-hub-signature-256", "")
        if not sent or not hmac.compare_digest(
            sent.encode(), signature(self._secret, body).encode()
        ):
            self.rejected.labels("signature").inc()
            log.warning("rejected a webhook delivery with a missing or invalid signature")
            return Answer(401, "invalid signature")
        delivery = lower.get("x-github-delivery", "")
        if delivery and not self._first_delivery(delivery):
            self.duplicates.inc()
            self.received.labels(event or "-", "duplicate").inc()
            return Answer(200, "duplicate delivery")
        if event == "ping":
            self.received.labels(event, "ping").inc()
            return Answer(200, "pong")
        if event not in ("workflow_run", "workflow_job"):
            self.received.labels(event or "-", "ignored").inc()
            return Answer(204, "event not handled")
        try:
            # a signed body can still be hostile: NaN/Infinity are refused, and nesting
            # deeper than the recursion limit is a 400, not a dropped connection
            payload = json.loads(body, parse_constant=_refuse_constant)
            repo = str(payload["repository"]["full_name"])
            action = payload.get("action")
            item = payload[event]
            conclusion = item.get("conclusion")
            if event == "workflow_run":
                run_id, attempt = int(item["id"]), int(item.get("run_attempt") or 1)
            else:
                run_id, attempt = int(item["run_id"]), int(item.get("run_attempt") or 1)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
            self.rejected.labels("payload").inc()
            return Answer(400, f"unreadable {event} payload")
        if action != "completed" or conclusion not in FAILED_CONCLUSIONS:
            self.received.labels(event, "ignored").inc()
            return Answer(204, "not a completed failure")
        if event == "workflow_job":
            if self.on_job is None:
                self.received.labels(event, "ignored").inc()
                return Answer(204, "failed jobs are handled when their run completes")
            job_id = int(item.get("id", 0))
            on_job = self.on_job
            self._queue.put(
                (
                    f"{repo}#{run_id}.{attempt}/job/{job_id}",
                    lambda: on_job(repo, run_id, attempt, job_id),
                    arrived,
                )
            )
            self.received.labels(event, "accepted").inc()
            return Answer(202, "failed job accepted")
        key = f"{repo}#{run_id}.{attempt}"
        with self._lock:
            if key in self._pending or self.state.seen(key):
                self.duplicates.inc()
                self.received.labels(event, "duplicate").inc()
                return Answer(200, "run attempt already handled")
            self._pending.add(key)
        self._queue.put((key, lambda: self.on_run(repo, run_id, attempt), arrived))
        self.received.labels(event, "accepted").inc()
        return Answer(202, "failed run accepted")

    def _first_delivery(self, delivery: str) -> bool:
        with self._lock:
            if delivery in self._deliveries:
                self._deliveries.move_to_end(delivery)
                return False
            self._deliveries[delivery] = None
            if len(self._deliveries) > self._dedupe_size:
                self._deliveries.popitem(last=False)
            return True

    # -- the hand-over -------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                key, call, arrived = item
                try:
                    call()
                except Exception:  # one failing hand-over must not stop the intake
                    self.callback_errors.inc()
                    log.exception("handing %s to the pipeline failed", key)
                else:
                    if "/job/" not in key:
                        self.state.mark(key)
                finally:
                    with self._lock:
                        self._pending.discard(key)
                    self.processing.observe(time.monotonic() - arrived)
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        """Wait until every accepted delivery was handed over."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def metrics(self) -> bytes:
        return generate_latest(self.registry)


#: open connections at once (each costs a socket, not a thread: waitress reads them in one
#: event loop and hands complete requests to its worker threads); more wait in the backlog
CONNECTION_LIMIT: Final = 1000
#: seconds a connection may stay idle (between bytes, or between keep-alive requests)
IDLE_TIMEOUT: Final = 5.0
#: the Server header: the product, never the Python or library version
SERVER_NAME: Final = "hee-monitor"


class _Server(TcpWSGIServer):  # type: ignore[misc]
    """waitress's server plus a whole-request deadline: a client that trickles one byte
    every few seconds resets an idle timeout forever, but not :data:`READ_TIMEOUT`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._partial_since: dict[int, float] = {}
        super().__init__(*args, **kwargs)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        alive: dict[int, float] = {}
        for channel in list(self.active_channels.values()):
            partial = channel.request is not None and not channel.requests
            if not partial:
                continue
            since = self._partial_since.get(id(channel), now)
            if now - since > READ_TIMEOUT:
                channel.will_close = True
            else:
                alive[id(channel)] = since
        self._partial_since = alive


class WebhookServer:
    """HTTP front of a :class:`WebhookIntake`: ``POST /`` (or any path but the two below),
    ``GET /healthz``, ``GET /metrics``.

    Served by waitress, a production WSGI server (bounded worker threads, a connection
    limit, idle and whole-request timeouts, a body size limit), instead of the standard
    library's thread-per-connection server, which let slow clients hold threads without
    limit."""

    def __init__(self, intake: WebhookIntake, host: str = "127.0.0.1", port: int = 0) -> None:
        self.intake = intake
        self._server = _Server(
            self._app,
            host=host,
            port=port,
            threads=4,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_TIMEOUT,
            cleanup_interval=1,
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            # the intake answers 413 itself (and counts it) up to twice its limit
            max_request_body_size=2 * intake.max_body,
            max_request_header_size=64 * 1024,
            ident=SERVER_NAME,
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
        )
        self.host, self.port = str(self._server.effective_host), int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if method in ("GET", "HEAD"):
            if path == "/healthz":
                return _reply(start_response, 200, b"ok\n")
            if path == "/metrics":
                return _reply(start_response, 200, self.intake.metrics(), CONTENT_TYPE_LATEST)
            return _reply(start_response, 404, b"not found\n")
        if method != "POST":
            return _reply(start_response, 405, b"method not allowed\n")
        intake = self.intake
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            intake.rejected.labels("length").inc()
            return _reply(start_response, 411, b"length required\n")
        if length < 0 or length > intake.max_body:
            intake.rejected.labels("too_large").inc()
            return _reply(start_response, 413, b"payload too large\n")
        body = environ["wsgi.input"].read(length)
        headers = {
            key[5:].replace("_", "-"): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and isinstance(value, str)
        }
        answer = intake.handle(headers, body)
        return _reply(start_response, answer.status, (answer.reason + "\n").encode())

    def serve_forever(self) -> None:
        try:
            self._server.run()
        finally:
            self._server.close()

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.intake.close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _reply(
    start_response: Callable[..., Any],
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain",
) -> list[bytes]:
    headers: list[tuple[str, str]] = []
    if status == 204:
        body = b""
    else:
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body] if body else []
