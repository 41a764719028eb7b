"""A loopback fake of the GitHub REST API, for tests, benchmarks and the demo.

Start it with ``with GitHubFake() as fake:`` and point PyGithub at ``fake.url``
(``Github(base_url=fake.url)``) or, GHE style, at ``fake.url + "/api/v3"``.

Responses are built from bodies recorded from the real API (``github_data/``): a template is
deep-copied and its ids, names, timestamps and URLs are replaced by the scenario's, so the
objects have exactly the keys GitHub sends. Behaviour follows GitHub's documentation:

* rate-limit headers on every API response; 304 Not Modified, ``GET /rate_limit`` and the
  signed log/artifact downloads do not count against the limit;
* a weak ``ETag`` on every GET; ``If-None-Match`` with the current tag answers 304 with no body;
* pagination with ``Link`` headers whose URLs use ``/repositories/{id}/...`` like GitHub's;
* ``GET .../actions/jobs/{id}/logs`` answers 302 with a signed ``Location`` on the same server
  that serves the plain-text log without needing the token;
* GitHub App authentication (:meth:`GitHubFake.enable_app`): ``GET /app/installations`` and
  ``POST /app/installations/{id}/access_tokens`` take a JWT signed with the app's private key
  (checked with its public key through PyJWT); the installation tokens they issue expire, and
  then every other call needs one that has not expired, of an installation of the repository's
  owner;
* scripted trouble: ``fail_next``, ``rate_limit``, ``secondary_rate_limit``, ``require_token``,
  ``forbid_repo``, ``delay``, and :meth:`GitHubFake.inject` faults by path (any status with
  or without ``Retry-After``, a hang, a truncated body, a connection closed mid-body; the
  signed log downloads too).

Part of the package so that ``hee-monitor demo`` works from an installed wheel;
``tests/fakes/github.py`` re-exports it for the tests. Importable without pytest. A token a
client sends is compared, never stored in the request log nor echoed in a response.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import io
import itertools
import json
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from hee_monitor.core.clock import Clock, SystemClock

DATA_DIR = Path(__file__).with_name("github_data")

#: the conclusions a failed run or job can have on GitHub
FAILED_CONCLUSIONS = ("failure", "timed_out", "cancelled", "startup_failure")

_TEMPLATE_CACHE: dict[str, Any] = {}


def template(name: str) -> Any:
    """A fresh deep copy of a recorded response body from ``github_data/``."""
    if name not in _TEMPLATE_CACHE:
        _TEMPLATE_CACHE[name] = json.loads((DATA_DIR / name).read_text(encoding="utf-8"))
    return copy.deepcopy(_TEMPLATE_CACHE[name])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _node_id(prefix: str, number: int) -> str:
    return prefix + "_" + base64.b64encode(f"{prefix}{number}".encode()).decode().rstrip("=")


# Bodies GitHub sends with errors (recorded: see /shared/reference/github-api/error-*.json).
BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
}
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
SERVER_ERROR = {"error": "Server Error"}
PRIMARY_LIMIT = {
    "message": "API rate limit exceeded for user ID 1.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
SECONDARY_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
    "try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits",
}


def validation_failed(resource: str, field_name: str, code: str, message: str | None = None) -> Any:
    error: dict[str, str] = {"resource": resource, "field": field_name, "code": code}
    if message:
        error["message"] = message
    return {
        "message": "Validation Failed",
        "errors": [error],
        "documentation_url": "https://docs.github.com/rest",
    }


# ---------------------------------------------------------------------------------------
# Scenario records


#: how long a fake job runs (its run is created this long before it completes)
_JOB_SPAN = timedelta(minutes=3)


@dataclass(frozen=True)
class StepSpec:
    name: str
    conclusion: str = "success"


@dataclass(frozen=True)
class JobSpec:
    """One job of a scripted run. ``steps`` are names or (name, conclusion) pairs; with none,
    the job gets set-up/checkout/"Run tests"/complete steps and "Run tests" takes the job's
    conclusion."""

    name: str
    conclusion: str = "failure"
    steps: Sequence[str | tuple[str, str] | StepSpec] = ()
    log_text: str | bytes = ""


@dataclass
class FakeJob:
    id: int
    run_id: int
    run_attempt: int
    name: str
    conclusion: str | None
    status: str
    steps: list[StepSpec]
    log: bytes
    started_at: datetime
    completed_at: datetime | None


@dataclass
class FakeArtifact:
    id: int
    run_id: int
    name: str
    data: bytes
    created_at: datetime


@dataclass
class FakeRun:
    id: int
    repo: str
    workflow: str
    workflow_id: int
    path: str
    head_sha: str
    branch: str | None
    event: str
    status: str
    conclusion: str | None
    run_number: int
    attempt: int
    created_at: datetime
    updated_at: datetime
    head_commit_message: str
    #: jobs of each attempt
    jobs: dict[int, list[FakeJob]] = field(default_factory=dict)
    #: conclusions of the attempts ``rerun-failed-jobs`` creates, used in order (last repeats)
    rerun_conclusions: list[str] = field(default_factory=lambda: ["success"])
    #: keys merged into the JSON as is (e.g. to serve unparsable data)
    overrides: dict[str, Any] = field(default_factory=dict)
    #: status/conclusion of each attempt
    attempts: dict[int, tuple[str, str | None, datetime]] = field(default_factory=dict)

    @property
    def current_jobs(self) -> list[FakeJob]:
        return self.jobs.get(self.attempt, [])


@dataclass
class FakeRepo:
    full_name: str
    id: int
    default_branch: str
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> sha
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (branch, path) -> data
    #: bumped on every change of the run list, part of its ETag (like GitHub's)
    created_at: datetime = field(default_factory=lambda: datetime(2020, 1, 1, tzinfo=UTC))


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    #: True when the request counted against the primary rate limit
    counted: bool
    #: whether an Authorization header was sent (its value is never recorded)
    authorized: bool
    body: Any = None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class RecordedRerun:
    repo: str
    run_id: int
    new_attempt: int
    conclusion: str


class _Respond(Exception):
    """Raised inside a handler to answer with a status and JSON body."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    counted: bool = True
    chunks: Iterator[bytes] | None = None
    #: send the full Content-Length, then half the body, then close the connection
    cut: bool = False


@dataclass
class Fault:
    """Scripted trouble for requests whose path matches ``path`` (a regular expression
    searched in the path; signed log downloads are under ``/_blobs/job-logs/``).

    ``kind``: ``status`` (answer ``status``, with ``Retry-After`` when ``retry_after`` is
    set, e.g. 5xx, 429, 403, 401), ``hang`` (wait ``seconds`` before answering), ``truncate``
    (a body cut in half with a matching Content-Length: malformed JSON), ``close`` (the
    full Content-Length announced, half the body sent, the connection closed)."""

    kind: str
    path: str = ""
    #: how many matching requests it hits; None: until cleared
    times: int | None = 1
    status: int = 500
    retry_after: int | None = None
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# The fake


