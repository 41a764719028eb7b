from __future__ import annotations

from datetime import timedelta

import pytest

from hee_monitor.action.alerts.matrix import DEFAULT_MATRIX, matrix_from_config, parse_duration
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Severity


def test_defaults_follow_the_escalation_matrix_of_the_brief() -> None:
    critical = DEFAULT_MATRIX[Severity.CRITICAL]
    assert critical.group_wait == timedelta(0)
    assert critical.channels == ("console", "email", "slack", "sms")
    assert critical.actions == ("capsule-update", "agent-alert")
    high = DEFAULT_MATRIX[Severity.HIGH]
    assert (high.group_wait, high.channels, high.actions) == (
        timedelta(minutes=5),
        ("console", "email", "slack"),
        ("capsule-update",),
    )
    medium = DEFAULT_MATRIX[Severity.MEDIUM]
    assert (medium.group_wait, medium.channels, medium.actions) == (
        timedelta(minutes=15),
        ("console", "email"),
        ("log-entry",),
    )
    low = DEFAULT_MATRIX[Severity.LOW]
    assert (low.group_wait, low.channels, low.actions) == (
        timedelta(hours=1),
        ("console",),
        ("monitoring-log",),
    )


def test_a_configured_row_overrides_only_the_keys_it_names() -> None:
    matrix = matrix_from_config({"high": {"wait": "2m"}, "LOW": {"channels": ["console", "email"]}})
    assert matrix[Severity.HIGH].group_wait == timedelta(minutes=2)
    assert matrix[Severity.HIGH].channels == DEFAULT_MATRIX[Severity.HIGH].channels
    assert matrix[Severity.LOW].channels == ("console", "email")
    assert matrix[Severity.LOW].group_wait == timedelta(hours=1)
    assert matrix[Severity.CRITICAL] == DEFAULT_MATRIX[Severity.CRITICAL]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"urgent": {}}, "unknown severity"),
        ({"high": {"wait": "soon"}}, "not a duration"),
        ({"high": {"delay": "5m"}}, "unknown key"),
        ({"high": {"channels": "email, slack"}}, None),
        ({"high": {"actions": ["page-the-ceo"]}}, "unknown action"),
        ({"high": {"channels": [1, 2]}}, "list of names"),
        ({"high": "5m"}, "must be a table"),
    ],
)
def test_bad_matrix_config_says_where_and_what(section: dict, words: str | None) -> None:
    if words is None:  # a single string is accepted as one channel name
        assert matrix_from_config(section)[Severity.HIGH].channels == ("email, slack",)
        return
    with pytest.raises(ConfigError) as info:
        matrix_from_config(section)
    assert words in info.value.message
    assert "[alerts.matrix" in info.value.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172800),
        (45, 45),
        ("1.5m", 90),
        ("250ms", 0.25),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, where="x") == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", ["-5m", "5 minutes", True, None, "m"])
def test_bad_durations_are_config_errors(value: object) -> None:
    with pytest.raises(ConfigError):
        parse_duration(value, where="[alerts] repeat_interval")
