"""Findings from a job's metadata: what kind of job failed, and whether it ran out of time.

The log says *why* a job failed; the run metadata says *what* failed, and it is there even
when the log is not (expired, truncated, a runner that died). Following the detection
table of the product brief:

* **PAT-001** compilation failure: ``conclusion == "failure"`` in a build job;
* **PAT-002** test failure: the same in a test job;
* **PAT-005** timeout: the job was ended by GitHub's time limit (conclusion ``timed_out``,
  or ``cancelled`` once it had run for its ``timeout-minutes``), or it ran far longer than
  its own history says (:func:`~hee_monitor.analysis.detection.durations.slow_verdict`).

A job is classified by the name of its failed step first (a "build-and-test" job whose
"Run tests" step failed is a test failure), then by the job name, with the configurable
name patterns of :class:`~hee_monitor.analysis.detection.settings.DetectionSettings`.

These findings carry ``source="metadata"`` and a lower confidence than any log finding:
:func:`join` puts them after the log's findings, so a specific log finding stays the root
cause and the metadata adds what happened (and stands in when the log explains nothing).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final

from hee_monitor.analysis.detection.durations import SlowVerdict, slow_verdict
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.analysis.fingerprint import fingerprint
from hee_monitor.analysis.patterns import Pattern, load_database
from hee_monitor.core.models import Diagnosis, FailedJob, FailedRun, Finding

SOURCE: Final = "metadata"
#: below every log finding of a matched pattern in the analyzer's ranking
CONFIDENCE_KIND: Final = 0.3
CONFIDENCE_TIME_LIMIT: Final = 0.35
CONFIDENCE_SLOW: Final = 0.25
_KIND_PATTERN: Final = {"build": "PAT-001", "test": "PAT-002"}
#: a cancelled job this close to its limit was cancelled by the limit
_LIMIT_SLACK_SECONDS: Final = 60.0


@dataclass(frozen=True)
class JobKind:
    """What a job does (build, test, lint, deploy), and which name said so."""

    kind: str
    #: the job or step name that matched
    name: str
    #: "step" or "job"
    matched_on: str


def classify(
    job_name: str, step_names: Sequence[str], settings: DetectionSettings
) -> JobKind | None:
    """The kind of the first failed step that has one, else the job's; None when neither
    name matches any pattern."""
    for name, where in [*((s, "step") for s in step_names), (job_name, "job")]:
        for kind, patterns in settings.job_kinds.items():
            if any(_compiled(p).search(name) for p in patterns):
                return JobKind(kind, name, where)
    return None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@cache
def _core_pattern(pattern_id: str) -> Pattern:
    pattern = load_database().get(pattern_id)
    if pattern is None:  # the shipped database always has PAT-001..006
        raise LookupError(f"the pattern database has no {pattern_id}")
    return pattern


def _finding(
    pattern_id: str,
    title: str,
    key: Sequence[str],
    confidence: float,
    details: dict[str, Any],
) -> Finding:
    pattern = _core_pattern(pattern_id)
    return Finding(
        pattern_id=pattern.id,
        title=title,
        category=pattern.category,
        severity=pattern.severity,
        owner=pattern.owner,
        risk=pattern.risk,
        transient=pattern.transient,
        confidence=confidence,
        fix_strategy=pattern.fix_strategy,
        fingerprint=fingerprint(pattern.id, [SOURCE, *key]),
        evidence=(),
        source=SOURCE,
        auto_fix=pattern.auto_fix,
        rollback_required=pattern.rollback_required,
        details=details,
    )


def timeout_limit_seconds(job_name: str, settings: DetectionSettings) -> float:
    minutes = settings.timeout_minutes.get(job_name, settings.default_timeout_minutes)
    return minutes * 60.0


def metadata_findings(
    run: FailedRun,
    job: FailedJob,
    settings: DetectionSettings,
    history: Sequence[float] = (),
) -> list[Finding]:
    """The findings the metadata of ``job`` supports (``history``: its usual durations)."""
    found: list[Finding] = []
    where: dict[str, Any] = {
        "job": job.name,
        "workflow": run.workflow,
        "conclusion": job.conclusion,
    }
    if job.failed_steps:
        where["failed_steps"] = list(job.failed_steps)
    kind = classify(job.name, job.failed_steps, settings)
    if kind is not None:
        where["job_kind"] = kind.kind
    if job.conclusion == "failure" and kind is not None and kind.kind in _KIND_PATTERN:
        pattern_id = _KIND_PATTERN[kind.kind]
        noun = "Build" if kind.kind == "build" else "Test"
        step = f", step {kind.name!r}" if kind.matched_on == "step" else ""
        found.append(
            _finding(
                pattern_id,
                f"{noun} job {job.name!r} failed{step}",
                [run.workflow, job.name, kind.name],
                CONFIDENCE_KIND,
                {**where, "matched": kind.name, "matched_on": kind.matched_on},
            )
        )
    seconds = job.duration_seconds
    limit = timeout_limit_seconds(job.name, settings)
    by_limit = job.conclusion == "timed_out" or (
        job.conclusion == "cancelled"
        and seconds is not None
        and seconds >= limit - _LIMIT_SLACK_SECONDS
    )
    if by_limit:
        reason = (
            "GitHub ended it at its time limit"
            if job.conclusion == "timed_out"
            else f"cancelled after {seconds / 60 if seconds else 0:.0f} min, "
            f"its timeout-minutes of {limit / 60:g}"
        )
        found.append(
            _finding(
                "PAT-005",
                f"Job {job.name!r} timed out: {reason}",
                [run.workflow, job.name, "limit"],
                CONFIDENCE_TIME_LIMIT,
                {**where, "seconds": seconds, "limit_seconds": limit, "reason": "time_limit"},
            )
        )
        return found
    verdict: SlowVerdict | None = slow_verdict(seconds, history, settings)
    if verdict is not None:
        found.append(
            _finding(
                "PAT-005",
                f"Job {job.name!r} ran longer than expected: {verdict.describe()}",
                [run.workflow, job.name, "slow"],
                CONFIDENCE_SLOW,
                {
                    **where,
                    "seconds": verdict.seconds,
                    "usual_seconds": round(verdict.usual_seconds, 1),
                    "threshold_seconds": round(verdict.threshold_seconds, 1),
                    "ratio": round(verdict.ratio, 2),
                    "samples": verdict.samples,
                    "reason": "slow",
                },
            )
        )
    return found


def join(diagnosis: Diagnosis, extra: Sequence[Finding]) -> Diagnosis:
    """``diagnosis`` with ``extra`` (metadata or artifact findings) after its own findings.

    A log finding keeps its rank: an extra finding never outranks one, and its confidence is
    capped at the lowest log confidence so confidence still never rises down the list. An
    extra finding of a pattern the log already found adds nothing and is dropped.
    """
    if not extra:
        return diagnosis
    present = {f.pattern_id for f in diagnosis.failures}
    floor = min((f.confidence for f in diagnosis.failures), default=1.0)
    added: list[Finding] = []
    seen: set[str] = {f.fingerprint for f in diagnosis.failures}
    for finding in sorted(extra, key=lambda f: -f.confidence):
        if finding.pattern_id in present and finding.source == SOURCE:
            continue
        if finding.fingerprint in seen:
            continue
        seen.add(finding.fingerprint)
        confidence = min(finding.confidence, floor)
        added.append(
            replace(finding, confidence=confidence) if confidence != finding.confidence else finding
        )
        floor = confidence
    return replace(diagnosis, failures=(*diagnosis.failures, *added))
