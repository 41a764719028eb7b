from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.analysis.junit import parse_junit
from hee_monitor.core.errors import AnalysisError
from hee_monitor.core.models import Owner

PYTEST = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" tests="3">
<testcase classname="tests.test_api" name="test_ok" time="0.01"/>
<testcase classname="tests.test_api" name="test_get" time="0.02">
<failure message="AssertionError: assert 1 == 2">def test_get():
&gt;       assert 1 == 2
E       assert 1 == 2</failure>
</testcase>
<testcase classname="tests.test_db" name="test_conn" time="0.02">
<error message="failed on setup with &quot;ConnectionRefusedError&quot;">fixture error</error>
</testcase>
</testsuite></testsuites>
"""

SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  name="org.acme.FooTest" tests="2" failures="1">
  <testcase name="testBar" classname="org.acme.FooTest" time="0.1">
    <failure message="expected:&lt;1&gt; but was:&lt;2&gt;"
      type="java.lang.AssertionError">java.lang.AssertionError: expected:&lt;1&gt; but was:&lt;2&gt;
	at org.acme.FooTest.testBar(FooTest.java:12)</failure>
  </testcase>
  <testcase name="testOk" classname="org.acme.FooTest" time="0.1"/>
</testsuite>
"""

JEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="2" failures="1" errors="0" time="1.2">
  <testsuite name="Signature" errors="0" failures="1" skipped="0"
    timestamp="2024-01-01T00:00:00" time="1.1" tests="2">
    <testcase classname="Signature deciphers" name="Signature deciphers" time="0.01">
      <failure>ReferenceError: Constants is not defined
    at Signature.js:139:5</failure>
    </testcase>
  </testsuite>
</testsuites>
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.xml"
    path.write_text(text, encoding="utf-8")
    return path


def test_pytest_failures_and_errors(tmp_path: Path) -> None:
    findings = parse_junit(write(tmp_path, PYTEST))
    assert [f.pattern_id for f in findings] == ["JUNIT-TEST-FAILED", "JUNIT-TEST-ERROR"]
    first = findings[0]
    assert first.title == "Test failed: tests.test_api.test_get"
    assert first.category == "test" and first.owner is Owner.DEVELOPER and first.source == "junit"
    assert first.evidence[0].text.splitlines()[0] == "AssertionError: assert 1 == 2"
    assert first.evidence[0].start_line == 5  # the <failure> element's line in the XML
    assert first.to_json()["source"] == "junit"


def test_surefire_flavour(tmp_path: Path) -> None:
    (finding,) = parse_junit(write(tmp_path, SUREFIRE))
    assert finding.title == "Test failed: org.acme.FooTest.testBar"
    assert "expected:<1> but was:<2>" in finding.evidence[0].text
    assert finding.details["type"] == "java.lang.AssertionError"


def test_jest_flavour_without_message(tmp_path: Path) -> None:
    (finding,) = parse_junit(write(tmp_path, JEST))
    assert finding.evidence[0].text.startswith("ReferenceError: Constants is not defined")


def test_dtd_and_entities_are_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        "<testsuite><testcase name='x'><failure>&lol;</failure></testcase></testsuite>"
    )
    with pytest.raises(AnalysisError, match="DTD or entities"):
        parse_junit(write(tmp_path, bomb))


def test_malformed_xml(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="not well-formed"):
        parse_junit(write(tmp_path, "<testsuite><testcase"))
