from __future__ import annotations

import os
from pathlib import Path

import pytest

from hee_monitor.analysis.analyzer import Analyzer
from hee_monitor.analysis.patterns import (
    SCOPES,
    Pattern,
    PatternDatabase,
    load_database,
    shipped_dir,
)
from hee_monitor.analysis.validation import validate_files
from hee_monitor.core.errors import PatternError
from hee_monitor.core.models import Severity
from tests.analysis.conftest import SAMPLE_PATTERNS

GOOD = """\
patterns:
  - id: T-ONE
    title: First pattern
    category: test
    severity: high
    owner: DEVELOPER
    risk: 2
    regex: '^FAILED '
    examples: ["FAILED tests/a.py::b"]
    counter_examples: ["nothing FAILED here"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped database: every pattern proves itself with its examples --------------------

_SHIPPED = list(load_database()) if shipped_dir() is not None else []


@pytest.fixture(scope="module")
def shipped_analyzer() -> Analyzer:
    return Analyzer(load_database())


@pytest.mark.parametrize("pattern", _SHIPPED, ids=[p.id for p in _SHIPPED])
def test_shipped_pattern_examples(pattern: Pattern, shipped_analyzer: Analyzer) -> None:
    for n, example in enumerate(pattern.examples, 1):
        found = [f.pattern_id for f in shipped_analyzer.analyze_text(example).failures]
        assert found and found[0] == pattern.id, f"example {n} of {pattern.where}: got {found}"
    for n, counter in enumerate(pattern.counter_examples, 1):
        found = [f.pattern_id for f in shipped_analyzer.analyze_text(counter).failures]
        assert pattern.id not in found, f"counter_example {n} of {pattern.where} matches"


def test_shipped_database_validates() -> None:
    if shipped_dir() is None or not _SHIPPED:
        pytest.skip("no shipped patterns in this checkout")
    problems = validate_files([shipped_dir()], check_examples=False)  # type: ignore[list-item]
    assert problems == []


def test_every_shipped_pattern_states_its_scope() -> None:
    """Each shipped pattern says whether its line is the failure, a summary of one or
    set-up noise; the ranking relies on it, so the default is never left implicit."""
    if shipped_dir() is None or not _SHIPPED:
        pytest.skip("no shipped patterns in this checkout")
    import yaml

    for path in sorted(shipped_dir().glob("*.yaml")):  # type: ignore[union-attr]
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["patterns"]:
            assert item.get("scope") in SCOPES, f"{path.name}: {item['id']} has no valid scope"
    scopes = {p.id: p.scope for p in _SHIPPED}
    assert scopes["GHA-EXIT-CODE"] == "summary" and scopes["PY-PYTEST-SUMMARY"] == "summary"
    assert scopes["PY-PYTEST-FAILURES-SECTION"] == "failure"


# --- the mechanism, on a database of our own -----------------------------------------------


def test_sample_database_is_valid() -> None:
    assert validate_files([SAMPLE_PATTERNS], shipped=False) == []


def test_load_attributes_and_defaults(tmp_path: Path) -> None:
    db = load_database([write(tmp_path, "a.yaml", GOOD)], shipped=False)
    pattern = db.get("T-ONE")
    assert pattern is not None and len(db) == 1 and "T-ONE" in db
    assert pattern.severity is Severity.HIGH
    assert pattern.regex == ("^FAILED ",)
    assert pattern.priority == 50 and pattern.context.before == 0 and pattern.max_lines == 40
    assert pattern.scope == "failure" and pattern.to_json()["scope"] == "failure"
    assert pattern.source == tmp_path / "a.yaml" and pattern.line == 2


def test_later_source_overrides_same_id(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", GOOD)
    user = tmp_path / "user"
    user.mkdir()
    write(user, "b.yaml", GOOD.replace("First pattern", "Overridden"))
    db = load_database([first, user], shipped=False)
    assert len(db) == 1 and db.get("T-ONE").title == "Overridden"  # type: ignore[union-attr]


def test_load_reports_malformed_yaml_with_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "patterns:\n  - id: X-1\n    title: [oops\n")
    with pytest.raises(PatternError, match=r"bad\.yaml:4: invalid YAML"):
        load_database([bad], shipped=False)


def test_load_reports_missing_field(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", GOOD.replace("    risk: 2\n", ""))
    with pytest.raises(PatternError, match=r"bad\.yaml:2 \(T-ONE\): missing required field 'risk'"):
        load_database([bad], shipped=False)


def test_load_reports_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PatternError, match="does not exist"):
        load_database([tmp_path / "nope"], shipped=False)


def test_uncompilable_regex_is_a_pattern_error(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", GOOD.replace("'^FAILED '", "'FAILED ('"))
    with pytest.raises(PatternError, match="does not compile"):
        Analyzer(load_database([bad], shipped=False))


def test_validate_lists_every_problem_with_line_and_id(tmp_path: Path) -> None:
    text = (
        GOOD
        + """\
  - id: T-TWO
    title: Two
    category: nonsense
    severity: high
    owner: DEVOPS
    risk: 1
    regex: '(?<=x)y'
    examples: ["xy"]
  - id: T-ONE
    title: Again
    category: test
    severity: low
    owner: DEVOPS
    risk: 1
    regex: 'foo('
    colour: red
    examples: ["foo"]
  - id: T-FOUR
    title: Four
    category: test
    severity: low
    owner: DEVOPS
    risk: 1
    regex: 'bar'
    examples: ["baz"]
    counter_examples: ["bar"]
  - id: T-FIVE
    title: Five
    category: test
    severity: low
    owner: DEVOPS
    risk: 1
    regex: 'qux'
