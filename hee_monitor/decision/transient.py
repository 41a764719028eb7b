"""Which finding a failed job is judged by when deciding whether a re-run may pass.

The analyzer ranks a job's findings most likely root cause first, and a test runner's
summary ranks high: in a real Actions log a network blip inside a test run reads
``E requests.exceptions.ConnectionError ... Connection reset by peer`` / ``FAILED
tests/test_api.py::test_fetch`` / ``1 failed`` / ``##[error]Process completed with exit code
1.``, so the *test failure* comes first and the connection reset second. Judged by its first
finding alone, that job would never be re-run, although the test only failed because the
network did. :func:`transient_cause` looks past such symptoms.
"""

from __future__ import annotations

from collections.abc import Sequence

from hee_monitor.core.models import Category, Finding

#: categories of findings that report *that* something failed, not *why*: a failed test, a
#: runner's "Process completed with exit code 1", a generic "error:" line
SYMPTOM_CATEGORIES: frozenset[str] = frozenset({Category.TEST.value, Category.UNKNOWN.value})


def transient_cause(failures: Sequence[Finding]) -> Finding | None:
    """The transient finding that explains a failed job, or None if the job is not transient.

    ``failures`` are the job's findings in the analyzer's order (root cause first). The job
    is transient when its root cause is transient, or when a finding further down is
    transient and every finding ranked above it is only a symptom (category ``test`` or
    ``unknown``): the test failed *because of* the network, so a re-run may pass. Anything
    else ranked above the transient finding (a compile error, a lint or type-check failure,
    a dependency conflict, a security finding, ...) is a real failure of its own: the job is
    then not transient, and a transient finding in it makes the run mixed, not re-runnable.
    """
    for finding in failures:
        if finding.transient:
            return finding
        if finding.category not in SYMPTOM_CATEGORIES:
            return None
    return None