class GitHubFake:
    """A scripted GitHub on 127.0.0.1. See the module docstring."""

    def __init__(self, *, clock: Clock | None = None, rate_limit: int = 5000) -> None:
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_001)
        self.repos: dict[str, FakeRepo] = {}
        self.runs: dict[int, FakeRun] = {}
        self.jobs: dict[int, FakeJob] = {}
        self.artifacts: dict[int, FakeArtifact] = {}
        self.requests: list[RecordedRequest] = []
        self.pulls: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.issue_comments: list[dict[str, Any]] = []
        self.reruns: list[RecordedRerun] = []
        #: (repo, ref, sha) in the order refs were created or moved
        self.refs: list[tuple[str, str, str]] = []
        #: (repo, branch, path, content) of every file written through the contents API
        self.file_writes: list[tuple[str, str, str, bytes]] = []
        #: ``X-OAuth-Scopes`` of the token; None → not sent (a fine-grained or app token)
        self.token_scopes: str | None = "repo, workflow"
        #: seconds a signed log/artifact URL stays valid (negative: already expired)
        self.log_url_ttl = 60
        #: ``github-authentication-token-expiration`` header value; None → not sent
        self.token_expiration: str | None = None
        #: answer ``GET /user`` with 403 as GitHub does for an installation token (``ghs_``)
        self.installation_token = False
        self._limit = rate_limit
        self._used = 0
        self._reset = self._new_reset()
        self._limit_status = 403
        self._fail: list[int] = []
        self._secondary: list[int | None] = []
        self._secondary_status = 403
        self._token: str | None = None
        #: GitHub App mode (see enable_app): None → off
        self._app: _FakeApp | None = None
        self._forbidden: set[str] = set()
        self._delay = 0.0
        self.faults: list[Fault] = []
        self._signing_key = b"fake-log-url-signing-key"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> GitHubFake:
        fake = self

        class BoundFakeHandler(_FakeHandler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), BoundFakeHandler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubFake:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ghe_url(self) -> str:
        """The base URL in GitHub Enterprise Server form (``--api-url``)."""
        return self.url + "/api/v3"

    # -- scenario -----------------------------------------------------------------------

    def add_repo(self, full_name: str, *, default_branch: str = "main") -> FakeRepo:
        with self._lock:
            if full_name not in self.repos:
                repo = FakeRepo(full_name, next(self._ids), default_branch)
                repo.refs[f"heads/{default_branch}"] = _sha(f"{full_name}:{default_branch}")
                self.repos[full_name] = repo
            return self.repos[full_name]

    def add_run(
        self,
        repo: str,
        *,
        conclusion: str | None = "failure",
        status: str = "completed",
        jobs: Sequence[JobSpec] = (),
        head_sha: str | None = None,
        branch: str | None = "main",
        event: str = "push",
        workflow: str = "CI",
        attempt: int = 1,
        created_at: datetime | None = None,
        head_commit_message: str = "Update the build",
        rerun_conclusions: Sequence[str] = ("success",),
        overrides: dict[str, Any] | None = None,
    ) -> FakeRun:
        """Add a workflow run (newest first in listings). Earlier attempts are recorded as
        failed ones with the same jobs."""
        with self._lock:
            self.add_repo(repo)
            run_id = next(self._ids) * 1000
            # a run that is already completed was created one job span ago: its jobs end
            # when it is added, never after (as on GitHub: created <= jobs <= updated)
            span = _JOB_SPAN if status == "completed" and created_at is None else timedelta(0)
            now = created_at or self.clock.now() - span
            finished = now + span
            number = sum(1 for r in self.runs.values() if r.repo == repo) + 1
            run = FakeRun(
                id=run_id,
                repo=repo,
                workflow=workflow,
                workflow_id=abs(hash((repo, workflow))) % 10**8,
                path=f".github/workflows/{workflow.lower().replace(' ', '-')}.yml",
                head_sha=head_sha or _sha(f"{repo}:{run_id}"),
                branch=branch,
                event=event,
                status=status,
                conclusion=conclusion if status == "completed" else None,
                run_number=number,
                attempt=attempt,
                created_at=now,
                updated_at=finished,
                head_commit_message=head_commit_message,
                rerun_conclusions=list(rerun_conclusions),
                overrides=dict(overrides or {}),
            )
            for n in range(1, attempt + 1):
                last = n == attempt
                run.attempts[n] = (
                    run.status if last else "completed",
                    run.conclusion if last else "failure",
                    finished,
                )
                run.jobs[n] = [
                    self._make_job(run, n, spec, spec.conclusion if last else "failure")
                    for spec in jobs
                ]
            self.runs[run_id] = run
            return run

    def complete_run(self, run_id: int, conclusion: str) -> None:
        """Finish an in-progress run (and its unfinished jobs) with ``conclusion``."""
        with self._lock:
            run = self.runs[run_id]
            run.status, run.conclusion = "completed", conclusion
            run.updated_at = self.clock.now()
            run.attempts[run.attempt] = ("completed", conclusion, run.updated_at)
            for job in run.current_jobs:
                if job.status != "completed":
                    job.status, job.conclusion = "completed", conclusion
                    job.completed_at = run.updated_at

    def add_artifact(self, run_id: int, name: str, files: dict[str, bytes]) -> FakeArtifact:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path, data in files.items():
                archive.writestr(path, data)
        with self._lock:
            artifact = FakeArtifact(
                next(self._ids), run_id, name, buffer.getvalue(), self.clock.now()
            )
            self.artifacts[artifact.id] = artifact
            return artifact

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` API requests answer ``status`` (5xx)."""
        with self._lock:
            self._fail.extend([status] * n)

    def rate_limit(
        self, *, remaining: int = 0, reset: datetime | int | None = None, status: int = 403
    ) -> None:
        """Set the primary limit's remaining requests and reset time (UTC epoch or datetime).
        With nothing remaining, requests answer ``status`` (403 or 429) until the reset."""
        with self._lock:
            self._used = self._limit - remaining
            if reset is not None:
                self._reset = int(reset.timestamp()) if isinstance(reset, datetime) else reset
            self._limit_status = status

    def secondary_rate_limit(
        self, *, retry_after: int | None = 1, times: int = 1, status: int = 403
    ) -> None:
        """The next ``times`` requests hit the secondary limit (``Retry-After`` unless None)."""
        with self._lock:
            self._secondary.extend([retry_after] * times)
            self._secondary_status = status

    def require_token(self, token: str) -> None:
        """Answer 401 "Bad credentials" to requests without this token."""
        self._token = token

    def enable_app(
        self,
        app_id: int,
        public_key_pem: bytes | str,
        installations: dict[str, int],
        *,
        token_lifetime: float = 3600.0,
        permissions: dict[str, str] | None = None,
    ) -> None:
        """Act as GitHub does for a GitHub App: ``installations`` maps an account (owner) to
        its installation id; tokens live ``token_lifetime`` seconds; every other API call then
        needs an unexpired installation token of the repository owner's installation."""
        self._app = _FakeApp(
            app_id=app_id,
            public_key=public_key_pem.encode() if isinstance(public_key_pem, str)
            else public_key_pem,
            installations=dict(installations),
            token_lifetime=token_lifetime,
            permissions=dict(permissions or {"actions": "read", "metadata": "read"}),
        )  # fmt: skip

    @property
    def app_tokens_issued(self) -> dict[int, int]:
        """How many installation tokens each installation was issued."""
        return dict(self._app.issued) if self._app is not None else {}

    @property
    def app_requests(self) -> dict[int, int]:
        """Counted API requests made with each installation's tokens."""
        return dict(self._app.used) if self._app is not None else {}

    def forbid_repo(self, full_name: str) -> None:
        """Answer 404 for the repository, as GitHub does when the token has no access."""
        self._forbidden.add(full_name)

    def delay(self, seconds: float) -> None:
        """Wait this long before answering each request."""
        self._delay = seconds

    def clear_trouble(self) -> None:
        """Drop pending scripted failures, secondary limits, faults and the delay."""
        with self._lock:
            self._fail.clear()
            self._secondary.clear()
            self._delay = 0.0
            self.faults.clear()

    def inject(
        self,
        kind: str,
        *,
        path: str = "",
        times: int | None = 1,
        status: int = 500,
        retry_after: int | None = None,
        seconds: float = 0.0,
    ) -> Fault:
        """Add a :class:`Fault` (see there)."""
        if kind not in ("status", "hang", "truncate", "close"):
            raise ValueError(f"unknown fault {kind!r}")
        fault = Fault(kind, path, times, status, retry_after, seconds)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.times is None or fault.times > 0) and re.search(fault.path, path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    @property
    def rate_remaining(self) -> int:
        return self._limit - self._used

    def counted(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many recorded requests counted against the rate limit."""
        return sum(
            1
            for r in self.requests
            if r.counted
            and (method is None or r.method == method)
            and r.path.startswith(path_prefix)
        )

    # -- internals: objects ---------------------------------------------------------------

    def _new_reset(self) -> int:
        return int(self.clock.now().timestamp()) + 3600

    def _make_job(self, run: FakeRun, attempt: int, spec: JobSpec, conclusion: str) -> FakeJob:
        steps: list[StepSpec] = []
        for step in spec.steps:
            if isinstance(step, StepSpec):
                steps.append(step)
            elif isinstance(step, str):
                steps.append(StepSpec(step, "success"))
            else:
                steps.append(StepSpec(step[0], step[1]))
        if not steps:
            steps = [
                StepSpec("Set up job"),
                StepSpec("Run actions/checkout@v4"),
                StepSpec("Run tests", conclusion),
                StepSpec("Complete job"),
            ]
        log = spec.log_text.encode() if isinstance(spec.log_text, str) else spec.log_text
        if not log:
            log = _default_log(run.created_at, steps, conclusion)
        completed = run.status == "completed"
        job = FakeJob(
            id=next(self._ids) * 10,
            run_id=run.id,
            run_attempt=attempt,
            name=spec.name,
            conclusion=conclusion if completed else None,
            status="completed" if completed else "in_progress",
            steps=steps,
            log=log,
            started_at=run.created_at + timedelta(seconds=5),
            completed_at=run.created_at + _JOB_SPAN if completed else None,
        )
        self.jobs[job.id] = job
        return job

    def _rewrite(self, data: Any, replacements: list[tuple[str, str]]) -> Any:
        text = json.dumps(data)
        for old, new in replacements:
            text = text.replace(old, new)
        return json.loads(text)

    def _repo_replacements(self, base: str, old_full: str, repo: FakeRepo) -> list[tuple[str, str]]:
        owner, name = repo.full_name.split("/", 1)
        old_owner, old_name = old_full.split("/", 1)
        return [
            ("https://api.github.com", base),
            (f'"{old_full}"', f'"{repo.full_name}"'),
            (f"/{old_full}/", f"/{repo.full_name}/"),
            (f'/{old_full}"', f'/{repo.full_name}"'),
            (f"/{old_full}{{", f"/{repo.full_name}{{"),
            (f"/{old_full}.git", f"/{repo.full_name}.git"),
            (f":{old_full}.git", f":{repo.full_name}.git"),
            (f'"{old_owner}"', f'"{owner}"'),
            (f'/{old_owner}"', f'/{owner}"'),
            (f"/{old_owner}/", f"/{owner}/"),
            (f'"{old_name}"', f'"{name}"'),
        ]

    def repo_json(self, repo: FakeRepo, base: str) -> Any:
        data = self._rewrite(
            template("repo.json"), self._repo_replacements(base, "PyGithub/PyGithub", repo)
        )
        data["id"] = repo.id
        data["node_id"] = _node_id("R", repo.id)
        data["default_branch"] = repo.default_branch
        data["private"] = False
        if isinstance(data.get("owner"), dict):
            data["owner"]["login"] = repo.full_name.split("/", 1)[0]
        return data

    def run_json(self, run: FakeRun, base: str, attempt: int | None = None) -> Any:
        repo = self.repos[run.repo]
        data = self._rewrite(
            template("run.json"), self._repo_replacements(base, "EnricoMi/PyGithub", repo)
        )
        n = attempt or run.attempt
        status, conclusion, updated = run.attempts.get(
            n, (run.status, run.conclusion, run.updated_at)
        )
        api = f"{base}/repos/{run.repo}/actions"
        data.update(
            id=run.id,
            name=run.workflow,
            display_title=run.head_commit_message.splitlines()[0],
            node_id=_node_id("WFR", run.id),
            head_branch=run.branch,
            head_sha=run.head_sha,
            path=run.path,
            run_number=run.run_number,
            event=run.event,
            status=status,
            conclusion=conclusion,
            workflow_id=run.workflow_id,
            check_suite_id=run.id + 1,
            check_suite_node_id=_node_id("CS", run.id + 1),
            url=f"{api}/runs/{run.id}",
            html_url=f"https://github.com/{run.repo}/actions/runs/{run.id}",
            created_at=_iso(run.created_at),
            updated_at=_iso(updated),
            run_attempt=n,
            run_started_at=_iso(run.created_at if n == 1 else updated),
            jobs_url=f"{api}/runs/{run.id}/jobs",
            logs_url=f"{api}/runs/{run.id}/logs",
            check_suite_url=f"{base}/repos/{run.repo}/check-suites/{run.id + 1}",
            artifacts_url=f"{api}/runs/{run.id}/artifacts",
            cancel_url=f"{api}/runs/{run.id}/cancel",
            rerun_url=f"{api}/runs/{run.id}/rerun",
            previous_attempt_url=f"{api}/runs/{run.id}/attempts/{n - 1}" if n > 1 else None,
            workflow_url=f"{api}/workflows/{run.workflow_id}",
        )
        data["head_commit"].update(
            id=run.head_sha,
            tree_id=_sha(run.head_sha),
            message=run.head_commit_message,
            timestamp=_iso(run.created_at),
        )
        data["pull_requests"] = []
        data.update(run.overrides)
        return data

    def job_json(self, job: FakeJob, base: str) -> Any:
        run = self.runs[job.run_id]
        repo = self.repos[run.repo]
        data = self._rewrite(
            template("job.json"), self._repo_replacements(base, "PyGithub/PyGithub", repo)
        )
        api = f"{base}/repos/{run.repo}"
        steps = []
        moment = job.started_at
        for number, step in enumerate(job.steps, start=1):
            done = job.status == "completed"
            steps.append(
                {
                    "name": step.name,
                    "status": "completed" if done else "in_progress",
                    "conclusion": step.conclusion if done else None,
                    "number": number,
                    "started_at": _iso(moment),
                    "completed_at": _iso(moment + timedelta(seconds=10)) if done else None,
                }
            )
            moment += timedelta(seconds=10)
        data.update(
            id=job.id,
            run_id=run.id,
            workflow_name=run.workflow,
            head_branch=run.branch,
            run_url=f"{api}/actions/runs/{run.id}",
            run_attempt=job.run_attempt,
            node_id=_node_id("CR", job.id),
            head_sha=run.head_sha,
            url=f"{api}/actions/jobs/{job.id}",
            html_url=f"https://github.com/{run.repo}/actions/runs/{run.id}/job/{job.id}",
            status=job.status,
            conclusion=job.conclusion,
            created_at=_iso(run.created_at),
            started_at=_iso(job.started_at),
            completed_at=_iso(job.completed_at) if job.completed_at else None,
            name=job.name,
            steps=steps,
            check_run_url=f"{api}/check-runs/{job.id}",
        )
        return data

    def user_json(self, base: str) -> Any:
        # No /user recording in the reference set: the run template's ``actor`` is the
        # same simple-user object GitHub returns there.
        actor = template("run.json")["actor"]
        text = json.dumps(actor).replace("https://api.github.com", base)
        return json.loads(text)

    def _pull_json(self, repo: FakeRepo, base: str, number: int, payload: dict[str, Any]) -> Any:
        owner = repo.full_name.split("/", 1)[0]
        data = self._rewrite(
            template("pull.json"),
            [
                ("https://api.github.com", base),
                ("<GITHUB_LOGIN>/<GITHUB_TEST_REPOSITORY>", repo.full_name),
                ("<GITHUB_LOGIN>", owner),
                ("<GITHUB_TEST_REPOSITORY>", repo.full_name.split("/", 1)[1]),
            ],
        )
        head = str(payload["head"]).split(":", 1)[-1]
        base_branch = str(payload["base"])
        now = _iso(self.clock.now())
        pid = next(self._ids)
        data.update(
            url=f"{base}/repos/{repo.full_name}/pulls/{number}",
            id=pid,
            node_id=_node_id("PR", pid),
            html_url=f"https://github.com/{repo.full_name}/pull/{number}",
            diff_url=f"https://github.com/{repo.full_name}/pull/{number}.diff",
            patch_url=f"https://github.com/{repo.full_name}/pull/{number}.patch",
            issue_url=f"{base}/repos/{repo.full_name}/issues/{number}",
            number=number,
            state="open",
            title=payload.get("title", ""),
            body=payload.get("body"),
            created_at=now,
            updated_at=now,
            draft=bool(payload.get("draft", False)),
            commits_url=f"{base}/repos/{repo.full_name}/pulls/{number}/commits",
            comments_url=f"{base}/repos/{repo.full_name}/issues/{number}/comments",
        )
        head_sha = repo.refs.get(f"heads/{head}", _sha(head))
        data["head"].update(label=f"{owner}:{head}", ref=head, sha=head_sha)
        data["base"].update(
            label=f"{owner}:{base_branch}",
            ref=base_branch,
            sha=repo.refs.get(f"heads/{base_branch}", _sha(base_branch)),
        )
        data["statuses_url"] = f"{base}/repos/{repo.full_name}/statuses/{head_sha}"
        return data

    def _issue_json(self, repo: FakeRepo, base: str, number: int, payload: dict[str, Any]) -> Any:
        # No issue recording in the reference set: the fields are those of the documented
        # issue object; the user object comes from the recorded run's actor.
        now = _iso(self.clock.now())
        iid = next(self._ids)
        api = f"{base}/repos/{repo.full_name}"
        return {
            "url": f"{api}/issues/{number}",
            "repository_url": api,
            "labels_url": f"{api}/issues/{number}/labels{{/name}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "events_url": f"{api}/issues/{number}/events",
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
            "id": iid,
            "node_id": _node_id("I", iid),
            "number": number,
            "title": payload.get("title", ""),
            "user": self.user_json(base),
            "labels": [self._label_json(api, name) for name in payload.get("labels", [])],
            "state": "open",
            "locked": False,
            "assignee": self._assignee_json(base, (payload.get("assignees") or [None])[0]),
            "assignees": [self._assignee_json(base, name) for name in payload.get("assignees", [])],
            "milestone": None,
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "author_association": "OWNER",
            "active_lock_reason": None,
            "body": payload.get("body"),
            "state_reason": None,
            "repository": repo.full_name,
        }

    def _assignee_json(self, base: str, login: str | None) -> dict[str, Any] | None:
        """The recorded user object under another login (GitHub accepts any collaborator)."""
        if login is None:
            return None
        user: dict[str, Any] = self._rewrite(self.user_json(base), [])
        user["login"] = str(login)
        return user

    def _label_json(self, api: str, name: str) -> dict[str, Any]:
        lid = abs(hash(name)) % 10**9
        return {
            "id": lid,
            "node_id": _node_id("LA", lid),
            "url": f"{api}/labels/{quote(name)}",
            "name": name,
            "color": "d73a4a",
            "default": False,
            "description": None,
        }

    def _artifact_json(self, artifact: FakeArtifact, base: str) -> Any:
        # No artifact recording in the reference set: documented REST fields.
        run = self.runs[artifact.run_id]
        api = f"{base}/repos/{run.repo}/actions/artifacts/{artifact.id}"
        return {
            "id": artifact.id,
            "node_id": _node_id("MDg", artifact.id),
            "name": artifact.name,
            "size_in_bytes": len(artifact.data),
            "url": api,
            "archive_download_url": f"{api}/zip",
            "expired": False,
            "digest": "sha256:" + hashlib.sha256(artifact.data).hexdigest(),
            "created_at": _iso(artifact.created_at),
            "updated_at": _iso(artifact.created_at),
            "expires_at": _iso(artifact.created_at + timedelta(days=90)),
            "workflow_run": {
                "id": run.id,
                "repository_id": self.repos[run.repo].id,
                "head_repository_id": self.repos[run.repo].id,
                "head_branch": run.branch,
                "head_sha": run.head_sha,
            },
        }

    def sign(self, path: str, expires: int) -> str:
        return hmac.new(self._signing_key, f"{path}:{expires}".encode(), "sha256").hexdigest()

    # -- internals: request handling ---------------------------------------------------------

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self._limit),
            "X-RateLimit-Remaining": str(max(self._limit - self._used, 0)),
            "X-RateLimit-Reset": str(self._reset),
            "X-RateLimit-Used": str(self._used),
            "X-RateLimit-Resource": "core",
        }

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Response:
        parts = urlsplit(raw_path)
        path = parts.path
        query = parse_qs(parts.query)
        prefix = ""
        if path.startswith("/api/v3/") or path == "/api/v3":
            prefix, path = "/api/v3", path[len("/api/v3") :] or "/"
        base = f"{self.url}{prefix}"
        auth = headers.get("authorization")
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        if self._delay:
            time.sleep(self._delay)
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "hang":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            body_data = BAD_CREDENTIALS if fault.status == 401 else SERVER_ERROR
            if fault.status in (403, 429):
                body_data = SECONDARY_LIMIT
            with self._lock:
                response = self._json(fault.status, body_data, counted=False, extra=extra)
                self.requests.append(
                    RecordedRequest(method, path, query, fault.status, False, auth is not None)
                )
            return response
        with self._lock:
            response = self._dispatch(method, path, query, headers, payload, base, raw_path)
            if fault is not None and fault.kind in ("truncate", "close"):
                if response.chunks is not None:
                    response.body = b"".join(response.chunks)
                    response.chunks = None
                if fault.kind == "truncate":
                    response.body = response.body[: len(response.body) // 2]
                else:
                    response.cut = True
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=query,
                    status=response.status,
                    counted=response.counted,
                    authorized=auth is not None,
                    body=payload,
                )
            )
        return response

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        payload: Any,
        base: str,
        raw_path: str,
    ) -> _Response:
        # Signed downloads live on another host at GitHub: no token, no rate limit.
        if path.startswith("/_blobs/"):
            return self._blob(path, query)
        if path == "/rate_limit":
            return self._json(200, self._rate_limit_json(), counted=False)
        # GitHub resets the window once the reset time has passed.
        now = int(self.clock.now().timestamp())
        if now >= self._reset:
            self._used = 0
            self._reset = now + 3600
        if self._app is not None:
            app_answer = self._app_route(method, path, headers, base)
            if app_answer is not None:
                return app_answer
        if self._token is not None:
            auth = headers.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() not in ("token", "bearer") or not hmac.compare_digest(
                value.encode(), self._token.encode()
            ):
                return self._json(401, BAD_CREDENTIALS, counted=False)
        if self._secondary:
            retry_after = self._secondary.pop(0)
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return self._json(self._secondary_status, SECONDARY_LIMIT, counted=False, extra=extra)
        if self._used >= self._limit:
            return self._json(self._limit_status, PRIMARY_LIMIT, counted=False)
        if self._fail:
            return self._json(self._fail.pop(0), SERVER_ERROR, counted=True)
        try:
            status, data, extra = self._route(method, path, query, payload, base)
        except _Respond as answer:
            status, data, extra = answer.status, answer.body, answer.headers
        if isinstance(status, _Response):  # a redirect: no JSON body
            self._used += 1
            status.headers.update(self._rate_headers())
            return status
        etag = None
        if method == "GET" and status == 200:
            digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            etag = f'W/"{digest}"'
            if headers.get("if-none-match") == etag:
                response = _Response(304, b"", {"ETag": etag}, counted=False)
                response.headers.update(self._rate_headers())
                return response
        self._used += 1
        if etag:
            extra = {**extra, "ETag": etag}
        return self._json(status, data, counted=True, extra=extra)

    def _app_route(
        self, method: str, path: str, headers: dict[str, str], base: str
    ) -> _Response | None:
        """The App's own endpoints, and the installation-token check of every other call;
        None lets the request through."""
        app = self._app
        assert app is not None
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        now = self.clock.now()
        if path.startswith("/app/installations") or path == "/app":
            if scheme.lower() != "bearer" or not app.jwt_valid(credential):
                return self._json(401, _JWT_REJECTED, counted=False)
            if method == "GET" and path == "/app/installations":
                self._used += 1
                return self._json(200, app.installations_json(base), counted=True)
            match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
            if method == "POST" and match:
                installation = int(match.group(1))
                if installation not in app.installations.values():
                    return self._json(404, NOT_FOUND, counted=False)
                self._used += 1
                return self._json(201, app.issue(installation, now), counted=True)
            match = re.fullmatch(r"/app/installations/(\d+)", path)
            if method == "GET" and match:
                for item in app.installations_json(base):
                    if item["id"] == int(match.group(1)):
                        self._used += 1
                        return self._json(200, item, counted=True)
            return self._json(404, NOT_FOUND, counted=False)
        if path.startswith("/_blobs/") or path == "/rate_limit":
            return None
        holder = app.installation_of(credential, now)
        if holder is None:
            return self._json(401, BAD_CREDENTIALS, counted=False)
        match = re.fullmatch(r"/repos/([^/]+)/.*", path)
        if match and app.installations.get(match.group(1)) != holder:
            return self._json(404, NOT_FOUND, counted=False)
        app.used[holder] = app.used.get(holder, 0) + 1
        return None

    def _json(
        self, status: int, data: Any, *, counted: bool, extra: dict[str, str] | None = None
    ) -> _Response:
        body = b"" if data is None else json.dumps(data).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "X-GitHub-Request-Id": f"FAKE:{len(self.requests):08X}",
        }
        headers.update(self._rate_headers())
        headers.update(extra or {})
        return _Response(status, body, headers, counted=counted)

    def _rate_limit_json(self) -> Any:
        data = template("rate-limit.json")
        core = {
            "limit": self._limit,
            "used": self._used,
            "remaining": max(self._limit - self._used, 0),
            "reset": self._reset,
        }
        data["resources"]["core"] = core
        data["rate"] = dict(core)
        return data

    def _blob(self, path: str, query: dict[str, list[str]]) -> _Response:
        expires = int(query.get("urlExpires", ["0"])[0])
        signature = query.get("urlSignature", [""])[0]
        valid = hmac.compare_digest(signature, self.sign(path, expires))
        if not valid or expires < int(self.clock.now().timestamp()):
            return _Response(
                403, b"AuthenticationFailed", {"Content-Type": "text/plain"}, counted=False
            )
        match = re.fullmatch(r"/_blobs/job-logs/(\d+)", path)
        if match and int(match.group(1)) in self.jobs:
            log = self.jobs[int(match.group(1))].log
            return _Response(
                200,
                b"",
                {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(log))},
                counted=False,
                chunks=(log[i : i + 16384] for i in range(0, len(log), 16384)),
            )
        match = re.fullmatch(r"/_blobs/artifacts/(\d+)", path)
        if match and int(match.group(1)) in self.artifacts:
            data = self.artifacts[int(match.group(1))].data
            return _Response(200, data, {"Content-Type": "application/zip"}, counted=False)
        return _Response(404, b"BlobNotFound", {"Content-Type": "text/plain"}, counted=False)

    def _signed_location(self, path: str) -> str:
        expires = int(self.clock.now().timestamp()) + self.log_url_ttl
        query = urlencode(
            {
                "urlExpires": str(expires),
                "urlSigningMethod": "HMACV1",
                "urlSignature": self.sign(path, expires),
            }
        )
        return f"{self.url}{path}?{query}"

    def _repo(self, owner: str, name: str) -> FakeRepo:
        full = f"{owner}/{name}"
        if full in self._forbidden or full not in self.repos:
            raise _Respond(404, NOT_FOUND)
        return self.repos[full]

    def _run(self, repo: FakeRepo, run_id: str) -> FakeRun:
        run = self.runs.get(int(run_id))
        if run is None or run.repo != repo.full_name:
            raise _Respond(404, NOT_FOUND)
        return run

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], payload: Any, base: str
    ) -> tuple[int, Any, dict[str, str]]:
        match = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        if match:
            by_id = {r.id: r for r in self.repos.values()}
            found = by_id.get(int(match.group(1)))
            if found is None:
                raise _Respond(404, NOT_FOUND)
            path = f"/repos/{found.full_name}{match.group(2) or ''}"
        if method == "GET" and path == "/":
            return 200, {"current_user_url": f"{base}/user"}, self._token_headers()
        if method == "GET" and path == "/user":
            if self.installation_token:
                raise _Respond(
                    403,
                    {
                        "message": "Resource not accessible by integration",
                        "documentation_url": "https://docs.github.com/rest/users/users",
                    },
                )
            return 200, self.user_json(base), self._token_headers()
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not match:
            raise _Respond(404, NOT_FOUND)
        repo = self._repo(match.group(1), match.group(2))
        rest = match.group(3) or ""
        for pattern, verb, handler in self._routes:
            if verb != method:
                continue
            found_route = re.fullmatch(pattern, rest)
            if found_route:
                result: tuple[int, Any, dict[str, str]] = handler(
                    self, repo, base, query, payload, *found_route.groups()
                )
                return result
        raise _Respond(404, NOT_FOUND)

    def _token_headers(self) -> dict[str, str]:
        headers = {"X-Accepted-OAuth-Scopes": ""}
        if self.token_scopes is not None:
            headers["X-OAuth-Scopes"] = self.token_scopes
        if self.token_expiration is not None:
            headers["github-authentication-token-expiration"] = self.token_expiration
        return headers

    def _paginate(
        self,
        items: list[Any],
        query: dict[str, list[str]],
        base: str,
        repo: FakeRepo,
        rest: str,
    ) -> tuple[list[Any], dict[str, str]]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = max(int(query.get("page", ["1"])[0]), 1)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        params = {k: v[0] for k, v in query.items() if k != "page"}

        def url(n: int) -> str:
            return f"{base}/repositories/{repo.id}{rest}?{urlencode({**params, 'page': n})}"

        if page < pages:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(pages)}>; rel="last"']
        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        return chunk, ({"Link": ", ".join(links)} if links else {})

    # each handler: (fake, repo, base, query, payload, *groups) -> (status, body, headers)

    def _get_repo(self, repo: FakeRepo, base: str, q: Any, p: Any) -> Any:
        return 200, self.repo_json(repo, base), {}

    def _list_runs(
        self,
        repo: FakeRepo,
        base: str,
        q: dict[str, list[str]],
        p: Any,
        workflow_id: str | None = None,
    ) -> Any:
        runs = sorted(
            (
                r
                for r in self.runs.values()
                if r.repo == repo.full_name
                and (workflow_id is None or str(r.workflow_id) == workflow_id)
            ),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )

        def first(name: str) -> str | None:
            return q[name][0] if name in q else None

        status = first("status")
        if status:
            runs = [r for r in runs if status in (r.status, r.conclusion)]
        for name, attr in (("head_sha", "head_sha"), ("branch", "branch"), ("event", "event")):
            value = first(name)
            if value:
                runs = [r for r in runs if getattr(r, attr) == value]
        created = first("created")
        if created:
            runs = [r for r in runs if _created_matches(r.created_at, created)]
        items = [self.run_json(r, base) for r in runs]
        rest = f"/actions/workflows/{workflow_id}/runs" if workflow_id else "/actions/runs"
        page, headers = self._paginate(items, q, base, repo, rest)
        return 200, {"total_count": len(items), "workflow_runs": page}, headers

    def _get_run(self, repo: FakeRepo, base: str, q: Any, p: Any, run_id: str) -> Any:
        return 200, self.run_json(self._run(repo, run_id), base), {}

    def _get_attempt(
        self, repo: FakeRepo, base: str, q: Any, p: Any, run_id: str, attempt: str
    ) -> Any:
        run = self._run(repo, run_id)
        if int(attempt) not in run.attempts:
            raise _Respond(404, NOT_FOUND)
        return 200, self.run_json(run, base, int(attempt)), {}

    def _list_jobs(
        self,
        repo: FakeRepo,
        base: str,
        q: dict[str, list[str]],
        p: Any,
        run_id: str,
        attempt: str | None = None,
    ) -> Any:
        run = self._run(repo, run_id)
        if attempt is not None:
            if int(attempt) not in run.jobs:
                raise _Respond(404, NOT_FOUND)
            jobs = run.jobs[int(attempt)]
        elif q.get("filter", ["latest"])[0] == "all":
            jobs = [job for n in sorted(run.jobs, reverse=True) for job in run.jobs[n]]
        else:
            jobs = run.current_jobs
        items = [self.job_json(job, base) for job in jobs]
        rest = f"/actions/runs/{run.id}" + (f"/attempts/{attempt}" if attempt else "") + "/jobs"
        page, headers = self._paginate(items, q, base, repo, rest)
        return 200, {"total_count": len(items), "jobs": page}, headers

    def _get_job(self, repo: FakeRepo, base: str, q: Any, p: Any, job_id: str) -> Any:
        job = self.jobs.get(int(job_id))
        if job is None or self.runs[job.run_id].repo != repo.full_name:
            raise _Respond(404, NOT_FOUND)
        return 200, self.job_json(job, base), {}

    def _job_logs(self, repo: FakeRepo, base: str, q: Any, p: Any, job_id: str) -> Any:
        job = self.jobs.get(int(job_id))
        if job is None or self.runs[job.run_id].repo != repo.full_name:
            raise _Respond(404, NOT_FOUND)
        location = self._signed_location(f"/_blobs/job-logs/{job.id}")
        return (
            _Response(302, b"", {"Location": location, "Content-Type": "text/html;charset=utf-8"}),
            None,
            {},
        )

    def _rerun_failed(self, repo: FakeRepo, base: str, q: Any, p: Any, run_id: str) -> Any:
        run = self._run(repo, run_id)
        if run.status != "completed":
            raise _Respond(
                403,
                {
                    "message": "This workflow run is not completed",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        outcome = run.rerun_conclusions[0]
        if len(run.rerun_conclusions) > 1:
            run.rerun_conclusions.pop(0)
        previous = run.current_jobs
        run.attempt += 1
        run.status, run.conclusion = "completed", outcome
        run.updated_at = self.clock.now()
        run.attempts[run.attempt] = ("completed", outcome, run.updated_at)
        new_jobs = []
        for job in previous:
            failed = job.conclusion in FAILED_CONCLUSIONS
            spec = JobSpec(
                job.name,
                job.conclusion or "success",
                [(s.name, s.conclusion) for s in job.steps],
                job.log,
            )
            conclusion = outcome if failed else (job.conclusion or "success")
            if failed and outcome == "success":
                spec = JobSpec(job.name, "success", [(s.name, "success") for s in job.steps], b"")
            new_jobs.append(self._make_job(run, run.attempt, spec, conclusion))
        run.jobs[run.attempt] = new_jobs
        self.reruns.append(RecordedRerun(repo.full_name, run.id, run.attempt, outcome))
        return 201, {}, {}

    def _list_artifacts(self, repo: FakeRepo, base: str, q: Any, p: Any, run_id: str) -> Any:
        run = self._run(repo, run_id)
        items = [
            self._artifact_json(a, base) for a in self.artifacts.values() if a.run_id == run.id
        ]
        page, headers = self._paginate(items, q, base, repo, f"/actions/runs/{run.id}/artifacts")
        return 200, {"total_count": len(items), "artifacts": page}, headers

    def _download_artifact(self, repo: FakeRepo, base: str, q: Any, p: Any, aid: str) -> Any:
        artifact = self.artifacts.get(int(aid))
        if artifact is None:
            raise _Respond(404, NOT_FOUND)
        location = self._signed_location(f"/_blobs/artifacts/{artifact.id}")
        return _Response(302, b"", {"Location": location}), None, {}

    def _issues_of(self, repo: FakeRepo) -> list[dict[str, Any]]:
        return [i for i in self.issues if i["repository"] == repo.full_name]

    def _issue(self, repo: FakeRepo, number: str) -> dict[str, Any]:
        for issue in self._issues_of(repo):
            if issue["number"] == int(number):
                return issue
        raise _Respond(404, NOT_FOUND)

    def _next_number(self, repo: FakeRepo) -> int:
        numbers = [i["number"] for i in self._issues_of(repo)]
        numbers += [
            p["number"] for p in self.pulls if p["base"]["repo"]["full_name"] == repo.full_name
        ]
        return max(numbers, default=0) + 1

    def _create_issue(self, repo: FakeRepo, base: str, q: Any, payload: Any) -> Any:
        if not isinstance(payload, dict) or not payload.get("title"):
            raise _Respond(422, validation_failed("Issue", "title", "missing_field"))
        issue = self._issue_json(repo, base, self._next_number(repo), payload)
        self.issues.append(issue)
        return 201, _public_issue(issue), {}

    def _list_issues(self, repo: FakeRepo, base: str, q: dict[str, list[str]], p: Any) -> Any:
        state = q.get("state", ["open"])[0]
        wanted = [x for x in q.get("labels", [""])[0].split(",") if x]
        items = []
        for issue in self._issues_of(repo):
            if state != "all" and issue["state"] != state:
                continue
            names = {label["name"] for label in issue["labels"]}
            if all(w in names for w in wanted):
                items.append(_public_issue(issue))
        items.sort(key=lambda i: i["number"], reverse=True)
        page, headers = self._paginate(items, q, base, repo, "/issues")
        return 200, page, headers

    def _get_issue(self, repo: FakeRepo, base: str, q: Any, p: Any, number: str) -> Any:
        return 200, _public_issue(self._issue(repo, number)), {}

    def _update_issue(self, repo: FakeRepo, base: str, q: Any, payload: Any, number: str) -> Any:
        issue = self._issue(repo, number)
        payload = payload or {}
        api = f"{base}/repos/{repo.full_name}"
        for key in ("title", "body"):
            if key in payload:
                issue[key] = payload[key]
        if "labels" in payload:
            issue["labels"] = [self._label_json(api, name) for name in payload["labels"]]
        if "assignees" in payload:
            issue["assignees"] = [self._assignee_json(base, n) for n in payload["assignees"]]
        if "state" in payload:
            issue["state"] = payload["state"]
            issue["closed_at"] = _iso(self.clock.now()) if payload["state"] == "closed" else None
            issue["state_reason"] = payload.get(
                "state_reason", "completed" if payload["state"] == "closed" else "reopened"
            )
        issue["updated_at"] = _iso(self.clock.now())
        return 200, _public_issue(issue), {}

    def _comment_issue(self, repo: FakeRepo, base: str, q: Any, payload: Any, number: str) -> Any:
        issue = self._issue(repo, number)
        if not isinstance(payload, dict) or not payload.get("body"):
            raise _Respond(422, validation_failed("IssueComment", "body", "missing_field"))
        cid = next(self._ids)
        now = _iso(self.clock.now())
        comment = {
            "id": cid,
            "node_id": _node_id("IC", cid),
            "url": f"{base}/repos/{repo.full_name}/issues/comments/{cid}",
            "html_url": f"{issue['html_url']}#issuecomment-{cid}",
            "issue_url": issue["url"],
            "body": payload["body"],
            "user": self.user_json(base),
            "created_at": now,
            "updated_at": now,
            "author_association": "OWNER",
        }
        issue["comments"] += 1
        self.issue_comments.append(
            {**comment, "repository": repo.full_name, "number": issue["number"]}
        )
        return 201, comment, {}

    def _list_comments(self, repo: FakeRepo, base: str, q: Any, p: Any, number: str) -> Any:
        issue = self._issue(repo, number)
        items = [
            {k: v for k, v in c.items() if k not in ("repository", "number")}
            for c in self.issue_comments
            if c["repository"] == repo.full_name and c["number"] == issue["number"]
        ]
        return 200, items, {}

    def _create_pull(self, repo: FakeRepo, base: str, q: Any, payload: Any) -> Any:
        if not isinstance(payload, dict) or not payload.get("head") or not payload.get("base"):
            raise _Respond(422, validation_failed("PullRequest", "head", "missing_field"))
        head = str(payload["head"]).split(":", 1)[-1]
        if f"heads/{head}" not in repo.refs:
            raise _Respond(422, validation_failed("PullRequest", "head", "invalid"))
        if f"heads/{payload['base']}" not in repo.refs:
            raise _Respond(422, validation_failed("PullRequest", "base", "invalid"))
        for pull in self.pulls:
            if (
                pull["base"]["repo"]["full_name"] == repo.full_name
                and pull["state"] == "open"
                and pull["head"]["ref"] == head
                and pull["base"]["ref"] == payload["base"]
            ):
                raise _Respond(
                    422,
                    validation_failed(
                        "PullRequest",
                        "",
                        "custom",
                        f"A pull request already exists for {repo.full_name.split('/')[0]}:{head}.",
                    ),
                )
        number = self._next_number(repo)
        data = self._pull_json(repo, base, number, payload)
        data["base"]["repo"] = self.repo_json(repo, base)
        data["head"]["repo"] = self.repo_json(repo, base)
        self.pulls.append(data)
        return 201, data, {"Location": data["url"]}

    def _list_pulls(self, repo: FakeRepo, base: str, q: dict[str, list[str]], p: Any) -> Any:
        state = q.get("state", ["open"])[0]
        head = q.get("head", [""])[0].split(":", 1)[-1]
        base_ref = q.get("base", [""])[0]
        items = [
            pull
            for pull in self.pulls
            if pull["base"]["repo"]["full_name"] == repo.full_name
            and (state == "all" or pull["state"] == state)
            and (not head or pull["head"]["ref"] == head)
            and (not base_ref or pull["base"]["ref"] == base_ref)
        ]
        page, headers = self._paginate(items, q, base, repo, "/pulls")
        return 200, page, headers

    def _get_pull(self, repo: FakeRepo, base: str, q: Any, p: Any, number: str) -> Any:
        for pull in self.pulls:
            if pull["base"]["repo"]["full_name"] == repo.full_name and pull["number"] == int(
                number
            ):
                return 200, pull, {}
        raise _Respond(404, NOT_FOUND)

    def _ref_json(self, repo: FakeRepo, base: str, ref: str) -> Any:
        data = template("git-ref.json")
        sha = repo.refs[ref]
        api = f"{base}/repos/{repo.full_name}"
        data.update(
            ref=f"refs/{ref}",
            node_id=_node_id("REF", abs(hash((repo.full_name, ref))) % 10**9),
            url=f"{api}/git/refs/{ref}",
        )
        data["object"] = {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"}
        return data

    def _get_ref(self, repo: FakeRepo, base: str, q: Any, p: Any, ref: str) -> Any:
        if ref not in repo.refs:
            raise _Respond(404, NOT_FOUND)
        return 200, self._ref_json(repo, base, ref), {}

    def _create_ref(self, repo: FakeRepo, base: str, q: Any, payload: Any) -> Any:
        ref = str((payload or {}).get("ref", ""))
        sha = str((payload or {}).get("sha", ""))
        if not ref.startswith("refs/") or not sha:
            raise _Respond(422, validation_failed("Reference", "ref", "invalid"))
        short = ref[len("refs/") :]
        if short in repo.refs:
            raise _Respond(
                422,
                {
                    "message": "Reference already exists",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        repo.refs[short] = sha
        self.refs.append((repo.full_name, ref, sha))
        return 201, self._ref_json(repo, base, short), {}

    def _update_ref(self, repo: FakeRepo, base: str, q: Any, payload: Any, ref: str) -> Any:
        if ref not in repo.refs:
            raise _Respond(
                422,
                {
                    "message": "Reference does not exist",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        repo.refs[ref] = str((payload or {}).get("sha", repo.refs[ref]))
        self.refs.append((repo.full_name, f"refs/{ref}", repo.refs[ref]))
        return 200, self._ref_json(repo, base, ref), {}

    def _get_contents(
        self, repo: FakeRepo, base: str, q: dict[str, list[str]], p: Any, path: str
    ) -> Any:
        branch = q.get("ref", [repo.default_branch])[0]
        data = repo.files.get((branch, path))
        if data is None:
            raise _Respond(404, NOT_FOUND)
        body = template("contents.json")
        api = f"{base}/repos/{repo.full_name}"
        sha = _blob_sha(data)
        body.update(
            sha=sha,
            path=path,
            name=path.rsplit("/", 1)[-1],
            size=len(data),
            content=base64.encodebytes(data).decode(),
            url=f"{api}/contents/{path}?ref={branch}",
        )
        body["_links"] = {
            "self": f"{api}/contents/{path}?ref={branch}",
            "html": f"https://github.com/{repo.full_name}/blob/{branch}/{path}",
            "git": f"{api}/git/blobs/{sha}",
        }
        return 200, body, {}

    def _put_contents(self, repo: FakeRepo, base: str, q: Any, payload: Any, path: str) -> Any:
        payload = payload or {}
        branch = payload.get("branch") or repo.default_branch
        if f"heads/{branch}" not in repo.refs:
            raise _Respond(
                404,
                {
                    "message": f"Branch {branch} not found",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        existing = repo.files.get((branch, path))
        if existing is not None and payload.get("sha") != _blob_sha(existing):
            if not payload.get("sha"):
                raise _Respond(
                    422,
                    {
                        "message": 'Invalid request.\n\n"sha" wasn\'t supplied.',
                        "documentation_url": "https://docs.github.com/rest",
                    },
                )
            raise _Respond(
                409,
                {
                    "message": f"{path} does not match {payload.get('sha')}",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        try:
            data = base64.b64decode(payload.get("content", ""), validate=True)
        except ValueError:
            raise _Respond(422, validation_failed("Content", "content", "invalid")) from None
        repo.files[(branch, path)] = data
        commit_sha = _sha(f"{repo.full_name}:{branch}:{path}:{len(self.file_writes)}")
        repo.refs[f"heads/{branch}"] = commit_sha
        self.file_writes.append((repo.full_name, branch, path, data))
        body = template("contents-put.json")
        api = f"{base}/repos/{repo.full_name}"
        sha = _blob_sha(data)
        body["content"].update(
            name=path.rsplit("/", 1)[-1],
            path=path,
            sha=sha,
            size=len(data),
            url=f"{api}/contents/{path}?ref={branch}",
            html_url=f"https://github.com/{repo.full_name}/blob/{branch}/{path}",
            git_url=f"{api}/git/blobs/{sha}",
            download_url=None,
        )
        body["content"]["_links"] = {
            "self": f"{api}/contents/{path}?ref={branch}",
            "git": f"{api}/git/blobs/{sha}",
            "html": f"https://github.com/{repo.full_name}/blob/{branch}/{path}",
        }
        body["commit"] = self._rewrite(body["commit"], [("https://api.github.com", base)])
        body["commit"].update(sha=commit_sha, message=payload.get("message", ""))
        return (200 if existing is not None else 201), body, {}

    _routes: ClassVar[list[tuple[str, str, Callable[..., Any]]]] = [
        ("", "GET", _get_repo),
        ("/actions/runs", "GET", _list_runs),
        (r"/actions/workflows/(\d+)/runs", "GET", _list_runs),
        (r"/actions/runs/(\d+)", "GET", _get_run),
        (r"/actions/runs/(\d+)/attempts/(\d+)", "GET", _get_attempt),
        (r"/actions/runs/(\d+)/jobs", "GET", _list_jobs),
        (r"/actions/runs/(\d+)/attempts/(\d+)/jobs", "GET", _list_jobs),
        (r"/actions/jobs/(\d+)", "GET", _get_job),
        (r"/actions/jobs/(\d+)/logs", "GET", _job_logs),
        (r"/actions/runs/(\d+)/rerun-failed-jobs", "POST", _rerun_failed),
        (r"/actions/runs/(\d+)/artifacts", "GET", _list_artifacts),
        (r"/actions/artifacts/(\d+)/zip", "GET", _download_artifact),
        ("/issues", "POST", _create_issue),
        ("/issues", "GET", _list_issues),
        (r"/issues/(\d+)", "GET", _get_issue),
        (r"/issues/(\d+)", "PATCH", _update_issue),
        (r"/issues/(\d+)/comments", "POST", _comment_issue),
        (r"/issues/(\d+)/comments", "GET", _list_comments),
        ("/pulls", "POST", _create_pull),
        ("/pulls", "GET", _list_pulls),
        (r"/pulls/(\d+)", "GET", _get_pull),
        (r"/git/ref/(.+)", "GET", _get_ref),
        (r"/git/refs/(.+)", "GET", _get_ref),
        ("/git/refs", "POST", _create_ref),
        (r"/git/refs/(.+)", "PATCH", _update_ref),
        (r"/contents/(.+)", "GET", _get_contents),
        (r"/contents/(.+)", "PUT", _put_contents),
    ]


def _default_log(start: datetime, steps: list[StepSpec], conclusion: str) -> bytes:
    """A short job log in the runner's format, for jobs scripted without one."""
    lines = []
    moment = start
    for step in steps:
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        lines.append(f"{stamp} ##[group]{step.name}")
        lines.append(f"{stamp} ##[endgroup]")
        if step.conclusion == "failure":
            lines.append(f"{stamp} ##[error]Process completed with exit code 1.")
        elif step.conclusion == "cancelled" or (conclusion == "cancelled" and step is steps[-1]):
            lines.append(f"{stamp} ##[error]The operation was canceled.")
        moment += timedelta(seconds=10)
    return ("\n".join(lines) + "\n").encode()


def _public_issue(issue: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in issue.items() if k != "repository"}


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _created_matches(moment: datetime, spec: str) -> bool:
    """GitHub's ``created`` search qualifier: ``>=D``, ``>D``, ``<=D``, ``<D``, ``A..B``, ``D``."""

    def parse(text: str) -> datetime:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    if ".." in spec:
        low, high = spec.split("..", 1)
        return (low == "*" or moment >= parse(low)) and (high == "*" or moment <= parse(high))
    tests: tuple[tuple[str, Callable[[datetime, datetime], bool]], ...] = (
        (">=", lambda a, b: a >= b),
        ("<=", lambda a, b: a <= b),
        (">", lambda a, b: a > b),
        ("<", lambda a, b: a < b),
    )
    for op, test in tests:
        if spec.startswith(op):
            return bool(test(moment, parse(spec[len(op) :])))
    return moment.date() == parse(spec).date()


_JWT_REJECTED = {
    "message": "A JSON web token could not be decoded",
    "documentation_url": "https://docs.github.com/rest",
}


@dataclass
class _FakeApp:
    """A GitHub App as GitHub sees it: its public key, installations and issued tokens."""

    app_id: int
    public_key: bytes
    installations: dict[str, int]
    token_lifetime: float
    permissions: dict[str, str]
    #: installation token → (installation id, expires at)
    tokens: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    issued: dict[int, int] = field(default_factory=dict)
    used: dict[int, int] = field(default_factory=dict)

    def jwt_valid(self, token: str) -> bool:
        import jwt  # PyJWT: PyGithub's own dependency, used for the App's JWT

        try:
            claims = jwt.decode(
                token, self.public_key, algorithms=["RS256"], options={"require": ["exp", "iat"]}
            )
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == str(self.app_id)

    def issue(self, installation: int, now: datetime) -> dict[str, Any]:
        self.issued[installation] = self.issued.get(installation, 0) + 1
        token = (
            f"ghs_fake{installation}x{self.issued[installation]:04d}"
            + hashlib.sha256(
                f"{installation}:{self.issued[installation]}:{now.isoformat()}".encode()
            ).hexdigest()[:24]
        )
        expires = now + timedelta(seconds=self.token_lifetime)
        self.tokens[token] = (installation, expires)
        return {
            "token": token,
            "expires_at": expires.astimezone(UTC).isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "permissions": dict(self.permissions),
            "repository_selection": "all",
        }  # fmt: skip

    def installation_of(self, credential: str, now: datetime) -> int | None:
        for token, (installation, expires) in self.tokens.items():
            if hmac.compare_digest(token.encode(), credential.encode()):
                return installation if now < expires else None
        return None

    def installations_json(self, base: str) -> list[dict[str, Any]]:
        out = []
        for account, installation in sorted(self.installations.items(), key=lambda kv: kv[1]):
            out.append(
                {
                    "id": installation,
                    "app_id": self.app_id,
                    "app_slug": "hee-monitor",
                    "target_type": "Organization",
                    "account": {
                        "login": account,
                        "id": installation * 7,
                        "type": "Organization",
                        "url": f"{base}/users/{account}",
                    },
                    "repository_selection": "all",
                    "permissions": dict(self.permissions),
                    "events": ["workflow_run"],
                    "access_tokens_url": f"{base}/app/installations/{installation}/access_tokens",
                    "repositories_url": f"{base}/installation/repositories",
                    "html_url": f"https://github.com/settings/installations/{installation}",
                    "created_at": "2026-01-05T10:00:00Z",
                    "updated_at": "2026-01-05T10:00:00Z",
                }
            )
        return out


class _FakeHandler(BaseHTTPRequestHandler):
    owner: GitHubFake
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    # headers and body in one segment: no Nagle / delayed-ACK stall per request
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read fake.requests instead

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.owner.handle(self.command, self.path, headers, body)
        if response.cut:
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if response.chunks is not None:
            self.send_header("Content-Length", response.headers.get("Content-Length", "0"))
            self.end_headers()
            for chunk in response.chunks:
                self.wfile.write(chunk)
            return
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve
