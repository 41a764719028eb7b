from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import pytest

from hee_monitor.analysis.interface import ExcerptLine, FallbackResult, LogExcerpt
from hee_monitor.analysis.llm import (
    CONFIDENCE_CAP,
    MAX_EXCERPT_BYTES,
    MAX_EXCERPT_LINES,
    LlmSettings,
    OllamaClassifier,
    build_classifier,
    build_prompt,
)
from hee_monitor.analysis.llm_cache import JsonDirCache, SqlCache
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Owner, Severity
from hee_monitor.core.resources import load_schema
from hee_monitor.record.db import open_engine
from tests.fakes.ollama import Answer, Fail, FakeOllama, Slow, closed_port_url, iter_bodies

GITHUB_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
CONFIGURED = "corp-deploy-passphrase-4417"
EMAIL = "release-bot@corp.example"
LOG_LINES = [
    "Run npm ci",
    "npm notice using registry https://npm.pkg.github.com",
    f"//npm.pkg.github.com/:_authToken={GITHUB_TOKEN}",
    f"deploy key passphrase {CONFIGURED} loaded",
    "npm ERR! code E401",
    'npm ERR! Unable to authenticate, need: Basic realm="GitHub Package Registry"',
    f"npm ERR! A complete log of this run can be found in /home/runner/.npm/_logs; mail {EMAIL}",
    "##[error]Process completed with exit code 1.",
]
SECRETS = (GITHUB_TOKEN, CONFIGURED, EMAIL)
GOOD = {
    "category": "auth",
    "severity": "high",
    "owner": "DEVOPS",
    "root_cause": (
        "npm could not authenticate to the GitHub Package Registry. The token lacks read:packages."
    ),
    "evidence_lines": [5, 6],
    "suggested_fix": "Give the workflow token packages: read permission.",
    "transient": False,
    "confidence": 0.92,
}


def _excerpt(lines: list[str] = LOG_LINES, fingerprint: str = "fp-npm-401") -> LogExcerpt:
    return LogExcerpt(
        log="acme/web#77 build.log",
        total_lines=len(lines),
        lines=tuple(ExcerptLine(i, t) for i, t in enumerate(lines, start=1)),
        log_fingerprint=fingerprint,
    )


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


def _classifier(fake: FakeOllama, **kw: Any) -> OllamaClassifier:
    kw.setdefault("timeout", 5.0)
    return OllamaClassifier(
        host=fake.url,
        model=kw.pop("model", "llama3.2"),
        clock=FakeClock(),
        extra_secrets=(CONFIGURED,),
        **kw,
    )


def test_answer_becomes_a_marked_finding_with_capped_confidence(fake: FakeOllama) -> None:
    fake.script(Answer(GOOD))
    result = _classifier(fake).classify(_excerpt())
    (finding,) = result.findings
    assert finding.pattern_id == "LLM-AUTH"
    assert finding.source == "llm:llama3.2"
    assert finding.category == "auth"
    assert finding.severity is Severity.HIGH and finding.owner is Owner.DEVOPS
    assert finding.confidence == CONFIDENCE_CAP
    assert finding.title == "npm could not authenticate to the GitHub Package Registry."
    assert finding.fix_strategy is None
    assert [(e.start_line, e.end_line) for e in finding.evidence] == [(5, 6)]
    assert finding.evidence[0].text.splitlines() == LOG_LINES[4:6]
    assert finding.details == {
        "model": "llama3.2",
        "summary": GOOD["root_cause"],
        "suggested_fix": GOOD["suggested_fix"],
        "confidence": 0.92,
    }
    assert result.note is not None and "explained by local model llama3.2" in result.note

    (request,) = fake.chat_requests
    body = request.json
    assert body["model"] == "llama3.2" and body["stream"] is False
    assert body["options"] == {"temperature": 0}
    assert body["format"]["required"] == load_schema("llm_diagnosis.schema.json")["required"]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "5: npm ERR! code E401" in body["messages"][1]["content"]
    assert request.headers["content-type"] == "application/json"


