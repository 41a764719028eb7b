from __future__ import annotations

from datetime import UTC, datetime

from hee_monitor.action.fixes.config import FixConfig
from hee_monitor.action.fixes.policy import Verdict, capsule_block, decide
from hee_monitor.action.fixes.strategies.interface import FixPlan, Safety
from hee_monitor.core.models import AutoFix, Severity
from hee_monitor.decision.risk import DEFAULT_RISK_THRESHOLD, MATRIX, FixMode, risk_score, row_for
from tests.action.fixes.conftest import make_finding

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def plan(risk: int = 1, safety: Safety = Safety.HIGH, files: tuple[str, ...] = ("**",)) -> FixPlan:
    return FixPlan("s", "d", (), files, (), risk, safety)


def test_the_matrix_of_the_brief() -> None:
    assert row_for("lint") == MATRIX["lint"]
    lint, dep, test, sec, lic = (row_for(c) for c in ("lint", "dependency", "test", "security",
                                                      "license"))  # fmt: skip
    assert (lint.auto_fix, lint.safety, lint.rollback_required, lint.mode) == (
        AutoFix.FULL, Safety.HIGH, False, FixMode.AUTO_APPLY)  # fmt: skip
    assert (dep.auto_fix, dep.safety, dep.rollback_required, dep.mode) == (
        AutoFix.PARTIAL, Safety.MEDIUM, True, FixMode.REVIEW)  # fmt: skip
    assert (test.auto_fix, test.safety, test.mode) == (
        AutoFix.FULL,
        Safety.HIGH,
        FixMode.AUTO_APPLY,
    )
    assert (sec.auto_fix, sec.safety, sec.rollback_required, sec.mode) == (
        AutoFix.PARTIAL, Safety.LOW, True, FixMode.MANUAL_ONLY)  # fmt: skip
    assert (lic.auto_fix, lic.safety, lic.mode) == (AutoFix.FULL, Safety.HIGH, FixMode.AUTO_APPLY)


def test_one_default_threshold_for_the_policy_and_the_fix_gate() -> None:
    from hee_monitor.core.config import DEFAULTS
    from hee_monitor.decision.interface import PolicySettings

    assert DEFAULT_RISK_THRESHOLD == 3
    assert FixConfig().risk_threshold == PolicySettings().risk_threshold == DEFAULT_RISK_THRESHOLD
    assert DEFAULTS["policy"]["risk_threshold"] == DEFAULT_RISK_THRESHOLD
    lint = make_finding("ruff-fix")
    at = decide(lint, plan(risk=3), config=FixConfig(), payload=None, now=NOW)
    above = decide(lint, plan(risk=4), config=FixConfig(), payload=None, now=NOW)
    assert (at.verdict, above.verdict) == (Verdict.APPLY, Verdict.APPROVAL)


def test_risk_is_bounded_and_penalises_less_safe_kinds() -> None:
    assert risk_score(2, 1, row_for("lint")) == 2
    assert risk_score(4, 0, row_for("dependency")) == 5
    assert risk_score(9, 9, row_for("security")) == 10


def test_decisions() -> None:
    cfg = FixConfig()
    lint = make_finding("ruff-fix")
    assert decide(lint, plan(), config=cfg, payload=None, now=NOW).verdict is Verdict.APPLY
    risky = decide(lint, plan(risk=7), config=cfg, payload=None, now=NOW)
    assert (risky.verdict, risky.reason) == (Verdict.APPROVAL, "risk 7 is above the threshold 3")
    approved = decide(lint, plan(risk=7), config=cfg, payload=None, now=NOW, approved=True)
    assert approved.verdict is Verdict.APPLY
    sec = decide(make_finding("x", category="security"), plan(risk=0), config=cfg, payload=None,
                 now=NOW)  # fmt: skip
    assert sec.verdict is Verdict.APPROVAL
    medium = decide(make_finding("x", category="dependency"), plan(), config=cfg, payload=None,
                    now=NOW, min_safety=Safety.HIGH)  # fmt: skip
    assert medium.verdict is Verdict.SKIP
    assert medium.reason == "medium-safety fix; only high-safety fixes run"
    high = make_finding("x", severity=Severity.HIGH)
    too_severe = decide(high, plan(), config=cfg, payload=None, now=NOW,
                        max_severity=Severity.MEDIUM)  # fmt: skip
    assert too_severe.reason == "severity high is above --max-severity medium"
    paths = decide(lint, plan(files=(".github/workflows/ci.yml",)),
                   config=FixConfig(protected_paths=(".github/workflows/**",)), payload=None,
                   now=NOW)  # fmt: skip
    assert paths.verdict is Verdict.SKIP and "protected path" in paths.reason
    # approval never overrides a protection
    frozen = {"constraints": {"frozen": True}}
    assert decide(lint, plan(), config=cfg, payload=frozen, now=NOW, approved=True).verdict is (
        Verdict.SKIP
    )


def test_maintenance_windows_are_half_open_and_malformed_ones_block() -> None:
    span = {"start": "2026-11-22T18:00:00Z", "end": "2026-11-22T19:00:00Z", "reason": "upgrade"}
    window = {"constraints": {"maintenance_windows": [span]}}
    before = datetime(2026, 11, 22, 18, 59, tzinfo=UTC)
    assert capsule_block(window, Severity.LOW, before) is not None
    assert capsule_block(window, Severity.LOW, NOW) is None
    bad = {"constraints": {"maintenance_windows": [{"start": "soon"}]}}
    assert "malformed" in (capsule_block(bad, Severity.LOW, NOW) or "")
