"""The accuracy benchmark's arithmetic: line numbering, splits, scoring, one end-to-end run
over a small labelled set written here (the real data set is never part of the tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import diagnosis_eval as de


def test_label_lines_count_lone_carriage_returns_and_map_onto_newline_lines() -> None:
    lmap = de.LineMap("a\r\nb\rc\nd")
    assert lmap.label_lines == ["a", "b", "c", "d"]
    assert (lmap.label_count(), lmap.nl_count()) == (4, 3)
    assert [lmap.label_to_nl(n) for n in (1, 2, 3, 4)] == [1, 2, 2, 3]
    assert lmap.prefix_text(2) == "a\r\nb\r"


def test_label_range_follows_the_analysers_numbering() -> None:
    lmap = de.LineMap("a\r\nb\rc\nd")
    record = de.Record("x.log", 3, 4)
    assert de.label_range(record, lmap, diagnosis_lines=4) == (3, 4)
    assert de.label_range(record, lmap, diagnosis_lines=3) == (2, 3)


def test_first_evidence_lines_keep_ranking_order_without_repeats() -> None:
    assert de.first_evidence_lines([(5, 7), (6, 9), (1, 1)], limit=5) == [5, 6, 7, 8, 9]
    assert de.first_evidence_lines([(3, 3), (1, 2)]) == [3, 1, 2]


def test_scores() -> None:
    s = de.score([10, 11, 12, 13], (10, 11), (11, 20))
    assert (s.hit, s.top1, s.precision, s.recall, s.unexplained) == (1.0, 1.0, 0.75, 0.3, 0.0)
    miss = de.score([], None, (1, 2))
    assert (miss.hit, miss.top1, miss.precision, miss.unexplained) == (0.0, 0.0, 0.0, 1.0)


def test_split_is_by_repository_deterministic_and_uses_both_halves() -> None:
    names = [f"Lang_owner_repo{r}__{n}.log" for r in range(20) for n in range(3)]
    first = [de.split_of(n) for n in names]
    assert first == [de.split_of(n) for n in names]
    assert set(first) == {"tune", "heldout"}
    # every log of one repository lies in the same part
    for r in range(20):
        assert len({de.split_of(f"Lang_owner_repo{r}__{n}.log") for n in range(3)}) == 1
    assert de.repository_of("CSS_jgthms_bulma__373686035.log") == "CSS_jgthms_bulma"


def test_baselines() -> None:
    lmap = de.LineMap("".join(f"line {n}\n" for n in range(1, 60)) + "an error here\n\n")
    last = de.baseline_last(lmap)
    assert last[0] == (60, 60) and len(last) == 40
    assert de.baseline_error_fail(lmap) == [(60, 60)]


def _dataset(root: Path) -> None:
    logs = root / "ci-logs" / "logchunks-dev"
    logs.mkdir(parents=True)
    setup = "".join(f"Downloading part {n}\r" for n in range(5)) + "\n"
    body = "".join(f"   Compiling crate{n} v0.1.0\n" for n in range(40))
    rust = (
        setup
        + body
        + "error[E0425]: cannot find value `limit` in this scope\n"
        + "  --> src/queue.rs:41:20\n\n"
        + 'The command "cargo build" exited with 101.\n'
    )
    (logs / "Rust_acme_queue__1.log").write_text(rust, encoding="utf-8")
    label = len(de.LineMap(rust).label_lines) - 4  # the error[E0425] line, label numbering
    records = [
        {"log": "Rust_acme_queue__1.log", "start_line": label, "end_line": label + 1},
        {"log": "Rust_acme_queue__1.log", "start_line": None, "end_line": None},
    ]
    (logs / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


def test_end_to_end_run_with_the_shipped_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _dataset(tmp_path)
    monkeypatch.setenv("HEE_SHARED_DIR", str(tmp_path))
    assert de.run(["--split", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["skipped_unlabelled"] == 1
    ours = data["splits"]["all"]["ours"]
    assert data["splits"]["all"]["logs"] == 1
    assert (ours["hit"], ours["top1"], ours["unexplained"]) == (1.0, 1.0, 0.0)
    assert data["splits"]["all"]["last"]["top1"] == 0.0
    assert data["splits"]["all"]["repositories"] == ["Rust_acme_queue"]
    # the repository's passing example logs are analysed too, none flagged
    assert data["passing"]["logs"] >= 1 and data["passing"]["flagged_share"] == 0.0
    assert data["speed_ms_per_mb"] > 0


def test_missing_data_set_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEE_SHARED_DIR", str(tmp_path / "nowhere"))
    assert de.run(["--split", "tune"]) == 2
