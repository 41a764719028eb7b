"""Failure fingerprints: the same failure in different runs gets the same fingerprint.

A fingerprint is the first 16 hex characters of sha256 over the pattern id and the
evidence text with everything that changes between runs masked: timestamps, durations,
UUIDs, hex ids and hashes, absolute paths' directories (runner work dirs, temp dirs) and
numbers. Relative paths such as ``tests/test_api.py`` stay: they say *which* failure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # 2024-01-01T00:00:00.1234567Z, 2024-01-01 12:00:00,123
    (
        re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"),
        "<ts>",
    ),
    (re.compile(r"\b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?\b"), "<time>"),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    # hashes and ids: 7+ hex digits with a digit and a letter (shas, sha256:..., ids);
    # plain decimal numbers are left to the number rule so they mask the same at any size
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b"), "<hex>"),
    # durations: 1.23s, 250ms, 2m3s, 1h 2m, (12.3 seconds)
    (
        re.compile(
            r"\b\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b"
        ),
        "<dur>",
    ),
    # absolute paths: keep the last component, mask the directories
    (re.compile(r"(?:[A-Za-z]:\\|/)(?:[^\s/\\:'\"()\[\]]+[/\\])+"), "<path>/"),
    (re.compile(r"\d+"), "<n>"),
    (re.compile(r"[ \t]+"), " "),
)


def normalise_for_fingerprint(text: str) -> str:
    """``text`` with run-specific details masked (see the module docs)."""
    for rx, repl in _RULES:
        text = rx.sub(repl, text)
    return text.strip()


def fingerprint(pattern_id: str, texts: Iterable[str]) -> str:
    """Fingerprint of a failure: pattern id plus its evidence texts, masked."""
    digest = hashlib.sha256(pattern_id.encode("utf-8"))
    for text in texts:
        digest.update(b"\n")
        digest.update(normalise_for_fingerprint(text).encode("utf-8", "replace"))
    return digest.hexdigest()[:16]
