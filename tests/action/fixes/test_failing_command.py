"""The failing command, found in the workflow or the log, proves (or refutes) every fix."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.engine import EngineOptions, FixEngine
from hee_monitor.action.fixes.failing_command import (
    FailingCommand,
    find_in_workflows,
    resolve,
    run_sandboxed,
    why_unsafe,
)
from hee_monitor.action.fixes.outcomes import FixApplied, FixRolledBack, FixSkipped
from hee_monitor.action.fixes.strategies.interface import (
    Check,
    FixContext,
    FixPlan,
    Requirements,
    Safety,
)
from hee_monitor.core.clock import FakeClock
from hee_monitor.record.db import open_engine
from tests.action.fixes.conftest import IDENTITY, Repo, init_repo, make_finding, tree_state
from tests.action.fixes.realtool import findings_from_tool

WORKFLOW = """\
name: ci
on: [push]
jobs:
  lint:
    runs-on: ubuntu-latest
    defaults:
      run:
        working-directory: service   # the Python package lives here
    steps:
      - uses: actions/checkout@v4
      - run: pip install ruff
      - run: ruff check .
      - name: publish
        run: docker push ghcr.io/acme/service:latest
"""


def _engine(repo: Repo, store: Engine, clock: FakeClock) -> FixEngine:
    return FixEngine(
        repo.path, store=store, clock=clock, env=repo.env, options=EngineOptions(run_id="7")
    )


def _service_repo(repo: Repo) -> None:
    repo.write(".github/workflows/ci.yml", WORKFLOW)
    repo.write(".gitignore", ".ruff_cache/\n")
    repo.write("service/pyproject.toml", '[project]\nname = "service"\nversion = "0.1.0"\n')
    repo.write("service/app/main.py", "import json\nimport os\n\nprint(json.dumps({}))\n")
    # a sibling directory CI does not lint, with a lint error of its own: left alone
    repo.write("scripts/tool.py", "import sys\n")
    repo.commit("init")


def test_the_workflow_step_gives_the_script_and_its_working_directory(repo: Repo) -> None:
    _service_repo(repo)
    finding = make_finding("ruff-fix", details={"step": "ruff check ."})
    command = resolve(repo.path, finding)
    assert command == FailingCommand(
        "ruff check .\n", "service", source=".github/workflows/ci.yml",
        workflow=".github/workflows/ci.yml", job="lint",
    )  # fmt: skip
    (push,) = find_in_workflows(repo.path, "publish")
    assert push.unsafe is not None and "docker push" in push.unsafe


def test_a_real_ruff_failure_is_fixed_and_proven_by_the_command_that_failed(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _service_repo(repo)
    findings = findings_from_tool(
        repo.path, "ruff check .", repo.env, tmp_path / "job.log", cwd="service"
    )
    root = findings[0]
    assert root.fix_strategy == "ruff-fix" and root.details["step"] == "ruff check ."

    outcome = _engine(repo, store, clock).execute_fix(root)

    assert isinstance(outcome, FixApplied), outcome
    assert outcome.proof == "failing-command"
    assert outcome.validation[0].name == "the failing command: ruff check . (in service)"
    # only the file the log named changed; the unlinted sibling is untouched
    assert outcome.files == ("service/app/main.py",)
    wt = tmp_path / "check"
    repo.git("worktree", "add", "-q", str(wt), str(outcome.branch))
    proc = subprocess.run(["ruff", "check", "."], cwd=wt / "service", env=repo.env, check=False)
    assert proc.returncode == 0


@dataclass
class _WrongFix:
    """Changes the tree and passes its own check, but not the failing command."""

    id: str = "wrong"
    risk: int = 1
    safety: Safety = Safety.HIGH
    requirements: Requirements = field(default_factory=Requirements)
    writes: dict[str, bytes] = field(default_factory=lambda: {"service/app/main.py": b"x"})

    def plan(self, ctx: FixContext) -> FixPlan:
        ok = Check("own check", argv=("true",))
        return FixPlan(self.id, "wrong fix", (), ("**",), (ok,), self.risk, self.safety)

    def apply(self, ctx: FixContext) -> str:
        for name, data in self.writes.items():
            path = ctx.repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return "wrote"


def test_a_fix_whose_failing_command_still_fails_is_rolled_back_byte_for_byte(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    _service_repo(repo)
    (repo.path / "service/notes.txt").write_text("uncommitted work\n")
    before = tree_state(repo.path)
    finding = make_finding("wrong", details={"step": "ruff check ."})
    wrong = _WrongFix(writes={"service/app/extra.py": b"import os\n", "service/notes.txt": b"!"})
    engine = FixEngine(repo.path, store=store, clock=clock, env=repo.env,
                       options=EngineOptions(run_id="7"), strategies={"wrong": wrong})  # fmt: skip

    outcome = engine.execute_fix(finding)

    assert isinstance(outcome, FixRolledBack), outcome
    assert "the failing command: ruff check . (in service)" in outcome.reason
    assert tree_state(repo.path) == before


def test_a_failure_that_does_not_reproduce_changes_nothing(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    _service_repo(repo)
    repo.write("service/app/main.py", "import json\n\nprint(json.dumps({}))\n")
    repo.commit("clean")
    before = tree_state(repo.path)
    engine = FixEngine(
        repo.path, store=store, clock=clock, env=repo.env,
        options=EngineOptions(run_id="7"), strategies={"wrong": _WrongFix()},
    )  # fmt: skip
    outcome = engine.execute_fix(make_finding("wrong", details={"step": "ruff check ."}))
    assert isinstance(outcome, FixSkipped)
    assert "does not reproduce" in outcome.reason
    assert tree_state(repo.path) == before


def test_commands_acting_outside_the_tree_are_never_rerun() -> None:
    assert why_unsafe("docker push ghcr.io/acme/app:1") is not None
    assert why_unsafe("npm publish --provenance") is not None
    assert why_unsafe("echo ${{ secrets.TOKEN }} | docker login") is not None
    assert why_unsafe('curl -H "Authorization: $GITHUB_TOKEN" x') is not None
    assert why_unsafe("ruff check .") is None
    assert why_unsafe("cargo fmt --all -- --check") is None


def test_the_sandbox_scrubs_secrets_and_kills_on_timeout(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "GITHUB_TOKEN": "ghp_secret", "HEE_SIGNING_KEY": "k"}
    ran = run_sandboxed('echo "[${GITHUB_TOKEN:-}][${HEE_SIGNING_KEY:-}][$CI]"', tmp_path, env)
    assert ran.returncode == 0 and ran.output.strip() == "[][][true]"
    # pipefail as on a runner: a failing producer fails the pipeline
    assert run_sandboxed("false | cat", tmp_path, env).returncode != 0
    slow = run_sandboxed("sleep 30 & sleep 30; echo never", tmp_path, env, timeout=0.5)
    assert slow.timed_out and slow.returncode == 124 and "never" not in slow.output


_NAMES = st.sampled_from(
    ["service/app/main.py", "service/new.py", "README.md", "service/pyproject.toml", "x/y/z.txt"]
)


@settings(max_examples=12, deadline=None)
@given(writes=st.dictionaries(_NAMES, st.binary(max_size=64), min_size=1, max_size=4))
def test_whatever_a_strategy_writes_a_failed_validation_leaves_the_tree_byte_identical(
    writes: dict[str, bytes],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = dict(os.environ) | IDENTITY | {"HOME": str(home)}
        repo = init_repo(Path(tmp) / "repo", env)
        _service_repo(repo)
        (repo.path / "service/untracked.py").write_text("x = 1\n")
        before = tree_state(repo.path)
        store = open_engine(f"sqlite:///{Path(tmp) / 'audit.db'}")
        clock = FakeClock(datetime(2026, 12, 7, tzinfo=UTC))
        engine = FixEngine(repo.path, store=store, clock=clock, env=env,
                           options=EngineOptions(run_id="7", count_attempts=False),
                           strategies={"wrong": _WrongFix(writes=writes)})  # fmt: skip
        outcome = engine.execute_fix(make_finding("wrong", details={"step": "ruff check ."}))
        store.dispose()
        if isinstance(outcome, FixApplied):  # the writes happened to fix the lint error
            assert tree_state(repo.path) == before  # hee-safe: the fix lives on its branch
            wt = Path(tmp) / "check"
            repo.git("worktree", "add", "-q", str(wt), str(outcome.branch))
            proc = subprocess.run(["ruff", "check", "."], cwd=wt / "service", env=env,
                                  capture_output=True, check=False)  # fmt: skip
            assert proc.returncode == 0
        else:
            assert isinstance(outcome, FixRolledBack | FixSkipped), outcome
            assert tree_state(repo.path) == before
