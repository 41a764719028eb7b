from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.coverage.model import CoverageData, FileCoverage
from hee_monitor.analysis.coverage.readers import read_report
from hee_monitor.core.errors import CoverageError

FIXTURES = Path(__file__).parent / "fixtures"


def _file(data: CoverageData, path: str) -> FileCoverage:
    return next(f for f in data.files if f.path == path)


def test_coverage_py_cobertura() -> None:
    data = read_report(FIXTURES / "coveragepy.xml")
    assert data.format == "cobertura"
    assert [f.path for f in data.files] == ["shop/__init__.py", "shop/cart.py"]
    assert (data.lines_covered, data.lines_total) == (9, 14)
    assert (data.branches_covered, data.branches_total) == (3, 6)
    assert data.has_branches and not data.has_functions
    cart = _file(data, "shop/cart.py")
    assert cart.uncovered_lines == (4, 8, 9, 10)
    assert cart.branches[8] == (0, 2)


def test_jacoco_through_cover2cover() -> None:
    data = read_report(FIXTURES / "jacoco-cobertura.xml")
    invoice = _file(data, "com/acme/billing/Invoice.java")
    assert (invoice.lines_covered, invoice.lines_total) == (4, 9)
    assert (data.branches_covered, data.branches_total) == (1, 6)
    names = {f.name: f for f in invoice.functions}
    assert set(names) == {"Invoice.<init>", "Invoice.total", "Invoice.applyDiscount"}
    discount = names["Invoice.applyDiscount"]
    assert not discount.covered
    assert discount.uncovered_lines == (20, 21, 22, 24)
    assert (discount.branches_covered, discount.branches_total) == (0, 4)
    assert names["Invoice.total"].uncovered_lines == (15,)
    assert (data.functions_covered, data.functions_total) == (2, 3)


def test_istanbul_cobertura_functions_span_to_the_next_function() -> None:
    data = read_report(FIXTURES / "istanbul-cobertura.xml")
    fmt = _file(data, "src/format.js")
    names = {f.name: f for f in fmt.functions}
    assert names["formatPrice"].hits == 3
    assert names["formatPrice"].uncovered_lines == (4,)
    anonymous = names["(anonymous_1)"]
    assert not anonymous.covered and anonymous.uncovered_lines == (6, 7, 8)
    assert names["parseAmount"].lines == (10, 11, 12, 13, 15)
    assert (data.functions_covered, data.functions_total) == (2, 3)


def test_jacoco_xml() -> None:
    data = read_report(FIXTURES / "jacoco.xml")
    assert data.format == "jacoco"
    (invoice,) = data.files
    assert invoice.path == "com/acme/billing/Invoice.java"
    assert (invoice.lines_covered, invoice.lines_total) == (4, 9)
    assert (invoice.branches_covered, invoice.branches_total) == (1, 6)
    names = {f.name: f for f in invoice.functions}
    assert not names["Invoice.applyDiscount"].covered
    assert names["Invoice.applyDiscount"].uncovered_lines == (20, 21, 22, 24)
    assert names["Invoice.total"].uncovered_lines == (15,)


def test_lcov() -> None:
    data = read_report(FIXTURES / "lcov.info")
    assert data.format == "lcov"
    parser = _file(data, "src/parser.c")
    assert (parser.lines_covered, parser.lines_total) == (6, 12)
    assert (parser.branches_covered, parser.branches_total) == (1, 4)
    names = {f.name: f for f in parser.functions}
    assert names["parse_body"].lines == (12, 13, 14, 15, 17)
    assert not names["parse_body"].covered
    assert names["parse_header"].uncovered_lines == (6,)
    clamp = _file(data, "src/util.c").functions[0]
    assert (clamp.name, clamp.start_line, clamp.lines) == ("clamp", 1, (1, 2))
    assert (data.functions_covered, data.functions_total) == (3, 4)


