from __future__ import annotations

from collections.abc import Iterator

import pytest

from hee_monitor.cli import run
from tests.fakes.ollama import FakeOllama, closed_port_url


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=("llama3.2:latest", "mistral:7b")) as server:
        yield server


def test_ready(fake: FakeOllama, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["llm", "check", "--host", fake.url]) == 0
    out = capsys.readouterr().out
    assert "reachable, 2 model(s)" in out and "model llama3.2: ready" in out
    assert [r.path for r in fake.requests] == ["/api/tags"]


def test_model_not_pulled(fake: FakeOllama, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["llm", "check", "--host", fake.url, "--model", "qwen2.5"]) == 1
    captured = capsys.readouterr()
    assert "model qwen2.5: not pulled (have: llama3.2:latest, mistral:7b)" in captured.out
    assert "ollama pull qwen2.5" in captured.err


def test_not_reachable(capsys: pytest.CaptureFixture[str]) -> None:
    url = closed_port_url()
    assert run(["llm", "check", "--host", url, "--timeout", "2"]) == 1
    assert f"cannot connect to Ollama at {url}" in capsys.readouterr().out
