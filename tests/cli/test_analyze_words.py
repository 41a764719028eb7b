"""What each output format says about a finding of a step that succeeded: that, and never
"root cause" (text, markdown and github alike; JSON carries details.step_succeeded)."""

from __future__ import annotations

from pathlib import Path

from hee_monitor.cli.analyze import SUCCEEDED, render_github, render_markdown, render_text
from hee_monitor.core.models import Diagnosis, Evidence, Finding, Owner, Severity


def _finding(pattern: str, *, succeeded: bool) -> Finding:
    return Finding(
        pattern_id=pattern,
        title=f"{pattern} happened",
        category="network",
        severity=Severity.MEDIUM,
        owner=Owner.DEVOPS,
        risk=1,
        transient=True,
        confidence=0.9,
        fix_strategy="rerun",
        fingerprint=pattern.lower(),
        evidence=(Evidence(3, 3, f"{pattern} line"),),
        details={"step_succeeded": True} if succeeded else {},
    )


PASSING = Diagnosis("passing.log", 10, (_finding("NET-RETRY", succeeded=True),))
MIXED = Diagnosis(
    "mixed.log",
    10,
    (_finding("NET-RETRY", succeeded=True), _finding("PY-TEST", succeeded=False)),
)


def test_text_never_calls_a_succeeded_step_the_root_cause() -> None:
    out = render_text(PASSING)
    assert "root cause" not in out
    assert "no failure: every finding is in a step that succeeded" in out
    assert SUCCEEDED in out
    assert "fix strategy" not in out
    mixed = render_text(MIXED)
    assert f"{SUCCEEDED}: NET-RETRY happened" in mixed
    assert "root cause: PY-TEST happened" in mixed


def test_markdown_says_so_and_takes_the_evidence_of_a_real_failure() -> None:
    out = render_markdown(PASSING)
    assert "No failure: every finding is in a step that succeeded." in out
    assert "Evidence for the root cause" not in out
    assert "`rerun`" not in out
    mixed = render_markdown(MIXED)
    assert f"_{SUCCEEDED}_" in mixed
    evidence = mixed.split("Evidence for the root cause", 1)[1]
    assert "PY-TEST line" in evidence and "NET-RETRY line" not in evidence


def test_github_annotations_of_a_succeeded_step_are_notices_saying_so(tmp_path: Path) -> None:
    out = render_github(PASSING, tmp_path)
    assert out.startswith("::notice ")
    assert f"{SUCCEEDED}: medium" in out.replace("%0A", "\n")
    assert "fix strategy" not in out
    mixed = render_github(MIXED, tmp_path).splitlines()
    assert mixed[0].startswith("::notice ") and mixed[1].startswith("::warning ")
