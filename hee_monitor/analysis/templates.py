"""Masked line templates: a log line with what changes from run to run (numbers, hex ids,
hashes, paths, urls, quoted values, durations, timestamps) replaced by placeholders, so
the same message from two runs has the same template.

A deterministic masker rather than a learned template miner (Drain and its ``drain3``
package): the analyzer only asks "was this message seen before", in one pass, and a
masker answers that without state, in one regex pass per line."""

from __future__ import annotations

import re
from collections.abc import Iterable

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?"), "<TS>"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<T>"),
    (re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE), "<URL>"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<ID>",
    ),
    (re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]?"), "<PATH>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b"), "<HEX>"),
    (re.compile(r"\d+(?:\.\d+)*(?:ms|s|m|h|%|[kKMG]i?B)?\b"), "<N>"),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`"), "<Q>"),
)
_SPACE = re.compile(r"\s+")
#: templates are cut to this many characters (a long line is still one message)
MAX_TEMPLATE = 300


def template(text: str) -> str:
    """The masked template of a normalised log line."""
    text = text[:2000]
    for rx, placeholder in _MASKS:
        text = rx.sub(placeholder, text)
    return _SPACE.sub(" ", text).strip()[:MAX_TEMPLATE]


def templates(lines: Iterable[str]) -> set[str]:
    """The templates of ``lines`` (blank lines have none)."""
    out: set[str] = set()
    for text in lines:
        t = template(text)
        if t:
            out.add(t)
    return out
