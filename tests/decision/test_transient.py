from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.core.models import Category, Finding, Owner, Severity
from hee_monitor.decision.transient import SYMPTOM_CATEGORIES, transient_cause
from hee_monitor.service.wiring import pattern_analyzer

#: a network blip inside a test run, as GitHub Actions logs it
PYTEST_CONNECTION_RESET = b"""\
Run python -m pytest -q
............F                                                            [100%]
=================================== FAILURES ===================================
_________________________________ test_fetch ___________________________________
E   requests.exceptions.ConnectionError: ('Connection aborted.', \
ConnectionResetError(104, 'Connection reset by peer'))
=========================== short test summary info ============================
FAILED tests/test_api.py::test_fetch - requests.exceptions.ConnectionError: \
('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))
1 failed, 12 passed in 3.21s
##[error]Process completed with exit code 1.
"""


def f(pattern_id: str, category: str, *, transient: bool = False) -> Finding:
    return Finding(
        pattern_id, pattern_id.lower(), category, Severity.MEDIUM, Owner.DEVELOPER, 1,
        transient, 0.8, None, f"fp-{pattern_id}", (),
    )  # fmt: skip


NET = f("NET-RESET", "network", transient=True)
RETRY = f("NET-RETRY-WARNING", "network", transient=True)
PYTEST = f("PY-PYTEST-FAILED-LINE", "test")
SUMMARY = f("PAT-002", "test")
EXIT = f("GHA-EXIT-CODE", "unknown")


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param((NET,), NET, id="transient root cause"),
        pytest.param((NET, EXIT), NET, id="transient root cause above the exit line"),
        pytest.param((PYTEST, NET, SUMMARY, EXIT), NET, id="test failed on a connection reset"),
        pytest.param((EXIT, NET), NET, id="only the exit line above the transient finding"),
        pytest.param(
            (f("RUST-RUSTC-ERROR", "compilation"), RETRY, EXIT), None,
            id="compile error above a network retry warning",
        ),
        pytest.param((f("RUFF", "lint"), PYTEST, NET), None, id="lint failure above"),
        pytest.param((f("PIP", "dependency"), NET), None, id="dependency conflict above"),
        pytest.param((f("MYPY", "type-check"), NET), None, id="type-check failure above"),
        pytest.param((f("AUDIT", "security"), NET), None, id="security finding above"),
        pytest.param((EXIT,), None, id="only the exit line"),
        pytest.param((PYTEST, SUMMARY, EXIT), None, id="a real test failure"),
        pytest.param((), None, id="no findings"),
    ],
)  # fmt: skip
def test_transient_cause(failures: tuple[Finding, ...], expected: Finding | None) -> None:
    assert transient_cause(failures) == expected


def test_a_real_pytest_log_with_a_connection_reset_is_transient() -> None:
    diagnosis = pattern_analyzer().analyze_stream([PYTEST_CONNECTION_RESET], "tests.log")
    ids = [x.pattern_id for x in diagnosis.failures]
    # the test failure is the analyzer's root cause; the connection reset explains it
    assert not diagnosis.failures[0].transient and "NET-RESET" in ids
    # the generic exit-code line is folded into a specific finding, never the cause
    assert any("GHA-EXIT-CODE" in x.related for x in diagnosis.failures)
    cause = transient_cause(diagnosis.failures)
    assert cause is not None and cause.pattern_id == "NET-RESET"


categories = st.sampled_from([c.value for c in Category])
findings = st.builds(
    lambda i, c, t: f(f"P{i}", c, transient=t), st.integers(0, 99), categories, st.booleans()
)


@given(st.lists(findings, max_size=6))
def test_the_cause_is_the_first_transient_finding_under_symptoms_only(
    failures: list[Finding],
) -> None:
    cause = transient_cause(failures)
    symptoms = 0
    while symptoms < len(failures) and (
        failures[symptoms].category in SYMPTOM_CATEGORIES and not failures[symptoms].transient
    ):
        symptoms += 1
    expected = failures[symptoms] if symptoms < len(failures) else None
    assert cause is (expected if expected is not None and expected.transient else None)
