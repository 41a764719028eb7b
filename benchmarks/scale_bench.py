"""Many repositories and several instances: what an idle cycle costs, and whether work
shared on one PostgreSQL is processed exactly once.

**Idle cycle** (``--part idle``): 100 / 1,000 / 5,000 repositories on the loopback GitHub
fake, every API call delayed by ``--latency-ms`` (100 ms), none with a new failed run. Each
figure is one real monitoring cycle (``hee-monitor monitor``'s cycle: wiring, GitHub source,
concurrent polling, audit store on SQLite, capsule) after a first cycle that read every
listing and stored its ETag. Prints the idle cycle's wall time and charged requests (the
fake counts what GitHub counts: a 304 is free) for ``--concurrency`` (the default of
``[monitor] poll_concurrency`` and higher) against the baseline, one repository at a time
(concurrency 1). The baseline is measured up to ``--baseline-max`` repositories and, above,
extrapolated from its per-repository time at the largest size measured (said so in the
output). Targets: 1,000 repositories in 15 s or less, at most 1 charged request per idle
cycle; 5,000 within 60 s.

**Instances** (``--part instances``):
Starts a throwaway PostgreSQL cluster (initdb/pg_ctl under a temporary directory, loopback
only; Debian's ``postgresql`` package), offers ``--runs`` failed-run keys as work, and lets
1, 2 and 4 instances (separate processes, each with its own engine) claim them through the
store's leases (:meth:`hee_monitor.record.leases.Leases.claim_some`, ``SELECT … FOR UPDATE
SKIP LOCKED``), work on each for ``--work-ms`` (simulated: waiting on the forge and the
analysis), then complete the lease and write the result in one transaction. With 2 and 4
instances one instance is killed with SIGKILL once 30% of the runs are done; its leases
expire after ``--ttl`` seconds and the others take its runs over.

Prints, per configuration: runs lost (no result), runs duplicated (more than one result),
wall time, runs per second, and the throughput ratio against one instance (the baseline).

    python benchmarks/scale_bench.py [--part all|idle|instances]
        [--repos 100,1000,5000] [--latency-ms 100] [--concurrency 4,16] [--baseline-max 1000]
        [--runs 2000] [--work-ms 10] [--ttl 1.0]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import postgres
from tests.record.lease_workers import Outcome, run_instances

TOKEN = "ghp_scalebenchtoken0123456789abcdef"


@dataclass
class Idle:
    repos: int
    concurrency: int
    seconds: float
    charged: int
    requests: int
    first_seconds: float


def idle_cycle(repos: int, concurrency: int, latency: float) -> Idle:
    """One warm-up cycle, then the measured idle cycle, through the monitor's own cycle."""
    from hee_monitor.cli.monitor import _cycle
    from hee_monitor.core.clock import SystemClock
    from hee_monitor.core.config import load_config
    from hee_monitor.core.models import Severity
    from hee_monitor.service import wiring
    from tests.fakes.github import GitHubFake

    names = [f"org{i % 50}/repo{i}" for i in range(repos)]
    with tempfile.TemporaryDirectory() as work, GitHubFake(rate_limit=10**7) as fake:
        fake.require_token(TOKEN)
        for name in names:
            fake.add_repo(name)
        env = {
            "HOME": work,
            "HEE_STATE_DIR": work,
            "GITHUB_TOKEN": TOKEN,
            "HEE_GITHUB_API_URL": fake.url,
            "HEE_REPOS": ",".join(names),
            "HEE_DATABASE_URL": f"sqlite:///{work}/audit.db",
        }
        config = load_config(None, env)
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            w = wiring.build(config, clock=SystemClock(), capsule_path=f"{work}/capsule.json")
            cycle = _cycle(w, Severity.LOW)
            cycle.poll_concurrency = concurrency
            cycle.deadline = 3600.0
            fake.delay(latency)
            began = time.perf_counter()
            cycle.run_once()  # reads every listing, stores the ETags (and checks the token)
            first = time.perf_counter() - began
            charged, requests = fake.counted(), len(fake.requests)
            began = time.perf_counter()
            report = cycle.run_once()
            seconds = time.perf_counter() - began
            assert not report.deadline_hit
            if w.forge is not None:
                w.forge.close()
            return Idle(
                repos,
                concurrency,
                seconds,
                fake.counted() - charged,
                len(fake.requests) - requests,
                first,
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)


