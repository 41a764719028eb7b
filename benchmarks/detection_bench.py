"""Detection beyond the log: slow-job precision, report reading speed, issue write economy.

Run from the repository root:  python benchmarks/detection_bench.py [--jobs 2000] [--seed 7]

1. **Slow jobs.** For each simulated job, a history of 30 successful durations drawn from a
   log-normal spread (σ 5–30 %, typical of CI jobs), then one run at its normal spread and
   runs 2× and 3× slower. Figures: false alarms on normal runs and detection of slow ones,
   for ``slow_verdict`` (above p95 × 1.5 and p95 + 1 min) and for the **baseline** rule "slower than
   mean + 2 standard deviations" that a quick implementation would use.
2. **Reports.** A SARIF log of 20,000 results and a pip-audit report of 5,000 dependencies:
   time to read them into findings, against ``json.loads`` of the same bytes (**baseline**:
   parsing alone), as a ratio.
3. **Issue writes.** 50 occurrences of one failure, arriving 5 per monitoring cycle, on the
   loopback GitHub fake: GitHub writes made (one issue + one update per cycle) against the
   **baseline** of one write per occurrence.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hee_monitor.action.escalation.issues import EscalationSettings, IssueEscalator  # noqa: E402
from hee_monitor.action.escalation.store import EscalationStore  # noqa: E402
from hee_monitor.analysis.detection.artifacts.reader import read_bytes  # noqa: E402
from hee_monitor.analysis.detection.durations import slow_verdict  # noqa: E402
from hee_monitor.analysis.detection.settings import DetectionSettings  # noqa: E402
from hee_monitor.core.clock import FakeClock  # noqa: E402
from hee_monitor.core.models import (  # noqa: E402
    Evidence,
    FailedJob,
    FailedRun,
    Finding,
    HealthState,
    Owner,
    Severity,
)
from hee_monitor.record.db import open_engine  # noqa: E402
from hee_monitor.sources.github.source import GitHubSource  # noqa: E402
from tests.fakes.github import GitHubFake  # noqa: E402


def slow_jobs(n: int, rng: random.Random) -> None:
    settings = DetectionSettings()
    counts = {"normal": [0, 0], "2x": [0, 0], "3x": [0, 0]}  # [ours, baseline] flagged
    for _ in range(n):
        median = rng.choice([45, 120, 300, 600, 1200, 2400])
        sigma = rng.uniform(0.05, 0.3)
        history = [median * rng.lognormvariate(0, sigma) for _ in range(30)]
        mean, stdev = statistics.fmean(history), statistics.stdev(history)
        normal = median * rng.lognormvariate(0, sigma)
        for name, seconds in (("normal", normal), ("2x", 2 * normal), ("3x", 3 * normal)):
            counts[name][0] += slow_verdict(seconds, history, settings) is not None
            counts[name][1] += seconds > mean + 2 * stdev
    print(f"1. slow jobs ({n} jobs, 30 successful runs of history each)")
    print(f"   {'':24}{'hee-monitor':>14}{'baseline mean+2σ':>20}")
    for name, label in (
        ("normal", "false alarms, normal run"),
        ("2x", "flagged, 2× slower"),
        ("3x", "flagged, 3× slower"),
    ):
        ours, base = (c / n for c in counts[name])
        print(f"   {label:24}{ours:>14.1%}{base:>20.1%}")
    fa_ours, fa_base = counts["normal"][0] / n, counts["normal"][1] / n
    if fa_ours:
        print(f"   false alarms: baseline raises {fa_base / fa_ours:.0f}× as many")
    else:
        print(f"   false alarms: none (baseline: {counts['normal'][1]} of {n})")


def _sarif(results: int) -> bytes:
    rules = [{"id": f"rule-{i}", "defaultConfiguration": {"level": "warning"}} for i in range(50)]
    items = [
        {
            "ruleId": f"rule-{i % 50}",
            "level": "error" if i % 3 == 0 else "warning",
            "message": {"text": f"Finding {i}: user input reaches a sink"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"src/module_{i % 400}.py"},
                        "region": {"startLine": 1 + i % 900},
                    }
                }
            ],
        }
        for i in range(results)
    ]
    return json.dumps(
        {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Bench", "rules": rules}},
                                       "results": items}]}
    ).encode()  # fmt: skip


def _pip_audit(deps: int) -> bytes:
    return json.dumps(
        {
            "dependencies": [
                {
                    "name": f"pkg{i}",
                    "version": "1.0.0",
                    "vulns": (
                        [{"id": f"PYSEC-2024-{i}", "fix_versions": ["1.0.1", "2.0"],
                          "aliases": [f"CVE-2024-{i}"], "description": "bad"}]
                        if i % 10 == 0 else []
                    ),
                }
                for i in range(deps)
            ],
            "fixes": [],
        }
    ).encode()  # fmt: skip


def reports() -> None:
    settings = DetectionSettings(max_findings_per_file=100_000)
    print("2. reading reports")
    for name, data in (("SARIF, 20,000 results", _sarif(20_000)),
                       ("pip-audit, 5,000 deps", _pip_audit(5_000))):  # fmt: skip
        best_base = best_ours = float("inf")
        found = 0
        for _ in range(3):
            start = time.perf_counter()
            json.loads(data)
            best_base = min(best_base, time.perf_counter() - start)
            start = time.perf_counter()
            report = read_bytes(name, data, settings)
            best_ours = min(best_ours, time.perf_counter() - start)
            found = len(report.findings)
        print(
            f"   {name:24}{len(data) / 1e6:6.1f} MB  {found:6} findings  "
            f"{best_ours * 1000:7.0f} ms  (json.loads alone {best_base * 1000:5.0f} ms, "
            f"×{best_ours / best_base:.1f})"
        )


def issue_writes() -> None:
    clock = FakeClock()
    finding = Finding("PY-DB", "Database refused", "infrastructure", Severity.HIGH,
                      Owner.DEVOPS, 3, False, 0.9, None, "fp-bench",
                      (Evidence(1, 1, "src/db.py: connection refused"),))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GitHubFake(clock=clock) as fake:
        fake.add_repo("octo/app")
        with GitHubSource(["octo/app"], token="t", api_url=fake.url, clock=clock,
                          write_interval=None) as source:  # fmt: skip
            store = EscalationStore(open_engine(f"sqlite:///{tmp}/b.db"))
            esc = IssueEscalator(store, source, EscalationSettings(enabled=True, occurrences=3))
            for n in range(50):
                run = FailedRun("octo/app", n, 1, "CI", "a" * 40, "main", "push", "failure",
                                (FailedJob(n, "test", "failure"),))  # fmt: skip
                clock.advance(60)
                esc.observe(run, [finding], HealthState.DEGRADED, clock.now())
                if n % 5 == 4:
                    esc.sweep(HealthState.DEGRADED, clock.now())
            clock.advance(timedelta(hours=25).total_seconds())
            esc.sweep(HealthState.OPERATIONAL, clock.now())
        writes = sum(1 for r in fake.requests if r.method in ("POST", "PATCH"))
        issues = len(fake.issues)
        state = fake.issues[0]["state"]
    print("3. issue writes for 50 occurrences of one failure, 5 per cycle")
    print(
        f"   issues {issues} ({state} after recovery), GitHub writes {writes} "
        f"(baseline one per occurrence: 50, ×{50 / writes:.1f} fewer)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    slow_jobs(args.jobs, random.Random(args.seed))
    reports()
    issue_writes()


if __name__ == "__main__":
    main()
