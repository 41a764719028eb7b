#!/usr/bin/env python3
"""Fix engine benchmark on hand-built findings (the baseline ``fix_bench.py`` compares its
end-to-end figures with): success rate, unvalidated changes kept, rollback time.

    python benchmarks/fix_bench_handbuilt.py [--files 10000] [--keep]

The findings are made by hand, so this never reads a log: it measures the strategies and
the engine, not the diagnosis a user's fix depends on.

1. A corpus of seeded, fixable breakages (unused imports, unsorted imports, formatting,
   missing license headers, unpinned and outdated dependencies, workflows without
   permissions or timeouts, ...), each in its own temporary git repository, fixed through
   the real engine in hee-safe mode (fix branch, --no-push). Success = the fix was kept
   on its branch. Targets: ≥ 90 % (the product brief asks > 85 %).
2. Every kept fix is re-validated on the final tree (the fix branch checked out in a fresh
   worktree, the plan's validation run there); unfixable controls must be rolled back.
   Target: 0 unvalidated changes kept.
3. Rollback time on a repository of N files (default 10,000): snapshot, change 300 files
   (modify, add, delete, chmod; tracked, untracked and ignored), restore, verify
   byte for byte. Targets: ≤ 2 s (the brief asks < 2 min).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hee_monitor.action.fixes import backup  # noqa: E402
from hee_monitor.action.fixes.engine import EngineOptions, FixEngine  # noqa: E402
from hee_monitor.action.fixes.git import Git  # noqa: E402
from hee_monitor.action.fixes.outcomes import FixApplied, FixRolledBack  # noqa: E402
from hee_monitor.core.clock import FakeClock  # noqa: E402
from hee_monitor.core.models import Finding, Owner, Severity  # noqa: E402
from hee_monitor.record.db import open_engine  # noqa: E402

TARGET_SUCCESS = 0.90
BRIEF_SUCCESS = 0.85
TARGET_ROLLBACK_S = 2.0
BRIEF_ROLLBACK_S = 120.0
#: rollback is timed this many times on the same repository; the median is reported
ROLLBACK_RUNS = 3

IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

WORKFLOW = """\
name: ci  # main pipeline
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: pytest
  lint:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - run: ruff check .
