"""Sources of failed runs: GitHub (polled), webhooks (pushed) and local log files.

:data:`SOURCES` maps each source kind to ``"module:Class"``; the class is imported only
when that kind is used, so PyGithub loads only for the GitHub source. A forge is added as
one folder (``sources/<kind>/``, a class with ``from_settings`` implementing the ports of
:mod:`hee_monitor.sources.interface` it can) and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from hee_monitor.core.errors import ConfigError
from hee_monitor.sources.interface import (
    ForgeSettings,
    InMemoryProcessedRuns,
    PollResult,
    ProcessedRuns,
    Skipped,
    Source,
)

__all__ = [
    "SOURCES",
    "ForgeSettings",
    "InMemoryProcessedRuns",
    "PollResult",
    "ProcessedRuns",
    "Skipped",
    "Source",
    "open_forge",
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


def open_forge(kind: str, settings: ForgeSettings) -> Source:
    """The source (forge) of kind ``kind``, built from ``settings``; the one place a forge
    is constructed. Callers needing more than polling check for the port they use."""
    forge = source_class(kind).from_settings(settings)
    if not isinstance(forge, Source):
        raise TypeError(f"source {kind!r} ({SOURCES[kind]}) does not poll")
    return forge