def test_invented_evidence_lines_are_dropped_and_counted(fake: FakeOllama) -> None:
    fake.script(Answer({**GOOD, "evidence_lines": [5, 6, 7, 42, 999]}))
    result = _classifier(fake).classify(_excerpt())
    (finding,) = result.findings
    assert [(e.start_line, e.end_line) for e in finding.evidence] == [(5, 7)]
    assert result.note is not None and "dropped 2 evidence line number(s)" in result.note


def test_an_answer_citing_only_invented_lines_is_trusted_less(fake: FakeOllama) -> None:
    fake.script(Answer({**GOOD, "evidence_lines": [120, 121], "confidence": 1.0}))
    (finding,) = _classifier(fake).classify(_excerpt()).findings
    assert finding.evidence == ()
    assert finding.confidence == 0.3


@pytest.mark.parametrize(
    ("reply", "model", "expected"),
    [
        (Answer("The build failed because of auth {not json"), "llama3.2", "answer is not JSON"),
        (
            Answer({**GOOD, "category": "weather"}),
            "llama3.2",
            "does not match the diagnosis schema (at category",
        ),
        (Answer({**GOOD, "confidence": 7}), "llama3.2", "at confidence"),
        (Answer([1, 2]), "llama3.2", "does not match the diagnosis schema"),
        (Answer(GOOD), "no-such-model", "model 'no-such-model' not found on"),
        (Fail(500), "llama3.2", "answered HTTP 500: the model failed to generate a response"),
        (Fail(500, "Internal Server Error", "text/plain"), "llama3.2", "HTTP 500"),
        (Fail(503, '{"error":"server busy"}'), "llama3.2", "HTTP 503: server busy"),
    ],
)
def test_unusable_answers_become_a_note_not_an_exception(
    fake: FakeOllama, reply: Any, model: str, expected: str
) -> None:
    fake.script(reply)
    result = _classifier(fake, model=model).classify(_excerpt())
    assert result.findings == ()
    assert result.note is not None
    assert result.note.startswith("LLM fallback unavailable: ")
    assert expected in result.note


def test_an_empty_excerpt_asks_nothing(fake: FakeOllama) -> None:
    result = _classifier(fake).classify(_excerpt(["", "   "]))
    assert result == FallbackResult(findings=(), note="LLM fallback skipped: the excerpt is empty")
    assert fake.requests == []


def test_model_not_found_tells_how_to_get_it(fake: FakeOllama) -> None:
    note = _classifier(fake, model="mistral").classify(_excerpt()).note
    assert note is not None and "run `ollama pull mistral`" in note


def test_timeout_becomes_a_note(fake: FakeOllama) -> None:
    fake.script(Slow(5.0))
    result = _classifier(fake, timeout=0.3).classify(_excerpt())
    assert result.findings == ()
    assert result.note == f"LLM fallback unavailable: no answer from {fake.url} within 0.3 s"


def test_unreachable_server_becomes_a_note() -> None:
    url = closed_port_url()
    result = OllamaClassifier(host=url, timeout=2).classify(_excerpt())
    assert result.findings == ()
    assert result.note == f"LLM fallback unavailable: cannot connect to Ollama at {url}"


@pytest.mark.parametrize("kind", ["dir", "engine", "url"])
def test_the_same_log_never_asks_twice(fake: FakeOllama, tmp_path: Path, kind: str) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    cache: Any = {"dir": tmp_path / "answers", "engine": open_engine(url), "url": url}[kind]
    fake.script(Answer(GOOD))
    first = _classifier(fake, cache=cache).classify(_excerpt())
    # a new classifier (next monitoring cycle) with the same cache
    second = _classifier(fake, cache=cache).classify(_excerpt())
    assert len(fake.chat_requests) == 1
    assert second.findings == first.findings
    assert second.findings[0].details == first.findings[0].details
    assert second.note is not None and "answer from cache" in second.note
    # another log asks again
    _classifier(fake, cache=cache).classify(_excerpt(fingerprint="other"))
    assert len(fake.chat_requests) == 2
    store = JsonDirCache(cache) if kind == "dir" else SqlCache(open_engine(url))
    entries = list(store)
    assert {e.log_fingerprint for e in entries} == {"fp-npm-401", "other"}
    assert all(s not in json.dumps(e.to_json()) for e in entries for s in SECRETS)


