"""The GitHub fake answers with the shapes and headers the real API uses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3
from github import Auth, Github

from hee_monitor.core.clock import FakeClock
from tests.fakes.github import DATA_DIR, GitHubFake, JobSpec

#: recorded GitHub responses, when the shared reference set is next to the repository
REFERENCE = Path(
    os.environ.get(
        "HEE_GITHUB_REFERENCE",
        Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "github-api",
    )
)


def recorded(name: str, fallback: str) -> Any:
    """A recorded body from the reference set, or the fake's own copy of one."""
    path = REFERENCE / name
    return json.loads((path if path.exists() else DATA_DIR / fallback).read_text())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        yield server


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False)


def get(http: urllib3.PoolManager, url: str, **headers: str) -> tuple[int, dict[str, str], Any]:
    response = http.request("GET", url, headers=headers, redirect=False)
    body = json.loads(response.data) if response.data and response.status != 302 else None
    return response.status, dict(response.headers), body


def test_run_job_and_repo_have_the_recorded_key_sets(
    fake: GitHubFake, http: urllib3.PoolManager
) -> None:
    run = fake.add_run("octo/app", jobs=[JobSpec("build")])
    job = run.current_jobs[0]
    base = f"{fake.url}/repos/octo/app"

    _, _, run_body = get(http, f"{base}/actions/runs/{run.id}")
    _, _, job_body = get(http, f"{base}/actions/jobs/{job.id}")
    _, _, jobs_body = get(http, f"{base}/actions/runs/{run.id}/jobs")
    _, _, list_body = get(http, f"{base}/actions/runs")
    _, _, repo_body = get(http, base)

    assert run_body.keys() == recorded("run-get.failure.json", "run.json").keys()
    assert job_body.keys() == recorded("job-get.json", "job.json").keys()
    listed_job = (
        recorded("jobs-list.json", "job.json")["jobs"][0]
        if (REFERENCE / "jobs-list.json").exists()
        else recorded("job-get.json", "job.json")
    )
    assert jobs_body["jobs"][0].keys() == listed_job.keys()
    assert list_body.keys() == {"total_count", "workflow_runs"}
    assert list_body["workflow_runs"][0] == run_body
    assert repo_body.keys() == recorded("repo-get.json", "repo.json").keys()
    assert run_body["repository"]["full_name"] == "octo/app"
    assert run_body["conclusion"] == "failure" and run_body["id"] == run.id
    assert job_body["steps"][2] == {
        **job_body["steps"][2],
        "name": "Run tests",
        "conclusion": "failure",
    }
    text = json.dumps([run_body, job_body, repo_body])
    assert "api.github.com" not in text and "PyGithub" not in text and "EnricoMi" not in text


def test_every_api_answer_has_rate_limit_headers_and_get_has_an_etag(
    fake: GitHubFake, http: urllib3.PoolManager
) -> None:
    fake.add_repo("octo/app")
    status, headers, _ = get(http, f"{fake.url}/repos/octo/app")
    assert status == 200
    for name in ("Limit", "Remaining", "Reset", "Used", "Resource"):
        assert f"X-RateLimit-{name}" in headers
    assert headers["ETag"].startswith('W/"')
    status, headers, _ = get(http, f"{fake.url}/repos/octo/nope")
    assert status == 404 and "X-RateLimit-Remaining" in headers


