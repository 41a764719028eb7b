"""The local LLM fallback: ask an Ollama model about a log no pattern explains.

The only module that imports ``ollama`` (and its transport, ``httpx``), which come with the
``[llm]`` extra and are imported only when a model is asked. What the model is
sent is redacted (:mod:`hee_monitor.core.redact`) and bounded (≤ 200 lines, ≤ 16 KiB of
log text); what it answers is checked against ``schemas/llm_diagnosis.schema.json``, its
evidence is kept only where it points at lines that were shown, and its self-reported
confidence is capped because it is not calibrated. Anything that goes wrong (server down,
model missing, timeout, malformed answer) becomes a note, never an exception: the
monitoring cycle goes on with the pattern findings alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
from sqlalchemy.engine import Engine

from hee_monitor.analysis.interface import FallbackResult, LogExcerpt
from hee_monitor.analysis.llm_cache import AnswerCache, CachedAnswer, cache_key, open_cache
from hee_monitor.analysis.llm_switch import fallback_wanted
from hee_monitor.core.clock import Clock, SystemClock
from hee_monitor.core.errors import ConfigError, require_extra
from hee_monitor.core.models import AutoFix, Category, Evidence, Finding, Owner, Severity
from hee_monitor.core.redact import redact, redact_lines
from hee_monitor.core.resources import load_schema

if TYPE_CHECKING:  # the client comes with the [llm] extra, imported when a model is asked
    import ollama

log = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2"
DEFAULT_TIMEOUT = 30.0
#: the excerpt bound the analyzer promises (lines; bytes of log text without the line
#: numbers the prompt adds); enforced again here
MAX_EXCERPT_LINES = 200
MAX_EXCERPT_BYTES = 16 * 1024
#: one minified line must not eat the whole budget
MAX_LINE_CHARS = 1000
#: the model's confidence is not calibrated: never trust it above this
CONFIDENCE_CAP = 0.6
#: ... and less when none of the lines it cites exist
UNGROUNDED_CONFIDENCE_CAP = 0.3
#: part of the cache key: change it when the prompt changes so old answers are not reused
PROMPT_VERSION = "1"
#: fixing what only a model explained is never automatic
LLM_RISK = 8
SCHEMA_FILE = "llm_diagnosis.schema.json"
#: environment variables whose values are always redacted when set
DEFAULT_SECRET_ENV = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "HEE_GITHUB_TOKEN",
    "SLACK_WEBHOOK_URL",
    "HEE_SLACK_WEBHOOK",
    "SMTP_PASSWORD",
    "HEE_SMTP_PASSWORD",
    "HEE_SIGNING_KEY",
    "OLLAMA_API_KEY",
)

SYSTEM_PROMPT = """\
You are a CI failure analyst. You read an excerpt of a failed CI job log and explain why \
the job failed. Each log line is printed as `<line number>: <text>`; some values were \
replaced by [REDACTED].
Answer with one JSON object only, with these fields:
- category: one of {categories}
- severity: critical (blocks all work, e.g. broken main or security), high (job cannot \
pass without a change), medium, or low
- owner: DEVOPS for runner, network, infrastructure, dependency, permission and \
configuration problems; DEVELOPER for code, test, lint, type and format problems
- root_cause: one or two sentences naming the concrete cause (file, test, package, command)
- evidence_lines: the line numbers (as printed) that show the cause; only numbers that \
appear in the excerpt
- suggested_fix: what a person should do next, concretely
- transient: true only if re-running the job would probably pass
- confidence: 0 to 1, how sure you are
If the excerpt does not show why the job failed, use category "unknown" and a low confidence.
"""


@dataclass(frozen=True)
class LlmSettings:
    """The ``[llm]`` section of the configuration."""

    enabled: bool = True
    host: str = DEFAULT_HOST
    model: str = DEFAULT_MODEL
    timeout: float = DEFAULT_TIMEOUT
    #: a directory (JSON files) or SQLAlchemy URL for the answer cache; None: no cache
    cache: str | None = None
    #: environment variables whose values are redacted from every prompt
    secret_env: tuple[str, ...] = DEFAULT_SECRET_ENV

    @classmethod
    def from_mapping(
        cls, section: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
    ) -> LlmSettings:
        env = os.environ if env is None else env
        data = dict(section or {})
        known = {"enabled", "host", "model", "timeout", "cache", "secret_env"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"[llm] has unknown key(s): {', '.join(unknown)}",
                hint=f"known keys: {', '.join(sorted(known))}",
            )
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError("[llm] enabled must be true or false", hint="e.g. enabled = false")
        host = data.get("host") or env.get("OLLAMA_HOST") or DEFAULT_HOST
        model = data.get("model", DEFAULT_MODEL)
        if not isinstance(host, str) or not isinstance(model, str) or not model.strip():
            raise ConfigError(
                "[llm] host and model must be non-empty strings",
                hint='e.g. host = "http://127.0.0.1:11434", model = "llama3.2"',
            )
        timeout = data.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(
                "[llm] timeout must be a positive number of seconds",
                hint="e.g. timeout = 30; a small local model answers in a few seconds",
            )
        cache = data.get("cache")
        if cache is not None and not isinstance(cache, str):
            raise ConfigError("[llm] cache must be a directory path or a database URL")
        secret_env = data.get("secret_env", DEFAULT_SECRET_ENV)
        if isinstance(secret_env, str) or not all(isinstance(n, str) for n in secret_env):
            raise ConfigError(
                "[llm] secret_env must be a list of environment variable names",
                hint='e.g. secret_env = ["GITHUB_TOKEN", "DEPLOY_KEY"]',
            )
        return cls(
            enabled=enabled,
            host=host,
            model=model.strip(),
            timeout=float(timeout),
            cache=cache,
            secret_env=tuple(secret_env),
        )

    def secret_values(self, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
        env = os.environ if env is None else env
        return tuple(env[name] for name in self.secret_env if env.get(name))


@dataclass(frozen=True)
class Prompt:
    """What is sent to the model, and which original line numbers it showed."""

    messages: tuple[dict[str, str], ...]
    shown: dict[int, str]
    #: lines of the excerpt left out to hold the bound
    omitted_lines: int = 0

    @property
    def size_bytes(self) -> int:
        return sum(len(m["content"].encode("utf-8")) for m in self.messages)


def build_prompt(excerpt: LogExcerpt, extra_secrets: Iterable[str] = ()) -> Prompt:
    """Redact and bound the excerpt and wrap it in the instructions.

    When the excerpt is over the bound the *last* lines are kept: a CI log says why it
    failed near its end.
    """
    secrets = tuple(extra_secrets)
    lines = sorted(excerpt.lines, key=lambda line: line.number)
    texts = redact_lines((_clip(line.text) for line in lines), secrets)
    kept: list[tuple[int, str]] = []
    budget = MAX_EXCERPT_BYTES
    for line, text in zip(reversed(lines), reversed(texts), strict=True):
        # the bound is on the log text, as the analyzer counts it; numbering comes on top
        size = len(text.encode("utf-8")) + 1
        if len(kept) >= MAX_EXCERPT_LINES or size > budget:
            break
        budget -= size
        kept.append((line.number, text))
    kept.reverse()
    omitted = len(lines) - len(kept)
    header = (
        f"Log: {redact(excerpt.log, secrets)} ({excerpt.total_lines} lines in total; "
        f"{len(kept)} shown{', earlier lines omitted' if omitted else ''}).\n"
    )
    body = "".join(f"{number}: {text}\n" for number, text in kept)
    system = SYSTEM_PROMPT.format(categories=", ".join(c.value for c in Category))
    return Prompt(
        messages=(
            {"role": "system", "content": system},
            {"role": "user", "content": header + body},
        ),
        shown=dict(kept),
        omitted_lines=omitted,
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " …"


@dataclass(frozen=True)
class LlmStatus:
    host: str
    model: str
    reachable: bool
    models: tuple[str, ...]
    problem: str | None = None

    @property
    def model_present(self) -> bool:
        wanted = {self.model, f"{self.model}:latest"}
        return any(m in wanted for m in self.models)

    @property
    def ready(self) -> bool:
        return self.reachable and self.model_present


class _Unavailable(Exception):
    """Internal: why the model gave no usable answer (becomes the result's note)."""


@dataclass
class OllamaClassifier:
    """A :class:`~hee_monitor.analysis.interface.FallbackClassifier` backed by Ollama."""

    host: str = DEFAULT_HOST
    model: str = DEFAULT_MODEL
    timeout: float = DEFAULT_TIMEOUT
    #: a directory, a SQLAlchemy engine or URL, an AnswerCache, or None
    cache: Path | str | Engine | AnswerCache | None = None
    clock: Clock = field(default_factory=SystemClock)
    extra_secrets: Sequence[str] = ()
    _client: ollama.Client | None = field(default=None, init=False, repr=False)
    _cache: AnswerCache | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        require_extra("ollama", "llm", "the local-model fallback (--llm)")
        self._cache = open_cache(self.cache)

    @classmethod
    def from_settings(
        cls,
        settings: LlmSettings,
        *,
        cache: Path | str | Engine | AnswerCache | None = None,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> OllamaClassifier:
        return cls(
            host=settings.host,
            model=settings.model,
            timeout=settings.timeout,
            cache=cache if cache is not None else settings.cache,
            clock=clock or SystemClock(),
            extra_secrets=settings.secret_values(env),
        )

    @property
    def source(self) -> str:
        return f"llm:{self.model}"

    def _safe(self, text: str) -> str:
        return redact(text, self.extra_secrets)

    def classify(self, excerpt: LogExcerpt) -> FallbackResult:
        if not any(line.text.strip() for line in excerpt.lines):
            return FallbackResult(findings=(), note="LLM fallback skipped: the excerpt is empty")
        key = cache_key(self.model, PROMPT_VERSION, excerpt.log_fingerprint)
        cached = self._cache.get(key) if self._cache is not None else None
        if cached is not None and not _schema_errors(cached.answer):
            log.info("LLM answer for %s taken from the cache", self._safe(excerpt.log))
            shown = {int(e["number"]): str(e["text"]) for e in cached.evidence}
            return self._result(excerpt, cached.answer, shown, from_cache=True)

        prompt = build_prompt(excerpt, self.extra_secrets)
        started = self.clock.monotonic()
        try:
            answer = self._ask(prompt)
        except _Unavailable as why:
            note = f"LLM fallback unavailable: {why}"
            log.warning("%s (log %s)", note, self._safe(excerpt.log))
            return FallbackResult(findings=(), note=note)
        log.info(
            "model %s explained %s in %.1f s (prompt %d bytes)",
            self.model,
            self._safe(excerpt.log),
            self.clock.monotonic() - started,
            prompt.size_bytes,
        )
        result = self._result(excerpt, answer, prompt.shown, from_cache=False)
        if self._cache is not None:
            cited = sorted({n for n in answer["evidence_lines"] if n in prompt.shown})
            self._cache.put(
                CachedAnswer(
                    key=key,
                    model=self.model,
                    log=self._safe(excerpt.log),
                    log_fingerprint=excerpt.log_fingerprint,
                    answer=answer,
                    evidence=[{"number": n, "text": prompt.shown[n]} for n in cited],
                    created_at=self.clock.now().isoformat(),
                )
            )
        return result

    def check(self) -> LlmStatus:
        """Is the server reachable and the model pulled? (``hee-monitor llm check``)"""
        import httpx
        import ollama

        host = self._safe(self.host)
        try:
            listed = self._client_or_new().list()
        except httpx.TimeoutException:
            return LlmStatus(host, self.model, False, (), f"no answer within {self.timeout:g} s")
        except ConnectionError:
            return LlmStatus(host, self.model, False, (), f"cannot connect to Ollama at {host}")
        except ollama.ResponseError as exc:
            detail = self._safe(str(exc.error))[:200]
            return LlmStatus(host, self.model, False, (), f"HTTP {exc.status_code}: {detail}")
        except Exception as exc:  # a broken reply is a status, not a crash
            return LlmStatus(
                host, self.model, False, (), f"unexpected reply ({type(exc).__name__})"
            )
        models = tuple(sorted(m.model for m in listed.models if m.model))
        return LlmStatus(host, self.model, True, models)

    def _client_or_new(self) -> ollama.Client:
        import ollama

        if self._client is None:
            # the client's default timeout is None (wait forever): always pass one
            self._client = ollama.Client(host=self.host, timeout=self.timeout)
        return self._client

    def _ask(self, prompt: Prompt) -> dict[str, Any]:
        import httpx
        import ollama

        host = self._safe(self.host)
        schema = load_schema(SCHEMA_FILE)
        try:
            response = self._client_or_new().chat(
                model=self.model,
                messages=list(prompt.messages),
                format=_wire_schema(schema),
                options={"temperature": 0},
                stream=False,
            )
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise _Unavailable(
                    f"model {self.model!r} not found on {host} (run `ollama pull {self.model}`)"
                ) from None
            detail = self._safe(str(exc.error))[:200]
            raise _Unavailable(
                f"Ollama at {host} answered HTTP {exc.status_code}: {detail}"
            ) from None
        except httpx.TimeoutException:
            raise _Unavailable(f"no answer from {host} within {self.timeout:g} s") from None
        except ConnectionError:
            raise _Unavailable(f"cannot connect to Ollama at {host}") from None
        except httpx.HTTPError as exc:
            raise _Unavailable(
                f"transport error talking to {host} ({type(exc).__name__})"
            ) from None
        except Exception as exc:  # a broken reply must not stop the cycle
            raise _Unavailable(f"unexpected reply from {host} ({type(exc).__name__})") from None
        content = getattr(getattr(response, "message", None), "content", None) or ""
        try:
            answer = json.loads(content)
        except ValueError:
            raise _Unavailable(f"the model's answer is not JSON ({len(content)} chars)") from None
        errors = _schema_errors(answer)
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "the top level"
            raise _Unavailable(
                f"the model's answer does not match the diagnosis schema "
                f"(at {where}: {self._safe(first.message)[:160]})"
            )
        if not isinstance(answer, dict):  # pragma: no cover - the schema requires an object
            raise _Unavailable("the model's answer is not a JSON object")
        # the model only saw redacted text, but it may still invent or echo a secret
        for name in ("root_cause", "suggested_fix"):
            if isinstance(answer.get(name), str):
                answer[name] = self._safe(answer[name])
        return answer

    def _result(
        self,
        excerpt: LogExcerpt,
        answer: Mapping[str, Any],
        shown: Mapping[int, str],
        *,
        from_cache: bool,
    ) -> FallbackResult:
        cited = list(dict.fromkeys(int(n) for n in answer["evidence_lines"]))
        present = {line.number for line in excerpt.lines}
        kept = sorted(n for n in cited if n in shown and n in present)
        dropped = len(cited) - len(kept)
        reported = float(answer["confidence"])
        cap = CONFIDENCE_CAP if kept else UNGROUNDED_CONFIDENCE_CAP
        category = Category(answer["category"])
        summary = self._safe(str(answer["root_cause"]).strip())
        suggested_fix = self._safe(str(answer.get("suggested_fix", "")).strip())
        evidence = tuple(_ranges(kept, shown))
        finding = Finding(
            pattern_id=f"LLM-{category.value.upper()}",
            title=_title(summary),
            category=category.value,
            severity=Severity(answer["severity"]),
            owner=Owner(answer["owner"]),
            risk=LLM_RISK,
            transient=bool(answer.get("transient", False)),
            confidence=min(reported, cap),
            fix_strategy=None,
            fingerprint=_fingerprint(category, evidence, excerpt.log_fingerprint),
            evidence=evidence,
            source=self.source,
            auto_fix=AutoFix.NONE,
            rollback_required=True,
            details={
                "model": self.model,
                "summary": summary,
                "suggested_fix": suggested_fix,
                "confidence": reported,
            },
        )
        parts = [f"no known pattern matched; explained by local model {self.model}"]
        if from_cache:
            parts.append("answer from cache")
        if dropped:
            parts.append(
                f"dropped {dropped} evidence line number(s) the model cited that are not in "
                "the excerpt"
            )
        return FallbackResult(findings=(finding,), note="; ".join(parts))


def _schema_errors(answer: Any) -> list[jsonschema.ValidationError]:
    validator = jsonschema.Draft202012Validator(load_schema(SCHEMA_FILE))
    return sorted(validator.iter_errors(answer), key=lambda e: list(e.absolute_path))


def _wire_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as Ollama's structured output takes it (no $schema/$id keywords)."""
    return {k: v for k, v in schema.items() if not k.startswith("$")}


def _ranges(numbers: Sequence[int], shown: Mapping[int, str]) -> Iterable[Evidence]:
    start = prev = None
    for number in numbers:
        if prev is not None and number == prev + 1:
            prev = number
            continue
        if start is not None and prev is not None:
            yield Evidence(start, prev, "\n".join(shown[n] for n in range(start, prev + 1)))
        start = prev = number
    if start is not None and prev is not None:
        yield Evidence(start, prev, "\n".join(shown[n] for n in range(start, prev + 1)))


def _title(summary: str) -> str:
    first = re.split(r"(?<=[.!?])\s", summary, maxsplit=1)[0].strip()
    return first if len(first) <= 120 else first[:117] + "..."


_VOLATILE = re.compile(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{7,}|\d+")


def _fingerprint(category: Category, evidence: Sequence[Evidence], log_fingerprint: str) -> str:
    """Same failure, same fingerprint: numbers and hashes in the evidence do not count."""
    basis = "\n".join(_VOLATILE.sub("#", e.text) for e in evidence) or log_fingerprint
    digest = hashlib.sha256(f"llm\0{category.value}\0{basis}".encode()).hexdigest()
    return digest[:16]


def build_classifier(
    settings: LlmSettings,
    *,
    cache: Path | str | Engine | AnswerCache | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> OllamaClassifier | None:
    """The configured classifier, or None when ``[llm] enabled = false``."""
    if not settings.enabled:
        return None
    return OllamaClassifier.from_settings(settings, cache=cache, clock=clock, env=env)


def configured_classifier(
    section: Mapping[str, Any] | None,
    *,
    flag: bool | None = None,
    model: str | None = None,
    host: str | None = None,
    default_cache: Path | str | Engine | AnswerCache | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> OllamaClassifier | None:
    """The fallback classifier the commands use, or None when :func:`fallback_wanted` says
    off. ``model`` / ``host`` (command-line options) override the section; the answer
    cache is ``[llm] cache`` when set, else ``default_cache`` (the monitor's audit store)."""
    if not fallback_wanted(section, flag, env):
        return None
    data = dict(section or {})
    data["enabled"] = True
    if model:
        data["model"] = model
    if host:
        data["host"] = host
    settings = LlmSettings.from_mapping(data, env)
    cache = settings.cache if settings.cache is not None else default_cache
    return build_classifier(settings, cache=cache, clock=clock, env=env)