def test_failures_are_not_cached(fake: FakeOllama, tmp_path: Path) -> None:
    fake.script(Answer("oops"), Answer(GOOD))
    assert _classifier(fake, cache=tmp_path).classify(_excerpt()).findings == ()
    assert _classifier(fake, cache=tmp_path).classify(_excerpt()).findings
    assert len(fake.chat_requests) == 2


@pytest.mark.parametrize("damage", ["unreadable", "edited"])
def test_a_broken_cache_entry_is_a_miss(fake: FakeOllama, tmp_path: Path, damage: str) -> None:
    fake.script(Answer(GOOD))
    _classifier(fake, cache=tmp_path).classify(_excerpt())
    for path in tmp_path.glob("*.json"):
        if damage == "unreadable":
            path.write_text("{broken", encoding="utf-8")
        else:
            record = json.loads(path.read_text(encoding="utf-8"))
            del record["answer"]["severity"]
            path.write_text(json.dumps(record), encoding="utf-8")
    assert _classifier(fake, cache=tmp_path).classify(_excerpt()).findings
    assert len(fake.chat_requests) == 2


SCENARIOS: list[Any] = [
    Answer({**GOOD, "root_cause": f"Token {GITHUB_TOKEN} and {CONFIGURED} rejected for {EMAIL}"}),
    Answer({**GOOD, "category": f"{CONFIGURED}"}),
    Answer("not json"),
    Fail(500, json.dumps({"error": f"bad input near {CONFIGURED}"})),
    Slow(5.0),
]


@pytest.mark.parametrize("reply", SCENARIOS, ids=["echo", "schema", "malformed", "500", "slow"])
def test_no_secret_reaches_the_prompt_a_log_line_or_the_note(
    fake: FakeOllama, reply: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script(reply)
    settings = LlmSettings.from_mapping(
        {"host": fake.url, "timeout": 0.5}, env={"HEE_SMTP_PASSWORD": CONFIGURED}
    )
    classifier = build_classifier(settings, cache=tmp_path, env={"HEE_SMTP_PASSWORD": CONFIGURED})
    assert classifier is not None
    result = classifier.classify(_excerpt())
    seen = [*iter_bodies(fake), caplog.text, result.note or ""]
    seen += [json.dumps(f.to_json()) for f in result.findings]
    seen += [p.read_text() for p in tmp_path.glob("*.json")]
    assert fake.chat_requests, "the model was asked"
    for secret in SECRETS:
        for text in seen:
            assert secret not in text


def test_the_prompt_stays_within_the_bound_and_keeps_the_end() -> None:
    lines = [f"line {i}: " + "x" * 120 for i in range(1, 5001)]
    excerpt = _excerpt(lines)  # an analyzer that broke its promise
    prompt = build_prompt(excerpt)
    user = prompt.messages[1]["content"]
    shown = user.splitlines()[1:]
    assert len(shown) <= MAX_EXCERPT_LINES
    text_bytes = sum(len(s.split(": ", 1)[1].encode()) + 1 for s in shown)
    assert text_bytes <= MAX_EXCERPT_BYTES
    assert shown[-1].startswith("5000: ")
    assert prompt.omitted_lines == 5000 - len(shown)
    assert "earlier lines omitted" in user


def test_settings_defaults_environment_and_errors() -> None:
    s = LlmSettings.from_mapping(None, env={})
    assert (s.enabled, s.host, s.model, s.timeout) == (
        True,
        "http://127.0.0.1:11434",
        "llama3.2",
        30.0,
    )
    assert LlmSettings.from_mapping({}, env={"OLLAMA_HOST": "gpu:11434"}).host == "gpu:11434"
    assert LlmSettings.from_mapping({"host": "h:1"}, env={"OLLAMA_HOST": "x"}).host == "h:1"
    assert build_classifier(LlmSettings.from_mapping({"enabled": False}, env={})) is None
    for bad, what in [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "fast"}, "timeout"),
        ({"enabled": "yes"}, "enabled"),
        ({"model": ""}, "model"),
        ({"modle": "x"}, r"unknown key\(s\): modle"),
        ({"secret_env": "GITHUB_TOKEN"}, "secret_env"),
    ]:
        with pytest.raises(ConfigError, match=what):
            LlmSettings.from_mapping(bad, env={})


