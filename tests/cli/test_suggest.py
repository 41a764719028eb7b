from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from hee_monitor.cli import run
from hee_monitor.core.resources import load_schema
from tests.fakes.ollama import Answer, FakeOllama, closed_port_url, iter_bodies

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
LOG = "\n".join(
    [
        "2026-01-05T10:00:00.0000000Z ##[group]Run ./gradlew build",
        f"2026-01-05T10:00:01.0000000Z Using token {TOKEN}",
        "2026-01-05T10:00:02.0000000Z \x1b[31mFAILURE: Build failed with an exception.\x1b[0m",
        "2026-01-05T10:00:03.0000000Z Could not resolve com.acme:core:2.4.1 from repo https://maven.acme.example/releases",
        "2026-01-05T10:00:04.0000000Z ##[error]Process completed with exit code 1.",
    ]
)
ANSWER = {
    "category": "dependency",
    "severity": "high",
    "owner": "DEVOPS",
    "root_cause": "Gradle cannot resolve com.acme:core from the internal Maven repository.",
    "evidence_lines": [3, 4, 5],
    "suggested_fix": "Check that the repository is reachable and the version is published.",
    "confidence": 0.7,
}


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


def test_suggest_from_a_log_then_from_the_cache_alone(
    fake: FakeOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "build.log"
    log.write_text(LOG, encoding="utf-8")
    out = tmp_path / "proposals.yml"
    cache = tmp_path / "cache"
    fake.script(Answer(ANSWER))
    args = ["patterns", "suggest", str(log), "--host", fake.url, "--cache", str(cache)]
    assert run([*args, "-o", str(out)]) == 0
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    jsonschema.validate(document, load_schema("pattern_database.schema.json"))
    (pattern,) = document["patterns"]
    assert re.search(pattern["regex"], "Could not resolve org.other:lib:1.0 from repo https://x")
    assert all(TOKEN not in body for body in iter_bodies(fake))
    assert TOKEN not in out.read_text(encoding="utf-8")

    # a week later: proposals from what the model explained, without asking again
    assert run(["patterns", "suggest", "--cache", str(cache)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["patterns"][0]["regex"] == pattern["regex"]
    assert len(fake.chat_requests) == 1


def test_nothing_to_suggest_from_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["patterns", "suggest"]) == 2
    assert "give log files or --cache" in capsys.readouterr().err


def test_model_unavailable_says_why_and_proposes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "build.log"
    log.write_text(LOG, encoding="utf-8")
    assert (
        run(["patterns", "suggest", str(log), "--host", closed_port_url(), "--timeout", "2"]) == 1
    )
    err = capsys.readouterr().err
    assert "LLM fallback unavailable: cannot connect to Ollama" in err
    assert "no pattern to suggest" in err


def test_unreadable_log_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["patterns", "suggest", str(tmp_path / "missing.log"), "--host", "x:1"]) == 2
    assert "cannot read the log" in capsys.readouterr().err


def test_suggest_is_a_patterns_subcommand_not_a_top_level_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["patterns", "--help"]) == 0
    assert "suggest" in capsys.readouterr().out
    assert run(["suggest-patterns", "--help"]) == 2
    assert "No such command 'suggest-patterns'" in capsys.readouterr().err
