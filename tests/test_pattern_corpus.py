"""Sanity checks of the shipped pattern database files themselves (data, not the engine).

The engine's own tests check that each example ranks its pattern first; these check what
the data must hold regardless of the engine: valid against the schema, unique ids, the six
classes of the product brief, owners consistent with categories, regexes a regex-set engine
accepts, examples that match and counter-examples that do not.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hee_monitor.core.resources import load_schema, patterns_dir

FIX_STRATEGIES = {
    "ruff-fix",
    "ruff-format",
    "black",
    "isort",
    "eslint-fix",
    "prettier-write",
    "clippy-fix",
    "cargo-fmt",
    "gofmt",
    "go-mod-tidy",
    "npm-audit-fix",
    "license-header",
    "pin-dependency",
    "bump-dependency",
    "regenerate-lockfile",
    "workflow-permissions",
    "workflow-timeout",
    "rerun",
}
DEVELOPER_ONLY = {"compilation", "test", "lint", "type-check", "format"}
DEVOPS_ONLY = {"infrastructure", "network", "auth", "resource", "cancelled"}
BRIEF = {
    "PAT-001": ("compilation", "critical"),
    "PAT-002": ("test", "high"),
    "PAT-003": ("security", "critical"),
    "PAT-004": ("license", "medium"),
    "PAT-005": ("timeout", "medium"),
    "PAT-006": ("dependency", "high"),
}
# Constructs a regex-set engine (hyperscan / RE2) cannot compile.
UNSUPPORTED = re.compile(r"\(\?[=!<]|\(\?P=|\\[1-9]")


def _files() -> list[Path]:
    return sorted(patterns_dir().glob("*.yaml"))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _patterns() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in _files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.extend((path.name, p) for p in data["patterns"])
    return out


ALL = _patterns()


def _matches(pattern: dict[str, Any], line: str) -> bool:
    flags = re.IGNORECASE if pattern.get("ignore_case") else 0
    hit = any(re.search(r, line, flags) for r in _as_list(pattern["regex"]))
    return hit and not any(re.search(r, line, flags) for r in _as_list(pattern.get("exclude")))


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_file_is_valid_against_the_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, load_schema("pattern_database.schema.json"))


def test_ids_are_unique_across_files() -> None:
    counts = Counter(p["id"] for _, p in ALL)
    assert [i for i, n in counts.items() if n > 1] == []


def test_brief_classes_present_with_their_category_and_severity() -> None:
    by_id = {p["id"]: p for _, p in ALL}
    for pid, (category, severity) in BRIEF.items():
        assert (by_id[pid]["category"], by_id[pid]["severity"]) == (category, severity), pid


def test_at_least_eighty_patterns_beyond_the_brief() -> None:
    assert len([p for _, p in ALL if p["id"] not in BRIEF]) >= 80


@pytest.mark.parametrize(("name", "pattern"), ALL, ids=[p["id"] for _, p in ALL])
def test_pattern_is_consistent(name: str, pattern: dict[str, Any]) -> None:
    if pattern["category"] in DEVELOPER_ONLY:
        assert pattern["owner"] == "DEVELOPER"
    if pattern["category"] in DEVOPS_ONLY:
        assert pattern["owner"] == "DEVOPS"
    strategy = pattern.get("fix_strategy")
    assert strategy is None or strategy in FIX_STRATEGIES
    if pattern.get("transient"):
        assert strategy == "rerun"
    if strategy is None:
        assert pattern.get("auto_fix", "none") == "none"
    for regex in _as_list(pattern["regex"]) + _as_list(pattern.get("exclude")):
        re.compile(regex)
        assert not UNSUPPORTED.search(regex), regex
    if "end" in pattern:
        re.compile(pattern["end"])


@pytest.mark.parametrize(("name", "pattern"), ALL, ids=[p["id"] for _, p in ALL])
def test_examples_match_and_counter_examples_do_not(name: str, pattern: dict[str, Any]) -> None:
    for example in pattern["examples"]:
        assert any(_matches(pattern, line) for line in example.splitlines()), example
    for counter in pattern.get("counter_examples") or []:
        assert not any(_matches(pattern, line) for line in counter.splitlines()), counter


def test_generic_summaries_rank_below_specific_causes() -> None:
    by_id = {p["id"]: p for _, p in ALL}
    generic = ["GHA-EXIT-CODE", "CI-TRAVIS-COMMAND-EXITED", "JS-NPM-LIFECYCLE"]
    generic += ["JAVA-BUILD-FAILURE-SUMMARY", "CC-MAKE-ERROR", "DOTNET-BUILD-FAILED"]
    for pid in generic:
        assert 5 <= by_id[pid].get("priority", 50) <= 30, pid
    specific = [
        p for _, p in ALL if p["category"] in DEVELOPER_ONLY and p["severity"] == "critical"
    ]
    assert min(p.get("priority", 50) for p in specific if p["id"] not in BRIEF) >= 30
