from __future__ import annotations

import re
import string
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.llm_cache import CachedAnswer
from hee_monitor.analysis.suggest import (
    NotSuggested,
    Suggestion,
    generalise,
    patterns_yaml,
    suggest_from_answer,
    suggest_patterns,
)
from hee_monitor.core.resources import load_schema


@pytest.mark.parametrize(
    ("line", "variant"),
    [
        (
            "npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-pad - Not found",
            "npm ERR! 404 Not Found - GET https://registry.npmjs.org/@acme%2fui - Not found",
        ),
        (
            "FAILED tests/test_api.py::test_login - AssertionError: assert 401 == 200",
            "FAILED tests/unit/test_db.py::test_pool - AssertionError: assert 3 == 2",
        ),
        (
            "error[E0425]: cannot find value `config` in this scope",
            "error[E0425]: cannot find value `settings_v2` in this scope",
        ),
        (
            "fatal: unable to access 'https://[REDACTED]@github.com/o/r.git/': Could not resolve",
            "fatal: unable to access 'https://x:ghp_abc@github.com/o/r2.git/': Could not resolve",
        ),
        (
            "Segmentation fault (core dumped) at 0x7ffd5e8c2a10 in libfoo.so.1.2.3",
            "Segmentation fault (core dumped) at 0x00007f00 in libfoo.so.1.4",
        ),
        (
            "java.lang.OutOfMemoryError: Java heap space after 1823 ms",
            "java.lang.OutOfMemoryError: Java heap space after 7 ms",
        ),
    ],
)
def test_volatile_parts_are_generalised_and_stable_words_kept(line: str, variant: str) -> None:
    result = generalise(line)
    assert result is not None
    regex = re.compile(result.regex)
    assert regex.search(line)
    assert regex.search(variant)
    assert result.stable_words >= 2


def test_the_regex_starts_and_ends_on_stable_words() -> None:
    result = generalise(
        "2024-01-02 12:00:01 /tmp/x.py:12: DeprecationWarning in module 0xdeadbeef1"
    )
    assert result is not None
    assert result.regex == r"DeprecationWarning\s+in\s+module"


def test_a_line_of_only_volatile_parts_gives_nothing() -> None:
    assert generalise("12 /a/b 0x1f 1.2.3") is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), max_size=120))
def test_every_generated_regex_compiles_and_matches_its_line(line: str) -> None:
    result = generalise(line)
    if result is not None:
        assert re.compile(result.regex).search(line)


def _entry(evidence: list[str], **answer: object) -> CachedAnswer:
    base = {
        "category": "dependency",
        "severity": "high",
        "owner": "DEVOPS",
        "root_cause": "The package left-pad was unpublished. The install cannot resolve it.",
        "evidence_lines": list(range(10, 10 + len(evidence))),
        "suggested_fix": "Pin a mirror or vendor the package.",
        "confidence": 0.8,
    }
    base.update(answer)
    return CachedAnswer(
        key="k" + str(hash(tuple(evidence))),
        model="llama3.2",
        log="acme/web#1 install.log",
        log_fingerprint="fp",
        answer=base,
        evidence=[{"number": 10 + i, "text": t} for i, t in enumerate(evidence)],
        created_at="2026-01-01T00:00:00+00:00",
    )


def test_a_proposal_is_a_valid_pattern_file_whose_regex_matches_its_example() -> None:
    entry = _entry(
        [
            "npm ERR! code E404",
            "npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-pad - Not found",
            "##[error]Process completed with exit code 1.",
        ]
    )
    outcome = suggest_from_answer(entry)
    assert isinstance(outcome, Suggestion)
    pattern = outcome.pattern
    assert re.fullmatch(r"SUGGESTED-DEPENDENCY-[0-9A-F]{6}", pattern["id"])
    assert pattern["title"] == "The package left-pad was unpublished."
    assert "Not\\s+Found" in pattern["regex"]  # the most specific line, not the generic one
    document = yaml.safe_load(patterns_yaml([pattern]))
    jsonschema.validate(document, load_schema("pattern_database.schema.json"))
    (loaded,) = document["patterns"]
    assert any(re.search(loaded["regex"], x) for x in loaded["examples"][0].splitlines())
    assert loaded["tags"] == ["suggested", "llm:llama3.2"]


@pytest.mark.parametrize(
    ("evidence", "answer", "reason"),
    [
        (["##[error]Process completed with exit code 1."], {}, "stable words"),
        ([], {}, "cited no line"),
        (["something odd happened here"], {"category": "unknown"}, "could not explain"),
        (["12 0xff /usr/lib"], {}, "stable words"),
    ],
)
def test_logs_without_a_specific_line_are_not_proposed(
    evidence: list[str], answer: dict[str, object], reason: str
) -> None:
    outcome = suggest_from_answer(_entry(evidence, **answer))
    assert isinstance(outcome, NotSuggested)
    assert reason in outcome.reason


@pytest.mark.slow
def test_the_same_regex_is_proposed_once_with_both_examples() -> None:
    # a failure of an in-house tool: no shipped pattern knows it
    a = _entry(["acmectl: license server refused seat 3 for team web (quota 40 reached)"])
    b = _entry(["acmectl: license server refused seat 17 for team web (quota 45 reached)"])
    c = _entry(["only 1 2 3"])
    report = suggest_patterns([a, b, c])
    assert len(report.suggestions) == 1
    assert len(report.suggestions[0].pattern["examples"]) == 2
    assert len(report.skipped) == 1


@pytest.mark.slow
def test_a_proposal_an_existing_pattern_already_covers_is_dropped(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        yaml.safe_dump(
            {
                "patterns": [
                    {
                        "id": "ACME-LICENSE-SEAT",
                        "title": "acmectl license seat refused",
                        "category": "dependency",
                        "severity": "high",
                        "owner": "DEVOPS",
                        "risk": 2,
                        "priority": 95,
                        "regex": r"acmectl: license server refused",
                        "examples": ["acmectl: license server refused seat 1 for team x"],
                    }
                ]
            }
        )
    )
    entry = _entry(["acmectl: license server refused seat 3 for team web (quota 40 reached)"])
    assert len(suggest_patterns([entry]).suggestions) == 1
    report = suggest_patterns([entry], extra_patterns=[mine])
    assert report.suggestions == ()
    (skipped,) = report.skipped
    assert "pattern validator" in skipped.reason and "ACME-LICENSE-SEAT" in skipped.reason


@pytest.mark.slow
def test_a_proposal_a_shipped_pattern_already_covers_is_dropped() -> None:
    from hee_monitor.analysis.patterns import load_database

    # a shipped pattern with high priority whose example yields a proposal at all
    entry = next(
        (
            e
            for p in load_database()
            if p.priority > 60 and p.examples
            for e in [_entry(p.examples[0].splitlines(), category=p.category)]
            if isinstance(suggest_from_answer(e), Suggestion)
        ),
        None,
    )
    if entry is None:
        pytest.skip("no shipped patterns in this checkout")
    report = suggest_patterns([entry])
    assert report.suggestions == ()
    (skipped,) = report.skipped
    assert skipped.reason.startswith("pattern validator: ")
    assert "matches but ranks" in skipped.reason
