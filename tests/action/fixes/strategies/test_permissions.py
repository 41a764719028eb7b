"""Permission fixes grant exactly what the log says was denied, to the job that failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.config import FixConfig
from hee_monitor.action.fixes.engine import EngineOptions, FixEngine
from hee_monitor.action.fixes.log_facts import denied_permission
from hee_monitor.action.fixes.outcomes import FixApplied, FixRolledBack, FixSkipped
from hee_monitor.action.fixes.strategies.interface import FixContext
from hee_monitor.action.fixes.strategies.workflows import (
    WorkflowPermissionsStrategy,
    grant_permission,
)
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import Finding
from tests.action.fixes.conftest import Repo, make_finding, tree_state

RELEASE = """\
# Release pipeline
name: release
on:
  push:
    tags: ['v*']

permissions:
  contents: read   # least privilege by default

jobs:
  test:
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v4
    - run: make test
  image:
    needs: test
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v4
    - name: Push the image
      run: |
        docker build -t ghcr.io/acme/ledger:${GITHUB_REF_NAME} .
        docker push ghcr.io/acme/ledger:${GITHUB_REF_NAME}
"""

PUSH_LOG = """\
##[group]Run docker build -t ghcr.io/acme/ledger:${GITHUB_REF_NAME} .
docker build -t ghcr.io/acme/ledger:${GITHUB_REF_NAME} .
docker push ghcr.io/acme/ledger:${GITHUB_REF_NAME}
shell: /usr/bin/bash -e {0}
##[endgroup]
#8 exporting to image
#8 DONE 0.1s
The push refers to repository [ghcr.io/acme/ledger]
5f70bf18a086: Preparing
denied: installation not allowed to Write organization package
##[error]Process completed with exit code 1.
"""


def _engine(repo: Repo, store: Engine, clock: FakeClock, **kw: Any) -> FixEngine:
    return FixEngine(
        repo.path, store=store, clock=clock, env=repo.env, config=FixConfig(risk_threshold=10),
        options=EngineOptions(run_id="9"), **kw,
    )  # fmt: skip


def _finding(step: str, permission: str | None) -> Finding:
    details: dict[str, object] = {"step": step}
    if permission:
        details["permission"] = permission
    return make_finding(
        "workflow-permissions", category="auth", pattern_id="DOCKER-PUSH-DENIED", details=details
    )


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        (PUSH_LOG, "packages"),
        ("remote: Permission to acme/site.git denied to github-actions[bot].\n", "contents"),
        ("Error: Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable\n", "id-token"),
        (
            "RequestError [HttpError]: Resource not accessible by integration\n"
            "  url: 'https://api.github.com/repos/acme/site/pulls/12/reviews'\n",
            "pull-requests",
        ),
        ("denied: requested access to the resource is denied\n", None),
        (
            "denied: User: arn:aws:sts::1:assumed-role/ci is not authorized to perform: ecr:Put",
            None,
        ),
    ],
)
def test_the_denied_permission_is_read_from_the_log(text: str, scope: str | None) -> None:
    assert denied_permission(text.splitlines()) == scope


def test_the_push_job_gets_packages_write_merged_with_what_it_inherited(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    repo.write(".github/workflows/release.yml", RELEASE)
    repo.commit("init")
    finding = _finding("docker build -t ghcr.io/acme/ledger:${GITHUB_REF_NAME} .", "packages")
    outcome = _engine(repo, store, clock).execute_fix(finding)
    assert isinstance(outcome, FixApplied), outcome
    text = repo.git("show", f"{outcome.branch}:.github/workflows/release.yml")
    data = yaml.safe_load(text)
    assert data["jobs"]["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert "permissions" not in data["jobs"]["test"]
    assert data["permissions"] == {"contents": "read"}
    # only the inserted lines differ: comments, quotes and the sequence layout survive
    added = [ln for ln in text.splitlines() if ln not in RELEASE.splitlines()]
    assert added == ["    permissions:", "      contents: read", "      packages: write"]
    assert text.replace("\n".join(added) + "\n", "") == RELEASE


def test_an_existing_job_block_is_merged_not_replaced(repo: Repo) -> None:
    text = RELEASE.replace(
        "    needs: test\n",
        "    needs: test\n    permissions:\n      attestations: write  # SLSA\n",
    )
    edited = grant_permission(text, "image", "packages")
    assert "      attestations: write  # SLSA\n      packages: write\n" in edited
    assert yaml.safe_load(edited)["jobs"]["image"]["permissions"] == {
        "attestations": "write",
        "packages": "write",
    }


class _WrongJob(WorkflowPermissionsStrategy):
    """Grants the permission to the wrong job (the mistake the check must catch)."""

    def apply(self, ctx: FixContext) -> str:
        path = ctx.repo / ".github/workflows/release.yml"
        path.write_text(grant_permission(path.read_text(), "test", "packages"))
        return "granted to test"


def test_a_permission_fix_whose_job_still_lacks_the_permission_is_rolled_back(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    repo.write(".github/workflows/release.yml", RELEASE)
    repo.commit("init")
    before = tree_state(repo.path)
    finding = _finding("docker build -t ghcr.io/acme/ledger:${GITHUB_REF_NAME} .", "packages")
    engine = _engine(repo, store, clock, strategies={"workflow-permissions": _WrongJob()})
    outcome = engine.execute_fix(finding)
    assert isinstance(outcome, FixRolledBack), outcome
    assert "job image is granted packages: write" in outcome.reason
    assert tree_state(repo.path) == before


def test_a_registry_credential_denial_is_left_alone_with_a_reason(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    repo.write(".github/workflows/release.yml", RELEASE)
    repo.commit("init")
    before = tree_state(repo.path)
    finding = _finding("docker build -t ghcr.io/acme/ledger:${GITHUB_REF_NAME} .", None)
    outcome = _engine(repo, store, clock).execute_fix(finding)
    assert isinstance(outcome, FixSkipped)
    assert "does not name a GITHUB_TOKEN permission" in outcome.reason
    assert tree_state(repo.path) == before
