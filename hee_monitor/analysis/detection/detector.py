"""Detection beyond the log, for the monitoring cycle: job metadata, durations, artifacts.

:meth:`RunDetector.detect` takes a run and its analysed jobs and returns them with the
metadata findings of each job and the findings of the run's artifacts joined in (after the
log's own findings; see :func:`~hee_monitor.analysis.detection.jobs.join`). What GitHub cannot
answer (artifacts expired, API trouble) becomes a note on the diagnosis, never an error:
one unreadable artifact must not cost the run its diagnosis.

Duration history is learnt as a side effect: the successful jobs of each failed run are
recorded, and the first time a (repository, workflow) is seen its latest successful runs
are read once (``history_runs`` of them) so that slowness can be judged from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from hee_monitor.analysis.detection.artifacts.interface import ArtifactReport, skip
from hee_monitor.analysis.detection.artifacts.reader import read_stream
from hee_monitor.analysis.detection.durations import DurationStore
from hee_monitor.analysis.detection.jobs import join, metadata_findings
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.errors import HeeError
from hee_monitor.core.models import Diagnosis, FailedJob, FailedRun, Finding, JobRecord
from hee_monitor.sources.interface import Artifacts, Jobs, JobTiming, Runs

log = logging.getLogger(__name__)

#: artifact names that hold reports worth reading (others are not downloaded)
REPORT_ARTIFACT_HINTS = (
    "sarif", "codeql", "semgrep", "trivy", "bandit", "eslint", "audit", "vuln", "security",
    "license", "licence", "junit", "test-results", "test-report", "report",
)  # fmt: skip


class RunHistory(Jobs, Runs, Artifacts, Protocol):
    """What detection asks of the forge: jobs, successful runs, artifacts."""


def wanted_artifact(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in REPORT_ARTIFACT_HINTS)


class RunDetector:
    def __init__(
        self,
        settings: DetectionSettings | None = None,
        *,
        durations: DurationStore | None = None,
        forge: RunHistory | None = None,
    ) -> None:
        self.settings = settings or DetectionSettings()
        self.durations = durations
        self.forge = forge
        self._backfilled: set[tuple[str, str]] = set()

    # -- durations -------------------------------------------------------------------

    def learn(self, repo: str, workflow: str, jobs: Sequence[JobTiming]) -> int:
        """Record the durations of the successful ``jobs``; how many were new."""
        if self.durations is None:
            return 0
        added = 0
        for job in jobs:
            seconds = job.duration_seconds
            if job.conclusion != "success" or seconds is None or job.completed_at is None:
                continue
            added += self.durations.record(
                repo, workflow, job.name, job.job_id, seconds, completed_at=job.completed_at
            )
        return added

    def backfill(self, repo: str, workflow: str) -> int:
        """Read the latest successful runs of ``workflow`` once per process, and only while
        the store holds too little of its history (a monitor started every few minutes
        must not read 30 runs each time)."""
        if self.forge is None or self.durations is None or (repo, workflow) in self._backfilled:
            return 0
        self._backfilled.add((repo, workflow))
        if self.durations.count(repo, workflow) >= self.settings.min_history:
            return 0
        added = 0
        for run in self.forge.successful_runs(repo, workflow, self.settings.history_runs):
            added += self.learn(repo, workflow, self.forge.list_jobs(repo, run.run_id))
        return added

    def history(self, run: FailedRun, job: FailedJob) -> list[float]:
        if self.durations is None:
            return []
        return self.durations.history(
            run.repo, run.workflow, job.name, limit=self.settings.history_runs
        )

    # -- findings --------------------------------------------------------------------

    def job_findings(self, run: FailedRun, job: FailedJob) -> list[Finding]:
        return metadata_findings(run, job, self.settings, self.history(run, job))

    def artifact_report(self, run: FailedRun) -> ArtifactReport:
        """The findings of the run's report artifacts (each capped; skips say why not)."""
        if self.forge is None or not self.settings.artifacts:
            return ArtifactReport()
        report = ArtifactReport()
        for artifact in self.forge.list_artifacts(run.repo, run.run_id):
            if not wanted_artifact(artifact.name):
                continue
            if artifact.expired:
                report = report + skip(artifact.name, "expired")
                continue
            if artifact.size_in_bytes > self.settings.max_artifact_bytes:
                report = report + skip(
                    artifact.name,
                    f"{artifact.size_in_bytes} bytes is over max_artifact_bytes "
                    f"({self.settings.max_artifact_bytes}); not downloaded",
                )
                continue
            chunks = self.forge.stream_artifact(run.repo, artifact.artifact_id)
            report = report + read_stream(artifact.name, chunks, self.settings)
        return report

    # -- the cycle's hook ------------------------------------------------------------

    def detect(self, run: FailedRun, records: Sequence[JobRecord]) -> list[JobRecord]:
        """``records`` with metadata and artifact findings joined into their diagnoses."""
        notes: list[str] = []
        if self.forge is not None and self.durations is not None:
            try:
                self.backfill(run.repo, run.workflow)
                self.learn(run.repo, run.workflow, self.forge.list_jobs(run.repo, run.run_id))
            except HeeError as exc:
                notes.append(f"job history not updated: {exc.message}")
        out = [self._with_metadata(run, rec) for rec in records]
        try:
            artifacts = self.artifact_report(run)
        except HeeError as exc:
            artifacts = ArtifactReport()
            notes.append(f"artifacts not read: {exc.message}")
        notes += [f"artifact {s.name} skipped: {s.reason}" for s in artifacts.skipped]
        if out and (artifacts.findings or notes):
            target = _report_job(out)
            rec = out[target]
            diagnosis = rec.diagnosis or _empty(run, rec.job)
            diagnosis = join(diagnosis, artifacts.findings)
            out[target] = replace(
                rec, diagnosis=replace(diagnosis, notes=(*diagnosis.notes, *notes))
            )
        return out

    def _with_metadata(self, run: FailedRun, rec: JobRecord) -> JobRecord:
        try:
            extra = self.job_findings(run, rec.job)
        except HeeError as exc:
            log.warning("metadata detection of %s failed: %s", run.key, exc.message)
            return rec
        if not extra:
            return rec
        return replace(rec, diagnosis=join(rec.diagnosis or _empty(run, rec.job), extra))


def _empty(run: FailedRun, job: FailedJob) -> Diagnosis:
    """The diagnosis of a job whose log was not read: no findings yet."""
    return Diagnosis(log=f"{run.key}/{job.name}", lines=0, failures=())


def _report_job(records: Sequence[JobRecord]) -> int:
    """The job artifact findings are attached to: one whose name says it scans or tests
    (security, audit, license, scan, test), else the first."""
    for index, rec in enumerate(records):
        name = rec.job.name.lower()
        if any(word in name for word in ("secur", "audit", "licen", "scan", "codeql", "sarif")):
            return index
    return 0
