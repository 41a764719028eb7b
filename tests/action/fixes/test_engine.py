from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes import records
from hee_monitor.action.fixes.config import FixConfig
from hee_monitor.action.fixes.engine import EngineOptions, FixEngine, Mode, pull_request_body
from hee_monitor.action.fixes.outcomes import (
    ApprovalRequested,
    FixApplied,
    FixPlanned,
    FixRolledBack,
    FixSkipped,
)
from hee_monitor.action.fixes.strategies import STRATEGIES
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import Severity
from hee_monitor.record.capsule.access import InMemoryCapsule
from tests.action.fixes.conftest import Repo, make_finding, tree_state
from tests.action.fixes.helpers import ScriptedStrategy, exists_check, seed_mixed_tree

ROOT = Path(__file__).resolve().parents[3]


def lint_repo(repo: Repo) -> None:
    repo.write(".gitignore", ".ruff_cache/\n")
    repo.write("app.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    repo.commit("init")


def engine_for(repo: Repo, store: Engine, clock: FakeClock, **kw: object) -> FixEngine:
    options = kw.pop("options", EngineOptions(run_id="42"))
    return FixEngine(repo.path, store=store, clock=clock, env=repo.env, options=options, **kw)  # type: ignore[arg-type]


def test_lint_failure_is_fixed_on_a_branch_and_the_checkout_is_left_alone(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    head = repo.git("rev-parse", "HEAD")
    before = tree_state(repo.path)
    capsule = InMemoryCapsule({"version": 6, "constraints": {"max_fix_severity": "medium"}})

    outcome = engine_for(repo, store, clock, capsule=capsule).execute_fix(make_finding("ruff-fix"))

    assert isinstance(outcome, FixApplied), outcome
    assert outcome.branch == "hee/fix/PY-RUFF-LINT-42"
    assert outcome.files == ("app.py",)
    assert all(r.passed for r in outcome.validation)
    # the user's branch, HEAD and files are exactly as before (ruff's cache aside: restored too)
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("symbolic-ref", "--short", "HEAD").strip() == "main"
    assert tree_state(repo.path) == before
    # the fix branch holds the fix, and the check passes on it
    fixed = repo.git("show", f"{outcome.branch}:app.py")
    assert "import os" not in fixed and "import sys" in fixed
    worktree = repo.path.parent / "check"
    repo.git("worktree", "add", "-q", str(worktree), outcome.branch)
    proc = subprocess.run(["ruff", "check", "."], cwd=worktree, env=repo.env, check=False)
    assert proc.returncode == 0
    # no backup refs left behind; the capsule got the exact history entry
    assert "refs/hee/" not in repo.refs()
    (entry,) = capsule.data["auto_fix_history"]
    assert entry == {
        "timestamp": "2026-11-22T19:00:00Z",
        "pattern_id": "PY-RUFF-LINT",
        "success": True,
        "rollback": False,
        "fingerprint": "fp-1",
        "strategy": "ruff-fix",
        "run_id": "42",
        "branch": "hee/fix/PY-RUFF-LINT-42",
        "hee_context": {
            "state_capsule_version": 6,
            "decision_impact": "low",
            "context_preservation": True,
        },
    }


def test_failed_validation_rolls_back_tracked_untracked_ignored_files_and_modes(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    seed_mixed_tree(repo.path)
    repo.commit("init")
    repo.write("notes.txt", "untracked\n", mode=0o600)
    repo.write("build/out.bin", "ignored artefact\n")
    repo.write("debug.log", "ignored log\n")
    before = tree_state(repo.path)
    refs_before = repo.refs()
    strategy = ScriptedStrategy(
        writes={
            "src/app.py": "broken\n",
            "notes.txt": "changed\n",
            "build/out.bin": "rebuilt\n",
            "new/deep/file.py": "x = 1\n",
        },
        deletes=("debug.log", "run.sh"),
        chmods={"src/app.py": 0o700},
        validation=(exists_check("never-there"),),
    )
    capsule = InMemoryCapsule({"version": 1})

    outcome = engine_for(
        repo, store, clock, capsule=capsule, strategies={"scripted": strategy}
    ).execute_fix(make_finding("scripted"))

    assert isinstance(outcome, FixRolledBack), outcome
    assert outcome.reason == "validation failed: never-there exists"
    assert strategy.applied == 1
    assert tree_state(repo.path) == before
    assert repo.refs() == refs_before
    assert capsule.data["auto_fix_history"][0]["rollback"] is True
    assert capsule.data["auto_fix_history"][0]["success"] is False


def test_a_fix_that_breaks_a_configured_check_is_rolled_back(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    before = tree_state(repo.path)
    needs_os = "import sys; sys.exit(0 if 'import os' in open('app.py').read() else 1)"
    config = FixConfig(checks=((sys.executable, "-c", needs_os),))

    outcome = engine_for(repo, store, clock, config=config).execute_fix(make_finding("ruff-fix"))

    assert isinstance(outcome, FixRolledBack)
    assert outcome.reason.startswith("the fix broke the configured check")
    assert tree_state(repo.path) == before
    assert "hee/fix" not in repo.refs()


def test_already_passing_check_is_skipped_without_touching_anything(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    repo.write("app.py", "print(1)\n")
    repo.commit("init")
    outcome = engine_for(repo, store, clock).execute_fix(make_finding("ruff-fix"))
    assert outcome == FixSkipped("already passing", "PY-RUFF-LINT", "ruff-fix", "fp-1")
    assert records.count_attempts(store, "fp-1") == 0


def test_at_most_three_attempts_per_fingerprint(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    repo.write("a.txt", "a\n")
    repo.commit("init")
    strategy = ScriptedStrategy(writes={"a.txt": "b\n"}, validation=(exists_check("nope"),))
    engine = engine_for(repo, store, clock, strategies={"scripted": strategy})
    outcomes = [engine.execute_fix(make_finding("scripted")) for _ in range(4)]
    assert [type(o) for o in outcomes] == [FixRolledBack] * 3 + [FixSkipped]
    assert isinstance(outcomes[3], FixSkipped)
    assert "3 fix attempts already made" in outcomes[3].reason
    assert strategy.applied == 3
    # another failure is not limited by this one's attempts
    other = engine.execute_fix(make_finding("scripted", fingerprint="fp-2"))
    assert isinstance(other, FixRolledBack)


def test_protected_repository_and_paths_are_never_changed(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    before = tree_state(repo.path)
    finding = make_finding("ruff-fix")

    protected_repo = engine_for(
        repo, store, clock,
        options=EngineOptions(repository="octo/app", protected_repositories=("octo/app",)),
    ).execute_fix(finding)  # fmt: skip
    assert isinstance(protected_repo, FixSkipped)
    assert "protected" in protected_repo.reason

    configured = engine_for(repo, store, clock, config=FixConfig(protected=True))
    assert isinstance(configured.execute_fix(finding), FixSkipped)

    # a command strategy's files are globs: the protection is checked on what really changed
    capsule = InMemoryCapsule({"constraints": {"protected_paths": ["app.py"]}})
    outcome = engine_for(repo, store, clock, capsule=capsule).execute_fix(finding)
    assert isinstance(outcome, FixRolledBack)
    assert outcome.reason == "the fix changed protected path(s): app.py"
    assert tree_state(repo.path) == before


def test_capsule_constraints_stop_a_fix_before_anything_runs(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    strategy = ScriptedStrategy(writes={"x": "1"}, validation=(exists_check("x"),))
    cases = {
        "frozen": {"constraints": {"frozen": True}},
        "maintenance (capsule": {"monitoring_state": {"current_status": "maintenance"}},
        "maintenance window": {
            "constraints": {
                "maintenance_windows": [
                    {"start": "2026-11-22T18:00:00Z", "end": "2026-11-22T20:00:00Z",
                     "reason": "db upgrade"}
                ]
            }
        },
        "above the capsule's max_fix_severity": {"constraints": {"max_fix_severity": "low"}},
    }  # fmt: skip
    for expected, payload in cases.items():
        engine = engine_for(
            repo, store, clock, capsule=InMemoryCapsule(payload), strategies={"scripted": strategy}
        )
        outcome = engine.execute_fix(make_finding("scripted", severity=Severity.MEDIUM))
        assert isinstance(outcome, FixSkipped), expected
        assert expected in outcome.reason
    assert strategy.applied == 0


def test_pre_commit_mode_keeps_the_fix_in_the_working_tree(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    engine = engine_for(
        repo, store, clock, options=EngineOptions(mode=Mode.PRE_COMMIT, min_safety=None)
    )
    outcome = engine.execute_fix(make_finding("ruff-fix"))
    assert isinstance(outcome, FixApplied)
    assert outcome.branch is None
    assert "import os" not in (repo.path / "app.py").read_text()
    assert "hee/" not in repo.refs()
    assert not list((repo.path / ".git" / "hee" / "journal").glob("*.json"))


def test_uncommitted_user_changes_in_fixed_files_are_not_swept_into_the_fix(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    repo.write("app.py", "import os\nimport sys\n\nprint(sys.argv)  # my edit\n")
    before = tree_state(repo.path)
    outcome = engine_for(repo, store, clock).execute_fix(make_finding("ruff-fix"))
    assert isinstance(outcome, FixRolledBack)
    assert outcome.reason.startswith("uncommitted changes in file(s) the fix touched: app.py")
    assert tree_state(repo.path) == before


def test_dry_run_prints_the_plan_and_touches_nothing(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    lint_repo(repo)
    before, refs = tree_state(repo.path), repo.refs()
    git_files = sorted(p.name for p in (repo.path / ".git").iterdir())
    engine = engine_for(repo, store, clock, options=EngineOptions(dry_run=True))
    outcome = engine.execute_fix(make_finding("ruff-fix"))
    assert isinstance(outcome, FixPlanned)
    assert outcome.plan.commands == (("ruff", "check", "--fix", "--no-cache", "--quiet", "."),)
    assert [c.describe() for c in outcome.plan.validation] == ["ruff check --no-cache --quiet ."]
    assert tree_state(repo.path) == before
    assert repo.refs() == refs
    assert sorted(p.name for p in (repo.path / ".git").iterdir()) == git_files


def test_risky_fix_waits_for_approval_then_runs_once_approved(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    repo.write("requirements.txt", "click\n")
    repo.commit("init")
    finding = make_finding(
        "bump-dependency", category="dependency", severity=Severity.MEDIUM, risk=5,
        details={"package": "click", "version": "8.1.0"},
    )  # fmt: skip
    engine = engine_for(repo, store, clock)
    requested = engine.execute_fix(finding)
    assert isinstance(requested, ApprovalRequested)
    assert "risk 6 is above the threshold 3" in requested.reason
    assert (repo.path / "requirements.txt").read_text() == "click\n"

    engine.approvals.approve(requested.id, by="alice", reason="patched release", now=clock.now())
    outcome = engine.execute_approved(requested.id)
    assert isinstance(outcome, FixApplied), outcome
    assert repo.git("show", f"{outcome.branch}:requirements.txt") == "click>=8.1.0\n"
    assert engine.approvals.get(requested.id).status == "executed"
    actions = [e["action"] for e in records.audit_events(store, requested.id)]
    assert actions == ["approval.requested", "approval.approved", "approval.executed"]


def test_security_fixes_are_manual_only(repo: Repo, store: Engine, clock: FakeClock) -> None:
    repo.write("a.txt", "a\n")
    repo.commit("init")
    strategy = ScriptedStrategy(writes={"a.txt": "b"}, validation=(exists_check("b"),), risk=0)
    engine = engine_for(repo, store, clock, strategies={"scripted": strategy})
    outcome = engine.execute_fix(make_finding("scripted", category="security"))
    assert isinstance(outcome, ApprovalRequested)
    assert "only with a person's approval" in outcome.reason
    assert strategy.applied == 0


def test_missing_tool_is_a_clear_skip(repo: Repo, store: Engine, clock: FakeClock) -> None:
    repo.write("a.py", "x=1\n")
    repo.commit("init")
    env = dict(repo.env, PATH=os.pathsep.join(["/usr/bin", "/bin"]))  # git, but no black
    engine = FixEngine(repo.path, store=store, clock=clock, env=env)
    outcome = engine.execute_fix(make_finding("black"))
    assert outcome == FixSkipped(
        "cannot run here: tool 'black' is not on PATH", "PY-RUFF-LINT", "black", "fp-1"
    )


CRASHING_RUN = """
import sys
from pathlib import Path
from hee_monitor.action.fixes.engine import FixEngine, EngineOptions
from hee_monitor.action.fixes.strategies.interface import Check, FixPlan, Requirements, Safety
from hee_monitor.core.models import Finding, Owner, Severity
from hee_monitor.record.db import open_engine

class Blocking:
    id = "blocking"; risk = 1; safety = Safety.HIGH; requirements = Requirements()
    def plan(self, ctx):
        check = Check("never", argv=(sys.executable, "-c", "raise SystemExit(1)"))
        return FixPlan("blocking", "half a fix", (), ("**",), (check,), 1, Safety.HIGH)
    def apply(self, ctx):
        (ctx.repo / "src" / "app.py").write_text("half written")
        (ctx.repo / "new.txt").write_text("new")
        (ctx.repo / "debug.log").unlink()
        (ctx.repo / "run.sh").chmod(0o600)
        print("applying", flush=True)
        sys.stdin.read()  # blocks until killed

repo, db = Path(sys.argv[1]), sys.argv[2]
engine = FixEngine(repo, store=open_engine(db), strategies={"blocking": Blocking()},
                   options=EngineOptions(run_id="7"))
finding = Finding("P", "t", "lint", Severity.LOW, Owner.DEVELOPER, 1, False, 1.0, "blocking",
                  "fp-crash", ())
engine.execute_fix(finding)
"""


def test_a_fix_killed_mid_apply_is_restored_by_recover(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    seed_mixed_tree(repo.path)
    repo.commit("init")
    repo.write("debug.log", "ignored\n")
    repo.write("notes.txt", "untracked\n")
    before = tree_state(repo.path)
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    env = dict(repo.env, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_RUN, str(repo.path), db],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "applying"
        os.kill(proc.pid, 9)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -9
    assert tree_state(repo.path) != before  # the half-applied fix is there

    capsule = InMemoryCapsule({"version": 3})
    recovered = engine_for(repo, store, clock, capsule=capsule).recover()

    assert [r.strategy for r in recovered] == ["blocking"]
    assert tree_state(repo.path) == before
    assert "refs/hee/" not in repo.refs()
    assert capsule.data["auto_fix_history"][0]["rollback"] is True
    assert engine_for(repo, store, clock).recover() == []


def test_pull_request_body_carries_diagnosis_evidence_and_validation() -> None:
    from hee_monitor.action.fixes.strategies.interface import CheckResult
    from hee_monitor.core.models import Evidence

    finding = make_finding("ruff-fix")
    finding = type(finding)(
        **{**finding.__dict__, "evidence": (Evidence(3, 4, "F401 `os` imported but unused"),)}
    )
    plan = STRATEGIES["ruff-fix"].plan(
        __import__(
            "hee_monitor.action.fixes.strategies.interface", fromlist=["FixContext"]
        ).FixContext(repo=ROOT)
    )
    body = pull_request_body(
        finding,
        plan,
        2,
        [CheckResult(True, "", "ruff check")],
        [CheckResult(False, "app.py:1:8: F401", "ruff check")],
    )
    assert "PY-RUFF-LINT" in body
    assert "F401 `os` imported but unused" in body
    assert "app.py:1:8: F401" in body
    assert "passed: `ruff check`" in body


def test_history_lands_in_a_signed_capsule_as_a_new_version(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    from hee_monitor.record.capsule import CapsuleDirectory, Signer, TrustedKeys
    from hee_monitor.record.capsule.access import SignedCapsule

    signer = Signer.generate()
    capsules = CapsuleDirectory(
        tmp_path / "state", signer, TrustedKeys.of([signer.public_key]), None, clock
    )
    capsules.initialise("octo/app", now=clock.now())
    lint_repo(repo)
    engine = engine_for(
        repo,
        store,
        clock,
        capsule=SignedCapsule(
            capsules.current_path, signer, TrustedKeys.of([signer.public_key]), clock=clock
        ),
    )
    outcome = engine.execute_fix(make_finding("ruff-fix"))
    assert isinstance(outcome, FixApplied)
    live = capsules.load()
    assert live.version == 2
    (entry,) = live.payload["auto_fix_history"]
    assert entry["branch"] == "hee/fix/PY-RUFF-LINT-42"
    assert entry["hee_context"]["state_capsule_version"] == 1


def test_recover_removes_a_backup_ref_no_unfinished_fix_owns(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    from hee_monitor.action.fixes import backup
    from hee_monitor.action.fixes.git import Git

    seed_mixed_tree(repo.path)
    repo.commit("init")
    repo.write(".env", "API_TOKEN=never-kept-after-the-fix\n")
    git = Git(repo.path, env=repo.env)
    # a fix killed right after its snapshot, before its journal: the ref keeps .env alive
    snapshot = backup.take_snapshot(git, "orphan-1", clock.now())
    assert snapshot.ref in repo.refs()

    assert engine_for(repo, store, clock).recover() == []

    assert "refs/hee/" not in repo.refs()
    assert not snapshot.directory.exists()


def test_a_configured_check_that_cannot_run_stops_the_fix_before_anything_changes(
    repo: Repo, store: Engine, clock: FakeClock
) -> None:
    from hee_monitor.core.errors import ConfigError

    lint_repo(repo)
    before = tree_state(repo.path)
    config = FixConfig(checks=(("no-such-checker-hee", "--strict"),))

    with pytest.raises(ConfigError, match=r"checks\[0\] cannot run here: 'no-such-checker-hee'"):
        engine_for(repo, store, clock, config=config).execute_fix(make_finding("ruff-fix"))

    assert tree_state(repo.path) == before
    assert "refs/hee/" not in repo.refs()
