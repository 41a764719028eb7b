"""The one risk model: what kind of failure may be fixed how, and how risky a fix is.

| failure kind              | auto-fix | safety | rollback required | fix mode     |
|---------------------------|----------|--------|-------------------|--------------|
| lint warnings (and format)| full     | high   | no                | auto-apply   |
| dependency issues         | partial  | medium | yes               | review       |
| test logic errors         | full     | high   | no                | auto-apply   |
| security vulnerabilities  | partial  | low    | yes               | manual only  |
| license compliance        | full     | high   | no                | auto-apply   |

Risk is 0-10: the riskier of the fix strategy's own risk and the finding's, plus the failure
kind's safety penalty (high 0, medium 1, low 3). The policy scores a finding before any fix
is planned (strategy risk 0); the fix gate scores it again with the planned fix's risk. Both
compare with the same threshold, :data:`DEFAULT_RISK_THRESHOLD` (3) unless configured.

"No rollback needed" describes the fix, not the engine: every change is still validated and
rolled back when validation fails.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hee_monitor.core.config import DEFAULT_RISK_THRESHOLD as DEFAULT_RISK_THRESHOLD
from hee_monitor.core.models import AutoFix, Category


class Safety(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"high": 3, "medium": 2, "low": 1}[self.value]


class FixMode(enum.StrEnum):
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
    mode: FixMode


LINT = MatrixRow("lint warnings", AutoFix.FULL, Safety.HIGH, False, FixMode.AUTO_APPLY)
DEPENDENCY = MatrixRow("dependency issues", AutoFix.PARTIAL, Safety.MEDIUM, True, FixMode.REVIEW)
TEST = MatrixRow("test logic errors", AutoFix.FULL, Safety.HIGH, False, FixMode.AUTO_APPLY)
SECURITY = MatrixRow(
    "security vulnerabilities", AutoFix.PARTIAL, Safety.LOW, True, FixMode.MANUAL_ONLY
)
LICENSE = MatrixRow("license compliance", AutoFix.FULL, Safety.HIGH, False, FixMode.AUTO_APPLY)
#: anything else the pattern database says is fixable (configuration, timeouts, flaky runs)
OTHER = MatrixRow("other fixable failures", AutoFix.PARTIAL, Safety.MEDIUM, True, FixMode.REVIEW)

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
SAFETY_PENALTY = {Safety.HIGH: 0, Safety.MEDIUM: 1, Safety.LOW: 3}


def risk_score(strategy_risk: int, finding_risk: int, row: MatrixRow) -> int:
    """0-10: the riskier of the strategy and the failure, plus the failure kind's penalty."""
    base = max(strategy_risk, finding_risk)
    return max(0, min(10, base + SAFETY_PENALTY[row.safety]))


def finding_risk(category: str, risk: int) -> int:
    """A finding's risk before any fix is planned (what the policy compares)."""
    return risk_score(0, risk, row_for(category))


def effective_safety(strategy_safety: Safety, row: MatrixRow) -> Safety:
    """A fix is only as safe as the less safe of its strategy and its failure kind."""
    return min(strategy_safety, row.safety, key=lambda s: s.rank)