"""
    )
    path = write(tmp_path, "p.yaml", text)
    problems = validate_files([path], shipped=False)
    got = {(p.line, p.pattern_id, p.message.split(":")[0]) for p in problems}
    messages = "\n".join(str(p) for p in problems)
    assert (13, "T-TWO", "schema") in got, messages  # enum violation on the category line
    assert any(
        p.line == 17 and p.pattern_id == "T-TWO" and "(RE2) cannot run it" in p.message
        for p in problems
    ), messages
    assert any(p.line == 25 and "does not compile" in p.message for p in problems), messages
    assert any(p.line == 26 and "unknown field 'colour'" in p.message for p in problems)
    assert any("duplicate id T-ONE" in p.message and p.line == 19 for p in problems)
    assert any(
        p.pattern_id == "T-FOUR" and "example 1 does not match" in p.message for p in problems
    )
    assert any(
        p.pattern_id == "T-FOUR" and "counter_example 1 matches" in p.message for p in problems
    )
    assert any(
        p.pattern_id == "T-FIVE" and "'examples' is a required" in p.message for p in problems
    )
    assert all(p.file == path for p in problems)


def test_validate_reports_bad_yaml_line(tmp_path: Path) -> None:
    path = write(tmp_path, "b.yaml", "patterns:\n  - id: X-1\n    title: [oops\n")
    (problem,) = validate_files([path], shipped=False)
    assert problem.line == 4 and "invalid YAML" in problem.message


def test_validate_example_must_rank_its_pattern_first(tmp_path: Path) -> None:
    text = (
        GOOD
        + """\
  - id: T-GENERIC
    title: Generic
    category: unknown
    severity: low
    owner: DEVOPS
    risk: 0
    priority: 90
    regex: 'FAILED'
    examples: ["it FAILED"]
"""
    )
    problems = validate_files([write(tmp_path, "p.yaml", text)], shipped=False)
    assert [p.pattern_id for p in problems] == ["T-ONE"]
    assert "ranks T-GENERIC first" in problems[0].message


def test_database_merged_keeps_order() -> None:
    a = Pattern("A-1", "a", "test", Severity.LOW, "DEVOPS", 1, ("a",), ("a",))  # type: ignore[arg-type]
    b = Pattern("B-1", "b", "test", Severity.LOW, "DEVOPS", 1, ("b",), ("b",))  # type: ignore[arg-type]
    assert [p.id for p in PatternDatabase([a]).merged([b])] == ["A-1", "B-1"]


def test_parsed_files_are_cached_and_refreshed_when_changed(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", GOOD)
    first = load_database([path], shipped=False)
    assert list(first) == list(load_database([path], shipped=False))  # from the cache
    assert load_database([path], shipped=False).get("T-ONE").line == 2  # type: ignore[union-attr]
    path.write_text(GOOD.replace("First pattern", "Changed title!"), encoding="utf-8")
    os.utime(path, ns=(1, 10**18))  # a different mtime even on coarse file systems
    assert load_database([path], shipped=False).get("T-ONE").title == "Changed title!"  # type: ignore[union-attr]


def test_scope_is_loaded_and_checked(tmp_path: Path) -> None:
    summary = write(
        tmp_path, "s.yaml", GOOD.replace("    risk: 2\n", "    risk: 2\n    scope: summary\n")
    )
    assert load_database([summary], shipped=False).get("T-ONE").scope == "summary"  # type: ignore[union-attr]
    bad = write(
        tmp_path, "bad.yaml", GOOD.replace("    risk: 2\n", "    risk: 2\n    scope: cause\n")
    )
    with pytest.raises(PatternError, match=r"bad\.yaml:2 \(T-ONE\): invalid scope 'cause'"):
        load_database([bad], shipped=False)
    problems = validate_files([bad], shipped=False)
    assert any(p.pattern_id == "T-ONE" and "scope" in p.message for p in problems)


def test_a_user_regex_that_needs_backtracking_is_refused_with_file_and_id(
    tmp_path: Path,
) -> None:
    """Loading (and validating) a user file refuses a regex, exclusion or end regex that
    only a backtracking engine can run: confirming a line must stay linear-time."""
    for key, value in (
        ("exclude", "'(?!x)y'"),
        ("end", "'(a)\\1'"),
        ("regex", "'^FAILED (?=x)'"),
    ):
        text = GOOD.replace("    risk: 2\n", f"    risk: 2\n    {key}: {value}\n")
        if key == "regex":
            text = GOOD.replace("'^FAILED '", value)
        bad = write(tmp_path, f"{key}.yaml", text)
        with pytest.raises(PatternError, match=rf"{key}\.yaml:2 \(T-ONE\): {key} .*\(RE2\)"):
            load_database([bad], shipped=False)
        problems = validate_files([bad], shipped=False)
        assert any(
            p.pattern_id == "T-ONE" and p.message.startswith(f"{key} ") and "(RE2)" in p.message
            for p in problems
        ), (key, [str(p) for p in problems])
