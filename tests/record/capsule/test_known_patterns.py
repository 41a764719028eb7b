from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.analysis.patterns import load_database
from hee_monitor.core.errors import PatternError
from hee_monitor.record.capsule.known_patterns import known_pattern_ids

PATTERN = """patterns:
  - id: TEAM-001
    title: Our flaky service
    category: network
    severity: low
    owner: DEVOPS
    risk: 1
    regex: ['our-service unreachable']
    examples: ['our-service unreachable']
"""


def test_ids_of_the_shipped_database() -> None:
    ids = known_pattern_ids()
    assert ids is not None and ids == {p.id for p in load_database()}
    assert "GEN-ERROR-LINE" in ids


def test_ids_of_a_given_directory_only(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(PATTERN, encoding="utf-8")
    assert known_pattern_ids(tmp_path) == {"TEAM-001"}


def test_a_broken_pattern_file_is_a_pattern_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("patterns: [\n", encoding="utf-8")
    with pytest.raises(PatternError, match=r"bad\.yaml"):
        known_pattern_ids(tmp_path)