def test_the_fake_speaks_the_api_the_client_expects(fake: FakeOllama) -> None:
    client = ollama.Client(host=fake.url, timeout=5)
    fake.script(Answer("The sky is blue."))
    chunks = list(client.chat("llama3.2", [{"role": "user", "content": "why?"}], stream=True))
    assert "".join(c.message.content or "" for c in chunks) == "The sky is blue."
    assert chunks[-1].done is True and chunks[-1].done_reason == "stop"
    assert client.generate("llama3.2", "why?").response == "The sky is blue."
    assert [m.model for m in client.list().models] == ["llama3.2:latest"]
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("nope", [{"role": "user", "content": "x"}])
    assert err.value.status_code == 404 and err.value.error == "model 'nope' not found"
    assert fake.chat_requests[0].json["stream"] is True


def test_the_analyzer_asks_the_model_for_a_log_no_pattern_explains(fake: FakeOllama) -> None:
    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.patterns import PatternDatabase

    log_lines = [f"2026-01-05T10:00:0{i}.0000000Z {line}" for i, line in enumerate(LOG_LINES)]
    fake.script(Answer({**GOOD, "evidence_lines": [5, 6, 400]}))
    analyzer = Analyzer(PatternDatabase(), fallback=_classifier(fake))
    diagnosis = analyzer.analyze_text("\n".join(log_lines) + "\n", name="acme/web#77 build")
    root = diagnosis.root_cause
    assert root is not None and root.source == "llm:llama3.2"
    # evidence points at the original log's lines, timestamps stripped by the analyzer
    assert [(e.start_line, e.end_line) for e in root.evidence] == [(5, 6)]
    assert root.evidence[0].text.splitlines() == LOG_LINES[4:6]
    assert any("dropped 1 evidence line number(s)" in n for n in diagnosis.notes)
    (request,) = fake.chat_requests
    assert all(secret not in request.raw.decode() for secret in SECRETS)


def test_the_model_is_handed_the_failing_steps_candidate_blocks(fake: FakeOllama) -> None:
    """A failing step no specific pattern explains: the pattern-free blocks (redacted) lead
    the excerpt, the model picks among them, and only its verbatim lines count."""
    from hee_monitor.analysis.analyzer import FAILING_STEP_ID, Analyzer
    from hee_monitor.analysis.patterns import PatternDatabase

    noise = [f"progress {n}" for n in range(300)]
    lines = [
        "##[group]Run ./deploy.sh",
        "##[endgroup]",
        *noise,
        f"pushing with token {GITHUB_TOKEN}",
        "registry refused the upload: quota exceeded",
        *noise[:3],
        "##[error]Process completed with exit code 1.",
    ]
    refused = lines.index("registry refused the upload: quota exceeded") + 1
    fake.script(Answer({**GOOD, "evidence_lines": [refused]}))
    analyzer = Analyzer(PatternDatabase(), fallback=_classifier(fake))
    diagnosis = analyzer.analyze_text("\n".join(lines) + "\n", name="acme/web#78 deploy")
    prompt = fake.chat_requests[0].json["messages"][1]["content"]
    assert f"{refused}: registry refused the upload: quota exceeded" in prompt
    assert GITHUB_TOKEN not in prompt
    root = diagnosis.root_cause
    assert root is not None and root.source == "llm:llama3.2"
    assert [(e.start_line, e.end_line) for e in root.evidence] == [(refused, refused)]
    # the pattern-free block stays listed after the model's answer
    assert FAILING_STEP_ID in [f.pattern_id for f in diagnosis.failures[1:]]
