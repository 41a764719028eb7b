"""The forge ports: where failed workflow runs come from, and what later stages ask of
the forge (GitHub today) about them. This module is the one place they are declared.

Small ports, each a :class:`~typing.Protocol` a forge implements when it can:

=================  ==========================================================================
:class:`Source`    poll failed runs (every source)
:class:`Runs`      read one run: its status, a run attempt as a failed run, successful runs
:class:`Commits`   the runs of a commit, and waiting for them to complete
:class:`Jobs`      every job of a run attempt, any conclusion (for duration history)
:class:`Logs`      a job's log, streamed
:class:`Artifacts` the artifacts a run uploaded, streamed
:class:`Rerun`     re-run the failed jobs of a run
:class:`PullRequests` the pull request of a fix
:class:`Issues`    issues (escalation)
:class:`Labels`    the labels of a pull request (skip labels)
:class:`Files`     one file of a repository at a ref
:class:`Tokens` what the forge says about its credentials
=================  ==========================================================================

:class:`Forge` is all of them: what the GitHub source offers. A forge is registered in
:data:`hee_monitor.sources.SOURCES` and built by :func:`hee_monitor.sources.open_forge` from
:class:`ForgeSettings`; a stage that needs a port a forge lacks says so (``isinstance``
against the port: every port is runtime-checkable).

A source's :meth:`Source.poll` yields :class:`~hee_monitor.core.models.FailedRun` records and,
for what it could not read (a repository without access, a run whose data is broken),
:class:`Skipped` values: one bad repository never stops a monitoring cycle. Failures that
stop the whole source (bad credentials) raise :class:`~hee_monitor.core.errors.SourceError`.

Each run attempt is handed out once: sources consult a :class:`ProcessedRuns` store by
``FailedRun.key`` (``"owner/repo#run_id.attempt"``); the monitor backs it by the audit store
so that holds across restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hee_monitor.core.clock import Clock
from hee_monitor.core.errors import SourceError
from hee_monitor.core.models import FailedRun, duration_seconds

__all__ = [
    "ArtifactRef",
    "Artifacts",
    "CommitRuns",
    "Commits",
    "Files",
    "Forge",
    "ForgeSettings",
    "InMemoryPollCursors",
    "InMemoryProcessedRuns",
    "IssueRef",
    "Issues",
    "JobTiming",
    "Jobs",
    "Labels",
    "Logs",
    "PollCursors",
    "PollResult",
    "ProcessedRuns",
    "PullRequestRef",
    "PullRequests",
    "Rerun",
    "RunStatus",
    "Runs",
    "Skipped",
    "Source",
    "SourceError",
    "TokenInfo",
    "Tokens",
]


@dataclass(frozen=True)
class Skipped:
    """Something a source could not read this cycle, and why (no secret in ``reason``)."""

    repo: str
    reason: str
    #: the run concerned, when the skip is about one run rather than the whole repository
    run_id: int | None = None
    #: the run's attempt, when known
    attempt: int | None = None


PollResult = FailedRun | Skipped


@runtime_checkable
class Source(Protocol):
    """Yields failed runs not handed out before, and skips."""

    def poll(self) -> Iterator[PollResult]: ...


@runtime_checkable
class ProcessedRuns(Protocol):
    """Remembers which run attempts were already handed out (keys are ``FailedRun.key``)."""

    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class InMemoryProcessedRuns:
    """A :class:`ProcessedRuns` for one process (tests, one-shot runs)."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        with self._lock:
            return key in self._keys

    def mark(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def __len__(self) -> int:
        return len(self._keys)


@runtime_checkable
class PollCursors(Protocol):
    """Remembers, per listing (a key the source chooses), the ETag of the last answer the
    source finished with, so a conditional request after a restart is still a free 304."""

    def get_etag(self, key: str) -> str | None: ...

    def put_etag(self, key: str, etag: str | None) -> None: ...


class InMemoryPollCursors:
    """A :class:`PollCursors` for one process."""

    def __init__(self) -> None:
        self._etags: dict[str, str] = {}
        self._lock = threading.Lock()

    def get_etag(self, key: str) -> str | None:
        with self._lock:
            return self._etags.get(key)

    def put_etag(self, key: str, etag: str | None) -> None:
        with self._lock:
            if etag:
                self._etags[key] = etag
            else:
                self._etags.pop(key, None)


# ---------------------------------------------------------------------------------------
# Values the ports return (forge-neutral)


@dataclass(frozen=True)
class RunStatus:
    repo: str
    run_id: int
    attempt: int
    workflow: str
    status: str
    conclusion: str | None
    head_sha: str
    html_url: str | None = None

    @property
    def completed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class CommitRuns:
    """The workflow runs of one commit, as :meth:`Commits.wait_for_commit` left them."""

    repo: str
    sha: str
    runs: tuple[RunStatus, ...]
    #: False when the wait timed out (or no run appeared) before every run completed
    complete: bool

    @property
    def conclusions(self) -> dict[str, str | None]:
        """Workflow name → conclusion (None while not completed)."""
        return {run.workflow: run.conclusion for run in self.runs}

    @property
    def succeeded(self) -> bool:
        return (
            self.complete
            and bool(self.runs)
            and all(r.conclusion in ("success", "skipped", "neutral") for r in self.runs)
        )


@dataclass(frozen=True)
class PullRequestRef:
    number: int
    url: str
    html_url: str
    head: str
    base: str
    #: False when an open pull request for the same head and base existed already
    created: bool = True


@dataclass(frozen=True)
class IssueRef:
    number: int
    html_url: str
    title: str
    state: str
    labels: tuple[str, ...] = ()
    body: str = ""
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobTiming:
    """One job of a run attempt, whatever its conclusion (for duration history)."""

    job_id: int
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        return duration_seconds(self.started_at, self.completed_at)


@dataclass(frozen=True)
class ArtifactRef:
    """An artifact a workflow run uploaded."""

    artifact_id: int
    name: str
    size_in_bytes: int
    expired: bool


@dataclass(frozen=True)
class TokenInfo:
    """What GitHub says about the token (never the token itself)."""

    login: str | None
    scopes: tuple[str, ...]
    #: from ``github-authentication-token-expiration``; None when the token does not expire
    expires_at: datetime | None
    rate_limit: int | None
    rate_remaining: int | None
    #: False when GitHub sent no ``X-OAuth-Scopes`` (fine-grained and app tokens)
    scopes_known: bool = True

    def expires_within(self, now: datetime, window: timedelta) -> bool:
        return self.expires_at is not None and self.expires_at - now <= window


# ---------------------------------------------------------------------------------------
# The ports


@runtime_checkable
class Runs(Protocol):
    """Read runs: one attempt as a failed run (webhooks, ``monitor --run``), a run's
    status (did the re-run pass?), the latest successful runs (duration history)."""

    def fetch_failed_run(self, repo: str, run_id: int, attempt: int = 1) -> FailedRun | Skipped: ...

    def get_run(self, repo: str, run_id: int, attempt: int | None = None) -> RunStatus: ...

    def successful_runs(
        self, repo: str, workflow: str | None = None, limit: int = 30
    ) -> Sequence[RunStatus]: ...


@runtime_checkable
class Commits(Protocol):
    """The runs of a commit (verifying a pushed fix)."""

    def runs_for_commit(self, repo: str, sha: str) -> Sequence[RunStatus]: ...

    def wait_for_commit(
        self, repo: str, sha: str, timeout: float, clock: Clock | None = None, *,
        interval: float = 30.0,
    ) -> CommitRuns: ...  # fmt: skip


@runtime_checkable
class Jobs(Protocol):
    def list_jobs(
        self, repo: str, run_id: int, attempt: int | None = None
    ) -> Sequence[JobTiming]: ...


@runtime_checkable
class Logs(Protocol):
    def stream_job_log(self, repo: str, job_id: int) -> Iterator[bytes]: ...


@runtime_checkable
class Artifacts(Protocol):
    def list_artifacts(self, repo: str, run_id: int) -> Sequence[ArtifactRef]: ...

    def stream_artifact(self, repo: str, artifact_id: int) -> Iterator[bytes]: ...


@runtime_checkable
class Rerun(Protocol):
    def rerun_failed_jobs(self, repo: str, run_id: int) -> object: ...


@runtime_checkable
class PullRequests(Protocol):
    """What a fix needs besides git (which pushes the branch): open (or find the open) pull
    request; the result has an ``html_url``."""

    def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> Any: ...


@runtime_checkable
class Issues(Protocol):
    """Issues where people track work (escalation of persistent failures)."""

    def create_issue(
        self,
        repo: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
    ) -> Any: ...

    def comment_issue(self, repo: str, number: int, body: str) -> str: ...

    def update_issue(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: Sequence[str] | None = None,
        state: str | None = None,
    ) -> Any: ...

    def close_issue(self, repo: str, number: int, comment: str | None = None) -> Any: ...

    def issues_containing(
        self, repo: str, text: str, labels: Sequence[str] = (), state: str = "all",
        max_pages: int = 10,
    ) -> Sequence[Any]: ...  # fmt: skip


@runtime_checkable
class Labels(Protocol):
    def pull_request_labels(self, repo: str, number: int) -> tuple[str, ...]: ...


@runtime_checkable
class Files(Protocol):
    def read_file(self, repo: str, path: str, ref: str | None = None) -> bytes | None: ...


@runtime_checkable
class Tokens(Protocol):
    def token_info(self) -> TokenInfo: ...


@runtime_checkable
class Forge(
    Source, Runs, Commits, Jobs, Logs, Artifacts, Rerun, PullRequests, Issues, Labels, Files,
    Tokens, Protocol,
):  # fmt: skip
    """Every port: a hosted forge such as GitHub."""

    repos: tuple[str, ...]

    def close(self) -> None: ...


@dataclass(frozen=True)
class ForgeSettings:
    """What :func:`hee_monitor.sources.open_forge` hands a forge's ``from_settings``; each
    forge reads the fields that apply to it."""

    repos: tuple[str, ...] = ()
    #: the credential (never logged); None: the forge's environment variable, if any
    token: str | None = None
    api_url: str | None = None
    clock: Clock | None = None
    state: ProcessedRuns | None = None
    cursors: PollCursors | None = None
    #: runs created this long before the first poll are not handed out
    lookback: timedelta = timedelta(hours=24)
    #: retries of one request; None: the forge's default
    retries: int | None = None
    #: seconds between writes (None: no pacing)
    write_interval: float | None = 1.0
    #: files a file-based source reads (log files; JUnit reports in ``extra["junit"]``)
    paths: tuple[Path, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
