"""Whether to ask the local model at all, decided without importing it.

Kept apart from :mod:`hee_monitor.analysis.llm` so that ``analyze`` on the embedded
defaults never imports ``ollama``, ``httpx`` or SQLAlchemy (about 0.9 s of start-up).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hee_monitor.core.errors import ConfigError

__all__ = ["fallback_wanted"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def fallback_wanted(
    section: Mapping[str, Any] | None,
    flag: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Whether to ask the local model, first rule that applies wins:

    1. ``--llm`` / ``--no-llm`` on the command line (``flag``);
    2. ``HEE_LLM`` (``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``);
    3. ``enabled`` in the ``[llm]`` section (also ``HEE_LLM__ENABLED``);
    4. on when the configuration has an ``[llm]`` section, or ``OLLAMA_HOST`` is set and
       the ``[llm]`` extra is installed (asked for explicitly, a missing extra is an error
       naming it).

    With the embedded defaults (no ``[llm]``, no variables) it is off, so hee-monitor needs
    no model server unless asked to use one.
    """
    if flag is not None:
        return flag
    env = os.environ if env is None else env
    raw = env.get("HEE_LLM")
    if raw is not None:
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(
            f"HEE_LLM must be 1 or 0 (true/false, yes/no, on/off), not {raw!r}",
            hint="e.g. HEE_LLM=1 to ask the local model for logs no pattern explains",
        )
    data = dict(section or {})
    if "enabled" in data:
        return data["enabled"] is True
    if data:
        return True
    # OLLAMA_HOST alone is Ollama's own variable, not a request to hee-monitor: it turns
    # the fallback on only where the [llm] extra (the client) is installed
    return bool(env.get("OLLAMA_HOST")) and _client_installed()


def _client_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("ollama") is not None
    except (ImportError, ValueError):
        return False
