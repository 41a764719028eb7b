from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.matcher import (
    ENGINES,
    CompositeScanner,
    RegexSpec,
    available_engines,
    check_regex,
    compile_linear,
    linear_regex_error,
    tolerant,
    trim_leading_runs,
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
    # a lookbehind or a backreference needs a backtracking engine: refused whatever the
    # scan engine, with the reason
    for rx, reason in (("(?<=a)b", "(?<="), (r"(a)\1", r"\1"), ("x{1001}", "{1001}")):
        problem = check_regex(rx) or ""
        assert "linear-time engine (RE2) cannot run it" in problem and reason in problem, rx


def test_composite_scanner_falls_back_to_re_for_rejected_regexes() -> None:
    if "hyperscan" not in available_engines():
        pytest.skip("hyperscan not installed")
    scanner = CompositeScanner([RegexSpec(0, "(?<=a)b"), RegexSpec(1, "c")], "hyperscan")
    assert [spec.id for spec, _ in scanner.rejected] == [0]
    assert sorted(sid for sid, _ in scanner.scan(b"ab c\n")) == [0, 1]


@pytest.mark.skipif("hyperscan" not in available_engines(), reason="hyperscan not installed")
def test_regexes_hyperscan_cannot_match_exactly_are_prefiltered_by_it() -> None:
    specs = [
        RegexSpec(0, r"^(\w+) failed, \1 aborted"),  # back-reference
        RegexSpec(1, r"timeout(?! \(retrying\))"),  # look-ahead
        RegexSpec(2, r"^npm ERR! "),
    ]
    scanner = CompositeScanner(specs, "hyperscan")
    assert [s.id for s in scanner.approximated] == [0, 1]
    data = (
        b"build failed, build aborted\n"
        b"\x1b[31mtest failed, lint aborted\x1b[0m\n"
        b"timeout (retrying)\n"
        b"2024-01-01T00:00:00.1Z timeout\n"
        b"npm ERR! x\n"
    )
    got = lines_hit("hyperscan", specs, data)
    assert lines_hit("re", specs, data) <= got  # a superset of the exact lines
    assert {(0, 0), (1, 3), (2, 4)} <= got


@pytest.mark.skipif("hyperscan" not in available_engines(), reason="hyperscan not installed")
def test_hyperscan_selects_every_line_re_selects_on_the_shipped_database() -> None:
    from hee_monitor.analysis.patterns import load_database

    specs = [RegexSpec(0, rx, p.ignore_case) for p in load_database() for rx in p.regex]
    specs = [RegexSpec(i, s.regex, s.caseless) for i, s in enumerate(specs)]
    # lines the per-line-start-form database silently missed
    data = (
        b"npm ERR! 404 Not Found - GET https://registry.npmjs.org/a - Not found\n"
        b"1 out of 2041 tests failed (45.46s)\r\n"
        b"1) Composer\\Test\\InstallerTest::testIntegration with data set\n"
        b"2024-01-01T00:00:00.1234567Z \x1b[31mnpm ERR! code E404\x1b[0m\n"
        b"\x1b[0m\x1b[31merror[E0425]\x1b[0m: cannot find value `x` in this scope\n"
    )
    expected = lines_hit("re", specs, data)
    assert {line for _, line in expected} == {0, 1, 2, 3, 4}
    assert expected <= lines_hit("hyperscan", specs, data)


@pytest.mark.skipif("hyperscan" not in available_engines(), reason="hyperscan not installed")
def test_a_rejected_regex_is_remembered_between_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    specs = [RegexSpec(i, f"^step {i} failed") for i in range(20)]
    specs.append(RegexSpec(20, r"timeout(?! \(retrying\))"))
    data = b"step 3 failed\ntimeout\ntimeout (retrying)\n"
    first = CompositeScanner(specs, "hyperscan")
    cached = sorted(p.name for p in (tmp_path / "hee-monitor").iterdir())
    # the rejection, the database of the rest, the prefiltered one: no per-regex trials
    assert len(cached) == 3 and any(n.endswith(".rejected.json") for n in cached)
    again = CompositeScanner(specs, "hyperscan")
    assert [s.id for s, _ in again.rejected] == [s.id for s, _ in first.rejected] == [20]
    assert again.rejected[0][1] == first.rejected[0][1]
    assert [s.id for s in again.approximated] == [20]
    assert lines_hit("hyperscan", specs, data) >= {(3, 0), (20, 1)}
    assert sorted(again.scan(data)) == sorted(first.scan(data))


@pytest.mark.skipif("hyperscan" not in available_engines(), reason="hyperscan not installed")
def test_the_cache_keeps_only_the_most_recently_used_databases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hee_monitor.analysis import matcher

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = [RegexSpec(0, "^first failed")]
    second = [RegexSpec(0, "^second failed")]
    directory = tmp_path / "hee-monitor"
    CompositeScanner(first, "hyperscan")
    CompositeScanner(second, "hyperscan")
    for specs, when in ((first, 1_000), (second, 2_000)):  # the first is the older one
        path = directory / f"hs-{matcher._HyperscanScanner.key(specs)}.db"
        os.utime(path, (when, when))
    CompositeScanner(first, "hyperscan")  # loading it makes it the recently used one
    sizes = sorted(p.stat().st_size for p in directory.iterdir())
    monkeypatch.setattr(matcher, "CACHE_BYTES", sizes[0] + sizes[1] + 2 * sizes[1] // 3)
    CompositeScanner([RegexSpec(0, "^third failed")], "hyperscan")
    left = {p.name for p in directory.iterdir()}
    assert len(left) == 2
    assert f"hs-{matcher._HyperscanScanner.key(first)}.db" in left
    assert f"hs-{matcher._HyperscanScanner.key(second)}.db" not in left


def test_engines_select_text_after_a_redraw_carriage_return() -> None:
    specs = [RegexSpec(0, r"^ERROR: "), RegexSpec(1, r"^npm ERR! ")]
    data = b"Downloading 10%\r\x1b[0KERROR: disk full\nprogress\rnpm ERR! code 1\nnpm ERR no\n"
    for name in available_engines():
        assert lines_hit(name, specs, data) == {(0, 0), (1, 1)}, name


@pytest.mark.parametrize(
    ("regex", "trimmed"),
    [
        (r"^[^ :]+\.pyi?:[0-9]+: error: ", r"\.pyi?:[0-9]+: error: "),
        (r"^\s*[A-Z][A-Za-z0-9_]*(Error|Exception): .+", r"(Error|Exception): .+"),
        (r"(?i)^\s*fatal: x", r"(?i)fatal: x"),  # an inline flag group stays in front
        (r"^\s*at [a-z.]+\(", r"at [a-z.]+\("),
        (r"^[A-Z]{1,4}[0-9]{3,4} x", r"^[A-Z]{1,4}[0-9]{3,4} x"),  # bounded: kept
        (r"^npm ERR! ", r"^npm ERR! "),  # nothing to trim
        (r"^\s*x|y", r"^\s*x|y"),  # a top-level alternation is kept whole
        (r"^\s+a$", r"^\s+a$"),  # too little would be left
        (r"^[^\]:]+: \[x]+ y", r": \[x]+ y"),  # escaped brackets in and after a class
    ],
)
def test_trim_leading_runs(regex: str, trimmed: str) -> None:
    assert trim_leading_runs(regex) == trimmed


def _shipped_examples() -> list[tuple[str, str]]:
    from hee_monitor.analysis.patterns import load_database

    flags = {True: re.IGNORECASE, False: 0}
    pairs = []
    for pattern in load_database():
        for regex in pattern.regex:
            for example in pattern.examples:
                for line in example.splitlines():
                    if re.search(regex, line, flags[pattern.ignore_case]):
                        pairs.append((("(?i)" if pattern.ignore_case else "") + regex, line))
    return pairs


_EXAMPLES = _shipped_examples()


def test_the_shipped_examples_give_the_trimming_property_something_to_check() -> None:
    trimmed = [rx for rx, _ in _EXAMPLES if trim_leading_runs(rx) != rx]
    assert len(trimmed) >= 50


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_EXAMPLES),
    st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=30),
    st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=30),
)
def test_a_trimmed_regex_selects_every_line_its_regex_matches(
    pair: tuple[str, str], before: str, after: str
) -> None:
    """The scanner may select more lines, never fewer: the confirm step needs them all."""
    regex, line = pair
    for text in (line, before + line, line + after):
        if re.search(regex, text):
            assert re.search(trim_leading_runs(regex), text), (regex, text)


