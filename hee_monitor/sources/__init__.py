"""Sources of failed runs: GitHub (polled), webhooks (pushed) and local log files.

:data:`SOURCES` maps each source kind to ``"module:Class"``; the class is imported only
when that kind is used, so PyGithub loads only for the GitHub source.
"""

from __future__ import annotations

import importlib
from typing import Any

from hee_monitor.core.errors import ConfigError
from hee_monitor.sources.interface import (
    InMemoryProcessedRuns,
    PollResult,
    ProcessedRuns,
    Skipped,
    Source,
)

__all__ = [
    "SOURCES",
    "InMemoryProcessedRuns",
    "PollResult",
    "ProcessedRuns",
    "Skipped",
    "Source",
    "source_class",
]

#: source kind → "module:Class"
SOURCES: dict[str, str] = {
    "github": "hee_monitor.sources.github.source:GitHubSource",
    "local": "hee_monitor.sources.local.source:LocalSource",
}


def source_class(kind: str) -> Any:
    """The class implementing source ``kind``."""
    try:
        module_name, _, attr = SOURCES[kind].partition(":")
    except KeyError:
        raise ConfigError(
            f"unknown source kind {kind!r}", hint=f"choose one of: {', '.join(sorted(SOURCES))}"
        ) from None
    return getattr(importlib.import_module(module_name), attr)
