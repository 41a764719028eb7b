"""Local log files (and JUnit XML reports) as a source, for pre-commit and offline use.

Every log file (each job log of a zip archive; a gzip or UTF-16 file as its text, see
:func:`~hee_monitor.analysis.logreader.log_sources`) becomes one failed job of a single run
of repository ``"local"``; every
JUnit XML report with failing test cases becomes one more job whose failed steps are the
failing tests and whose "log" is their failure messages. The run id is derived from the
content, so the same files give the same run (and are handed out once per store).

It goes through the same ports as the GitHub source for what files can answer: polling
(:class:`~hee_monitor.sources.interface.Source`), reading its run
(:class:`~hee_monitor.sources.interface.Runs`), its jobs and their logs
(:class:`~hee_monitor.sources.interface.Jobs`, :class:`~hee_monitor.sources.interface.Logs`).
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from hee_monitor.analysis.logreader import LogSource, log_sources
from hee_monitor.core.errors import LogReadError, SourceError
from hee_monitor.core.models import FailedJob, FailedRun
from hee_monitor.sources.interface import (
    ForgeSettings,
    InMemoryProcessedRuns,
    JobTiming,
    PollResult,
    ProcessedRuns,
    RunStatus,
    Skipped,
)

log = logging.getLogger(__name__)

CHUNK: Final = 64 * 1024


def _id_of(*parts: bytes) -> int:
    digest = hashlib.sha256(b"\0".join(parts)).digest()
    return int.from_bytes(digest[:6], "big")  # fits a JSON number and a SQL BIGINT


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.digest()


def _bytes_opener(data: bytes) -> Callable[[], Iterator[bytes]]:
    def open_log() -> Iterator[bytes]:
        yield data

    return open_log


class LocalSource:
    """Failed runs from files on disk. Paths are checked when the source is made."""

    kind = "local"

    def __init__(
        self,
        logs: Sequence[str | Path],
        *,
        junit: Sequence[str | Path] = (),
        repo: str = "local",
        workflow: str = "local",
        head_sha: str = "",
        branch: str | None = None,
        state: ProcessedRuns | None = None,
    ) -> None:
        self.logs = tuple(Path(p) for p in logs)
        self.junit = tuple(Path(p) for p in junit)
        for path in (*self.logs, *self.junit):
            if not path.is_file():
                raise SourceError(
                    f"{path}: not a readable file",
                    hint="name existing log files (and JUnit XML reports with --junit)",
                )
        if not self.logs and not self.junit:
            raise SourceError("no log files given", hint="name at least one log file")
        #: the logs the files hold (a zip archive may hold several; see log_sources)
        self._sources: list[tuple[Path, LogSource]] = []
        for path in self.logs:
            try:
                self._sources += [(path, source) for source in log_sources(path)]
            except LogReadError as exc:
                raise SourceError(
                    f"{path}: cannot read the log ({exc})",
                    hint="name the log itself, or an intact gzip or zip archive",
                ) from None
        self.repo = repo
        self.workflow = workflow
        self.head_sha = head_sha
        self.branch = branch
        self.state: ProcessedRuns = state if state is not None else InMemoryProcessedRuns()

    @classmethod
    def from_settings(cls, settings: ForgeSettings) -> LocalSource:
        """The source :func:`hee_monitor.sources.open_forge` builds: ``paths`` are the logs,
        ``extra["junit"]`` the JUnit reports, the first of ``repos`` the repository name."""
        return cls(
            settings.paths,
            junit=tuple(Path(p) for p in settings.extra.get("junit", ())),
            repo=settings.repos[0] if settings.repos else "local",
            state=settings.state,
        )

    @property
    def log_names(self) -> list[str]:
        """The name of each log, in the order of the jobs: the path as given, or
        ``archive!member`` for each job log of an archive."""
        return [source.name for _, source in self._sources]

    def poll(self) -> Iterator[PollResult]:
        run, skips = self._read()
        if run is None or self.state.seen(run.key):
            yield from skips if run is None else ()
            return
        yield from skips
        try:
            yield run
        except GeneratorExit:
            self.state.mark(run.key)
            raise
        self.state.mark(run.key)

    def _run_id(self) -> int:
        return _id_of(*(_file_digest(p) for p in (*self.logs, *self.junit)))

    def _read(self) -> tuple[FailedRun | None, list[Skipped]]:
        """The run the files make (None when no job failed), and what could not be read."""
        digests = {path: _file_digest(path) for path in (*self.logs, *self.junit)}
        run_id = _id_of(*(digests[p] for p in (*self.logs, *self.junit)))
        jobs: list[FailedJob] = []
        mtimes: list[datetime] = []
        for path, source in self._sources:
            mtimes.append(datetime.fromtimestamp(path.stat().st_mtime, UTC))
            member = source.name[len(str(path)) :]  # "!member" inside an archive, else ""
            jobs.append(
                FailedJob(
                    job_id=_id_of(digests[path], source.name.encode()),
                    name=path.name + member,
                    conclusion="failure",
                    completed_at=mtimes[-1],
                    open_log=source.open,
                )
            )
        skips: list[Skipped] = []
        for path in self.junit:
            try:
                job = self._junit_job(path, digests[path])
            except (ET.ParseError, ValueError) as exc:
                log.warning("%s: unreadable JUnit XML: %s", path, exc)
                skips.append(Skipped(self.repo, f"{path}: unreadable JUnit XML ({exc})", run_id))
                continue
            if job is not None:
                jobs.append(job)
        if not jobs:
            return None, skips
        run = FailedRun(
            repo=self.repo,
            run_id=run_id,
            run_attempt=1,
            workflow=self.workflow,
            head_sha=self.head_sha,
            branch=self.branch,
            event="local",
            conclusion="failure",
            jobs=tuple(jobs),
            created_at=min(mtimes) if mtimes else None,
        )
        return run, skips

    # -- the ports files can answer ---------------------------------------------------

    def _own_run(self, repo: str, run_id: int) -> FailedRun:
        run, _skips = self._read()
        if run is None or repo != self.repo or run_id != run.run_id:
            raise SourceError(
                f"{repo}: run {run_id} is not in the local files",
                hint=f"the local files make one run of {self.repo!r}",
            )
        return run

    def fetch_failed_run(self, repo: str, run_id: int, attempt: int = 1) -> FailedRun | Skipped:
        try:
            return self._own_run(repo, run_id)
        except SourceError as exc:
            return Skipped(repo, exc.message, run_id)

    def get_run(self, repo: str, run_id: int, attempt: int | None = None) -> RunStatus:
        run = self._own_run(repo, run_id)
        return RunStatus(
            repo=run.repo,
            run_id=run.run_id,
            attempt=run.run_attempt,
            workflow=run.workflow,
            status="completed",
            conclusion=run.conclusion,
            head_sha=run.head_sha,
        )

    def successful_runs(
        self, repo: str, workflow: str | None = None, limit: int = 30
    ) -> tuple[RunStatus, ...]:
        """None: log files hold failed runs only."""
        return ()

    def list_jobs(
        self, repo: str, run_id: int, attempt: int | None = None
    ) -> tuple[JobTiming, ...]:
        return tuple(
            JobTiming(
                job_id=job.job_id,
                name=job.name,
                status="completed",
                conclusion=job.conclusion,
                started_at=job.started_at,
                completed_at=job.completed_at,
            )
            for job in self._own_run(repo, run_id).jobs
        )

    def stream_job_log(self, repo: str, job_id: int) -> Iterator[bytes]:
        run, _skips = self._read()
        for job in run.jobs if run is not None and repo == self.repo else ():
            if job.job_id == job_id and job.open_log is not None:
                return job.open_log()
        raise SourceError(
            f"{repo}: job {job_id} is not in the local files",
            hint=f"the local files make one run of {self.repo!r}",
        )

    def _junit_job(self, path: Path, digest: bytes) -> FailedJob | None:
        """A job for the failing test cases of a JUnit report; None when all passed."""
        root = ET.parse(path).getroot()  # a report the user named; expat refuses entity bombs
        failed: list[str] = []
        text: list[str] = []
        for case in root.iter("testcase"):
            problem = next((child for child in case if child.tag in ("failure", "error")), None)
            if problem is None:
                continue
            name = ".".join(p for p in (case.get("classname"), case.get("name")) if p)
            failed.append(name or "unnamed test")
            message = problem.get("message") or ""
            text.append(f"{problem.tag.upper()} {name}: {message}".rstrip())
            if problem.text and problem.text.strip():
                text.extend("    " + line for line in problem.text.strip().splitlines())
        if not failed:
            return None
        return FailedJob(
            job_id=_id_of(digest, str(path).encode()),
            name=path.name,
            conclusion="failure",
            failed_steps=tuple(failed),
            open_log=_bytes_opener(("\n".join(text) + "\n").encode()),
        )
