from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.action.fixes.inputs import diagnosis_next_to, load_diagnosis
from hee_monitor.core.errors import UsageError


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


def test_a_log_is_analysed_as_analyze_reads_it(tmp_path: Path) -> None:
    import gzip
    import zipfile

    from hee_monitor.action.fixes.inputs import analyze_log

    example = Path(__file__).resolve().parents[3] / "examples" / "logs" / "ruff-lint-failure.log"
    plain_data, plain = analyze_log(example)
    assert plain and plain_data["log"] == str(example)
    packed = tmp_path / "job.log.gz"
    packed.write_bytes(gzip.compress(example.read_bytes()))
    assert [f.pattern_id for f in analyze_log(packed)[1]] == [f.pattern_id for f in plain]
    run = tmp_path / "logs.zip"
    with zipfile.ZipFile(run, "w") as archive:
        archive.writestr("0_lint.txt", example.read_bytes())
        archive.writestr("1_test.txt", example.read_bytes())
    data, findings = analyze_log(run)
    assert [d["log"] for d in data["diagnoses"]] == [f"{run}!0_lint.txt", f"{run}!1_test.txt"]
    assert len(findings) == 2 * len(plain)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(UsageError, match="damaged zip archive"):
        analyze_log(broken)