def test_conditional_requests_answer_304_free_until_the_list_changes(
    fake: GitHubFake, http: urllib3.PoolManager
) -> None:
    fake.add_run("octo/app")
    url = f"{fake.url}/repos/octo/app/actions/runs"
    _, headers, _ = get(http, url)
    etag = headers["ETag"]
    used = fake.counted()

    status, headers304, body = get(http, url, **{"If-None-Match": etag})

    assert status == 304 and body is None
    assert fake.counted() == used and headers304["X-RateLimit-Used"] == str(used)
    fake.add_run("octo/app")
    status, headers, _ = get(http, url, **{"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag and fake.counted() == used + 1


def test_pagination_links_filters_and_total_count(
    fake: GitHubFake, http: urllib3.PoolManager
) -> None:
    for i in range(7):
        fake.add_run("octo/app", conclusion="failure" if i % 2 else "success", branch=f"b{i % 2}")
    url = f"{fake.url}/repos/octo/app/actions/runs?per_page=2"
    _status, headers, body = get(http, url)
    assert body["total_count"] == 7 and len(body["workflow_runs"]) == 2
    assert 'rel="next"' in headers["Link"] and 'rel="last"' in headers["Link"]
    assert "/repositories/" in headers["Link"] and "page=4" in headers["Link"]
    last = headers["Link"].split(", ")[1].split(";")[0].strip("<>")
    _, last_headers, last_body = get(http, last)
    assert len(last_body["workflow_runs"]) == 1
    assert 'rel="prev"' in last_headers["Link"] and 'rel="next"' not in last_headers["Link"]
    _, _, failed = get(http, f"{fake.url}/repos/octo/app/actions/runs?status=failure&branch=b1")
    assert failed["total_count"] == 3
    assert {r["conclusion"] for r in failed["workflow_runs"]} == {"failure"}


def test_logs_redirect_to_a_signed_url_that_needs_no_token(
    fake: GitHubFake, http: urllib3.PoolManager, clock: FakeClock
) -> None:
    run = fake.add_run("octo/app", jobs=[JobSpec("t", log_text="hello\nworld\n")])
    fake.require_token("s3cret")
    job = run.current_jobs[0]
    url = f"{fake.url}/repos/octo/app/actions/jobs/{job.id}/logs"
    status, headers, _ = get(http, url, Authorization="token s3cret")
    assert status == 302
    location = headers["Location"]
    assert "urlSignature=" in location and "s3cret" not in location
    assert http.request("GET", location).data == b"hello\nworld\n"
    assert http.request("GET", location.replace("urlSignature=", "urlSignature=0")).status == 403
    clock.advance(120)
    assert http.request("GET", location).status == 403  # expired


def test_bad_credentials_never_echo_the_token(fake: GitHubFake, http: urllib3.PoolManager) -> None:
    fake.add_repo("octo/app")
    fake.require_token("right-token")
    response = http.request(
        "GET", f"{fake.url}/repos/octo/app", headers={"Authorization": "token wrong-token-xyz"}
    )
    assert response.status == 401
    assert json.loads(response.data)["message"] == "Bad credentials"
    assert b"wrong-token-xyz" not in response.data
    assert "wrong-token-xyz" not in repr(fake.requests)


def test_primary_limit_resets_when_the_clock_passes_the_reset(
    fake: GitHubFake, http: urllib3.PoolManager, clock: FakeClock
) -> None:
    fake.add_repo("octo/app")
    fake.rate_limit(remaining=0, reset=clock.now() + timedelta(seconds=30), status=429)
    status, headers, body = get(http, f"{fake.url}/repos/octo/app")
    assert status == 429 and headers["X-RateLimit-Remaining"] == "0"
    assert body["message"].startswith("API rate limit exceeded")
    _, _, limits = get(http, f"{fake.url}/rate_limit")
    assert limits["resources"]["core"]["remaining"] == 0 and not fake.requests[-1].counted
    clock.advance(31)
    assert get(http, f"{fake.url}/repos/octo/app")[0] == 200


def test_secondary_limit_and_failures_are_scripted(
    fake: GitHubFake, http: urllib3.PoolManager
) -> None:
    fake.add_repo("octo/app")
    fake.secondary_rate_limit(retry_after=3)
    fake.fail_next(1, status=503)
    status, headers, body = get(http, f"{fake.url}/repos/octo/app")
    assert status == 403 and headers["Retry-After"] == "3"
    assert "secondary rate limit" in body["message"]
    assert get(http, f"{fake.url}/repos/octo/app")[0] == 503
    assert get(http, f"{fake.url}/repos/octo/app")[0] == 200


def test_pygithub_drives_every_write_the_later_stages_need(fake: GitHubFake) -> None:
    run = fake.add_run("octo/app", jobs=[JobSpec("t")], rerun_conclusions=["success"])
    gh = Github(
        auth=Auth.Token("t"),
        base_url=fake.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    repo = gh.get_repo("octo/app")
    assert repo.get_workflow_run(run.id).rerun_failed_jobs()
    assert repo.get_workflow_run(run.id).run_attempt == 2
    assert repo.get_workflow_run(run.id).get_attempt(1).conclusion == "failure"
    assert next(iter(repo.get_workflow_run(run.id).jobs())).conclusion == "success"
    sha = repo.get_git_ref("heads/main").object.sha
    repo.create_git_ref("refs/heads/fix", sha)
    repo.create_file("x.cfg", "add", "a=1\n", branch="fix")
    pull = repo.create_pull(base="main", head="fix", title="Fix", body="why")
    issue = repo.create_issue("Broken", "body", labels=["ci"])
    issue.create_comment("more")
    issue.edit(state="closed")
    assert pull.number == 1 and issue.number == 2
    assert [i.number for i in repo.get_issues(state="closed", labels=["ci"])] == [2]
    assert fake.refs[0][1] == "refs/heads/fix" and fake.pulls[0]["title"] == "Fix"
    assert fake.issues[0]["state"] == "closed" and fake.reruns[0].conclusion == "success"
    artifact = fake.add_artifact(run.id, "junit", {"report.xml": b"<testsuite/>"})
    (listed,) = list(repo.get_workflow_run(run.id).get_artifacts())
    assert listed.id == artifact.id and listed.size_in_bytes == len(artifact.data)
    gh.close()
