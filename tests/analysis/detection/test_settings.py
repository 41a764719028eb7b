from __future__ import annotations

import pytest

from hee_monitor.analysis.detection.settings import DetectionSettings, validate_section
from hee_monitor.core.errors import ConfigError


def test_defaults_and_overrides() -> None:
    settings = DetectionSettings.from_section(
        {
            "job_kinds": {"build": ["^compile-"]},
            "timeout_minutes": {"e2e": 30},
            "licenses_deny": ["GPL-3.0"],
        }
    )
    assert settings.job_kinds["build"] == ("^compile-",)
    assert settings.job_kinds["test"]  # other kinds keep their defaults
    assert settings.timeout_minutes == {"e2e": 30.0}
    assert settings.licenses_deny == ("GPL-3.0",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"percentile": 0}, "percentile"),
        ({"history": 3}, "unknown key"),
        ({"job_kinds": {"docs": ["x"]}}, "job_kinds"),
        ({"job_kinds": {"build": ["("]}}, "not a regular expression"),
        ({"min_history": 50, "history_runs": 10}, "min_history"),
    ],
)
def test_bad_sections_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        DetectionSettings.from_section(data)
    assert message in err.value.message


def test_other_sections_are_checked_by_the_same_schema() -> None:
    validate_section("skip", {"markers": ["[no ci fix]"], "alerts": True})
    with pytest.raises(ConfigError, match=r"\[escalation\] escalation.update"):
        validate_section("escalation", {"update": "email"})
