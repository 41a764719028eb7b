"""GitHub Actions as a source of failed runs, and the GitHub calls later stages need.

This package is the only one that imports PyGithub; :class:`GitHubSource` implements every
port of :mod:`hee_monitor.sources.interface` (it is a
:class:`~hee_monitor.sources.interface.Forge`). Design notes:

* **Cheap idle polls.** Each repository is polled with one conditional request for the
  first page of its completed runs (``If-None-Match`` with the ETag of the previous answer).
  GitHub answers 304 when nothing changed and does not count a 304 against the rate limit,
  so an idle repository costs nothing. PyGithub does not send conditional requests for
  lists, so the poll goes through the public ``Github.requester.requestJson`` (which keeps
  PyGithub's authentication, base URL and retry) and the answer is handed to PyGithub's
  ``PaginatedList`` as its first page; further pages and jobs are ordinary PyGithub calls.
* **Rate limits and errors.** Retries are urllib3's ``Retry`` through PyGithub's
  :class:`~github.GithubRetry.GithubRetry` (primary and secondary limits, ``Retry-After``,
  5xx and network errors, exponential backoff with jitter), subclassed only so that every
  wait goes through the injected :class:`~hee_monitor.core.clock.Clock` and so that a 429 or 403
  with ``X-RateLimit-Remaining: 0`` waits until ``X-RateLimit-Reset``. Before a poll the
  source also waits for the reset itself when the last answer said nothing is left.
* **Outcomes.** 401 stops the source with a :class:`SourceError` (the token is never in the
  message); 404, 403 and exhausted retries skip that repository this cycle
  (:class:`Skipped`); a run whose data cannot be parsed is skipped and logged.
* **Once.** A run attempt is handed out once: its key is marked in the
  :class:`ProcessedRuns` store when the consumer asks for the next item (or stops), so a
  crash while processing a run hands it out again after a restart.
* **Logs** are streamed: the job's ``/logs`` endpoint answers 302 with a signed URL that
  is fetched in chunks without the token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn

import urllib3
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import BadCredentialsException, UnknownObjectException
from github.PaginatedList import PaginatedList
from github.Requester import Requester
from github.WorkflowJob import WorkflowJob

from hee_monitor.core.clock import Clock, SystemClock
from hee_monitor.core.errors import SourceError
from hee_monitor.core.models import FailedJob, FailedRun
from hee_monitor.sources.github.app import AppCredentials, GitHubApp
from hee_monitor.sources.interface import (
    ArtifactRef,
    CommitRuns,
    ForgeSettings,
    InMemoryPollCursors,
    InMemoryProcessedRuns,
    IssueRef,
    JobTiming,
    PollCursors,
    PollResult,
    ProcessedRuns,
    PullRequestRef,
    RunStatus,
    Skipped,
    TokenInfo,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.github.com"
#: run conclusions that mean "did not succeed" (neutral, skipped, stale, action_required do not)
FAILED_CONCLUSIONS: Final = frozenset({"failure", "timed_out", "cancelled", "startup_failure"})
_FAILED_STEP_CONCLUSIONS: Final = frozenset({"failure", "timed_out", "cancelled"})
_NEXT_LINK: Final = re.compile(r'<([^>]+)>;\s*rel="next"')
_TOKEN_HINT: Final = (
    "check GITHUB_TOKEN (or --token): it may be mistyped, expired or revoked; "
    "a fine-grained token needs read access to Actions"
)


class TokenRejected(SourceError):
    """GitHub answered 401 to a call made with the token: fatal for that token (the cycle
    stops, the command exits 3 and one critical alert says so); never a skipped repository."""

    exit_code = 3
    fatal = True


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry GitHub: urllib3 ``Retry`` settings (waits go through the clock).

    Bounded: a call that keeps failing gives up after about 15 s of backoff; what it was
    for is retried by the next cycle (a held run, an effect intent, a skipped repository)
    rather than stalling this one."""

    total: int = 4
    #: a host that cannot be reached now (DNS, refused, no route) is tried again by the
    #: next cycle: a one-shot CI job must not spend many minutes backing off on it
    connect: int = 2
    backoff_factor: float = 1.0
    backoff_max: float = 15.0
    backoff_jitter: float = 1.0
    #: wait after a secondary-limit answer without ``Retry-After`` (GitHub: at least a minute)
    secondary_rate_wait: float = 60.0


