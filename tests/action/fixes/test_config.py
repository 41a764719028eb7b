from __future__ import annotations

from pathlib import Path

import pytest


def test_a_misquoted_check_is_a_configuration_error_before_anything_runs(tmp_path: Path) -> None:
    from hee_monitor.action.fixes.config import _argv
    from hee_monitor.core.errors import ConfigError

    assert _argv("pytest -k 'not slow and not network'", "checks[0]") == (
        "pytest", "-k", "not slow and not network",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"checks\[1\]: cannot be read as a command"):
        _argv("pytest -k 'not slow", "checks[1]")
