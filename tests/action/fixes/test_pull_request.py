"""The fix reaches GitHub: branch pushed to the remote, pull request opened through the
GitHub source against the loopback fake of the REST API, with the right head and base."""

from __future__ import annotations

import dataclasses
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.engine import EngineOptions, FixEngine
from hee_monitor.action.fixes.outcomes import FixApplied
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import Evidence
from hee_monitor.sources.github.source import GitHubSource
from tests.action.fixes.conftest import Repo, make_finding
from tests.fakes.github import GitHubFake

#: GitHub learns about a pushed branch; the bare "origin" tells the fake the same way
POST_RECEIVE = """#!{python}
import json, sys, urllib.request
for line in sys.stdin:
    old, new, ref = line.split()
    body = json.dumps({{"ref": ref, "sha": new}}).encode()
    req = urllib.request.Request("{api}/repos/octo/app/git/refs", data=body, method="POST",
                                 headers={{"Authorization": "token t",
                                           "Content-Type": "application/json"}})
    urllib.request.urlopen(req).read()
"""


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        server.add_repo("octo/app", default_branch="main")
        yield server


def test_the_pull_request_reaches_github_with_head_base_and_evidence(
    repo: Repo, store: Engine, clock: FakeClock, fake: GitHubFake, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    repo.git("init", "-q", "--bare", str(origin))
    hook = origin / "hooks" / "post-receive"
    hook.write_text(POST_RECEIVE.format(python=sys.executable, api=fake.url))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    repo.write("app.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    repo.commit("init")
    repo.env["GITHUB_TOKEN"] = "ghp_" + "a1" * 18
    repo.git("remote", "add", "origin", str(origin))
    repo.git("push", "-q", "origin", "main")

    source = GitHubSource(["octo/app"], token="t", api_url=fake.url, clock=clock)
    engine = FixEngine(
        repo.path, store=store, clock=clock, env=repo.env, pull_requests=source,
        options=EngineOptions(repository="octo/app", run_id="123"),
    )  # fmt: skip
    leaky = dataclasses.replace(
        make_finding("ruff-fix"),
        evidence=(Evidence(3, 3, f"curl -H 'Authorization: token {repo.env['GITHUB_TOKEN']}'"),),
    )
    outcome = engine.execute_fix(leaky)

    assert isinstance(outcome, FixApplied), outcome
    assert outcome.notes == ()
    (pull,) = fake.pulls
    assert pull["head"]["ref"] == "hee/fix/PY-RUFF-LINT-123"
    assert pull["base"]["ref"] == "main"
    assert pull["title"] == "Fix PY-RUFF-LINT: ruff found lint errors"
    assert "## Validation" in pull["body"] and "passed: `ruff check`" in pull["body"]
    assert outcome.pull_request == pull["html_url"]
    assert repo.env["GITHUB_TOKEN"] not in pull["body"]
    assert "[REDACTED" in pull["body"]
    # the pushed branch holds the fix; main on the remote did not move
    pushed = repo.git("--git-dir", str(origin), "show", "hee/fix/PY-RUFF-LINT-123:app.py")
    assert "import os" not in pushed
    assert repo.git("--git-dir", str(origin), "rev-parse", "main") == repo.git("rev-parse", "main")


def test_no_push_keeps_the_branch_local(
    repo: Repo, store: Engine, clock: FakeClock, fake: GitHubFake
) -> None:
    repo.write("app.py", "import os\n")
    repo.commit("init")
    source = GitHubSource(["octo/app"], token="t", api_url=fake.url, clock=clock)
    engine = FixEngine(
        repo.path, store=store, clock=clock, env=repo.env, pull_requests=source,
        options=EngineOptions(repository="octo/app", run_id="1", push=False),
    )  # fmt: skip
    outcome = engine.execute_fix(make_finding("ruff-fix"))
    assert isinstance(outcome, FixApplied)
    assert outcome.pull_request is None
    assert fake.pulls == []
    assert outcome.notes == ("--no-push: the fix is on the local branch hee/fix/PY-RUFF-LINT-1",)


def test_rerun_strategy_re_runs_the_failed_jobs_through_the_source(
    repo: Repo, store: Engine, clock: FakeClock, fake: GitHubFake
) -> None:
    from tests.fakes.github import JobSpec

    repo.write("a.txt", "a\n")
    repo.commit("init")
    run = fake.add_run("octo/app", jobs=[JobSpec("test")])
    source = GitHubSource(["octo/app"], token="t", api_url=fake.url, clock=clock)
    engine = FixEngine(
        repo.path, store=store, clock=clock, env=repo.env, rerun=source,
        options=EngineOptions(repository="octo/app", run_id=str(run.id)),
    )  # fmt: skip
    finding = make_finding("rerun", category="network", pattern_id="NET-RESET")
    outcome = engine.execute_fix(finding)
    assert isinstance(outcome, FixApplied), outcome
    assert outcome.files == ()
    assert [r.run_id for r in fake.reruns] == [run.id]
