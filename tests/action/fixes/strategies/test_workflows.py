from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.action.fixes.strategies.interface import FixContext
from hee_monitor.action.fixes.strategies.workflows import (
    WorkflowTimeoutStrategy,
    grant_permission,
    set_timeouts,
)
from tests.action.fixes.conftest import Repo, make_finding

WORKFLOW = """\
# CI for the app
name: ci
on:
  push:
    branches: [main]  # only main

jobs:
  # the test job
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pytest
  "lint":
    runs-on: ubuntu-latest
    timeout-minutes: 10 # short
    steps:
      - run: ruff check .
  call:
    uses: ./.github/workflows/reusable.yml
"""


def test_timeouts_are_added_where_missing_and_raised_for_a_timed_out_job(repo: Repo) -> None:
    repo.write(".github/workflows/ci.yml", WORKFLOW)
    ctx = FixContext(repo=repo.path)
    strategy = WorkflowTimeoutStrategy()
    (check,) = strategy.plan(ctx).validation
    assert not check.run(repo.path).passed
    strategy.apply(ctx)
    assert check.run(repo.path).passed
    data = yaml.safe_load((repo.path / ".github/workflows/ci.yml").read_text())
    assert data["jobs"]["test"]["timeout-minutes"] == 30
    assert data["jobs"]["lint"]["timeout-minutes"] == 10
    assert "timeout-minutes" not in data["jobs"]["call"]

    timed_out = make_finding("workflow-timeout", category="timeout", details={"job": "lint"})
    ctx = FixContext(repo=repo.path, finding=timed_out)
    plan = strategy.plan(ctx)
    assert plan.edits == (".github/workflows/ci.yml: jobs.lint.timeout-minutes 10 -> 20",)
    strategy.apply(ctx)
    text = (repo.path / ".github/workflows/ci.yml").read_text()
    assert "    timeout-minutes: 20 # short\n" in text
    assert plan.validation[0].run(repo.path).passed


YAML_WORDS = {"on", "off", "yes", "no", "y", "n", "true", "false", "null"}
job_ids = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True).filter(
    lambda j: j not in YAML_WORDS  # YAML 1.1 reads these as booleans/null, not job ids
)


@settings(max_examples=40, deadline=None)
@given(jobs=st.dictionaries(job_ids, st.integers(1, 300) | st.none(), min_size=1, max_size=5),
       indent=st.sampled_from([2, 4]))  # fmt: skip
def test_timeout_edits_set_exactly_the_wanted_values(
    jobs: dict[str, int | None], indent: int
) -> None:
    pad = " " * indent
    lines = ["on: push", "jobs:"]
    for job, timeout in jobs.items():
        lines.append(f"{pad}{job}:")
        lines.append(f"{pad}{pad}runs-on: x  # c")
        if timeout is not None:
            lines.append(f"{pad}{pad}timeout-minutes: {timeout}")
    text = "\n".join(lines) + "\n"
    wanted = {job: (t or 0) + 7 for job, t in jobs.items()}
    edited = set_timeouts(text, wanted)
    data = yaml.safe_load(edited)
    assert {j: v["timeout-minutes"] for j, v in data["jobs"].items()} == wanted
    assert edited.count("# c") == len(jobs)
    first = next(iter(jobs))
    with_perms = yaml.safe_load(grant_permission(edited, first, "packages"))
    assert with_perms["jobs"][first]["permissions"] == {"contents": "read", "packages": "write"}
    del with_perms["jobs"][first]["permissions"]
    assert with_perms["jobs"] == data["jobs"]