"""


@dataclass
class Case:
    name: str
    strategy: str
    category: str
    files: dict[str, str]
    details: dict[str, str] = field(default_factory=dict)
    #: False for controls the engine must refuse to keep
    fixable: bool = True
    approve: bool = False


def _py(name: str, body: str) -> dict[str, str]:
    return {name: body}


SORT_CONFIG = {"pyproject.toml": '[project]\nname = "d"\n\n[tool.ruff.lint]\nselect = ["I"]\n'}

CORPUS: list[Case] = [
    Case("unused import", "ruff-fix", "lint",
         _py("a.py", "import os\nimport sys\n\nprint(sys.argv)\n")),
    Case("unused from-import", "ruff-fix", "lint",
         _py("pkg/m.py", "from typing import Any, Dict\n\n\ndef f(x: Any) -> Any:\n"
             "    return x\n")),
    Case("f-string without placeholders", "ruff-fix", "lint", _py("b.py", 'print(f"hello")\n')),
    Case("unused import in nested package", "ruff-fix", "lint",
         _py("src/pkg/sub/c.py", "import json\nimport re\n\nprint(re.escape('x'))\n")),
    Case("unsorted imports", "ruff-fix", "lint",
         {**SORT_CONFIG, "a.py": "import sys\nimport os\n\nprint(os.sep, sys.argv)\n"}),
    Case("unsorted from-imports", "ruff-fix", "lint",
         {**SORT_CONFIG, "b.py": "from os import sep, path\n\nprint(sep, path)\n"}),
    Case("formatting: spacing", "ruff-format", "format", _py("a.py", "x = {  'a':1 }\n")),
    Case("formatting: indentation", "ruff-format", "format",
         _py("b.py", "def f( a ):\n  return a\n")),
    Case("formatting: long call", "ruff-format", "format",
         _py("c.py", "def g(a, b, c): return [a,b,c]\nprint(g(1111111111, 2222222222, "
             "3333333333) + g(4444444444, 5555555555, 6666666666))\n")),
    Case("license header: python", "license-header", "license",
         {"LICENSE": "MIT License\n", "tool.py": "#!/usr/bin/env python3\nprint(1)\n"}),
    Case("license header: javascript", "license-header", "license",
         {"LICENSE": "Apache License\nVersion 2.0\n", "web/app.js": "export const a = 1;\n"}),
    Case("license header: shell", "license-header", "license",
         {"LICENSE": "MIT License\n", "run.sh": "#!/bin/sh\necho hi\n"}),
    Case("unpinned requirement", "pin-dependency", "dependency",
         {"requirements.txt": "click\nPyYAML>=6.0  # yaml\n"}),
    Case("unpinned pyproject dependency", "pin-dependency", "dependency",
         {"pyproject.toml": '[project]\nname = "x"\ndependencies = [\n  "click>=8",\n]\n'}),
    Case("unpinned npm dependency", "pin-dependency", "dependency",
         {"package.json": '{\n  "dependencies": {\n    "left-pad": "^1.3.0"\n  }\n}\n'}),
    Case("vulnerable pinned version", "bump-dependency", "dependency",
         {"requirements.txt": "jinja2==2.11.0\n"}, {"package": "jinja2", "version": "3.1.4"},
         approve=True),
    Case("vulnerable range", "bump-dependency", "dependency",
         {"requirements.txt": "urllib3>=1.26\n"}, {"package": "urllib3", "version": "2.2.2"},
         approve=True),
    Case("workflow without permissions", "workflow-permissions", "configuration",
         {".github/workflows/ci.yml": WORKFLOW}),
    Case("second workflow without permissions", "workflow-permissions", "configuration",
         {".github/workflows/release.yaml": "on: push\njobs:\n  r:\n    runs-on: x\n"
          "    steps:\n      - run: echo\n"}),
    Case("job without timeout", "workflow-timeout", "configuration",
         {".github/workflows/ci.yml": WORKFLOW}),
    Case("jobs without timeouts (4-space indent)", "workflow-timeout", "configuration",
         {".github/workflows/b.yml": "on: push\njobs:\n    a:\n        runs-on: x\n"
          "    b:\n        runs-on: y\n"}),
    Case("job that timed out", "workflow-timeout", "timeout",
         {".github/workflows/ci.yml": WORKFLOW.replace(
             "  test:\n", "  test:\n    timeout-minutes: 10\n")},
         {"job": "test"}),
    Case("rust formatting", "cargo-fmt", "format",
         {"Cargo.toml": '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n',
          "src/main.rs": "fn main(){println!(\"hi\");}\n"}),
    # controls: nothing safe can make these checks pass; the engine must not keep a change
    Case("undefined name (control)", "ruff-fix", "lint",
         _py("a.py", "import os\n\nprint(undefined_name)\n"), fixable=False),
    Case("syntax error (control)", "ruff-format", "format", _py("a.py", "def f(:\n"),
         fixable=False),
]  # fmt: skip


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(IDENTITY)
    env.setdefault("CARGO_HOME", str(Path.home() / ".cargo"))
    env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
    env["HOME"] = str(home)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("GITHUB_RUN_ID", None)
    return env


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def _seed(base: Path, case: Case, env: dict[str, str]) -> Path:
    repo = base / "repo"
    repo.mkdir(parents=True)
    _git(repo, env, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("target/\n")
    for name, text in case.files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "seed")
    return repo


def _finding(case: Case, n: int) -> Finding:
    return Finding(
        pattern_id=f"BENCH-{n:02d}",
        title=case.name,
        category=case.category,
        severity=Severity.LOW,
        owner=Owner.DEVELOPER,
        risk=1,
        transient=False,
        confidence=1.0,
        fix_strategy=case.strategy,
        fingerprint=f"bench-{n}",
        evidence=(),
        details=dict(case.details),
    )


@dataclass
class CaseResult:
    case: Case
    outcome: str
    reason: str
    validated_on_branch: bool | None
    seconds: float


def _revalidate(repo: Path, env: dict[str, str], applied: FixApplied) -> bool:
    """Check out the fix branch in a fresh worktree and run the plan's validation there."""
    assert applied.branch is not None
    worktree = repo.parent / "verify"
    _git(repo, env, "worktree", "add", "-q", str(worktree), applied.branch)
    assert applied.plan is not None and applied.plan.validation
    return all(check.run(worktree, env).passed for check in applied.plan.validation)


