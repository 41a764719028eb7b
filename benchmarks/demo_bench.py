"""Demo and report benchmark.

1. ``hee-monitor demo`` end to end, as a user runs it (a fresh process: imports, scratch
   repository, four monitoring cycles, two fixes, signing, report): wall time of each of
   3 runs against the target of 30 s.
2. Report rendering: an HTML and a Markdown report from a capsule with 200 decision
   history entries, 500 fix entries and an audit store of 5,000 failures, against the
   baseline of the demo's small report (time per render; the HTML's size).

Run from the repository root:  python benchmarks/demo_bench.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from hee_monitor.record.audit import AuditStore  # noqa: E402
from hee_monitor.record.reports import RENDERERS, load_report  # noqa: E402
from hee_monitor.record.schema import findings  # noqa: E402

TARGET_SECONDS = 30.0


def demo_runs(n: int = 3) -> list[float]:
    times = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "hee_monitor", "demo", "--workdir", f"{tmp}/w"],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"demo failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return times


def big_inputs(tmp: Path) -> tuple[Path, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=30)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    payload = {
        "schema_version": 1, "version": 900, "created": iso(now),
        "expires": iso(now + timedelta(days=30)), "repository": "octo/app",
        "previous_digest": None,
        "monitoring_state": {"last_run_id": "1", "current_status": "degraded",
                             "status_since": iso(now), "hee_specific": {},
                             "coverage_metrics": {"line": 80.0, "branch": 70.0}},
        "auto_fix_history": [
            {"timestamp": iso(start + timedelta(hours=i)), "pattern_id": f"PAT-{i % 9}",
             "success": i % 4 != 0, "rollback": i % 4 == 0, "fingerprint": f"fp{i}",
             "strategy": "ruff-fix", "run_id": str(i), "branch": f"hee/fix/{i}"}
            for i in range(500)
        ],
        "decision_history": [
            {"timestamp": iso(start + timedelta(hours=3 * i)), "run_key": f"octo/app#{i}.1",
             "fingerprint": f"fp{i}", "pattern_id": f"PAT-{i % 9}", "action": "alert",
             "from_state": "operational" if i % 2 else "degraded",
             "to_state": "degraded" if i % 2 else "operational", "reasons": ["r"]}
            for i in range(200)
        ],
        "open_incidents": [], "constraints": {},
    }  # fmt: skip
    capsule = tmp / "current.json"
    capsule.write_text(json.dumps(payload), encoding="utf-8")
    url = f"sqlite:///{tmp / 'audit.db'}"
    audit = AuditStore.open(url)
    with audit.engine.begin() as conn:
        conn.execute(
            insert(findings),
            [
                {"run_key": f"octo/app#{i}.1", "repo": "octo/app", "job_id": 1,
                 "pattern_id": f"PAT-{i % 12}", "category": ["lint", "test", "build"][i % 3],
                 "severity": "medium", "risk": 2, "fingerprint": f"fp{i % 40}",
                 "transient": False, "confidence": 0.9, "source": "pattern",
                 "fix_strategy": None,
                 "recorded_at": (start + timedelta(minutes=8 * i)).replace(tzinfo=None)}
                for i in range(5000)
            ],
        )  # fmt: skip
    audit.engine.dispose()
    return capsule, url


def render_times(capsule: Path, database: str | None, n: int = 5) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, render in RENDERERS.items():
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            model = load_report(capsule, now=datetime.now(UTC), database=database, env={})
            render(model)
            samples.append(time.perf_counter() - start)
        out[name] = statistics.median(samples)
    return out


def main() -> None:
    times = demo_runs()
    print("hee-monitor demo, end to end (fresh process)")
    print(f"  runs: {', '.join(f'{t:.1f} s' for t in times)}")
    worst = max(times)
    print(f"  worst {worst:.1f} s vs target {TARGET_SECONDS:.0f} s: "
          f"{worst / TARGET_SECONDS:.2f}x of the budget")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        w = Path(tmp) / "w"
        subprocess.run([sys.executable, "-m", "hee_monitor", "demo", "--workdir", str(w)],
                       cwd=ROOT, capture_output=True, check=True)  # fmt: skip
        small = render_times(w / "state_capsules" / "current.json",
                             f"sqlite:///{w / 'hee-monitor.db'}")  # fmt: skip
        capsule, url = big_inputs(Path(tmp))
        big = render_times(capsule, url)
        model = load_report(capsule, now=datetime.now(UTC), database=url, env={})
        size = len(RENDERERS["html"](model).encode())
    print("report: load + render (median of 5), baseline = the demo's report")
    for name in RENDERERS:
        print(f"  {name:8} demo {small[name] * 1000:7.1f} ms   big {big[name] * 1000:7.1f} ms   "
              f"ratio {big[name] / small[name]:.1f}x")  # fmt: skip
    print(f"  big HTML report: {size / 1024:.0f} KiB, one file")


if __name__ == "__main__":
    main()
