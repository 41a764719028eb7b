from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.fingerprint import fingerprint, normalise_for_fingerprint


def test_masks_run_specific_details() -> None:
    text = (
        "2024-01-01T10:00:00.1234567Z /home/runner/work/app/app/src/db.py:42 "
        "id 3f2a9c1e-1b2c-4d5e-8f90-0123456789ab sha 9fceb02d0ae598e95dc970b74767f19372d61af8 "
        "took 12.5s at 0x7ffd1234"
    )
    masked = normalise_for_fingerprint(text)
    assert masked == "<ts> <path>/db.py:<n> id <uuid> sha <hex> took <dur> at <hex>"


def test_relative_paths_and_words_stay() -> None:
    assert normalise_for_fingerprint("FAILED tests/test_api.py::test_get") == (
        "FAILED tests/test_api.py::test_get"
    )


def test_different_failures_differ() -> None:
    assert fingerprint("P-1", ["FAILED tests/a.py::x"]) != fingerprint(
        "P-1", ["FAILED tests/b.py::x"]
    )
    assert fingerprint("P-1", ["x"]) != fingerprint("P-2", ["x"])
    assert len(fingerprint("P-1", ["x"])) == 16


# a realistic commit sha has both digits and letters (an all-digit one masks as a number)
_hex = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)
)


@settings(max_examples=100, deadline=None)
@given(
    a=st.tuples(st.integers(0, 10**9), st.integers(0, 23), st.integers(0, 59), _hex, st.uuids()),
    b=st.tuples(st.integers(0, 10**9), st.integers(0, 23), st.integers(0, 59), _hex, st.uuids()),
    secs=st.floats(min_value=0, max_value=9999, allow_nan=False),
)
def test_fingerprint_stable_under_numbers_timestamps_and_ids(
    a: tuple[int, int, int, str, object], b: tuple[int, int, int, str, object], secs: float
) -> None:
    def render(values: tuple[int, int, int, str, object], duration: float) -> str:
        n, hour, minute, sha, uuid = values
        return (
            f"2024-05-{(n % 28) + 1:02d}T{hour:02d}:{minute:02d}:07.123Z "
            f"/tmp/pytest-of-runner/pytest-{n}/test_db0/x.py:{n} commit {sha} "
            f"request {uuid} failed after {duration:.2f}s with code {n}"
        )

    assert fingerprint("NET-TIMEOUT", [render(a, secs)]) == fingerprint(
        "NET-TIMEOUT", [render(b, secs + 1)]
    )