class ClockRetry(GithubRetry):
    """PyGithub's retry, sleeping through an injected clock.

    Also treats a 429/403 with ``X-RateLimit-Remaining: 0`` and no ``Retry-After`` as "retry
    after the reset" (GitHub documents both status codes for the primary limit; PyGithub
    only recognises the 403 by its message).
    """

    def __init__(self, *, clock: Clock, **kwargs: Any) -> None:
        self.clock = clock
        kwargs.setdefault("status_forcelist", [429, *range(500, 600)])
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> ClockRetry:
        kw["clock"] = self.clock
        retry: ClockRetry = super().new(**kw)
        return retry

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        retry_after = super().get_retry_after(response)
        if retry_after is not None:
            return retry_after
        if response.headers.get("X-RateLimit-Remaining") == "0":
            reset = response.headers.get("X-RateLimit-Reset", "")
            if reset.isdigit():
                # +1: it is not known when within that second the window resets
                return max(int(reset) - self.clock.now().timestamp(), 0.0) + 1.0
        if response.status == 429:
            # a secondary limit without Retry-After: GitHub says wait at least a minute
            return float(self.secondary_rate_wait)
        return None

    def sleep_for_retry(self, response: urllib3.BaseHTTPResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            log.info("GitHub asked to wait %.0f s before retrying", retry_after)
            self.clock.sleep(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.clock.sleep(backoff)


class DownloadRetry(urllib3.Retry):
    """Retry of the signed log/artifact downloads: network errors and 5xx only (a 403 or
    404 there means an expired or missing log, which waiting does not fix); waits go
    through the injected clock."""

    def __init__(self, *, clock: Clock, **kwargs: Any) -> None:
        self.clock = clock
        kwargs.setdefault("status_forcelist", list(range(500, 600)))
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> DownloadRetry:
        kw["clock"] = self.clock
        retry: DownloadRetry = super().new(**kw)
        return retry

    def sleep_for_retry(self, response: urllib3.BaseHTTPResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            self.clock.sleep(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.clock.sleep(backoff)


@dataclass
class _RepoCursor:
    #: the ETag of the listing just read, stored in the cursor store once every run it
    #: listed was handed out (a 304 must never hide a run that was not)
    pending_etag: str | None = None
    polled: int = 0
    not_modified: int = 0


@dataclass
class PollStats:
    """Counters of the last and all polls (for logs and benchmarks)."""

    requests: int = 0
    not_modified: int = 0
    runs_yielded: int = 0
    skipped: int = 0
    waits: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------------------------


class GitHubSource:
    """Failed workflow runs of GitHub repositories, polled cheaply.

    ``repos`` are ``owner/name``; ``token`` defaults to ``$GITHUB_TOKEN``; ``api_url`` is
    the API root (``https://ghe.example.com/api/v3`` for GitHub Enterprise Server). Runs
    created before ``since`` (default: ``lookback`` before the first poll) are not handed out.
    """

    kind = "github"

    def __init__(
        self,
        repos: Sequence[str],
        *,
        token: str | None = None,
        api_url: str | None = None,
        clock: Clock | None = None,
        state: ProcessedRuns | None = None,
        cursors: PollCursors | None = None,
        since: datetime | None = None,
        lookback: timedelta = timedelta(hours=24),
        per_page: int = 100,
        max_pages: int = 10,
        retry: RetryPolicy | None = None,
        write_interval: float | None = 1.0,
        timeout: float = 30.0,
        log_chunk_size: int = 64 * 1024,
        read_pr_labels: bool = True,
        app: AppCredentials | None = None,
    ) -> None:
        for repo in repos:
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise SourceError(
                    f"{repo!r} is not a repository name",
                    hint="name repositories as owner/name, e.g. octo-org/app",
                )
        self.repos = tuple(repos)
        self.clock: Clock = clock or SystemClock()
        self.state: ProcessedRuns = state if state is not None else InMemoryProcessedRuns()
        self.cursors: PollCursors = cursors if cursors is not None else InMemoryPollCursors()
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.since = since or (self.clock.now() - lookback)
        self.per_page = per_page
        self.max_pages = max_pages
        self.log_chunk_size = log_chunk_size
        self.read_pr_labels = read_pr_labels
        self.timeout = timeout
        self.stats = PollStats()
        self._cursors: dict[str, _RepoCursor] = {}
        self._commit_cache: dict[str, tuple[str, tuple[RunStatus, ...]]] = {}
        #: (repo, run id) → (attempt, its jobs) as the poll read them, for list_jobs
        self._job_timings: dict[tuple[str, int], tuple[int, tuple[JobTiming, ...]]] = {}
        self._timings_lock = threading.Lock()
        policy = retry or RetryPolicy()
        self._retry = ClockRetry(
            clock=self.clock,
            total=policy.total,
            connect=policy.connect,
            backoff_factor=policy.backoff_factor,
            backoff_max=policy.backoff_max,
            backoff_jitter=policy.backoff_jitter,
            secondary_rate_wait=policy.secondary_rate_wait,
        )
        secret = token if token is not None else os.environ.get("GITHUB_TOKEN") or None
        if app is not None:
            secret = None  # the app's installation tokens, never a personal token
        elif not secret:
            log.warning(
                "no GitHub token (GITHUB_TOKEN): unauthenticated requests are limited to "
                "60 an hour and private repositories are not visible"
            )
        if not 1 <= per_page <= 100:
            raise SourceError(f"per_page {per_page} is out of range", hint="use 1 to 100")
        self._gh = Github(
            auth=Auth.Token(secret) if secret else None,
            base_url=self.api_url,
            timeout=int(timeout),
            retry=self._retry,
            per_page=per_page,
            # PyGithub sleeps for real between requests; writes keep GitHub's advice of
            # about a second apart (secondary limits), reads are paced by the poll interval.
            seconds_between_requests=None,
            seconds_between_writes=write_interval,
            lazy=True,
        )
        #: GitHub App authentication: one client (token, rate limit) per installation
        self.app: GitHubApp | None = None
        if app is not None:
            self.app = GitHubApp(
                app,
                api_url=self.api_url,
                retry=self._retry,
                timeout=int(timeout),
                client_options={
                    "per_page": per_page,
                    "seconds_between_requests": None,
                    "seconds_between_writes": write_interval,
                    "lazy": True,
                },
            )
        # Signed log URLs are on another host and take no token: a plain pool, same retries.
        self._downloads = urllib3.PoolManager(
            retries=DownloadRetry(
                clock=self.clock,
                total=policy.total,
                backoff_factor=policy.backoff_factor,
                backoff_max=policy.backoff_max,
                backoff_jitter=policy.backoff_jitter,
                raise_on_status=False,
            ),
            timeout=timeout,
        )

    @classmethod
    def from_settings(cls, settings: ForgeSettings) -> GitHubSource:
        """The source :func:`hee_monitor.sources.open_forge` builds."""
        return cls(
            list(settings.repos),
            token=settings.token,
            app=AppCredentials.from_env(),
            api_url=settings.api_url,
            clock=settings.clock,
            state=settings.state,
            cursors=settings.cursors,
            lookback=settings.lookback,
            retry=RetryPolicy(total=settings.retries, backoff_factor=0.5)
            if settings.retries is not None
            else None,
            write_interval=settings.write_interval,
        )

    def close(self) -> None:
        if self.app is not None:
            self.app.close()
        self._gh.close()
        self._downloads.clear()

    def __enter__(self) -> GitHubSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requester(self) -> Requester:
        return self._gh.requester

    def _client(self, repo: str) -> Github:
        """The PyGithub client for ``repo``: its app installation's, or the token's."""
        if self.app is None or not repo:
            return self._gh
        return self.app.client(repo)

    def _requester(self, repo: str) -> Requester:
        return self._client(repo).requester

    # -- polling ------------------------------------------------------------------------

    def poll(self) -> Iterator[PollResult]:
        """Yield each failed run attempt not handed out before, and a :class:`Skipped` for
        each repository or run that could not be read. Raises :class:`SourceError` when
        GitHub rejects the token."""
        for repo in self.repos:
            yield from self.poll_repo(repo)

    def poll_repo(self, repo: str) -> Iterator[PollResult]:
        if self.app is not None:
            try:
                self.app.installation_for(repo)
            except SourceError as exc:  # not installed there: that repository is skipped
                self.stats.skipped += 1
                log.warning("skipping %s: %s", repo, exc.message)
                yield Skipped(repo, f"{exc.message}; {exc.hint}" if exc.hint else exc.message)
                return
        self._wait_for_rate_limit(repo)
        try:
            runs = self._new_completed_runs(repo)
        except _SkipRepo as skip:
            self.stats.skipped += 1
            log.warning("skipping %s: %s", repo, skip.reason)
            yield Skipped(repo, skip.reason)
            return
        complete = True
        for raw in runs:
            result = self._failed_run(repo, raw)
            if result is None:
                continue
            if isinstance(result, Skipped):
                self.stats.skipped += 1
                complete = False  # read again next poll, not hidden behind a 304
                yield result
                continue
            try:
                yield result
            except GeneratorExit:
                self.state.mark(result.key)
                raise
            self.state.mark(result.key)
            self.stats.runs_yielded += 1
        cursor = self._cursors[repo]
        if complete and cursor.pending_etag is not None:
            self.cursors.put_etag(self._cursor_key(repo), cursor.pending_etag)
        cursor.pending_etag = None

    def _cursor_key(self, repo: str) -> str:
        """Which listing an ETag belongs to: host, repository and page size."""
        return f"{self.api_url} {repo} completed/{self.per_page}"

    def _new_completed_runs(self, repo: str) -> list[dict[str, Any]]:
        """Completed runs created since ``self.since`` not seen yet (newest first); [] on 304."""
        cursor = self._cursors.setdefault(repo, _RepoCursor())
        cursor.pending_etag = None
        url = f"/repos/{repo}/actions/runs"
        params = {"status": "completed", "per_page": self.per_page}
        etag = self.cursors.get_etag(self._cursor_key(repo))
        headers = {"If-None-Match": etag} if etag else {}
        with self._translate(repo, "list workflow runs"):
            status, response_headers, output = self._requester(repo).requestJson(
                "GET", url, parameters=params, headers=headers
            )
            self.stats.requests += 1
            cursor.polled += 1
            if status == 304:
                self.stats.not_modified += 1
                cursor.not_modified += 1
                return []
            data = _json_body(output)
            if status >= 400:
                raise Requester.createException(status, response_headers, data)
            wanted: list[dict[str, Any]] = []
            listed = self._items(data, response_headers, "workflow_runs", repo=repo)
            for index, raw in enumerate(listed):
                if index >= self.per_page * self.max_pages:
                    log.warning("%s: more than %d completed runs to scan", repo, index)
                    break
                created = _parse_time(raw.get("created_at"))
                if created is not None and created < self.since:
                    break  # newest first: the rest is older
                if raw.get("conclusion") in FAILED_CONCLUSIONS:
                    wanted.append(raw)
        # Only remember the ETag once the whole answer was read (if reading the later
        # pages failed, the next poll must not be a 304 that hides these runs), and store
        # it once poll_repo handed out every run listed.
        cursor.pending_etag = response_headers.get("etag")
        return wanted

    def _items(
        self, data: Any, headers: dict[str, Any], key: str, *, repo: str = ""
    ) -> Iterator[dict[str, Any]]:
        """The items of a list answer and of the pages its ``Link: rel="next"`` leads to.

        Raw dicts rather than PyGithub objects: a lazily created PyGithub object fetches
        itself again when its ``raw_data`` is read, one request per run."""
        while True:
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise GithubException(200, data, headers, f"answer without a {key} list")
            yield from (item for item in data[key] if isinstance(item, dict))
            match = _NEXT_LINK.search(str(headers.get("link", "")))
            if match is None:
                return
            headers, data = self._requester(repo).requestJsonAndCheck("GET", match.group(1))
            self.stats.requests += 1

    def _failed_run(self, repo: str, raw: dict[str, Any]) -> FailedRun | Skipped | None:
        try:
            key = f"{repo}#{int(raw['id'])}.{int(raw.get('run_attempt') or 1)}"
        except (KeyError, TypeError, ValueError):
            log.warning("%s: skipping a run without a usable id/run_attempt", repo)
            return Skipped(repo, "workflow run without a usable id or run_attempt")
        if self.state.seen(key):
            return None
        return self._build_failed_run(repo, raw, key)

    def fetch_failed_run(self, repo: str, run_id: int, attempt: int = 1) -> FailedRun | Skipped:
        """One run attempt as a :class:`FailedRun` (e.g. after a webhook delivery), whether
        or not it was handed out before; :class:`Skipped` when it cannot be read."""
        self._wait_for_rate_limit(repo)
        try:
            with self._translate(repo, f"read run {run_id} attempt {attempt}"):
                _headers, raw = self._requester(repo).requestJsonAndCheck(
                    "GET", f"/repos/{repo}/actions/runs/{int(run_id)}/attempts/{int(attempt)}"
                )
        except _SkipRepo as skip:
            return Skipped(repo, skip.reason, run_id)
        if not isinstance(raw, dict):
            return Skipped(repo, f"run {run_id}: unreadable run data", run_id)
        return self._build_failed_run(repo, raw, f"{repo}#{run_id}.{attempt}")

    def _build_failed_run(self, repo: str, raw: dict[str, Any], key: str) -> FailedRun | Skipped:
        run_id = raw.get("id")
        try:
            run = _parse_run(repo, raw)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("%s: skipping run %s, unreadable data: %s", repo, run_id, exc)
            self.state.mark(key)  # the same data will not become readable
            return Skipped(repo, f"run {run_id}: unreadable run data ({exc})", int(raw["id"]))
        try:
            jobs = self._failed_jobs(repo, raw)
        except _SkipRepo as skip:
            return Skipped(repo, f"run {run_id}: {skip.reason}", run.run_id, run.run_attempt)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # a truncated or malformed answer: the run is read again later (the cycle holds
            # it pending with backoff), never marked done unread
            log.warning("%s: run %s, unreadable job data: %s", repo, run_id, exc)
            return Skipped(
                repo, f"run {run_id}: unreadable job data ({exc})", run.run_id, run.run_attempt
            )
        return FailedRun(
            repo=run.repo,
            run_id=run.run_id,
            run_attempt=run.run_attempt,
            workflow=run.workflow,
            head_sha=run.head_sha,
            branch=run.branch,
            event=run.event,
            conclusion=run.conclusion,
            jobs=jobs,
            html_url=run.html_url,
            head_commit_message=run.head_commit_message,
            created_at=run.created_at,
            updated_at=run.updated_at,
            labels=self._pull_request_labels(repo, raw),
            workflow_id=run.workflow_id,
            base_branch=run.base_branch,
        )

    def _pull_request_labels(self, repo: str, raw: dict[str, Any]) -> tuple[str, ...]:
        """Labels of the pull requests a run belongs to (what a ``[skip]`` label is read
        from); one request per pull request, and none for a push run. Unreadable: none."""
        if not self.read_pr_labels:
            return ()
        pulls = raw.get("pull_requests")
        labels: list[str] = []
        for pull in pulls if isinstance(pulls, list) else []:
            number = pull.get("number") if isinstance(pull, dict) else None
            if not isinstance(number, int):
                continue
            try:
                found = self._labels_of(repo, number)
            except _SkipRepo as skip:
                log.warning("%s: %s", repo, skip.reason)
                continue
            labels += [label for label in found if label not in labels]
        return tuple(labels)

    def pull_request_labels(self, repo: str, number: int) -> tuple[str, ...]:
        """The labels of pull request ``number``."""
        try:
            return self._labels_of(repo, number)
        except _SkipRepo as skip:
            raise SourceError(f"{repo}: {skip.reason}", hint="try again later") from None

    def _labels_of(self, repo: str, number: int) -> tuple[str, ...]:
        with self._translate(repo, f"read the labels of pull request #{number}"):
            _headers, data = self._requester(repo).requestJsonAndCheck(
                "GET", f"/repos/{repo}/pulls/{number}"
            )
        labels: list[str] = []
        for label in (data or {}).get("labels") or []:
            if isinstance(label, dict) and label.get("name") not in labels:
                labels.append(str(label.get("name")))
        return tuple(labels)

    def _failed_jobs(self, repo: str, raw: dict[str, Any]) -> tuple[FailedJob, ...]:
        attempt = int(raw.get("run_attempt") or 1)
        url = f"/repos/{repo}/actions/runs/{int(raw['id'])}/attempts/{attempt}/jobs"
        with self._translate(repo, f"list jobs of run {raw['id']}"):
            jobs: PaginatedList[WorkflowJob] = PaginatedList(
                WorkflowJob, self._requester(repo), url, None, list_item="jobs"
            )
            failed = []
            timings = []
            for index, job in enumerate(jobs):
                if index % self.per_page == 0:
                    self.stats.requests += 1
                timings.append(_job_timing(job.raw_data))
                if job.conclusion not in _FAILED_STEP_CONCLUSIONS:
                    continue
                failed.append(
                    FailedJob(
                        job_id=int(job.id),
                        name=str(job.name),
                        conclusion=str(job.conclusion),
                        failed_steps=tuple(
                            str(step.name)
                            for step in job.steps
                            if step.conclusion in _FAILED_STEP_CONCLUSIONS
                        ),
                        started_at=_aware(job.started_at),
                        completed_at=_aware(job.completed_at),
                        html_url=job.html_url,
                        open_log=self._log_opener(repo, int(job.id)),
                    )
                )
        # what list_jobs is asked next for this run (job durations): not fetched twice
        with self._timings_lock:
            self._job_timings[(repo, int(raw["id"]))] = (attempt, tuple(timings))
            while len(self._job_timings) > 256:
                self._job_timings.pop(next(iter(self._job_timings)))
        return tuple(failed)

    def _log_opener(self, repo: str, job_id: int) -> Callable[[], Iterator[bytes]]:
        def open_log() -> Iterator[bytes]:
            return self.stream_job_log(repo, job_id)

        return open_log

    def stream_job_log(self, repo: str, job_id: int) -> Iterator[bytes]:
        """The job's plain-text log in chunks, following GitHub's 302 to the signed URL
        without sending the token there; never holds the whole log in memory."""
        self._wait_for_rate_limit(repo)
        job = self._client(repo).get_repo(repo).get_workflow_job(job_id)
        with self._translate(repo, f"fetch the log of job {job_id}", skip=False):
            location = job.logs_url()
        yield from self._stream_download(
            repo,
            location,
            what=f"the log of job {job_id}",
            host="log",
            expired_hint="logs expire after the repository's retention period (default 90 days)",
            broken_hint="the log host may be unreachable; the next cycle tries again",
        )

    def _stream_download(
        self,
        repo: str,
        location: str,
        *,
        what: str,
        host: str,
        expired_hint: str,
        broken_hint: str,
    ) -> Iterator[bytes]:
        """Stream a signed download URL in chunks, without the token, translating failures."""
        try:
            response = self._downloads.request(
                "GET", location, preload_content=False, redirect=True
            )
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(
                f"{repo}: could not download {what}: {type(exc).__name__}",
                hint=f"the {host} host may be unreachable; the next cycle tries again",
            ) from None
        try:
            if response.status != 200:
                raise SourceError(
                    f"{repo}: {what} could not be downloaded (HTTP {response.status})",
                    hint=expired_hint,
                )
            yield from response.stream(self.log_chunk_size)
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(
                f"{repo}: the download of {what} broke off: {type(exc).__name__}",
                hint=broken_hint,
            ) from None
        finally:
            response.release_conn()

    # -- rate limit ---------------------------------------------------------------------

    def _wait_for_rate_limit(self, repo: str = "") -> None:
        """Wait for the reset when the last answer (of ``repo``'s installation, with a GitHub
        App: each has its own limit) said no request is left."""
        remaining, _limit = self._requester(repo).rate_limiting
        reset = self._requester(repo).rate_limiting_resettime
        if remaining == 0 and reset:
            wait = reset - self.clock.now().timestamp() + 1
            if wait > 0:
                log.warning("GitHub rate limit used up; waiting %.0f s for the reset", wait)
                self.stats.waits.append(wait)
                self.clock.sleep(wait)

    # -- errors -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, repo: str, action: str, *, skip: bool = True) -> Iterator[None]:
        """Translate PyGithub/requests errors: 401 → SourceError; others → skip (or
        SourceError when ``skip`` is False)."""
        try:
            yield
        except BadCredentialsException:
            where = f" in {repo}" if repo else ""
            raise TokenRejected(
                f"GitHub at {self.api_url} rejected the token (401 Bad credentials) "
                f"while trying to {action}{where}",
                hint=_TOKEN_HINT,
            ) from None
        except UnknownObjectException:
            self._skip_or_raise(
                skip,
                repo,
                f"not found or no access (404) while trying to {action}; check the "
                "repository name and that the token can read it",
            )
        except GithubException as exc:
            if exc.status == 401:
                raise TokenRejected(
                    f"GitHub at {self.api_url} refused the token (401) while trying to "
                    f"{action}" + (f" in {repo}" if repo else ""),
                    hint=_TOKEN_HINT,
                ) from None
            self._skip_or_raise(
                skip,
                repo,
                f"GitHub answered {exc.status} while trying to {action}: {_message(exc)}",
            )
        except OSError as exc:
            # requests' ConnectionError/RetryError/Timeout are OSErrors: the retries
            # (network errors, 5xx, rate limits) were used up.
            self._skip_or_raise(
                skip,
                repo,
                f"GitHub unreachable or overloaded while trying to {action} "
                f"({type(exc).__name__}, retries used up); the next cycle tries again",
            )

    def _skip_or_raise(self, skip: bool, repo: str, reason: str) -> NoReturn:
        if skip:
            raise _SkipRepo(reason)
        raise SourceError(f"{repo}: {reason}" if repo else reason, hint="try again later")

    # -- thin helpers for later stages --------------------------------------------------

    def get_run(self, repo: str, run_id: int, attempt: int | None = None) -> RunStatus:
        with self._translate(repo, f"read run {run_id}", skip=False):
            run = self._client(repo).get_repo(repo).get_workflow_run(run_id)
            if attempt is not None:
                run = run.get_attempt(attempt)
            return _run_status(repo, run.raw_data)

    def rerun_failed_jobs(self, repo: str, run_id: int) -> bool:
        """Ask GitHub to re-run the failed jobs of a run; True when it accepted (201)."""
        with self._translate(repo, f"re-run the failed jobs of run {run_id}", skip=False):
            run = self._client(repo).get_repo(repo).get_workflow_run(run_id)
            return run.rerun_failed_jobs()

    def runs_for_commit(self, repo: str, sha: str) -> tuple[RunStatus, ...]:
        """The workflow runs of a commit (a conditional request: free while unchanged)."""
        url = f"/repos/{repo}/actions/runs"
        cache_key = f"{repo}@{sha}"
        cached = self._commit_cache.get(cache_key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        with self._translate(repo, f"list the runs of commit {sha[:12]}", skip=False):
            status, response_headers, output = self._requester(repo).requestJson(
                "GET", url, parameters={"head_sha": sha, "per_page": 100}, headers=headers
            )
            if status == 304 and cached:
                return cached[1]
            data = _json_body(output)
            if status >= 400:
                raise Requester.createException(status, response_headers, data)
            runs = tuple(
                _run_status(repo, raw)
                for raw in self._items(data, response_headers, "workflow_runs", repo=repo)
            )
        self._commit_cache[cache_key] = (str(response_headers.get("etag", "")), runs)
        return runs

    def wait_for_commit(
        self,
        repo: str,
        sha: str,
        timeout: float,
        clock: Clock | None = None,
        *,
        interval: float = 30.0,
    ) -> CommitRuns:
        """Poll until every workflow run of ``sha`` completed (or ``timeout`` seconds pass)."""
        clock = clock or self.clock
        deadline = clock.monotonic() + timeout
        while True:
            runs = self.runs_for_commit(repo, sha)
            if runs and all(run.completed for run in runs):
                return CommitRuns(repo, sha, runs, complete=True)
            if clock.monotonic() + interval > deadline:
                return CommitRuns(repo, sha, runs, complete=False)
            clock.sleep(interval)

    def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> PullRequestRef:
        """Open a pull request; if one is already open for ``head`` → ``base``, return it."""
        with self._translate(repo, f"open a pull request from {head} to {base}", skip=False):
            gh_repo = self._client(repo).get_repo(repo)
            try:
                pull = gh_repo.create_pull(
                    base=base, head=head, title=title, body=body, draft=draft
                )
            except GithubException as exc:
                if exc.status != 422 or "already exists" not in json.dumps(exc.data):
                    raise
                owner = repo.split("/", 1)[0]
                existing = list(gh_repo.get_pulls(state="open", head=f"{owner}:{head}", base=base))
                if not existing:
                    raise
                pull = existing[0]
                return PullRequestRef(pull.number, pull.url, pull.html_url, head, base, False)
            return PullRequestRef(pull.number, pull.url, pull.html_url, head, base)

    def branch_sha(self, repo: str, branch: str) -> str:
        with self._translate(repo, f"read branch {branch}", skip=False):
            return str(self._client(repo).get_repo(repo).get_git_ref(f"heads/{branch}").object.sha)

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        with self._translate(repo, f"create branch {branch}", skip=False):
            self._client(repo).get_repo(repo).create_git_ref(f"refs/heads/{branch}", sha)

    def put_file(self, repo: str, branch: str, path: str, content: bytes, message: str) -> str:
        """Create or update a file on ``branch``; returns the new commit's sha."""
        with self._translate(repo, f"write {path} on {branch}", skip=False):
            gh_repo = self._client(repo).get_repo(repo)
            try:
                current = gh_repo.get_contents(path, ref=branch)
            except UnknownObjectException:
                result = gh_repo.create_file(path, message, content, branch=branch)
            else:
                if isinstance(current, list):
                    raise SourceError(f"{repo}: {path} is a directory", hint="name a file")
                result = gh_repo.update_file(path, message, content, current.sha, branch=branch)
            return str(result["commit"].sha)

    def create_issue(
        self,
        repo: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
    ) -> IssueRef:
        with self._translate(repo, "open an issue", skip=False):
            issue = (
                self._client(repo)
                .get_repo(repo)
                .create_issue(
                    title=title, body=body, labels=list(labels), assignees=list(assignees)
                )
            )
            return _issue_ref(issue.raw_data)

    def issues_containing(
        self,
        repo: str,
        text: str,
        labels: Sequence[str] = (),
        state: str = "all",
        max_pages: int = 10,
    ) -> tuple[IssueRef, ...]:
        """Issues (not pull requests) whose body contains ``text``, newest first, reading
        at most ``max_pages`` pages of the repository's issue list (filtered by ``labels``)."""
        params: dict[str, Any] = {"state": state, "per_page": 100}
        if labels:
            params["labels"] = ",".join(labels)
        found: list[IssueRef] = []
        with self._translate(repo, "list issues", skip=False):
            headers, data = self._requester(repo).requestJsonAndCheck(
                "GET", f"/repos/{repo}/issues", parameters=params
            )
            for _page in range(max_pages):
                for item in data if isinstance(data, list) else []:
                    if (
                        isinstance(item, dict)
                        and "pull_request" not in item
                        and text in str(item.get("body") or "")
                    ):
                        found.append(_issue_ref(item))
                match = _NEXT_LINK.search(str(headers.get("link", "")))
                if match is None:
                    break
                headers, data = self._requester(repo).requestJsonAndCheck("GET", match.group(1))
        return tuple(found)

    def find_issues(
        self, repo: str, labels: Sequence[str] = (), state: str = "open"
    ) -> tuple[IssueRef, ...]:
        with self._translate(repo, "list issues", skip=False):
            params: dict[str, Any] = {"state": state}
            if labels:
                params["labels"] = ",".join(labels)
            _headers, data = self._requester(repo).requestJsonAndCheck(
                "GET", f"/repos/{repo}/issues", parameters=params
            )
            return tuple(_issue_ref(item) for item in data or [])

    def update_issue(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: Sequence[str] | None = None,
        state: str | None = None,
    ) -> IssueRef:
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if body is not None:
            changes["body"] = body
        if labels is not None:
            changes["labels"] = list(labels)
        if state is not None:
            changes["state"] = state
        with self._translate(repo, f"update issue #{number}", skip=False):
            _headers, data = self._requester(repo).requestJsonAndCheck(
                "PATCH", f"/repos/{repo}/issues/{number}", input=changes
            )
            return _issue_ref(data)

    def comment_issue(self, repo: str, number: int, body: str) -> str:
        """Add a comment; returns its URL."""
        with self._translate(repo, f"comment on issue #{number}", skip=False):
            _headers, data = self._requester(repo).requestJsonAndCheck(
                "POST", f"/repos/{repo}/issues/{number}/comments", input={"body": body}
            )
            return str(data.get("html_url", ""))

    def close_issue(self, repo: str, number: int, comment: str | None = None) -> IssueRef:
        if comment:
            self.comment_issue(repo, number, comment)
        return self.update_issue(repo, number, state="closed")

    def list_jobs(
        self, repo: str, run_id: int, attempt: int | None = None
    ) -> tuple[JobTiming, ...]:
        """Every job of a run attempt (the latest without ``attempt``), any conclusion. The
        job list the poll just read for this run is answered from memory, once."""
        with self._timings_lock:
            cached = self._job_timings.get((repo, int(run_id)))
            if cached is not None and (attempt is None or attempt == cached[0]):
                del self._job_timings[(repo, int(run_id))]
                return cached[1]
        suffix = f"/attempts/{int(attempt)}" if attempt else ""
        url = f"/repos/{repo}/actions/runs/{int(run_id)}{suffix}/jobs"
        with self._translate(repo, f"list the jobs of run {run_id}", skip=False):
            headers, data = self._requester(repo).requestJsonAndCheck(
                "GET", url, parameters={"per_page": 100}
            )
            return tuple(_job_timing(raw) for raw in self._items(data, headers, "jobs", repo=repo))

    def successful_runs(
        self, repo: str, workflow: str | None = None, limit: int = 30
    ) -> tuple[RunStatus, ...]:
        """The latest successful runs of a repository (of ``workflow`` by name when given),
        newest first: the history that job durations are compared with."""
        with self._translate(repo, "list successful runs", skip=False):
            headers, data = self._requester(repo).requestJsonAndCheck(
                "GET",
                f"/repos/{repo}/actions/runs",
                parameters={"status": "success", "per_page": min(max(limit, 1), 100)},
            )
            runs = []
            for raw in self._items(data, headers, "workflow_runs", repo=repo):
                status = _run_status(repo, raw)
                if workflow is None or status.workflow == workflow:
                    runs.append(status)
                if len(runs) >= limit:
                    break
            return tuple(runs)

    def last_green_run(self, repo: str, workflow_id: int, branch: str | None) -> int | None:
        """The id of the newest successful run of workflow ``workflow_id`` on ``branch``
        (any branch when None), or None: one request, newest first."""
        parameters: dict[str, Any] = {"status": "success", "per_page": 5}
        if branch:
            parameters["branch"] = branch
        url = f"/repos/{repo}/actions/workflows/{int(workflow_id)}/runs"
        with self._translate(
            repo, f"list the successful runs of workflow {workflow_id}", skip=False
        ):
            _headers, data = self._requester(repo).requestJsonAndCheck(
                "GET", url, parameters=parameters
            )
            self.stats.requests += 1
        runs = data.get("workflow_runs") if isinstance(data, dict) else None
        for raw in runs or []:
            if isinstance(raw, dict) and raw.get("conclusion") == "success" and raw.get("id"):
                return int(raw["id"])
        return None

    def list_artifacts(self, repo: str, run_id: int) -> tuple[ArtifactRef, ...]:
        """The artifacts a run uploaded."""
        url = f"/repos/{repo}/actions/runs/{int(run_id)}/artifacts"
        with self._translate(repo, f"list the artifacts of run {run_id}", skip=False):
            headers, data = self._requester(repo).requestJsonAndCheck(
                "GET", url, parameters={"per_page": 100}
            )
            return tuple(
                ArtifactRef(
                    artifact_id=int(raw["id"]),
                    name=str(raw.get("name", "")),
                    size_in_bytes=int(raw.get("size_in_bytes") or 0),
                    expired=bool(raw.get("expired", False)),
                )
                for raw in self._items(data, headers, "artifacts", repo=repo)
            )

    def stream_artifact(self, repo: str, artifact_id: int) -> Iterator[bytes]:
        """The artifact's zip archive in chunks, following GitHub's 302 to the signed URL
        without sending the token there (the caller caps the size)."""
        self._wait_for_rate_limit(repo)
        url = f"/repos/{repo}/actions/artifacts/{int(artifact_id)}/zip"
        with self._translate(repo, f"download artifact {artifact_id}", skip=False):
            status, headers, _body = self._requester(repo).requestJson("GET", url)
            if status >= 400:
                raise Requester.createException(status, headers, _json_body(_body))
        location = headers.get("location")
        if status != 302 or not location:
            raise SourceError(
                f"{repo}: GitHub answered {status} without a download location for "
                f"artifact {artifact_id}",
                hint="the artifact may have expired; artifacts are kept 90 days by default",
            )
        yield from self._stream_download(
            repo,
            location,
            what=f"artifact {artifact_id}",
            host="artifact",
            expired_hint="artifacts expire after the repository's retention period",
            broken_hint="the next cycle tries again",
        )

    def read_file(self, repo: str, path: str, ref: str | None = None) -> bytes | None:
        """A file's content through the contents API; None when it does not exist."""
        params = {"ref": ref} if ref else None
        with self._translate(repo, f"read {path}", skip=False):
            try:
                _headers, data = self._requester(repo).requestJsonAndCheck(
                    "GET", f"/repos/{repo}/contents/{path}", parameters=params
                )
            except UnknownObjectException:
                return None
        if not isinstance(data, dict) or data.get("type", "file") != "file":
            return None
        try:
            return base64.b64decode(str(data.get("content", "")))
        except ValueError:
            raise SourceError(
                f"{repo}: {path}: GitHub sent content that is not base64",
                hint="try again later",
            ) from None

    def token_info(self) -> TokenInfo:
        """Scopes and expiry GitHub reports for the token (for token hygiene alerts)."""
        with self._translate("", "read the authenticated user", skip=False):
            headers, data = self.requester.requestJsonAndCheck("GET", "/user")
        scopes = tuple(
            s.strip() for s in str(headers.get("x-oauth-scopes", "")).split(",") if s.strip()
        )
        remaining, limit = self.requester.rate_limiting
        return TokenInfo(
            login=(data or {}).get("login"),
            scopes=scopes,
            expires_at=_parse_expiry(headers.get("github-authentication-token-expiration")),
            rate_limit=limit if limit >= 0 else None,
            rate_remaining=remaining if remaining >= 0 else None,
            scopes_known="x-oauth-scopes" in {str(k).lower() for k in headers},
        )


class _SkipRepo(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class _RunFields:
    repo: str
    run_id: int
    run_attempt: int
    workflow: str
    head_sha: str
    branch: str | None
    event: str
    conclusion: str
    html_url: str | None
    head_commit_message: str | None
    created_at: datetime | None
    updated_at: datetime | None
    workflow_id: int | None = None
    base_branch: str | None = None


def _base_branch(raw: dict[str, Any]) -> str | None:
    """The branch the run's pull request targets, when the run belongs to one."""
    pulls = raw.get("pull_requests") or []
    if not isinstance(pulls, list) or not pulls or not isinstance(pulls[0], dict):
        return None
    base = pulls[0].get("base") or {}
    ref = base.get("ref") if isinstance(base, dict) else None
    return str(ref) if ref else None


def _parse_run(repo: str, raw: dict[str, Any]) -> _RunFields:
    head_commit = raw.get("head_commit") or {}
    if not isinstance(head_commit, dict):
        raise TypeError("head_commit is not an object")
    head_sha = raw["head_sha"]
    if not isinstance(head_sha, str) or not head_sha:
        raise ValueError("head_sha missing")
    return _RunFields(
        repo=repo,
        run_id=int(raw["id"]),
        run_attempt=int(raw.get("run_attempt") or 1),
        workflow=str(raw.get("name") or raw.get("path") or "workflow"),
        head_sha=head_sha,
        branch=raw.get("head_branch"),
        event=str(raw.get("event", "")),
        conclusion=str(raw["conclusion"]),
        html_url=raw.get("html_url"),
        head_commit_message=head_commit.get("message"),
        created_at=_parse_time(raw.get("created_at"), strict=True),
        updated_at=_parse_time(raw.get("updated_at"), strict=True),
        workflow_id=int(raw["workflow_id"]) if raw.get("workflow_id") else None,
        base_branch=_base_branch(raw),
    )


def _run_status(repo: str, raw: dict[str, Any]) -> RunStatus:
    return RunStatus(
        repo=repo,
        run_id=int(raw["id"]),
        attempt=int(raw.get("run_attempt") or 1),
        workflow=str(raw.get("name") or raw.get("path") or ""),
        status=str(raw.get("status")),
        conclusion=raw.get("conclusion"),
        head_sha=str(raw.get("head_sha", "")),
        html_url=raw.get("html_url"),
    )


def _issue_ref(raw: dict[str, Any]) -> IssueRef:
    return IssueRef(
        number=int(raw["number"]),
        html_url=str(raw.get("html_url", "")),
        title=str(raw.get("title", "")),
        state=str(raw.get("state", "")),
        labels=tuple(str(label["name"]) for label in raw.get("labels", [])),
        body=str(raw.get("body") or ""),
        assignees=tuple(
            str(a.get("login")) for a in raw.get("assignees") or [] if isinstance(a, dict)
        ),
    )


def _job_timing(raw: dict[str, Any]) -> JobTiming:
    return JobTiming(
        job_id=int(raw["id"]),
        name=str(raw.get("name", "")),
        status=str(raw.get("status", "")),
        conclusion=raw.get("conclusion"),
        started_at=_parse_time(raw.get("started_at")),
        completed_at=_parse_time(raw.get("completed_at")),
    )


def _parse_time(value: Any, *, strict: bool = False) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        if strict:
            raise ValueError(f"bad timestamp {str(value)[:40]!r}") from None
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_expiry(value: Any) -> datetime | None:
    """``github-authentication-token-expiration``: e.g. ``2026-12-01 00:00:00 UTC``."""
    if not value:
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    log.warning("unrecognised token expiration header %r", text[:40])
    return None


def _json_body(output: Any) -> Any:
    if not output:
        return None
    try:
        return json.loads(output)
    except ValueError:
        return {"data": str(output)[:200]}


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "")[:200]
    return str(data)[:200]
