"""Several instances on one PostgreSQL: is each failed run processed exactly once, and how
much faster do more instances get through a backlog?

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

    python benchmarks/scale_bench.py [--runs 2000] [--work-ms 10] [--ttl 1.0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import postgres
from tests.record.lease_workers import Outcome, run_instances


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--work-ms", type=float, default=10.0, help="simulated work per run")
    parser.add_argument("--ttl", type=float, default=1.0, help="lease time to live (s)")
    parser.add_argument("--batch", type=int, default=5, help="runs claimed at a time")
    args = parser.parse_args(argv)
    reason = postgres.unavailable()
    if reason:
        print(f"skipped: {reason}")
        return 0
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
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
