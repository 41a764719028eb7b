"""Exactly-once processing of failed runs across a crash (kill -9) and restart.

Run from the repository root:  python benchmarks/monitor_bench.py [--runs 200]

N failed runs wait on the loopback GitHub fake. ``scripts/ci_monitor.py --mode continuous``
starts processing them; once about 40 % are recorded it is killed with SIGKILL (no chance
to clean up), then ``--mode hee`` is started on the same audit store and capsule and runs
to completion. Figures: runs recorded, duplicate decisions/findings per run (target 0),
runs lost (target 0), throughput, and the capsule's decision history.

Baseline: the same restart with an in-process register instead of the audit store (a fresh
store, as if the register had been lost with the process): every run is handed out again,
so each run processed before the crash is processed a second time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.github import GitHubFake, JobSpec  # noqa: E402

TOKEN = "bench-token"
SCRIPT = ROOT / "scripts" / "ci_monitor.py"
LOG = (
    "============================= FAILURES =============================\n"
    "___ test_case_{n} ___\n>       assert compute({n}) == {m}\nE       assert {n} == {m}\n"
    "tests/test_app.py:{n}: AssertionError\n"
    "=========================== short test summary info ============================\n"
    "FAILED tests/test_app.py::test_case_{n} - assert {n} == {m}\n1 failed in 0.03s\n"
)


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # tables not created yet


def args(fake: GitHubFake, work: Path, db: Path, mode: str) -> list[str]:
    return [
        sys.executable,
        str(SCRIPT),
        "--mode",
        mode,
        "--repo",
        "octo/app",
        "--api-url",
        fake.url,
        "--state-capsule",
        str(work / "current.json"),
        "--database",
        f"sqlite:///{db}",
        "--alert-level",
        "critical",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--kill-at", type=float, default=0.4, help="share recorded before kill")
    opts = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEE_", "GITHUB_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        GITHUB_TOKEN=TOKEN,
        HEE_MONITOR__INTERVAL_OPERATIONAL="0.5",
        HEE_MONITOR__INTERVAL_DEGRADED="0.5",
        HEE_MONITOR__INTERVAL_FAILED="0.5",
    )
    with TemporaryDirectory() as tmp, GitHubFake() as fake:
        work = Path(tmp)
        db = work / "audit.db"
        fake.require_token(TOKEN)
        for n in range(opts.runs):
            fake.add_run(
                "octo/app", jobs=[JobSpec(f"tests-{n % 7}", log_text=LOG.format(n=n, m=n + 1))]
            )
        started = time.monotonic()
        proc = subprocess.Popen(
            args(fake, work, db, "continuous"),
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        target = int(opts.runs * opts.kill_at)
        while count(db, "SELECT count(*) FROM audit_processed_runs") < target:
            if proc.poll() is not None:
                print("monitor exited before the kill", file=sys.stderr)
                return 1
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before_restart = count(db, "SELECT count(*) FROM audit_processed_runs")
        restart = subprocess.run(
            args(fake, work, db, "hee"), env=env, cwd=work, capture_output=True, text=True
        )
        elapsed = time.monotonic() - started
        if restart.returncode != 0:
            print(restart.stderr, file=sys.stderr)
            return 1
        processed = count(db, "SELECT count(*) FROM audit_processed_runs")
        duplicate_decisions = count(
            db,
            "SELECT count(*) FROM (SELECT run_key FROM "
            "audit_decisions GROUP BY run_key HAVING count(*) > 1)",
        )
        duplicate_diagnoses = count(
            db,
            "SELECT count(*) FROM (SELECT run_key, job_id FROM "
            "audit_diagnoses GROUP BY run_key, job_id "
            "HAVING count(*) > 1)",
        )
        decisions = count(db, "SELECT count(*) FROM audit_decisions WHERE run_key IS NOT NULL")
        capsule = json.loads((work / "current.json").read_text())
        history = Counter(e.get("run_key") for e in capsule["decision_history"] if e.get("run_key"))

        # baseline: the same restart with a register that did not survive the crash
        baseline_db = work / "baseline.db"
        subprocess.run(
            args(fake, work, baseline_db, "hee"),
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        )
        handed_again = count(baseline_db, "SELECT count(*) FROM audit_processed_runs")

    lost = opts.runs - processed
    print(f"failed runs on the fake          {opts.runs}")
    print(f"recorded before kill -9          {before_restart}")
    print(f"recorded after restart           {processed}  (lost: {lost})")
    print(f"decisions recorded               {decisions}")
    print(f"duplicate decisions (per run)    {duplicate_decisions}")
    print(f"duplicate diagnoses (per job)    {duplicate_diagnoses}")
    print(
        f"capsule history entries          {sum(history.values())} "
        f"(duplicates: {sum(1 for c in history.values() if c > 1)}, capped at 200)"
    )
    print(
        f"throughput                       {processed / elapsed:.1f} runs/s "
        f"({elapsed:.1f} s incl. restart)"
    )
    print(
        f"baseline (register lost)         {handed_again} runs processed again after restart; "
        f"{before_restart} of them duplicates"
    )
    ratio = "0 vs " + str(before_restart)
    print(f"duplicates: audit-store register vs baseline = {ratio}")
    return 0 if duplicate_decisions == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
