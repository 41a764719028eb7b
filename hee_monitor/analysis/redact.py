"""Remove secrets from text before it leaves the process (LLM prompt, alert, capsule).

Every rule finds *spans* of the original text; the union of all spans is replaced, so one
rule's placeholder can never hide or create a match for another. A span that crosses line
breaks is replaced line by line, so the redacted text has exactly as many lines as the input
and line numbers stay valid.

Over-redaction is the safe side: a value after ``password=`` is removed even when it only
looks like a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
            rf"(?i)(?:{_KEY_WORDS})[A-Za-z0-9_.-]*[\"']?\s*[:=]\s*"
            r"(?:\"(?P<dq>[^\"\r\n]*)|'(?P<sq>[^'\r\n]*)|(?P<s>[^\s\"'&,;]+))"
        ),
    ),
    (
        "email",
        re.compile(
            r"(?<![A-Za-z0-9._%+-])(?!git@)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
            r"\.[A-Za-z]{2,}"
        ),
    ),
)


def _spans(text: str, extra_secrets: Iterable[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
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
    extra = [s for s in extra_secrets if s]
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


def redact_lines(lines: Iterable[str], extra_secrets: Iterable[str] = ()) -> list[str]:
    """Redact a sequence of lines as one text (a private key spans lines); same length out."""
    items = list(lines)
    if not items:
        return []
    # join with \n only: a line holding a lone \r must not shift the line count
    joined = "\n".join(line.replace("\r", " ").replace("\n", " ") for line in items)
    return redact(joined, extra_secrets).split("\n")
