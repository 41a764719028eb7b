from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.errors import UsageError
from hee_monitor.fixes.inputs import diagnosis_next_to, load_diagnosis


def _diagnosis(*ids: str) -> dict[str, object]:
    return {
        "log": "job.log",
        "lines": 3,
        "failures": [{"pattern_id": i, "fingerprint": f"fp-{i}", "severity": "low"} for i in ids],
        "unexplained": not ids,
    }


def test_one_object_array_and_json_lines_give_the_findings_in_order(tmp_path: Path) -> None:
    one, array, lines = tmp_path / "one.json", tmp_path / "array.json", tmp_path / "d.jsonl"
    one.write_text(json.dumps(_diagnosis("A", "B")))
    array.write_text(json.dumps([_diagnosis("A"), _diagnosis("B")]))
    lines.write_text(json.dumps(_diagnosis("A")) + "\n\n" + json.dumps(_diagnosis("B")) + "\n")
    assert load_diagnosis(one)[0]["log"] == "job.log"
    for path in (one, array, lines):
        assert [f.pattern_id for f in load_diagnosis(path)[1]] == ["A", "B"]
    data, _ = load_diagnosis(lines)
    assert len(data["diagnoses"]) == 2 and [f["pattern_id"] for f in data["failures"]] == [
        "A",
        "B",
    ]


def test_an_empty_file_has_nothing_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "hee-diagnosis.json"
    path.write_text("")
    assert load_diagnosis(path)[1] == []


def test_bad_input_names_the_file_and_the_diagnosis(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(_diagnosis("A")) + "\n{not json\n")
    with pytest.raises(UsageError, match=r"d.jsonl is not JSON"):
        load_diagnosis(path)
    path.write_text(json.dumps(_diagnosis("A")) + "\n" + json.dumps({"log": "x"}) + "\n")
    with pytest.raises(UsageError, match=r"d.jsonl: diagnosis 2: expected an object"):
        load_diagnosis(path)


def test_the_file_lives_next_to_the_state_capsule() -> None:
    assert diagnosis_next_to(Path("state/current.json")) == Path("state/hee-diagnosis.json")
