"""Webhook intake over real HTTP on loopback, with GitHub's recorded payloads."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.core.errors import ConfigError
from hee_monitor.sources.github.webhook import WebhookIntake, WebhookServer, signature
from hee_monitor.sources.interface import InMemoryProcessedRuns

DATA = Path(__file__).resolve().parents[1] / "data"
SECRET = "It's a Secret to Everybody"


def payload(name: str) -> bytes:
    return (DATA / name).read_bytes()


def failed_run_body(run_id: int = 30433642, attempt: int = 1, conclusion: str = "failure") -> bytes:
    data = json.loads(payload("webhook.workflow_run.completed.json"))
    data["workflow_run"].update(id=run_id, run_attempt=attempt, conclusion=conclusion)
    return json.dumps(data).encode()


class Recorder:
    def __init__(self) -> None:
        self.runs: list[tuple[str, int, int]] = []
        self.jobs: list[tuple[str, int, int, int]] = []
        self.fail = False
        self.called = threading.Event()

    def on_run(self, repo: str, run_id: int, attempt: int) -> None:
        if self.fail:
            raise RuntimeError("pipeline down")
        self.runs.append((repo, run_id, attempt))
        self.called.set()

    def on_job(self, repo: str, run_id: int, attempt: int, job_id: int) -> None:
        self.jobs.append((repo, run_id, attempt, job_id))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[WebhookServer]:
    intake = WebhookIntake(SECRET, recorder.on_run, max_body=64 * 1024)
    with WebhookServer(intake) as running:
        yield running


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False)


def deliver(
    http: urllib3.PoolManager,
    server: WebhookServer,
    body: bytes,
    *,
    event: str = "workflow_run",
    delivery: str | None = None,
    sig: str | None = None,
) -> urllib3.BaseHTTPResponse:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    if sig != "":
        headers["X-Hub-Signature-256"] = sig or signature(SECRET, body)
    response = http.request("POST", server.url + "/", body=body, headers=headers)
    server.intake.drain()
    return response


def metric(server: WebhookServer, http: urllib3.PoolManager, line_start: str) -> float:
    text = http.request("GET", server.url + "/metrics").data.decode()
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


def test_signatures_match_the_documented_test_vectors() -> None:
    assert signature(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert signature(SECRET, payload("webhook.workflow_run.completed.json")) == (
        "sha256=54e36d3495c5dcb94038f73113b6de077b7d27120cc921718077a00abcafca42"
    )
    assert signature(
        SECRET, payload("webhook.workflow_job.completed.failure.with-organization.json")
    ) == ("sha256=5053a680e6bda303a5d2ea97d0b475435c5e651bda7ad7b20239295bead6cebe")


def test_failed_run_is_handed_over(
    server: WebhookServer, http: urllib3.PoolManager, recorder: Recorder
) -> None:
    response = deliver(http, server, failed_run_body(run_id=77, attempt=2))
    assert response.status == 202
    assert recorder.runs == [("octo-org/octo-repo", 77, 2)]
    assert server.intake.state.seen("octo-org/octo-repo#77.2")


def test_successful_and_unfinished_runs_are_ignored(
    server: WebhookServer, http: urllib3.PoolManager, recorder: Recorder
) -> None:
    assert deliver(http, server, payload("webhook.workflow_run.completed.json")).status == 204
    assert deliver(http, server, payload("webhook.workflow_run.requested.json")).status == 204
    assert (
        deliver(
            http, server, payload("webhook.workflow_job.in_progress.json"), event="workflow_job"
        ).status
        == 204
    )
    assert deliver(http, server, b'{"zen": "Keep it simple."}', event="ping").status == 200
    assert deliver(http, server, b"{}", event="push").status == 204
    assert recorder.runs == []


@pytest.mark.parametrize(
    "sig", ["", "sha256=" + "0" * 64, "sha1=3d26a5cef1e9e674de400ab68e6ac2a2ce8cffa2"]
)
def test_bad_or_missing_signature_is_rejected_without_detail(
    server: WebhookServer, http: urllib3.PoolManager, recorder: Recorder, sig: str
) -> None:
    body = failed_run_body()
    response = deliver(http, server, body, sig=sig)
    assert response.status == 401
    assert response.data == b"invalid signature\n"
    assert signature(SECRET, body).encode() not in response.data
    assert recorder.runs == []
    assert metric(server, http, "hee_webhook_rejected_total") == 1


def test_tampered_body_is_rejected(
    server: WebhookServer, http: urllib3.PoolManager, recorder: Recorder
) -> None:
    body = failed_run_body()
    sig = signature(SECRET, body)
    response = deliver(http, server, body.replace(b"failure", b"success"), sig=sig)
    assert response.status == 401 and recorder.runs == []


def test_duplicate_delivery_and_duplicate_run_are_handled_once(
    server: WebhookServer, http: urllib3.PoolManager, recorder: Recorder
) -> None:
    body = failed_run_body(run_id=5)
    assert deliver(http, server, body, delivery="d-1").status == 202
    assert deliver(http, server, body, delivery="d-1").status == 200  # GitHub redelivery
    assert deliver(http, server, body, delivery="d-2").status == 200  # same attempt again
    assert recorder.runs == [("octo-org/octo-repo", 5, 1)]
    assert metric(server, http, "hee_webhook_duplicates_total") == 2


def test_a_run_seen_by_the_poller_is_not_handed_over_again(
    recorder: Recorder, http: urllib3.PoolManager
) -> None:
    store = InMemoryProcessedRuns()
    store.mark("octo-org/octo-repo#9.1")
    with WebhookServer(WebhookIntake(SECRET, recorder.on_run, state=store)) as running:
        assert deliver(http, running, failed_run_body(run_id=9)).status == 200
    assert recorder.runs == []


def test_failing_hand_over_is_counted_and_retried_on_redelivery(
    server: WebhookServer, http: urllib3.PoolManager, recorder: Recorder
) -> None:
    recorder.fail = True
    assert deliver(http, server, failed_run_body(run_id=3)).status == 202
    assert metric(server, http, "hee_webhook_callback_errors_total") == 1
    recorder.fail = False
    assert deliver(http, server, failed_run_body(run_id=3)).status == 202
    assert recorder.runs == [("octo-org/octo-repo", 3, 1)]


def test_failed_jobs_go_to_on_job_when_wanted(
    recorder: Recorder, http: urllib3.PoolManager
) -> None:
    body = payload("webhook.workflow_job.completed.failure.with-organization.json")
    job = json.loads(body)["workflow_job"]
    intake = WebhookIntake(SECRET, recorder.on_run, on_job=recorder.on_job)
    with WebhookServer(intake) as running:
        assert deliver(http, running, body, event="workflow_job").status == 202
    assert recorder.jobs == [
        (json.loads(body)["repository"]["full_name"], job["run_id"], job["run_attempt"], job["id"])
    ]


def test_body_size_cap_and_bad_json(server: WebhookServer, http: urllib3.PoolManager) -> None:
    big = b"{" + b" " * (64 * 1024) + b"}"
    assert deliver(http, server, big).status == 413
    assert deliver(http, server, b"not json").status == 400


def test_healthz_and_metrics(server: WebhookServer, http: urllib3.PoolManager) -> None:
    deliver(http, server, failed_run_body())
    assert http.request("GET", server.url + "/healthz").data == b"ok\n"
    metrics = http.request("GET", server.url + "/metrics")
    text = metrics.data.decode()
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'hee_webhook_deliveries_total{event="workflow_run",outcome="accepted"} 1.0' in text
    assert "hee_webhook_processing_seconds_count 1.0" in text
    assert SECRET not in text


def test_empty_secret_is_a_config_error(recorder: Recorder) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookIntake("", recorder.on_run)
    assert caught.value.hint is not None and "HEE_WEBHOOK_SECRET" in caught.value.hint


@given(body=st.binary(max_size=512), other=st.binary(min_size=1, max_size=16))
def test_only_the_exact_body_verifies(body: bytes, other: bytes) -> None:
    intake = WebhookIntake(SECRET, lambda repo, run, attempt: None)
    try:
        headers: dict[str, Any] = {
            "X-GitHub-Event": "ping",
            "X-Hub-Signature-256": signature(SECRET, body),
        }
        assert intake.handle(headers, body).status == 200
        assert intake.handle(headers, body + other).status == 401
    finally:
        intake.close()


def test_the_server_header_names_the_product_only(
    server: WebhookServer, http: urllib3.PoolManager
) -> None:
    response = http.request("GET", server.url + "/healthz")
    assert response.headers.get("Server") == "hee-monitor"
    assert "Python" not in str(response.headers)


@pytest.mark.parametrize(
    "body",
    [
        b'{"action": "completed", "repository": {"full_name": "o/r"}, '
        b'"workflow_run": {"id": Infinity, "conclusion": "failure"}}',
        b'{"action": "completed", "workflow_run": {"id": NaN}}',
        b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    ],
    ids=["infinity", "nan", "deep-nesting"],
)
def test_signed_hostile_bodies_get_a_400_not_a_dropped_connection(
    recorder: Recorder, http: urllib3.PoolManager, body: bytes
) -> None:
    intake = WebhookIntake(SECRET, recorder.on_run, max_body=8 * 1024 * 1024)
    with WebhookServer(intake) as running:
        response = deliver(http, running, body)
        assert response.status == 400
        # the server is still there for the next delivery
        assert deliver(http, running, failed_run_body()).status == 202


def test_slow_clients_are_cut_off_while_deliveries_still_answer(
    server: WebhookServer, http: urllib3.PoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    from hee_monitor.sources.github import webhook

    monkeypatch.setattr(webhook, "READ_TIMEOUT", 1.0)
    slow = []
    for _ in range(20):
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    deadline = time.monotonic() + 4.0
    answered = False
    while time.monotonic() < deadline:
        for sock in slow:  # one byte now and then: never idle long enough to be dropped
            with contextlib.suppress(OSError):
                sock.sendall(b"X")
        if not answered:
            assert deliver(http, server, failed_run_body()).status == 202
            answered = True
        time.sleep(0.3)
    closed = 0
    for sock in slow:
        try:
            sock.settimeout(2)
            data = sock.recv(1024)
            closed += data == b"" or b"408" in data or b"400" in data
        except OSError:
            closed += 1
        finally:
            sock.close()
    assert closed == len(slow)
