"""Last-green baselines for the monitor: the log of the same job in the newest successful
run of the same workflow and branch (a pull request's base branch), as a template set.

One request per failed job finds the newest green run (``GET /repos/{o}/{r}/actions/
workflows/{id}/runs?branch=B&status=success&per_page=5``); its job of the same name
(matrix values are part of the name) gives the log. The template set is kept in the audit
store per (repository, workflow, job) with the run it came from, so a job's passing log is
downloaded once per green run. No workflow id, no green run, no job of that name, an
expired log or any GitHub trouble: no baseline, and the analyzer's pattern-free fallback
works without it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.analysis.baseline import MAX_TEMPLATES, Baseline, baseline_from_lines
from hee_monitor.analysis.logreader import iter_log_lines
from hee_monitor.core.clock import Clock
from hee_monitor.core.models import FailedJob, FailedRun
from hee_monitor.record.schema import baseline_templates

log = logging.getLogger(__name__)


class JobRef(Protocol):
    @property
    def job_id(self) -> int: ...

    @property
    def name(self) -> str: ...


@runtime_checkable
class GreenForge(Protocol):
    """What the baseline needs of the forge (the GitHub source)."""

    def last_green_run(self, repo: str, workflow_id: int, branch: str | None) -> int | None: ...

    def list_jobs(self, repo: str, run_id: int, attempt: int | None = None) -> Sequence[JobRef]: ...

    def stream_job_log(self, repo: str, job_id: int) -> Iterator[bytes]: ...


def baseline_name(repo: str, run_id: int, job: str) -> str:
    return f"{repo} run {run_id} job {job!r} (last green)"


class LastGreenBaselines:
    """``baselines(run, job)``: the job's last-green baseline, or None."""

    def __init__(self, forge: GreenForge, engine: Engine, clock: Clock) -> None:
        self.forge = forge
        self.engine = engine
        self.clock = clock
        #: downloads of passing logs made (for tests and metrics)
        self.downloads = 0

    def __call__(self, run: FailedRun, job: FailedJob) -> Baseline | None:
        if run.workflow_id is None:
            return None
        try:
            return self._baseline(run, job, run.workflow_id)
        except Exception as exc:  # no baseline is a diagnosis without one, not an error
            log.info("no last-green baseline for %s %s: %s", run.key, job.name, exc)
            return None

    def _baseline(self, run: FailedRun, job: FailedJob, workflow_id: int) -> Baseline | None:
        branch = run.base_branch or run.branch
        green = self.forge.last_green_run(run.repo, workflow_id, branch)
        if green is None:
            return None
        cached = self._cached(run.repo, str(workflow_id), job.name, green)
        if cached is not None:
            return cached
        match = next(
            (
                j
                for j in self.forge.list_jobs(run.repo, green)
                if getattr(j, "name", None) == job.name
            ),
            None,
        )
        if match is None:
            return None
        self.downloads += 1
        chunks = self.forge.stream_job_log(run.repo, int(match.job_id))
        baseline = baseline_from_lines(
            baseline_name(run.repo, green, job.name), (line.text for line in iter_log_lines(chunks))
        )
        self._store(run.repo, str(workflow_id), job.name, green, baseline)
        return baseline

    def _cached(self, repo: str, workflow: str, job: str, run_id: int) -> Baseline | None:
        t = baseline_templates
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(t.c.run_id, t.c.templates).where(
                        t.c.repo == repo, t.c.workflow == workflow, t.c.job == job
                    )
                ).first()
        except SQLAlchemyError:
            return None
        if row is None or int(row.run_id) != run_id:
            return None
        try:
            templates = json.loads(row.templates)
        except ValueError:
            return None
        return Baseline(baseline_name(repo, run_id, job), frozenset(map(str, templates)))

    def _store(self, repo: str, workflow: str, job: str, run_id: int, baseline: Baseline) -> None:
        t = baseline_templates
        now: datetime = self.clock.now()
        values = {
            "run_id": run_id,
            "templates": json.dumps(sorted(baseline.templates)[:MAX_TEMPLATES]),
            "fetched_at": now,
        }
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    t.update()
                    .where(t.c.repo == repo, t.c.workflow == workflow, t.c.job == job)
                    .values(**values)
                )
                if not done.rowcount:
                    conn.execute(t.insert().values(repo=repo, workflow=workflow, job=job, **values))
        except SQLAlchemyError as exc:  # the cache only saves downloads
            log.warning("cannot keep the baseline of %s %s: %s", repo, job, type(exc).__name__)


BaselineFor = Callable[[FailedRun, FailedJob], Baseline | None]