def test_coverage_py_json_with_functions() -> None:
    data = read_report(FIXTURES / "coverage.json")
    assert data.format == "coverage.py-json"
    pricing = _file(data, "src/shop/pricing.py")
    assert (pricing.lines_covered, pricing.lines_total) == (6, 10)
    assert (pricing.branches_covered, pricing.branches_total) == (2, 4)
    names = {f.name: f for f in pricing.functions}
    assert set(names) == {"price", "Discount.apply"}  # module-level code is not a function
    assert names["Discount.apply"].uncovered_lines == (11, 12, 13)
    assert names["price"].start_line == 3
    assert (data.functions_covered, data.functions_total) == (2, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"<coverage><packages><package><classes><class filename='a.py'><lines>"
            b"<line number='x' hits='1'/></lines></class></classes></package></packages>"
            b"</coverage>",
            "'x' is not a number",
        ),
        (b"<coverage><packages>", "malformed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b"<coverage>&b;</coverage>",
            "refused for safety",
        ),
        (b"<html><body/></html>", "<html> is not a coverage report"),
        (b'{"totals": {}}', "not a coverage.py report"),
        (b'{"files": {"a.py": {"executed_lines": "1,2"}}}', "must be a list of line numbers"),
        (b"{nope", "malformed JSON"),
        (b"SF:a.c\nDA:1,1\n", "has no end_of_record"),
        (b"SF:a.c\nDA:one,1\nend_of_record\n", ":2: malformed DA record"),
        (b"TN:\nDA:1,1\n", ":2: DA: record before any SF"),
        (b"SF:a.c\nXYZ:1\nend_of_record\n", "unknown LCOV record 'XYZ'"),
        (b"hello world", "not a coverage report this tool reads"),
    ],
)
def test_bad_reports_name_the_file_and_the_problem(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "report.dat"
    path.write_bytes(content)
    with pytest.raises(CoverageError) as err:
        read_report(path)
    assert str(path) in err.value.message
    assert message in err.value.message
    assert err.value.hint


def test_a_huge_report_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"<coverage>" + b" " * 5000 + b"</coverage>")
    with pytest.raises(CoverageError, match="more than the 4,096 this tool reads"):
        read_report(path, max_bytes=4096)


def test_a_missing_report_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CoverageError) as err:
        read_report(tmp_path / "coverage.xml")
    assert "cannot read the coverage report" in err.value.message
    assert err.value.hint is not None and "coverage xml" in err.value.hint


LCOV_LINES = st.sampled_from(
    [
        "SF:a.c",
        "DA:1,1",
        "DA:2,0",
        "DA:x",
        "FN:1,f",
        "FN:1,3,g",
        "FNDA:2,f",
        "FNDA:,f",
        "BRDA:1,0,0,1",
        "BRDA:1,0,1,-",
        "BRDA:1",
        "LF:2",
        "end_of_record",
        "",
        "TN:t",
        "FNF:1",
    ]
)
XML_PIECES = st.sampled_from(
    [
        "<coverage>",
        "</coverage>",
        "<packages>",
        "</packages>",
        "<class filename='a'>",
        "<class>",
        "</class>",
        "<lines>",
        "</lines>",
        "<line number='1' hits='2'/>",
        "<line number='2' hits='x'/>",
        "<line hits='1'/>",
        "<line number='3' branch='true' condition-coverage='50% (1/2)'/>",
        "<method name='m' hits='1'>",
        "</method>",
        "<report>",
        "</report>",
        "<package name='p'>",
        "</package>",
        "<sourcefile name='S.java'>",
        "</sourcefile>",
        "<line nr='1' ci='1'/>",
    ]
)
JSON_DOCS = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 30) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "files",
                    "meta",
                    "executed_lines",
                    "missing_lines",
                    "functions",
                    "executed_branches",
                    "missing_branches",
                    "start_line",
                    "a.py",
                    "",
                    # istanbul coverage-final.json
                    "statementMap",
                    "s",
                    "fnMap",
                    "f",
                    "branchMap",
                    "b",
                    "loc",
                    "decl",
                    "start",
                    "end",
                    "line",
                    "name",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.one_of(
        st.lists(LCOV_LINES, max_size=20).map(lambda ls: "\n".join(ls).encode()),
        st.lists(XML_PIECES, max_size=20).map(lambda ps: "".join(ps).encode()),
        JSON_DOCS.map(lambda d: json.dumps({"files": d} if isinstance(d, dict) else d).encode()),
        JSON_DOCS.map(lambda d: json.dumps({"x.js": d}).encode()),
        st.binary(max_size=64),
    )
)
def test_any_input_gives_data_or_a_coverage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "report"
    path.write_bytes(content)
    try:
        data = read_report(path)
    except CoverageError as exc:
        assert str(path) in exc.message
        return
    for f in data.files:
        assert 0 <= f.lines_covered <= f.lines_total
        assert 0 <= f.branches_covered <= f.branches_total


def test_istanbul_coverage_final_json() -> None:
    data = read_report(FIXTURES / "coverage-final.json")
    assert data.format == "istanbul-json"
    (fmt,) = data.files
    assert fmt.path.endswith("src/format.js")
    assert (fmt.lines_covered, fmt.lines_total) == (4, 7)
    assert (fmt.branches_covered, fmt.branches_total) == (1, 4)
    names = {f.name: f for f in fmt.functions}
    assert names["formatPrice"].lines == (2, 3, 4) and names["formatPrice"].uncovered_lines == (4,)
    assert not names["(anonymous_1)"].covered
    assert names["parseAmount"].uncovered_lines == (12,)
    assert (data.functions_covered, data.functions_total) == (2, 3)
