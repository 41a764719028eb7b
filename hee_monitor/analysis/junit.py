"""Failed test cases from JUnit XML reports (pytest, Maven surefire, jest-junit).

Parsed with defusedxml: a report is input from the build under test, so DTDs and entities
(billion laughs, external entities) are refused. Each failed or errored test case becomes
one finding whose evidence is the failure message, with line numbers of the XML file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from hee_monitor.analysis.fingerprint import fingerprint
from hee_monitor.core.errors import AnalysisError
from hee_monitor.core.models import Evidence, Finding, Owner, Severity

#: failed test cases reported per file (the rest are counted in a note)
MAX_CASES = 50
_MAX_MESSAGE_LINES = 40


class _LineTreeBuilder(ET.TreeBuilder):
    """Remembers the line each element starts on."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: Any = None
        self.lines: dict[int, int] = {}

    def start(self, tag: Any, attrs: Any) -> ET.Element:
        element = super().start(tag, attrs)
        if self.parser is not None:
            self.lines[id(element)] = int(self.parser.parser.CurrentLineNumber)
        return element


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_junit(path: Path | str) -> list[Finding]:
    """One finding per failed or errored test case of a JUnit XML file."""
    p = Path(path)
    builder = _LineTreeBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.parser = parser
    try:
        with p.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                parser.feed(chunk)
        root = parser.close()
    except OSError as exc:
        raise AnalysisError(
            f"cannot read JUnit report {p}: {exc.strerror or exc}",
            hint="check the --junit path",
        ) from exc
    except DefusedXmlException as exc:
        raise AnalysisError(
            f"JUnit report {p} uses a DTD or entities, which are refused: {exc}",
            hint="JUnit reports never need a DTD; check what produced the file",
        ) from exc
    except ET.ParseError as exc:
        raise AnalysisError(
            f"JUnit report {p} is not well-formed XML: {exc}",
            hint="the test run may have been killed while writing it",
        ) from exc
    findings: list[Finding] = []
    for case in root.iter():
        if _local(case.tag) != "testcase":
            continue
        for child in case:
            kind = _local(child.tag)
            if kind not in ("failure", "error"):
                continue
            findings.append(_finding(case, child, kind, builder.lines, p))
            break
        if len(findings) >= MAX_CASES:
            break
    return findings


def _finding(
    case: ET.Element, child: ET.Element, kind: str, lines: dict[int, int], path: Path
) -> Finding:
    classname = case.get("classname") or case.get("class") or ""
    name = case.get("name") or "?"
    test = f"{classname}.{name}" if classname else name
    message = (child.get("message") or "").strip()
    body = (child.text or "").strip()
    text_lines = [ln for ln in ([message] if message else []) + body.splitlines()]
    text_lines = text_lines[:_MAX_MESSAGE_LINES] or [f"{kind} in {test}"]
    start = lines.get(id(child), lines.get(id(case), 1))
    evidence = Evidence(start, start + len(text_lines) - 1, "\n".join(text_lines))
    pattern_id = "JUNIT-TEST-FAILED" if kind == "failure" else "JUNIT-TEST-ERROR"
    return Finding(
        pattern_id=pattern_id,
        title=f"Test {'failed' if kind == 'failure' else 'errored'}: {test}",
        category="test",
        severity=Severity.HIGH,
        owner=Owner.DEVELOPER,
        risk=3,
        transient=False,
        confidence=0.9,
        fix_strategy=None,
        fingerprint=fingerprint(pattern_id, [test, text_lines[0]]),
        evidence=(evidence,),
        source="junit",
        details={"test": test, "file": str(path), "type": child.get("type") or ""},
    )
