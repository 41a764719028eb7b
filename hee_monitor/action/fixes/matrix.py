"""The decision matrix: what kind of failure may be fixed how, as data.

| failure kind              | auto-fix | safety | rollback required | action       |
|---------------------------|----------|--------|-------------------|--------------|
| lint warnings (and format)| full     | high   | no                | auto-apply   |
| dependency issues         | partial  | medium | yes               | review       |
| test logic errors         | full     | high   | no                | auto-apply   |
| security vulnerabilities  | partial  | low    | yes               | manual only  |
| license compliance        | full     | high   | no                | auto-apply   |

"No rollback needed" describes the fix, not the engine: every change is still validated and
rolled back when validation fails. The matrix decides how far the engine may go alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hee_monitor.action.fixes.strategies.interface import Safety
from hee_monitor.core.models import AutoFix, Category


class Action(enum.StrEnum):
    #: fix, validate, commit on a fix branch and open the pull request
    AUTO_APPLY = "auto-apply"
    #: the same, and the pull request asks for a review (risk above the threshold → approval)
    REVIEW = "review"
    #: nothing runs until a person approves the request
    MANUAL_ONLY = "manual-only"


@dataclass(frozen=True)
class MatrixRow:
    kind: str
    auto_fix: AutoFix
    safety: Safety
    rollback_required: bool
    action: Action


LINT = MatrixRow("lint warnings", AutoFix.FULL, Safety.HIGH, False, Action.AUTO_APPLY)
DEPENDENCY = MatrixRow("dependency issues", AutoFix.PARTIAL, Safety.MEDIUM, True, Action.REVIEW)
TEST = MatrixRow("test logic errors", AutoFix.FULL, Safety.HIGH, False, Action.AUTO_APPLY)
SECURITY = MatrixRow(
    "security vulnerabilities", AutoFix.PARTIAL, Safety.LOW, True, Action.MANUAL_ONLY
)
LICENSE = MatrixRow("license compliance", AutoFix.FULL, Safety.HIGH, False, Action.AUTO_APPLY)
#: anything else the pattern database says is fixable (configuration, timeouts, flaky runs)
OTHER = MatrixRow("other fixable failures", AutoFix.PARTIAL, Safety.MEDIUM, True, Action.REVIEW)

MATRIX: dict[str, MatrixRow] = {
    Category.LINT: LINT,
    Category.FORMAT: LINT,
    Category.TYPE_CHECK: LINT,
    Category.DEPENDENCY: DEPENDENCY,
    Category.TEST: TEST,
    Category.SECURITY: SECURITY,
    Category.LICENSE: LICENSE,
}


def row_for(category: str) -> MatrixRow:
    return MATRIX.get(category, OTHER)


#: what the matrix row adds to a fix's own risk
_SAFETY_PENALTY = {Safety.HIGH: 0, Safety.MEDIUM: 1, Safety.LOW: 3}

DEFAULT_RISK_THRESHOLD = 5


def risk_score(strategy_risk: int, finding_risk: int, row: MatrixRow) -> int:
    """0-10: the riskier of the strategy and the failure, plus the failure kind's penalty."""
    base = max(strategy_risk, finding_risk)
    return max(0, min(10, base + _SAFETY_PENALTY[row.safety]))


def effective_safety(strategy_safety: Safety, row: MatrixRow) -> Safety:
    """A fix is only as safe as the less safe of its strategy and its failure kind."""
    return min(strategy_safety, row.safety, key=lambda s: s.rank)
