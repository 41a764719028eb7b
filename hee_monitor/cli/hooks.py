"""Entry points of the pre-commit hooks (``.pre-commit-hooks.yaml``).

pre-commit calls each hook's ``entry`` with the staged files that match the hook's
``files`` pattern. Each function here maps that call onto a ``hee-monitor`` command and
exits with its status, so a hook behaves exactly as the command does by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from hee_monitor.cli import run


def ci_monitoring(argv: Sequence[str] | None = None) -> int:
    """``hee-ci-monitoring``: diagnose the CI logs and JUnit reports given; exit 1 when any
    finding is critical (``hee-monitor monitor --mode pre-commit``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    files = [a for a in args if not a.startswith("-")]
    if not files:
        return 0  # nothing staged that this hook looks at
    return run(["monitor", "--mode", "pre-commit", *args])


def state_validation(argv: Sequence[str] | None = None) -> int:
    """``hee-state-validation``: validate each capsule file against the schema and the HEE
    rules (``hee-monitor capsule validate --hee-rules``); the worst status wins."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = [a for a in args if a.startswith("-")]
    worst = 0
    for path in (a for a in args if not a.startswith("-")):
        code = run(["capsule", "validate", "--hee-rules", *options, "--input", path])
        worst = max(worst, code)
    return worst


def patterns_validate(argv: Sequence[str] | None = None) -> int:
    """``hee-patterns-validate``: validate the pattern files given (schema, regexes,
    examples) together with the shipped database (``hee-monitor patterns validate``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return run(["patterns", "validate", *args])


def _main(func: Callable[[], int]) -> None:
    sys.exit(func())


def ci_monitoring_main() -> None:
    _main(ci_monitoring)


def state_validation_main() -> None:
    _main(state_validation)


def patterns_validate_main() -> None:
    _main(patterns_validate)
