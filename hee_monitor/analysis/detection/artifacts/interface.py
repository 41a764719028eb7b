"""What reading one report gives: findings, or a skip that says why not.

Reports come from the build under test, so they are untrusted input: every reader returns
an :class:`ArtifactReport` for any bytes it is given (malformed, truncated, huge, of
another format) and never raises for the content itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hee_monitor.analysis.fingerprint import fingerprint
from hee_monitor.core.models import AutoFix, Evidence, Finding, Owner, Severity

SOURCE = "artifact"
#: a structured report says exactly what failed
CONFIDENCE = 0.85


@dataclass(frozen=True)
class ArtifactSkip:
    """A report (or part of one) that was not read, and why."""

    name: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class ArtifactReport:
    """The findings of one or more reports, and what was skipped."""

    findings: tuple[Finding, ...] = ()
    skipped: tuple[ArtifactSkip, ...] = ()
    #: name → detected format of each report read
    formats: dict[str, str] = field(default_factory=dict)

    def __add__(self, other: ArtifactReport) -> ArtifactReport:
        return ArtifactReport(
            self.findings + other.findings,
            self.skipped + other.skipped,
            {**self.formats, **other.formats},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "skipped": [s.to_json() for s in self.skipped],
            "formats": dict(self.formats),
        }


def skip(name: str, reason: str) -> ArtifactReport:
    return ArtifactReport(skipped=(ArtifactSkip(name, reason),))


def over_limit(
    findings: Sequence[Finding], skipped: list[ArtifactSkip], limit: int, name: str, package: str
) -> bool:
    """True, with the package noted in ``skipped``, once a file has ``limit`` findings."""
    if len(findings) < limit:
        return False
    skipped.append(ArtifactSkip(name, f"{package}: over max_findings_per_file"))
    return True


def make_finding(
    *,
    pattern_id: str,
    title: str,
    category: str,
    severity: Severity,
    owner: Owner,
    risk: int,
    key: Sequence[str],
    evidence: tuple[Evidence, ...],
    details: dict[str, Any],
    fix_strategy: str | None = None,
    auto_fix: AutoFix = AutoFix.NONE,
) -> Finding:
    return Finding(
        pattern_id=pattern_id,
        title=title,
        category=category,
        severity=severity,
        owner=owner,
        risk=risk,
        transient=False,
        confidence=CONFIDENCE,
        fix_strategy=fix_strategy,
        fingerprint=fingerprint(pattern_id, [SOURCE, *key]),
        evidence=evidence,
        source=SOURCE,
        auto_fix=auto_fix,
        details=details,
    )


def text(value: Any, limit: int = 500) -> str:
    """A display string from untrusted JSON: strings as they are, others empty; capped."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def cvss_severity(score: float) -> Severity:
    """CVSS v3 qualitative rating: 9.0+ critical, 7.0+ high, 4.0+ medium, else low."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW


def named_severity(name: str, default: Severity = Severity.MEDIUM) -> Severity:
    """Scanner severity words (critical, high, moderate, medium, low, info) → Severity."""
    word = name.strip().lower()
    return {
        "critical": Severity.CRITICAL,
        "high": Severity.HIGH,
        "error": Severity.HIGH,
        "moderate": Severity.MEDIUM,
        "medium": Severity.MEDIUM,
        "warning": Severity.MEDIUM,
        "low": Severity.LOW,
        "info": Severity.LOW,
        "note": Severity.LOW,
    }.get(word, default)
