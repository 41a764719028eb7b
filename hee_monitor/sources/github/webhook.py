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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from hee_monitor.core.errors import ConfigError
from hee_monitor.sources.interface import InMemoryProcessedRuns, ProcessedRuns

log = logging.getLogger(__name__)

FAILED_CONCLUSIONS: Final = frozenset({"failure", "timed_out", "cancelled", "startup_failure"})
DEFAULT_MAX_BODY: Final = 5 * 1024 * 1024
_DRAIN_LIMIT: Final = 64 * 1024 * 1024
#: seconds a delivery may take to arrive in full
READ_TIMEOUT: Final = 10.0

OnRun = Callable[[str, int, int], None]
OnJob = Callable[[str, int, int, int], None]


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
            payload = json.loads(body)
            repo = str(payload["repository"]["full_name"])
            action = payload.get("action")
            item = payload[event]
            conclusion = item.get("conclusion")
            if event == "workflow_run":
                run_id, attempt = int(item["id"]), int(item.get("run_attempt") or 1)
            else:
                run_id, attempt = int(item["run_id"]), int(item.get("run_attempt") or 1)
        except (ValueError, KeyError, TypeError, AttributeError):
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


class WebhookServer:
    """HTTP front of a :class:`WebhookIntake`: ``POST /`` (or any path but the two below),
    ``GET /healthz``, ``GET /metrics``."""

    def __init__(self, intake: WebhookIntake, host: str = "127.0.0.1", port: int = 0) -> None:
        self.intake = intake
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = (
            str(self._server.server_address[0]),
            int(self._server.server_address[1]),
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
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


class _Handler(BaseHTTPRequestHandler):
    server_owner: WebhookServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT
    # headers and body in one segment: no Nagle / delayed-ACK stall per request
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s", format % args)

    def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        if self.close_connection:
            self.send_header("Connection", "close")
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 204:
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"ok\n")
        elif self.path == "/metrics":
            self._reply(200, self.server_owner.intake.metrics(), CONTENT_TYPE_LATEST)
        else:
            self._reply(404, b"not found\n")

    def do_POST(self) -> None:
        intake = self.server_owner.intake
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            intake.rejected.labels("length").inc()
            self.close_connection = True
            self._reply(411, b"length required\n")
            return
        if length < 0 or length > intake.max_body:
            intake.rejected.labels("too_large").inc()
            self.close_connection = True
            # Discard (never keep) a moderately large body so the client reads our answer
            # instead of a connection reset; anything bigger is cut off unread.
            if 0 < length <= _DRAIN_LIMIT:
                while length > 0:
                    chunk = self.rfile.read(min(length, 65536))
                    if not chunk:
                        break
                    length -= len(chunk)
            self._reply(413, b"payload too large\n")
            return
        body = self.rfile.read(length)
        answer = intake.handle(dict(self.headers.items()), body)
        self._reply(answer.status, (answer.reason + "\n").encode())
