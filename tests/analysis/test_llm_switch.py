from __future__ import annotations

import pytest

from hee_monitor.analysis.llm_switch import fallback_wanted
from hee_monitor.core.errors import ConfigError


@pytest.mark.parametrize(
    ("section", "flag", "env", "wanted"),
    [
        ({}, None, {}, False),
        ({}, True, {}, True),
        ({"host": "http://h:1"}, None, {}, True),
        ({"enabled": False, "host": "http://h:1"}, None, {}, False),
        ({"enabled": False}, None, {"HEE_LLM": "1"}, True),
        ({"enabled": True}, None, {"HEE_LLM": "off"}, False),
        ({}, None, {"OLLAMA_HOST": "http://h:1"}, True),
        ({"enabled": False}, None, {"OLLAMA_HOST": "http://h:1"}, False),
        ({"enabled": True}, False, {"HEE_LLM": "1"}, False),
    ],
)
def test_fallback_wanted_rule(
    section: dict[str, object], flag: bool | None, env: dict[str, str], wanted: bool
) -> None:
    assert fallback_wanted(section, flag, env) is wanted


def test_bad_hee_llm_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="HEE_LLM must be 1 or 0"):
        fallback_wanted({}, None, {"HEE_LLM": "maybe"})
