from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.capsule.known_patterns import known_pattern_ids, read_ids
from hee_monitor.errors import PatternError


def test_reads_ids_from_pattern_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "python.yaml").write_text(
        "version: 1\npatterns:\n  - id: PY-RUFF-LINT\n    title: x\n  - id: PY-MYPY\n",
        encoding="utf-8",
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.yml").write_text("id: NODE-NPM-ERESOLVE\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("id: IGNORED\n", encoding="utf-8")
    assert read_ids(tmp_path) == {"PY-RUFF-LINT", "PY-MYPY", "NODE-NPM-ERESOLVE"}
    assert known_pattern_ids(tmp_path) == read_ids(tmp_path)


def test_broken_yaml_is_a_pattern_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("patterns: [\n", encoding="utf-8")
    with pytest.raises(PatternError, match=r"bad\.yaml"):
        read_ids(tmp_path)
