"""Local log files (and JUnit XML reports) as a source, for pre-commit and offline use.

Every log file (each job log of a zip archive; a gzip or UTF-16 file as its text, see
:func:`~hee_monitor.analysis.logreader.log_sources`) becomes one failed job of a single run
of repository ``"local"``; every
JUnit XML report with failing test cases becomes one more job whose failed steps are the
failing tests and whose "log" is their failure messages. The run id is derived from the
content, so the same files give the same run (and are handed out once per store).
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
    InMemoryProcessedRuns,
    PollResult,
    ProcessedRuns,
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

    @property
    def log_names(self) -> list[str]:
        """The name of each log, in the order of the jobs: the path as given, or
        ``archive!member`` for each job log of an archive."""
        return [source.name for _, source in self._sources]

    def poll(self) -> Iterator[PollResult]:
        digests = {path: _file_digest(path) for path in (*self.logs, *self.junit)}
        run_id = _id_of(*(digests[p] for p in (*self.logs, *self.junit)))
        key = f"{self.repo}#{run_id}.1"
        if self.state.seen(key):
            return
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
        yield from skips
        if not jobs:
            return
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
        try:
            yield run
        except GeneratorExit:
            self.state.mark(key)
            raise
        self.state.mark(key)

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
