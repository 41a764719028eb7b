#!/usr/bin/env python3
"""Time signing, verifying and validating a large state capsule.

A capsule with 10,000 auto-fix history entries (20x the default live cap of 500, so a
worst case) is signed, verified and schema-validated, and a full store update (verify the
live capsule, apply a change, seal, sign, validate, write history/backup/current with
fsync) is timed. Figures are medians over several runs, compared with two baselines:

* target: 100 ms for sign + verify + validate of such a capsule (issue #3);
* brief:  5 s for a whole state update.

Run: python benchmarks/capsule_bench.py [--entries N] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.capsule import CapsuleStore, Signer, TrustedKeys, format_time, new_payload
from hee_monitor.capsule.canonical import canonical_bytes, parse_document
from hee_monitor.capsule.envelope import open_capsule, sign
from hee_monitor.capsule.schema import validate, validator

TARGET_SIGN_VERIFY_VALIDATE = 0.100
BRIEF_STATE_UPDATE = 5.0
NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def big_payload(entries: int) -> dict[str, Any]:
    payload = new_payload("octo/app", NOW)
    payload["version"] = entries + 1
    payload["previous_digest"] = "sha256:" + "0" * 64
    start = NOW - timedelta(minutes=entries)
    payload["auto_fix_history"] = [
        {
            "timestamp": format_time(start + timedelta(minutes=i)),
            "pattern_id": f"PAT-{i % 40:03d}",
            "success": i % 7 != 0,
            "rollback": i % 7 == 0,
            "fingerprint": f"{i:064x}",
            "strategy": "ruff-fix",
            "run_id": str(9_000_000 + i),
            "branch": f"hee/fix/PAT-{i % 40:03d}-{i}",
            "hee_context": {
                "state_capsule_version": i,
                "decision_impact": "low",
                "context_preservation": True,
            },
        }
        for i in range(entries)
    ]
    return payload


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    signer = Signer.generate()
    keys = TrustedKeys.of([signer.public_key])
    payload = big_payload(args.entries)
    validator()  # compile once, as a long-running process would
    signed = sign(payload, [signer])

    rows = [
        ("canonicalise (RFC 8785)", median_seconds(lambda: canonical_bytes(payload), args.runs)),
        ("validate (schema)", median_seconds(lambda: validate(payload), args.runs)),
        (
            "sign (validate+canonicalise+Ed25519+write form)",
            median_seconds(lambda: sign(payload, [signer]), args.runs),
        ),
        (
            "parse file (strict form check)",
            median_seconds(lambda: parse_document(signed.raw, source="bench"), args.runs),
        ),
        (
            "verify (parse+signature+schema+expiry)",
            median_seconds(
                lambda: open_capsule(signed.raw, keys, now=NOW, source="bench"), args.runs
            ),
        ),
    ]
    sign_verify = rows[2][1] + rows[4][1]

    with tempfile.TemporaryDirectory() as tmp:
        store = CapsuleStore(Path(tmp), signer, keys, fix_history_limit=args.entries + 100)
        store.initialise("octo/app", now=NOW)
        store.update(
            lambda p: p.__setitem__("auto_fix_history", payload["auto_fix_history"]), now=NOW
        )
        update = median_seconds(
            lambda: store.update(
                lambda p: p["monitoring_state"].update(current_status="degraded"), now=NOW
            ),
            args.runs,
        )

    print(
        f"state capsule benchmark: {args.entries} auto_fix_history entries, "
        f"{len(signed.raw) / 1e6:.2f} MB file, median of {args.runs} runs"
    )
    for name, seconds in rows:
        print(f"  {name:<50} {seconds * 1000:8.1f} ms")
    print(
        f"  {'sign + verify (each includes validate)':<50} {sign_verify * 1000:8.1f} ms   "
        f"ratio vs target 100 ms: {sign_verify / TARGET_SIGN_VERIFY_VALIDATE:.2f}x"
    )
    print(
        f"  {'full store update (verify, change, sign, fsync)':<50} {update * 1000:8.1f} ms   "
        f"ratio vs brief 5 s state update: {update / BRIEF_STATE_UPDATE:.3f}x"
    )
    print("baselines: target 100 ms sign+verify+validate (issue #3); brief 5 s per state update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
