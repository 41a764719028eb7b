"""The one redaction gate: remove secrets from text before it leaves the process.

Every exit uses it: evidence and titles of findings (so every ``analyze`` format, the audit
store, capsules and reports), alerts, pull-request and issue bodies, LLM prompts and error
messages. What counts as a secret:

* known credential formats: this module's rules plus the regex plugins of
  ``detect-secrets`` (a maintained catalogue of token formats: Stripe, npm, PyPI, GitLab,
  SendGrid, Twilio, Azure, …);
* values after secret-ish keys (``password=…``, ``--token …``, ``aws configure set
  aws_secret_access_key …``, ``password hunter2``) and high-entropy strings next to them;
* the values of every configured secret (:func:`register_secret`: tokens, channel URLs,
  SMTP passwords) and of environment variables whose names look secret.

Every rule finds *spans* of the original text; the union of all spans is replaced, so one
rule's placeholder can never hide or create a match for another. A span that crosses line
breaks is replaced line by line, so the redacted text has exactly as many lines as the input
and line numbers stay valid.

Over-redaction is the safe side: a value after ``password=`` is removed even when it only
looks like a secret.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

PLACEHOLDER = "[REDACTED]"

#: configured secret values shorter than this are ignored: they would erase ordinary words
MIN_EXTRA_SECRET_LENGTH = 4

_KEY_WORDS = (
    r"token|passw(?:or)?d|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?token|session[_-]?id"
)

#: (name, regex); the span redacted is the group named ``s`` if present, else the match
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private-key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
            re.DOTALL,
        ),
    ),
    ("github-token", re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}")),
    ("github-pat", re.compile(r"github_pat_[A-Za-z0-9_]{20,}")),
    ("aws-access-key", re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[A-Z0-9]{16}")),
    ("slack-token", re.compile(r"xox[abposre]-[A-Za-z0-9-]{8,}")),
    (
        "webhook-url",
        re.compile(
            r"(?i)(?:hooks\.slack\.com/(?:services|workflows|triggers)"
            r"|discord(?:app)?\.com/api/webhooks|outlook\.office\.com/webhook)"
            r"(?P<s>/[A-Za-z0-9/_@+-]+)"
        ),
    ),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")),
    # scheme://user:password@host and scheme://token@host: the whole userinfo goes
    ("url-credentials", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<s>[^/\s@]+)@")),
    ("authorization", re.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?(?P<s>[^\r\n\"']+)")),
    ("bearer", re.compile(r"(?i)bearer\s+(?P<s>[A-Za-z0-9._~+/-]+=*)")),
    (
        "basic-auth",
        re.compile(r"(?i)basic\s+(?P<s>(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2})"),
    ),
    (
        "key-value",
        re.compile(
            # no dot in the key: `credentials_test.go:88:9:` is a file and a line, not a key;
            # nor is a value of line numbers a secret
            rf"(?i)(?:{_KEY_WORDS})[A-Za-z0-9_-]*[\"']?\s*(?:=|:(?!\d+(?::\d+)*:?(?:\s|$)))\s*"
            r"(?:\"(?P<dq>[^\"\r\n]*)|'(?P<sq>[^'\r\n]*)|(?P<s>[^\s\"'&,;]+))"
        ),
    ),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{10,}")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi-token", re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}")),
    ("gitlab-token", re.compile(r"\bgl(?:pat|dt|ft|soat|rt|cbt)-[A-Za-z0-9_-]{20,}")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")),
    ("openai-key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("azure-account-key", re.compile(r"(?i)AccountKey=(?P<s>[A-Za-z0-9+/=]{20,})")),
    # positional secrets: the value follows the key after a space, as in
    # `aws configure set aws_secret_access_key X` or `--password X`
    (
        "positional",
        re.compile(
            r"(?i)\b(?:aws_secret_access_key|aws_session_token|secret_access_key"
            r"|client_secret|api[_-]?key|access[_-]?token|auth[_-]?token)\b[\"']?\s+[\"']?"
            r"(?P<s>[^\s\"']{6,})"
        ),
    ),
    (
        "option",
        re.compile(
            r"(?i)(?<![\w-])--?(?:password|passwd|pass|token|secret|api[_-]?key|auth[_-]?token"
            r"|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret)[= ]"
            r"[\"']?(?P<s>[^\s\"']+)"
        ),
    ),
    # `password hunter2`, `token: s3cr3t!`: a word that looks like a secret after the key
    # (at least one digit or symbol, so `password authentication failed` keeps its words)
    (
        "keyword-word",
        re.compile(
            r"(?i)\b(?:password|passwd|passphrase|pwd|secret|token)\b\s+"
            r"(?P<s>(?=[^\s]*[0-9!@#$%^&*+=/_])[^\s\"',;]{6,})"
        ),
    ),
    # mysql -pSECRET
    (
        "mysql-password",
        re.compile(r"(?<![\w-])(?:mysql|mysqldump|mysqladmin)\b[^\n]*?\s-p(?P<s>[^\s]{4,})"),
    ),
    (
        "email",
        re.compile(
            r"(?<![A-Za-z0-9._%+-])(?!git@)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
            r"\.[A-Za-z]{2,}"
        ),
    ),
)


#: detect-secrets plugins left out: public IP addresses are not credentials
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})


@lru_cache(maxsize=1)
def _plugin_rules() -> tuple[re.Pattern[str], ...]:
    """The regexes of detect-secrets' format plugins (compiled once, on first use)."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except ImportError:  # pragma: no cover - a core dependency; the rules above still apply
        return ()
    rules: list[re.Pattern[str]] = []
    plugins: Iterable[type] = get_mapping_from_secret_type_to_class().values()
    for plugin in plugins:
        if plugin.__name__ not in _SKIPPED_PLUGINS:
            rules.extend(getattr(plugin, "denylist", ()))
    return tuple(rules)