def idle_part(args: argparse.Namespace) -> bool:
    logging.disable(logging.WARNING)  # the token hygiene warnings of the fake's token
    sizes = [int(x) for x in args.repos.split(",")]
    levels = [int(x) for x in args.concurrency.split(",")]
    latency = args.latency_ms / 1000
    print(
        f"idle cycle, loopback GitHub fake with {args.latency_ms:g} ms per API call; "
        "the monitor's cycle after a first cycle that stored every ETag"
    )
    print(
        f"{'repos':>6} {'concurrency':>11} {'seconds':>8} {'charged':>7} {'requests':>8} "
        f"{'first cycle s':>13} {'vs concurrency 1':>18}"
    )
    ok = True
    per_repo_baseline: float | None = None
    for size in sizes:
        baseline: float | None = None
        note = ""
        if size <= args.baseline_max:
            base = idle_cycle(size, 1, latency)
            baseline = base.seconds
            per_repo_baseline = base.seconds / size
            print(
                f"{size:>6} {1:>11} {base.seconds:>8.2f} {base.charged:>7} {base.requests:>8} "
                f"{base.first_seconds:>13.2f} {'1.00x (baseline)':>18}"
            )
        elif per_repo_baseline is not None:
            baseline = per_repo_baseline * size
            note = " (baseline extrapolated)"
        for level in levels:
            r = idle_cycle(size, level, latency)
            ratio = f"{baseline / r.seconds:.1f}x faster{note}" if baseline else "-"
            print(
                f"{size:>6} {level:>11} {r.seconds:>8.2f} {r.charged:>7} {r.requests:>8} "
                f"{r.first_seconds:>13.2f} {ratio:>18}"
            )
            ok = ok and r.charged <= 1
    print("targets: 1,000 repositories <= 15 s, 5,000 <= 60 s, <= 1 charged request per idle cycle")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "idle", "instances"], default="all")
    parser.add_argument("--repos", default="100,1000,5000", help="idle: repository counts")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="idle: per API call")
    parser.add_argument("--concurrency", default="4,16", help="idle: poll_concurrency values")
    parser.add_argument(
        "--baseline-max", type=int, default=1000, help="idle: largest size polled one at a time"
    )
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--work-ms", type=float, default=10.0, help="simulated work per run")
    parser.add_argument("--ttl", type=float, default=1.0, help="lease time to live (s)")
    parser.add_argument("--batch", type=int, default=5, help="runs claimed at a time")
    args = parser.parse_args(argv)
    idle_ok = True
    if args.part in ("all", "idle"):
        idle_ok = idle_part(args)
        if args.part == "idle":
            return 0 if idle_ok else 1
        print()
    reason = postgres.unavailable()
    if reason:
        print(f"instances: skipped: {reason}")
        return 0 if idle_ok else 1
    configs = [(1, None), (2, 0.3), (4, 0.3)]
    results: list[Outcome] = []
    with postgres.cluster() as cluster:
        for instances, kill_at in configs:
            outcome = run_instances(
                cluster.create_database(),
                runs=args.runs,
                instances=instances,
                kill_at=kill_at,
                work_seconds=args.work_ms / 1000,
                ttl=args.ttl,
                batch=args.batch,
                timeout=1800,
            )
            results.append(outcome)
    base = results[0].per_second
    print(
        f"{args.runs} failed runs on one PostgreSQL, {args.work_ms:g} ms simulated work each, "
        f"lease ttl {args.ttl:g} s, claimed {args.batch} at a time"
    )
    print(
        f"{'instances':>9} {'killed':>6} {'lost':>5} {'duplicated':>10} {'seconds':>8} "
        f"{'runs/s':>8} {'vs 1':>6}  per instance"
    )
    for r in results:
        ratio = r.per_second / base if base else 0.0
        print(
            f"{r.instances:>9} {r.killed:>6} {r.lost:>5} {r.duplicated:>10} {r.seconds:>8.2f} "
            f"{r.per_second:>8.1f} {ratio:>5.2f}x  {r.per_instance}"
        )
    bad = [r for r in results if r.lost or r.duplicated]
    return 1 if bad or not idle_ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