def run_case(n: int, case: Case, work: Path) -> CaseResult:
    base = work / f"case-{n:02d}"
    home = base / "home"
    home.mkdir(parents=True)
    env = _env(home)
    repo = _seed(base, case, env)
    finding = _finding(case, n)
    store = open_engine("sqlite:///:memory:")
    clock = FakeClock(datetime(2026, 11, 22, 19, 0, tzinfo=UTC))
    engine = FixEngine(repo, store=store, clock=clock, env=env,
                       options=EngineOptions(run_id=str(n), push=False))  # fmt: skip
    started = time.perf_counter()
    outcome = engine.execute_fix(finding)
    if case.approve and outcome.kind == "approval-requested":
        request_id = outcome.to_json()["approval_id"]
        engine.approvals.approve(request_id, by="bench", reason="seeded", now=clock.now())
        outcome = engine.execute_approved(request_id)
    seconds = time.perf_counter() - started
    validated = None
    if isinstance(outcome, FixApplied):
        validated = _revalidate(repo, env, outcome)
    reason = getattr(outcome, "reason", "") or ", ".join(getattr(outcome, "files", ()))
    store.dispose()
    return CaseResult(case, outcome.kind, reason, validated, seconds)


# ---- rollback on a large repository ----------------------------------------------------------


