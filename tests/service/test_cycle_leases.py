"""Instances sharing one store: a run is processed by the instance holding its lease, on
SQLite and on PostgreSQL; a dead instance's run is taken over once its lease expires."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from hee_monitor.record.audit import AuditStore
from hee_monitor.record.leases import Leases
from hee_monitor.record.schema import processed_runs
from hee_monitor.service.cycle import RUN_WORK
from tests.service.test_cycle import Env, finding, run


def _instance(tmp_path: Path, url: str, name: str, runs: list[int]) -> Env:
    env = Env(tmp_path, [run(i) for i in runs], {"test": (finding("PY-TEST"),)})
    env.audit = AuditStore.open(url)
    env.cycle = dataclasses.replace(
        env.cycle,
        audit=env.audit,
        leases=Leases(env.audit.engine, owner=name, ttl=timedelta(minutes=5), now=env.clock.now),
    )
    return env


def test_two_instances_process_each_run_once(store_url: str, tmp_path: Path) -> None:
    a = _instance(tmp_path / "a", store_url, "a", [1, 2, 3])
    b = _instance(tmp_path / "b", store_url, "b", [1, 2, 3])
    # a died while holding run 2: b leaves it alone until the lease expires
    dead = Leases(a.audit.engine, owner="dead", ttl=timedelta(minutes=5), now=a.clock.now)
    assert dead.claim(RUN_WORK, run(2).key)
    first = [o.key for o in a.cycle.run_once().runs]
    second = [o.key for o in b.cycle.run_once().runs]
    assert first == [run(1).key, run(3).key] and second == []
    b.clock.sleep(6 * 60)
    taken = [o.key for o in b.cycle.run_once().runs]
    assert taken == [run(2).key]
    assert a.audit.count(processed_runs) == 3
    assert a.analyzer.calls == ["octo/app#1.1/test", "octo/app#3.1/test"]
    assert b.analyzer.calls == ["octo/app#2.1/test"]


def test_a_run_finished_by_another_instance_is_not_taken_again(
    store_url: str, tmp_path: Path
) -> None:
    a = _instance(tmp_path / "a", store_url, "a", [7])
    b = _instance(tmp_path / "b", store_url, "b", [7])
    assert [o.key for o in a.cycle.run_once().runs] == [run(7).key]
    # b's poll saw run 7 before a recorded it: a completed the run's lease, so b's claim
    # fails (and were the lease released, the register would still say the run is done)
    assert b.cycle._claim(run(7).key, held=False) is False
    assert b.cycle.run_once().runs == ()
    assert b.analyzer.calls == []


def test_a_run_that_could_not_be_processed_is_claimable_again(
    store_url: str, tmp_path: Path
) -> None:
    a = _instance(tmp_path / "a", store_url, "a", [9])
    assert a.cycle.leases is not None
    assert a.cycle._claim(run(9).key, held=False)
    a.cycle.leases.release(RUN_WORK, run(9).key)
    b = _instance(tmp_path / "b", store_url, "b", [9])
    assert [o.key for o in b.cycle.run_once().runs] == [run(9).key]
    assert b.cycle.leases is not None
    assert not b.cycle.leases.claim(RUN_WORK, run(9).key)  # done
