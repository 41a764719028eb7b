from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.detection.artifacts.reader import (
    read_bytes,
    read_json,
    read_path,
    read_stream,
)
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.models import Finding, Severity

DATA = Path(__file__).resolve().parents[1] / "data"
SETTINGS = DetectionSettings(
    licenses_allow=("MIT", "Apache-2.0", "BSD", "ISC"), licenses_deny=("GPL-3.0", "AGPL-3.0")
)


def by_rule(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.details["rule_id"]: f for f in findings}


@pytest.mark.parametrize(
    ("fixture", "tool", "rules"),
    [
        ("codeql.sarif", "CodeQL", {"py/sql-injection"}),
        (
            "semgrep.sarif",
            "Semgrep OSS",
            {"javascript.lang.security.audit.code-string-concat.code-string-concat"},
        ),
        ("trivy.sarif", "Trivy", {"CVE-2023-44487"}),
        ("bandit.sarif", "Bandit", {"B105"}),
        ("eslint.sarif", "ESLint", {"no-unused-vars", "no-eval"}),
    ],
)
def test_sarif_results_at_error_and_warning_become_security_findings(
    fixture: str, tool: str, rules: set[str]
) -> None:
    report = read_path(DATA / fixture, SETTINGS)
    assert report.formats == {str(DATA / fixture): "sarif"}
    assert set(by_rule(report.findings)) == rules
    for finding in report.findings:
        assert finding.pattern_id == "PAT-003"
        assert finding.source == "artifact"
        assert finding.details["tool"] == tool
        assert finding.details["file"] and finding.details["line"]


def test_sarif_severity_follows_security_severity_then_level() -> None:
    codeql = by_rule(read_path(DATA / "codeql.sarif", SETTINGS).findings)
    sqli = codeql["py/sql-injection"]
    assert sqli.severity is Severity.HIGH  # security-severity 8.8
    assert (sqli.details["file"], sqli.details["line"]) == ("app/db.py", 42)
    assert "user-provided value" in sqli.evidence[0].text
    # the note-level rule (level from the rule's defaultConfiguration) is not reported
    assert "py/unused-import" not in codeql
    eslint = by_rule(read_path(DATA / "eslint.sarif", SETTINGS).findings)
    assert eslint["no-eval"].severity is Severity.HIGH
    assert eslint["no-unused-vars"].severity is Severity.MEDIUM
    semgrep = read_path(DATA / "semgrep.sarif", SETTINGS).findings
    assert len(semgrep) == 1  # the suppressed result is left out
    assert (semgrep[0].evidence[0].start_line, semgrep[0].evidence[0].end_line) == (17, 19)


def test_sarif_levels_are_configurable() -> None:
    notes = DetectionSettings(sarif_levels=("error", "warning", "note"))
    rules = by_rule(read_path(DATA / "codeql.sarif", notes).findings)
    assert rules["py/unused-import"].severity is Severity.LOW
    errors_only = DetectionSettings(sarif_levels=("error",))
    assert set(by_rule(read_path(DATA / "eslint.sarif", errors_only).findings)) == {"no-eval"}


def test_same_sarif_result_keeps_its_fingerprint_when_lines_move() -> None:
    data = json.loads((DATA / "codeql.sarif").read_text())
    first = read_json("a", data, SETTINGS).findings[0]
    data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 60
    moved = read_json("b", data, SETTINGS).findings[0]
    assert first.fingerprint == moved.fingerprint
    assert moved.details["line"] == 60


def test_pip_audit_gives_the_input_of_a_dependency_fix() -> None:
    report = read_path(DATA / "pip-audit.json", SETTINGS)
    found = {f.details["package"]: f for f in report.findings}
    assert set(found) == {"flask", "requests", "oldlib"}
    flask = found["flask"]
    assert flask.details["installed_version"] == "0.5"
    assert flask.details["fixed_versions"] == ["1.0", "0.12.3"]
    assert flask.details["version"] == "0.12.3"  # the lowest fix above what is installed
    assert flask.fix_strategy == "bump-dependency"
    assert "CVE-2019-1010083" in flask.details["vulnerabilities"]
    assert found["requests"].details["version"] == "2.31.0"
    assert "version" not in found["oldlib"].details
    assert found["oldlib"].fix_strategy is None


def test_npm_audit_v2_reports_advisories_not_the_packages_that_only_depend_on_them() -> None:
    report = read_path(DATA / "npm-audit-v2.json", SETTINGS)
    found = {f.details["package"]: f for f in report.findings}
    assert set(found) == {"lodash", "minimist"}
    assert found["lodash"].severity is Severity.CRITICAL
    assert found["lodash"].details["version"] == "4.17.21"
    assert found["lodash"].details["vulnerabilities"] == ["GHSA-jf85-cpcp-j695"]
    # fixed only by upgrading another package: no version to bump minimist to
    assert found["minimist"].details["fix_via"] == {"package": "mkdirp", "version": "1.0.4"}
    assert found["minimist"].fix_strategy is None
    assert found["minimist"].severity is Severity.MEDIUM


