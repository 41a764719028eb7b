"""Several instances sharing work through the store's leases, as separate processes.

Used by the multi-instance tests and by ``benchmarks/scale_bench.py``: ``runs`` failed-run
keys are offered as work; each instance (a spawned process with its own engine) claims
batches through :meth:`Leases.claim_some`, works on each unit for ``work_seconds`` and then,
in one transaction, completes the lease (fenced: only while still holding it) and writes
the unit's result to a log. One instance can be killed with SIGKILL midway: its leases
expire and the others take its work over. The log shows units lost (no result) and
duplicated (more than one result).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.engine import create_engine

from hee_monitor.record.db import open_engine
from hee_monitor.record.leases import Leases

KIND = "run"

_log_metadata = MetaData()
#: what the instances did: one row per unit completed (no uniqueness: duplicates show)
results = Table(
    "test_work_results",
    _log_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("worker", String(100), nullable=False),
)


@dataclass(frozen=True)
class Outcome:
    runs: int
    instances: int
    killed: int
    lost: int
    duplicated: int
    seconds: float
    per_instance: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0


def _instance(url: str, name: str, work_seconds: float, ttl: float, batch: int) -> None:
    engine = create_engine(url)
    leases = Leases(engine, owner=name, ttl=timedelta(seconds=ttl))
    while True:
        keys = leases.claim_some(KIND, batch)
        if not keys:
            if leases.pending(KIND) == 0:
                return
            time.sleep(min(0.05, ttl / 4))  # the rest is held by others (or a dead one)
            continue
        for key in keys:
            if work_seconds:
                time.sleep(work_seconds)  # the simulated work: analysis, decision
            with engine.begin() as conn:
                if leases.complete(KIND, key, conn=conn):
                    conn.execute(insert(results).values(key=key, worker=name))


def run_instances(
    url: str,
    *,
    runs: int,
    instances: int,
    kill_at: float | None = 0.3,
    work_seconds: float = 0.0,
    ttl: float = 1.0,
    batch: int = 5,
    timeout: float = 300.0,
) -> Outcome:
    """Offer ``runs`` units and let ``instances`` processes do them; with ``kill_at``, the
    first instance, started before the others, is killed (SIGKILL) once that share of the
    units is done."""
    engine = open_engine(url)
    _log_metadata.create_all(engine)
    keys = [f"octo/app#{1_000_000 + i}.1" for i in range(runs)]
    Leases(engine, owner="offer").offer(KIND, keys)
    context = multiprocessing.get_context("spawn")
    names = [f"instance-{i}" for i in range(instances)]
    procs = [
        context.Process(target=_instance, args=(url, n, work_seconds, ttl, batch), name=n)
        for n in names
    ]
    started = time.perf_counter()
    deadline = started + timeout
    killed = 0

    def done_by(worker: str | None) -> int:
        query = select(func.count()).select_from(results)
        if worker is not None:
            query = query.where(results.c.worker == worker)
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    procs[0].start()
    if kill_at is not None:
        # the victim gets going first (starting a process can take seconds on a busy
        # machine): it must hold work when it is killed
        while done_by(names[0]) == 0 and procs[0].is_alive() and time.perf_counter() < deadline:
            time.sleep(0.01)
    for p in procs[1:]:
        p.start()
    try:
        if kill_at is not None:
            while time.perf_counter() < deadline:
                if done_by(None) >= kill_at * runs or not procs[0].is_alive():
                    break
                time.sleep(0.01)
            if procs[0].is_alive() and procs[0].pid is not None:
                os.kill(procs[0].pid, signal.SIGKILL)
                killed = 1
        for p in procs:
            p.join(max(1.0, deadline - time.perf_counter()))
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        rows = conn.execute(select(results.c.key, results.c.worker)).all()
    per_key = Counter(k for k, _ in rows)
    engine.dispose()
    return Outcome(
        runs=runs,
        instances=instances,
        killed=killed,
        lost=sum(1 for k in keys if per_key[k] == 0),
        duplicated=sum(n - 1 for n in per_key.values() if n > 1),
        seconds=seconds,
        per_instance=dict(sorted(Counter(w for _, w in rows).items())),
    )