# a long token-like word next to a secret-ish key: kept only if it is random enough
_NEAR_KEY = re.compile(
    r"(?i)(?:key|token|secret|passw|pwd|auth|credential|signature)[^\n]{0,24}?"
    r"(?P<s>(?<![A-Za-z0-9+/_=.-])[A-Za-z0-9+/_=.-]{16,})"
)
#: Shannon entropy (bits per character) above which such a word counts as a secret
MIN_ENTROPY = 3.5


def _entropy(word: str) -> float:
    counts: dict[str, int] = {}
    for ch in word:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(c / len(word) * math.log2(c / len(word)) for c in counts.values())


#: words of an environment variable's name that make its value a secret
_SECRET_WORDS = frozenset(
    {
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "PWD",
        "PASS",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "WEBHOOK",
        "DSN",
        "COOKIE",
        "AUTHTOKEN",
    }
)
#: names that have such a word but hold none (the working directory, display auth file)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD", "GITHUB_TOKEN_URL", "SSH_AUTH_SOCK"})


def _secret_name(name: str) -> bool:
    upper = name.upper()
    if upper in _NOT_SECRET_NAMES:
        return False
    words = [w for w in re.split(r"[_\-.]+", upper) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    # API_KEY, ACCESS_KEY, PRIVATE_KEY, SECRET_KEY, SIGNING_KEY, AUTH_KEY
    return "KEY" in words and any(
        w in {"API", "ACCESS", "PRIVATE", "SECRET", "SIGNING", "AUTH", "ENCRYPTION"} for w in words
    )


_lock = threading.Lock()
_registered: set[str] = set()
_environment_read = False
#: changes whenever the registered secrets do (remembered redactions are keyed by it)
_generation = 0


def register_secret(value: str | None) -> None:
    """Add a configured secret value (a token, a channel URL, an SMTP password): from now on
    it is redacted wherever it turns up. Values shorter than four characters are ignored."""
    global _generation
    if value and len(value) >= MIN_EXTRA_SECRET_LENGTH:
        with _lock:
            if value not in _registered:
                _registered.add(value)
                _generation += 1


def register_environment(env: Mapping[str, str]) -> None:
    """Register the values of environment variables whose names look secret."""
    for name, value in env.items():
        if _secret_name(name):
            register_secret(value.strip())


def registered_secrets() -> frozenset[str]:
    """The configured secret values, the process environment's included (read once)."""
    global _environment_read
    if not _environment_read:
        _environment_read = True
        register_environment(os.environ)
    with _lock:
        return frozenset(_registered)


def forget_registered_secrets() -> None:
    """Drop every registered value and read the environment again on next use (tests)."""
    global _environment_read, _generation
    with _lock:
        _registered.clear()
        _environment_read = False
        _generation += 1


# A cheap first look: text none of whose parts could start a secret is returned as it is.
# Every rule above and every detect-secrets plugin needs one of these: a secret-ish word, a
# URL's userinfo or a webhook host, an option, an e-mail address, a known token prefix, or a
# long run of token characters (tokens are long; ordinary words and paths are not).
_SCREEN = re.compile(
    r"(?i)token|passw|pwd|secret|key|auth|bearer|basic|credential|session|cookie|sig"
    r"|://|@|-----BEGIN|\s-p\S|passphrase|[A-Za-z0-9_+=-]{20,}|\d{8,10}:"
    r"|eyJ|[rs]k_|AKIA|ASIA|xox|gh[pousr]_|github_pat|npm_|pypi-|gl[a-z]{2,4}-|AIza|SG\."
)


def _may_hold_secret(text: str, extra: Iterable[str]) -> bool:
    return _SCREEN.search(text) is not None or any(s in text for s in extra)


def has_secret(text: str) -> bool:
    """Whether :func:`redact` would change ``text``."""
    return redact(text) != text


def _spans(text: str, extra_secrets: Iterable[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for plugin_rule in _plugin_rules():
        for found in plugin_rule.finditer(text):
            index = 1 if plugin_rule.groups and found.group(1) is not None else 0
            start, end = found.span(index)
            scheme = text.find("://", start, end)
            if scheme != -1:  # a secret URL: its scheme and host stay readable
                path = text.find("/", scheme + 3, end)
                start = path if path != -1 else start
            if start < end:
                spans.append((start, end))
    for near in _NEAR_KEY.finditer(text):
        word = near.group("s")
        if _entropy(word) >= MIN_ENTROPY and any(c.isdigit() for c in word):
            spans.append(near.span("s"))
    for _name, rule in _RULES:
        pos = 0
        while (match := rule.search(text, pos)) is not None:
            for group in ("s", "dq", "sq"):
                if group in rule.groupindex and match.group(group) is not None:
                    if match.start(group) < match.end(group):
                        spans.append((match.start(group), match.end(group)))
                    # a value may itself start another key (`TOKEN=token: s3cr3t`): look
                    # again from the value's start, not from the end of this match
                    pos = max(match.start(group), match.start() + 1)
                    break
            else:
                spans.append(match.span())
                pos = max(match.end(), match.start() + 1)
    for secret in extra_secrets:
        if len(secret) < MIN_EXTRA_SECRET_LENGTH:
            continue
        # find overlapping occurrences too ("aaa" in "aaaa" twice)
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _placeholder_for(segment: str) -> str:
    # keep line breaks so the number of lines (and every line number) is unchanged
    lines = re.split(r"(\r\n|\n|\r)", segment)
    return "".join(part if i % 2 else (PLACEHOLDER if part else "") for i, part in enumerate(lines))


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with secrets replaced by ``[REDACTED]``.

    Removes GitHub/AWS/Slack tokens, JWTs, ``token=``/``password=``/``secret=``/``api_key=``
    values, Bearer/Basic/Authorization credentials, private key blocks, e-mail addresses,
    credentials in URLs, chat webhook URLs, and every configured secret value in
    ``extra_secrets`` (values shorter than four characters are ignored).
    """
    if not text:
        return text
    explicit = [s for s in extra_secrets if s]
    if len(text) <= _CACHED_TEXT and not explicit:
        # the same evidence lines are redacted again and again while a log is analysed
        # (every candidate finding of a line carries them): remember the short ones, for
        # as long as the registered secrets stay the same
        registered_secrets()  # reads the environment once, which may change the generation
        return _redact_cached(text, _generation)
    return _redact(text, [*explicit, *registered_secrets()])


#: texts up to this length are remembered (at most 4,096 of them: a few MB at worst)
_CACHED_TEXT = 2048


@lru_cache(maxsize=4096)
def _redact_cached(text: str, generation: int) -> str:
    return _redact(text, list(registered_secrets()))


def _redact(text: str, extra: list[str]) -> str:
    extra = [s for s in extra if s]
    if not _may_hold_secret(text, extra):
        return text
    spans = _merge(_spans(text, extra))
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(_placeholder_for(text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


def redact_data(value: Any) -> Any:
    """``value`` (JSON-like data: dicts, lists, strings, numbers) with every string redacted;
    containers are copied, never changed in place."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item) for item in value)
    return value


def redact_lines(lines: Iterable[str], extra_secrets: Iterable[str] = ()) -> list[str]:
    """Redact a sequence of lines as one text (a private key spans lines); same length out."""
    items = list(lines)
    if not items:
        return []
    # join with \n only: a line holding a lone \r must not shift the line count
    joined = "\n".join(line.replace("\r", " ").replace("\n", " ") for line in items)
    return redact(joined, extra_secrets).split("\n")