# --- linear-time confirmation --------------------------------------------------------------


def test_every_shipped_regex_is_confirmed_in_linear_time() -> None:
    """Every regex, exclusion and end regex of the shipped database compiles under RE2,
    whose matching time is linear in the line's length: no shipped pattern can take
    super-linear time on a crafted line (``benchmarks/redos_bench.py`` measures it)."""
    from hee_monitor.analysis.patterns import load_database

    refused = []
    count = 0
    for pattern in load_database():
        for rx in (*pattern.regex, *pattern.exclude, *((pattern.end,) if pattern.end else ())):
            count += 1
            if (problem := linear_regex_error(rx, ignore_case=pattern.ignore_case)) is not None:
                refused.append(f"{pattern.where}: {rx!r}: {problem}")
    assert count > 600 and refused == []


#: text RE2 and Python ``re`` read alike: no newline (a line has none), no character that
#: only Python's Unicode classes count as a space, digit or word character
_SAME_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t●✗→│’"),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_EXAMPLES), _SAME_TEXT, _SAME_TEXT, st.integers(0, 200))
def test_linear_confirmation_agrees_with_python_re(
    pair: tuple[str, str], before: str, after: str, cut: int
) -> None:
    """RE2 confirms exactly the lines Python ``re`` would (on the shipped regexes, around
    and inside lines of their examples)."""
    regex, line = pair
    linear = compile_linear(regex)
    for text in (line, before + line, line + after, line[:cut], line[cut:], before + after):
        assert linear.search(text) == bool(re.search(regex, text)), (regex, text)


def test_a_cause_beyond_the_old_line_cut_is_confirmed() -> None:
    """A crafted log whose cause ends an 80 kB line (a backtracking confirm took 48 s and
    a 64 KiB cut hid the cause): found, with the cause's pattern."""
    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.patterns import load_database

    text = ("error " * 13334 + "Token expired\n") * 6
    diagnosis = Analyzer(load_database()).analyze_text(text)
    assert [f.pattern_id for f in diagnosis.failures][:1] == ["AUTH-BAD-CREDENTIALS"]


def test_linear_regex_reports_why_it_refuses() -> None:
    assert compile_linear("b", ignore_case=True).search("aBc")
    assert not compile_linear("^b").search("ab")
    for rx in (r"(?=a)", r"(?!a)b", r"(a)\1", r"(?<!x)y", r"a\Z"):
        assert "(RE2) cannot run it" in (linear_regex_error(rx) or ""), rx
    assert linear_regex_error(r"^\s*[A-Z][a-z]+(Error|Exception): .{1,200}$") is None
