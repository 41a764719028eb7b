"""Suite-wide isolation: nothing a test runs writes to the real home directory."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_state_and_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The default state directory ($XDG_STATE_HOME/hee-monitor) and the compiled-pattern
    cache ($XDG_CACHE_HOME/hee-monitor) go to this session's (this worker's) temporary
    directory; subprocesses inherit the environment."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    os.environ.pop("HEE_STATE_DIR", None)
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
