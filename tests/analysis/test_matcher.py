from __future__ import annotations

import re

import pytest

from hee_monitor.analysis.matcher import (
    ENGINES,
    CompositeScanner,
    RegexSpec,
    available_engines,
    check_regex,
    tolerant,
)


def lines_hit(engine: str, specs: list[RegexSpec], data: bytes) -> set[tuple[int, int]]:
    scanner = CompositeScanner(specs, engine)
    return {(sid, data.count(b"\n", 0, max(end - 1, 0))) for sid, end in scanner.scan(data)}


def test_tolerant_rewrites_anchors_and_whitespace_only() -> None:
    out = tolerant(r"^FAIL\s+x$")
    assert re.search(out, "2024-01-01T00:00:00.1234567Z \x1b[31mFAIL \x1b[0m x\x1b[0m\r")
    assert re.search(out, "FAIL x")
    assert not re.search(out, "NOFAIL x")
    assert tolerant(r"[^a$]\^\$") == r"[^a$]\^\$"  # classes and escapes stay


def test_tolerant_drops_trailing_optional_atoms() -> None:
    assert tolerant(r"foo.*") == "foo"
    assert tolerant(r"a::[A-Za-z_][A-Za-z0-9_]*") == "a::[A-Za-z_]"
    assert tolerant(r"x\w+") == r"x\w"
    assert tolerant(r"foo\[x]*") == r"foo\[x]*"  # an escaped bracket is not a class


# Two anchored expressions that hyperscan 5.4 got wrong together when the line-start
# prefix was one optional group: the second one's lines were never reported.
_PAIR = [
    RegexSpec(0, r"^[0-9]+ files? inspected, [1-9][0-9]* offenses? detected"),
    RegexSpec(1, r"^[0-9]+\) [A-Za-z_\\][A-Za-z0-9_\\]*::[A-Za-z_][A-Za-z0-9_]*"),
    RegexSpec(2, r"^[0-9]+% tests passed, [1-9][0-9]* tests? failed out of [0-9]+"),
]
_DATA = (
    b"There was 1 failure:\n\n1) Acme\\Ledger\\PostingTest::testRejects\n"
    b"2024-01-01T00:00:00.1234567Z 2) A\\B::c\n"
    b"\x1b[0m\x1b[31m3) A::d\n"
    b"12 files inspected, 3 offenses detected\n"
)


@pytest.mark.parametrize("engine", available_engines())
def test_every_engine_reports_every_line_start_form(engine: str) -> None:
    got = lines_hit(engine, _PAIR, _DATA)
    assert {(1, 2), (1, 3), (1, 4), (0, 5)} <= got


def test_engines_agree_on_a_mixed_corpus() -> None:
    specs = [
        RegexSpec(0, r"^npm ERR! "),
        RegexSpec(1, r"error\[E\d{4}\]", caseless=False),
        RegexSpec(2, r"no space left", caseless=True),
        RegexSpec(3, r"Killed\s*$"),
    ]
    data = (
        b"npm ERR! code 1\r\n\x1b[0m\x1b[1m\x1b[38;5;9merror[E0425]\x1b[0m: x\n"
        b"2024-01-01T00:00:00.1Z write: No Space Left on device\nKilled \r\n"
    )
    results = {name: lines_hit(name, specs, data) for name in available_engines()}
    assert results["re"] == {(0, 0), (1, 1), (2, 2), (3, 3)}
    for name, got in results.items():
        assert got == results["re"], name


def test_registry_is_literal_and_complete() -> None:
    assert set(ENGINES) == {"hyperscan", "re2", "re"}
    assert "re" in available_engines()


def test_check_regex_reports_python_and_engine_problems() -> None:
    assert check_regex("ok") is None
    assert "does not compile" in (check_regex("a(") or "")
    if available_engines()[0] == "hyperscan":
        assert "cannot compile" in (check_regex("(?<=a)b") or "")


def test_composite_scanner_falls_back_to_re_for_rejected_regexes() -> None:
    if "hyperscan" not in available_engines():
        pytest.skip("hyperscan not installed")
    scanner = CompositeScanner([RegexSpec(0, "(?<=a)b"), RegexSpec(1, "c")], "hyperscan")
    assert [spec.id for spec, _ in scanner.rejected] == [0]
    assert sorted(sid for sid, _ in scanner.scan(b"ab c\n")) == [0, 1]