def rollback_bench(work: Path, files: int) -> dict[str, float | int]:
    home = work / "big-home"
    home.mkdir()
    env = _env(home)
    repo = work / "big"
    repo.mkdir()
    _git(repo, env, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("build/\n")
    for i in range(files):
        d = repo / f"pkg{i // 100:03d}"
        d.mkdir(exist_ok=True)
        (d / f"m{i:05d}.py").write_text(f"VALUE_{i} = {i}\n" * 3)
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "big")
    for i in range(200):  # untracked and ignored files are backed up too
        (repo / "scratch").mkdir(exist_ok=True)
        (repo / "scratch" / f"u{i}.txt").write_text(f"untracked {i}\n")
        (repo / "build").mkdir(exist_ok=True)
        (repo / "build" / f"o{i}.bin").write_bytes(os.urandom(64))

    def state() -> dict[str, tuple[int, bytes]]:
        out = {}
        for p in repo.rglob("*"):
            if ".git" in p.relative_to(repo).parts or p.is_dir():
                continue
            out[str(p.relative_to(repo))] = (p.lstat().st_mode, p.read_bytes())
        return out

    before = state()
    git = Git(repo, env)
    t0 = time.perf_counter()
    snapshot = backup.take_snapshot(git, "bench", datetime.now(UTC))
    snap_s = time.perf_counter() - t0

    def sweep() -> None:
        """What a sweeping fixer might do: modify, add, delete, chmod across the tree."""
        for i in range(0, files, files // 100 or 1):
            (repo / f"pkg{i // 100:03d}" / f"m{i:05d}.py").write_text("changed\n")
        for i in range(50):
            (repo / "newdir" / f"d{i}").mkdir(parents=True, exist_ok=True)
            (repo / "newdir" / f"d{i}" / "n.py").write_text("new\n")
        for i in range(50):
            (repo / "scratch" / f"u{i}.txt").unlink()
            (repo / "build" / f"o{i}.bin").write_text("rebuilt")
        for i in range(1, files, max(files // 50, 1)):
            os.chmod(repo / f"pkg{i // 100:03d}" / f"m{i:05d}.py", 0o600)

    timings = []
    for _ in range(ROLLBACK_RUNS):
        sweep()
        t1 = time.perf_counter()
        report = backup.restore(git, snapshot)
        timings.append(time.perf_counter() - t1)
    restore_s = statistics.median(timings)
    backup.discard(git, snapshot)
    exact = state() == before
    return {
        "files": files + 400,
        "snapshot_s": snap_s,
        "rollback_s": restore_s,
        "restored": len(report.restored),
        "deleted": len(report.deleted),
        "modes_reset": len(report.modes_reset),
        "exact": int(exact),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hee-fix-bench-"))
    try:
        results = [run_case(n, case, work) for n, case in enumerate(CORPUS, 1)]
        big = rollback_bench(work, args.files)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print("case                                      strategy              outcome      "
          "revalidated  time")  # fmt: skip
    for r in results:
        reval = "-" if r.validated_on_branch is None else ("yes" if r.validated_on_branch else "NO")
        why = "" if r.outcome == "applied" else f"  ({r.reason[:60]})"
        print(f"{r.case.name[:41]:<41} {r.case.strategy:<21} {r.outcome:<12} {reval:<12} "
              f"{r.seconds:5.2f}s{why}")  # fmt: skip
    fixable = [r for r in results if r.case.fixable]
    controls = [r for r in results if not r.case.fixable]
    kept = [r for r in results if r.outcome == "applied"]
    success = sum(r.outcome == "applied" for r in fixable) / len(fixable)
    unvalidated = sum(1 for r in kept if not r.validated_on_branch) + sum(
        1 for r in controls if r.outcome == "applied"
    )
    controls_rolled_back = sum(r.outcome == FixRolledBack.kind for r in controls)
    strategies = len({r.case.strategy for r in fixable})
    print()
    print(f"corpus: {len(fixable)} fixable breakages over {strategies} strategies, "
          f"{len(controls)} unfixable controls")  # fmt: skip
    print(f"success rate: {success:.1%}  (target ≥ {TARGET_SUCCESS:.0%}: "
          f"{success / TARGET_SUCCESS:.2f}x; brief > {BRIEF_SUCCESS:.0%}: "
          f"{success / BRIEF_SUCCESS:.2f}x)")  # fmt: skip
    print(f"unvalidated changes kept: {unvalidated}  (target 0; {len(kept)} kept fixes "
          f"re-validated on their branch; controls rolled back: {controls_rolled_back}/"
          f"{len(controls)})")  # fmt: skip
    print(f"rollback on {big['files']} files (median of {ROLLBACK_RUNS}): "
          f"{big['rollback_s']:.3f} s  "
          f"(target ≤ {TARGET_ROLLBACK_S:.0f} s: {big['rollback_s'] / TARGET_ROLLBACK_S:.3f}x of "
          f"budget; brief < {BRIEF_ROLLBACK_S:.0f} s: {big['rollback_s'] / BRIEF_ROLLBACK_S:.4f}x)"
          f"; restored {big['restored']}, deleted {big['deleted']}, modes reset "
          f"{big['modes_reset']}, byte-identical: {'yes' if big['exact'] else 'NO'}")  # fmt: skip
    print(f"snapshot (backup) of the same repository: {big['snapshot_s']:.3f} s")
    load = os.getloadavg()[0]
    print(f"machine load average during the run: {load:.1f} on {os.cpu_count()} cores")
    ok = (
        success >= TARGET_SUCCESS
        and unvalidated == 0
        and big["exact"]
        and big["rollback_s"] <= TARGET_ROLLBACK_S
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
