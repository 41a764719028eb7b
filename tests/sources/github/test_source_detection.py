"""The GitHub calls detection, escalation, skip flags and token hygiene make."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from hee_monitor.core.models import FailedRun
from hee_monitor.sources.github.source import GitHubSource
from tests.fakes.github import GitHubFake, JobSpec

MakeSource = Callable[..., GitHubSource]


def test_jobs_successful_runs_and_artifacts(fake: GitHubFake, make_source: MakeSource) -> None:
    ok = fake.add_run("octo/app", conclusion="success", jobs=[JobSpec("build", "success")])
    bad = fake.add_run("octo/app", jobs=[JobSpec("build"), JobSpec("lint", "success")])
    fake.add_artifact(bad.id, "sarif", {"codeql.sarif": b'{"runs": []}'})
    source = make_source()
    (timing_ok,) = source.list_jobs("octo/app", ok.id)
    assert (timing_ok.name, timing_ok.conclusion) == ("build", "success")
    assert timing_ok.duration_seconds == 175.0
    assert [j.conclusion for j in source.list_jobs("octo/app", bad.id, 1)] == [
        "failure",
        "success",
    ]
    (run,) = source.successful_runs("octo/app", "CI", limit=5)
    assert run.run_id == ok.id
    assert source.successful_runs("octo/app", "Other") == ()
    (artifact,) = source.list_artifacts("octo/app", bad.id)
    assert artifact.name == "sarif" and not artifact.expired
    data = b"".join(source.stream_artifact("octo/app", artifact.artifact_id))
    assert data.startswith(b"PK")
    # the signed download went without the token
    blob = [r for r in fake.requests if r.path.startswith("/_blobs/artifacts/")]
    assert blob and not any(r.authorized for r in blob)


def test_read_file_through_the_contents_api(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_repo("octo/app").files[("main", ".github/CODEOWNERS")] = b"* @octo\n"
    source = make_source()
    assert source.read_file("octo/app", ".github/CODEOWNERS") == b"* @octo\n"
    assert source.read_file("octo/app", "CODEOWNERS") is None


def test_issues_by_body_text_across_pages(fake: GitHubFake, make_source: MakeSource) -> None:
    source = make_source()
    fake.add_repo("octo/app")
    for n in range(130):
        body = "<!-- hee-fingerprint: abc -->" if n == 3 else f"issue {n}"
        source.create_issue("octo/app", f"t{n}", body, ["ci"], ["alice"] if n == 3 else [])
    (found,) = source.issues_containing("octo/app", "<!-- hee-fingerprint: abc -->", ["ci"])
    assert found.title == "t3" and found.assignees == ("alice",)
    assert "hee-fingerprint" in found.body
    assert source.issues_containing("octo/app", "abc", ["other-label"]) == ()


def test_a_pull_request_runs_labels_are_read(fake: GitHubFake, make_source: MakeSource) -> None:
    source = make_source()
    fake.add_repo("octo/app")
    source.create_branch("octo/app", "feature", "a" * 40)
    pull = source.open_pull_request("octo/app", "feature", "main", "Change", "body")
    fake.pulls[0]["labels"] = [{"name": "hee:skip"}, {"name": "bug"}]
    fake.add_run(
        "octo/app",
        jobs=[JobSpec("test")],
        event="pull_request",
        overrides={"pull_requests": [{"number": pull.number, "id": 1}]},
    )
    fake.add_run("octo/app", jobs=[JobSpec("test")], head_commit_message="push [skip hee]")
    runs = [r for r in source.poll() if isinstance(r, FailedRun)]
    labels = {r.event: r.labels for r in runs}
    assert labels == {"pull_request": ("hee:skip", "bug"), "push": ()}


def test_token_info_tells_whether_scopes_are_listed(
    fake: GitHubFake, make_source: MakeSource
) -> None:
    source = make_source()
    assert source.token_info().scopes_known
    fake.token_scopes = None
    info = source.token_info()
    assert not info.scopes_known and info.scopes == ()


def test_labels_are_not_read_when_switched_off(fake: GitHubFake, make_source: MakeSource) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("test")], overrides={"pull_requests": [{"number": 9}]})
    source = make_source(read_pr_labels=False, since=fake.clock.now() - timedelta(days=1))
    (run,) = [r for r in source.poll() if isinstance(r, FailedRun)]
    assert run.labels == ()
    assert not [r for r in fake.requests if "/pulls/" in r.path]
