#!/usr/bin/env python3
"""Time signing, verifying and validating a large state capsule.

A capsule with 10,000 auto-fix history entries (20x the default live cap of 500, so a
worst case) and measured coverage figures (floats, as every real capsule has) is signed,
verified and schema-validated, and a full store update (verify the live capsule, apply a
change, seal, sign, validate, write history/backup/current with fsync) is timed. Figures
are medians over several runs, compared with two baselines:

* target: 100 ms for sign + verify + validate of such a capsule (issue #3);
* brief:  5 s for a whole state update;

and a floor, a plain ``json.loads`` + ``json.dumps`` of the same payload, which shows how
busy the machine is (the ratio to it is steadier than the milliseconds).

Run: python benchmarks/capsule_bench.py [--entries N ...] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.record.capsule import (
    CapsuleDirectory,
    Signer,
    TrustedKeys,
    format_time,
    new_payload,
)
from hee_monitor.record.capsule.canonical import (
    canonical_bytes,
    canonicalise,
    dump_indented,
    parse_document,
)
from hee_monitor.record.capsule.envelope import open_capsule, sign
from hee_monitor.record.capsule.schema import validate, validator
from hee_monitor.record.capsule.store import DEFAULT_FIX_HISTORY_LIMIT

TARGET_SIGN_VERIFY_VALIDATE = 0.100
BRIEF_STATE_UPDATE = 5.0
NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def big_payload(entries: int) -> dict[str, Any]:
    payload = new_payload("octo/app", NOW)
    payload["version"] = entries + 1
    payload["previous_digest"] = "sha256:" + "0" * 64
    payload["monitoring_state"]["coverage_metrics"].update(
        line=91.2, branch=80.0, function=88.5, integration=70.0
    )
    payload["monitoring_state"]["hee_specific"].update(spec_coverage=80.0, decision_stability=95.5)
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
    """Median CPU time of ``action`` (process time: steadier than wall time on a busy
    machine; fsync waits are not CPU time, so the store update is timed by the wall)."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return statistics.median(times)


def wall_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(entries: int, runs: int) -> None:
    signer = Signer.generate()
    keys = TrustedKeys.of([signer.public_key])
    payload = big_payload(entries)
    validator()  # compile once, as a long-running process would
    signed = sign(payload, [signer])
    text = json.dumps(payload)
    old_payload = {k: v for k, v in payload.items() if k != "file_format"}
    old_form = sign(old_payload, [signer])  # as capsules written before form 2 are
    envelope = {"signed": payload, "signatures": list(signed.signatures)}
    members = canonicalise(payload, plain_json=True).orjson_members

    floor = median_seconds(lambda: json.dumps(json.loads(text)), runs)
    rows = [
        (
            "canonicalise (RFC 8785, any payload)",
            median_seconds(lambda: canonical_bytes(payload), runs),
        ),
        (
            "canonicalise (RFC 8785, plain JSON: orjson/member)",
            median_seconds(lambda: canonical_bytes(payload, plain_json=True), runs),
        ),
        ("validate (schema)", median_seconds(lambda: validate(payload), runs)),
        (
            "write file form 2 (orjson; float members: json)",
            median_seconds(lambda: dump_indented(envelope, members), runs),
        ),
        (
            "parse file (strict form check, canonical form)",
            median_seconds(lambda: parse_document(signed.raw, source="bench"), runs),
        ),
        (
            "sign (validate+canonicalise+Ed25519+write form)",
            median_seconds(lambda: sign(payload, [signer]), runs),
        ),
        (
            "verify (parse+signature+schema+expiry)",
            median_seconds(lambda: open_capsule(signed.raw, keys, now=NOW, source="bench"), runs),
        ),
    ]
    sign_verify = rows[5][1] + rows[6][1]
    old_verify = median_seconds(
        lambda: open_capsule(old_form.raw, keys, now=NOW, source="bench"), runs
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = CapsuleDirectory(Path(tmp), signer, keys, fix_history_limit=entries + 100)
        store.initialise("octo/app", now=NOW)
        store.update(
            lambda p: p.__setitem__("auto_fix_history", payload["auto_fix_history"]), now=NOW
        )

        def one_update() -> object:
            return store.update(
                lambda p: p["monitoring_state"].update(current_status="degraded"), now=NOW
            )

        update_cpu = median_seconds(one_update, runs)
        update = wall_seconds(one_update, runs)

    print(
        f"\n{entries} auto_fix_history entries, {len(signed.raw) / 1e6:.2f} MB file, "
        f"median of {runs} runs (CPU time)"
    )
    print(f"  {'floor: json.loads + json.dumps of the payload':<50} {floor * 1000:8.1f} ms")
    for name, seconds in rows:
        print(
            f"  {name:<50} {seconds * 1000:8.1f} ms   "
            f"{seconds / TARGET_SIGN_VERIFY_VALIDATE:.2f}x the 100 ms target"
        )
    print(
        f"  {'sign + verify (each includes validate)':<50} {sign_verify * 1000:8.1f} ms   "
        f"{sign_verify / TARGET_SIGN_VERIFY_VALIDATE:.2f}x the 100 ms target, "
        f"{sign_verify / floor:.1f}x the floor"
    )
    print(
        f"  {'verify a form 1 file (written before form 2)':<50} {old_verify * 1000:8.1f} ms   "
        f"{old_verify / TARGET_SIGN_VERIFY_VALIDATE:.2f}x the 100 ms target "
        "(until its next update)"
    )
    print(
        f"  {'full store update (verify, change, sign, fsync)':<50} {update * 1000:8.1f} ms   "
        f"{update / BRIEF_STATE_UPDATE:.3f}x the brief's 5 s (wall time; "
        f"{update_cpu * 1000:.0f} ms CPU)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--entries",
        type=int,
        action="append",
        help="history sizes to measure (default: 10000 and the live cap 500)",
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        "state capsule benchmark; baselines: target 100 ms for sign+verify+validate "
        "(issue #3), brief 5 s per state update, floor = plain JSON round trip"
    )
    for entries in args.entries or [10_000, DEFAULT_FIX_HISTORY_LIMIT]:
        measure(entries, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