def test_npm_audit_v1() -> None:
    (finding,) = read_path(DATA / "npm-audit-v1.json", SETTINGS).findings
    assert finding.details["package"] == "handlebars"
    assert finding.details["installed_version"] == "4.1.2"
    assert finding.details["version"] == "4.3.0"
    assert "CVE-2019-19919" in finding.details["vulnerabilities"]
    assert finding.severity is Severity.HIGH


def test_pip_licenses_against_allow_and_deny_lists() -> None:
    report = read_path(DATA / "pip-licenses.json", SETTINGS)
    found = {f.details["package"]: f for f in report.findings}
    assert set(found) == {"gpl-thing", "mystery"}
    assert found["gpl-thing"].pattern_id == "PAT-004"
    assert found["gpl-thing"].details["reason"].startswith("denied")
    assert found["gpl-thing"].severity is Severity.HIGH
    assert "allow list" in found["mystery"].details["reason"]


def test_license_checker_expressions() -> None:
    report = read_path(DATA / "license-checker.json", SETTINGS)
    found = {f.details["package"]: f for f in report.findings}
    # MIT OR Apache-2.0 is fine, a guessed BSD* is BSD, AGPL and UNLICENSED are not
    assert set(found) == {"@scope/agpl-widget", "web"}
    assert found["@scope/agpl-widget"].details["installed_version"] == "1.0.0"


def test_license_report_without_lists_is_a_skip_not_silence() -> None:
    report = read_path(DATA / "license-checker.json", DetectionSettings())
    assert not report.findings
    assert "licenses_allow" in report.skipped[0].reason


def test_junit_reports_are_read_with_the_analyzer_reader() -> None:
    (finding,) = read_path(DATA / "junit.xml", SETTINGS).findings
    assert finding.pattern_id == "JUNIT-TEST-FAILED"
    assert finding.details["test"] == "tests.test_api.test_total"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_artifact_zip_is_read_member_by_member_with_skips() -> None:
    data = _zip(
        {
            "reports/codeql.sarif": (DATA / "codeql.sarif").read_bytes(),
            "reports/audit.json": (DATA / "pip-audit.json").read_bytes(),
            "reports/broken.json": b'{"runs": [',
            "coverage/index.html": b"<html></html>",
        }
    )
    report = read_stream("security", [data[:100], data[100:]], SETTINGS)
    assert {f.details["format"] for f in report.findings} == {"sarif", "pip-audit"}
    (skipped,) = report.skipped
    assert skipped.name == "security:reports/broken.json"
    assert "not valid JSON" in skipped.reason


def test_huge_artifacts_and_members_are_skipped_with_the_reason() -> None:
    small = DetectionSettings(max_artifact_bytes=2048, max_member_bytes=1024)
    big = _zip({"a.json": json.dumps({"x": "y" * 5000}).encode()})
    report = read_stream("big", [big[:1000], big[1000:], b"\0" * 4096], small)
    assert not report.findings
    assert "max_artifact_bytes" in report.skipped[0].reason
    # a member that inflates past the cap (compressed it is small)
    bomb = _zip({"a.json": b"[" + b" " * 100_000 + b"]"})
    assert len(bomb) < 2048
    report = read_stream("bomb", [bomb], small)
    assert "max_member_bytes" in report.skipped[0].reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a recognised report"),
        (b"\xff\xfe{", "not a recognised report"),
        (b"{\xff}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"hello": 1}', "no recognised report format"),
        (b"<testsuite><testcase", "not well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><testsuite/>', "DTD"),
        (b'{"version": "2.0.0", "runs": []}', "not supported"),
    ],
)
def test_malformed_reports_are_skips(data: bytes, reason: str) -> None:
    report = read_bytes("x", data, SETTINGS)
    assert not report.findings
    assert reason in report.skipped[0].reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=40,
)
sarif_keys = st.sampled_from(
    [
        "runs",
        "version",
        "results",
        "tool",
        "driver",
        "rules",
        "ruleId",
        "level",
        "message",
        "text",
        "locations",
        "physicalLocation",
        "artifactLocation",
        "uri",
        "region",
        "startLine",
        "endLine",
        "properties",
        "security-severity",
        "ruleIndex",
        "rule",
        "id",
        "defaultConfiguration",
    ]
)
sarif_like = st.recursive(
    st.none() | st.integers() | st.text(max_size=10) | st.just("2.1.0") | st.just("error"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(sarif_keys, inner, max_size=6),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(json_values, sarif_like.map(lambda v: {"version": "2.1.0", "runs": [v]})))
def test_no_json_makes_a_reader_raise(data: Any) -> None:
    report = read_json("fuzz", data, SETTINGS)
    assert report.findings or report.skipped or report.formats
    for finding in report.findings:
        assert finding.pattern_id in ("PAT-003", "PAT-004")
        json.dumps(finding.to_json())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_no_bytes_make_a_reader_raise(data: bytes) -> None:
    report = read_bytes("fuzz", data, SETTINGS)
    assert report.findings or report.skipped or report.formats
