"""Work leases: the contract on SQLite and PostgreSQL, and instances sharing work for real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.record.db import open_engine
from hee_monitor.record.leases import Leases
from tests.record.lease_workers import run_instances

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _pair(url: str, clock: Clock) -> tuple[Leases, Leases]:
    engine = open_engine(url)
    ttl = timedelta(seconds=30)
    return Leases(engine, owner="a", ttl=ttl, now=clock), Leases(
        engine, owner="b", ttl=ttl, now=clock
    )


def test_a_claim_holds_until_it_expires_and_then_another_takes_over(
    store_url: str, clock: Clock
) -> None:
    a, b = _pair(store_url, clock)
    assert a.claim("run", "octo/app#1.1")
    assert not b.claim("run", "octo/app#1.1")
    assert a.claim("run", "octo/app#1.1")  # claiming again renews
    clock.at += timedelta(seconds=29)
    assert a.renew("run", "octo/app#1.1")
    clock.at += timedelta(seconds=29)
    assert not b.claim("run", "octo/app#1.1")  # renewed: still held
    clock.at += timedelta(seconds=2)  # a died: nobody renewed
    assert b.claim("run", "octo/app#1.1")
    assert not a.renew("run", "octo/app#1.1")  # a learns it lost the lease
    assert not a.complete("run", "octo/app#1.1")  # and cannot complete it (fencing)
    assert b.complete("run", "octo/app#1.1")
    clock.at += timedelta(hours=1)
    assert not a.claim("run", "octo/app#1.1")  # done work is never claimed again
    assert not b.claim("run", "octo/app#1.1")


def test_release_gives_the_work_back_at_once(store_url: str, clock: Clock) -> None:
    a, b = _pair(store_url, clock)
    assert a.claim("poll", "octo/app")
    b.release("poll", "octo/app")  # not b's to release
    assert not b.claim("poll", "octo/app")
    a.release("poll", "octo/app")
    assert b.claim("poll", "octo/app")
    assert a.claim("run", "octo/app")  # kinds are separate


def test_completion_joins_the_callers_transaction(store_url: str, clock: Clock) -> None:
    a, b = _pair(store_url, clock)
    assert a.claim("effect", "e1")
    try:
        with a.engine.begin() as conn:
            assert a.complete("effect", "e1", conn=conn)
            raise RuntimeError("the result could not be written")
    except RuntimeError:
        pass
    # rolled back with the caller's transaction: still a's, not done
    clock.at += timedelta(seconds=31)
    assert b.claim("effect", "e1")


def test_claim_some_takes_free_units_once(store_url: str, clock: Clock) -> None:
    a, b = _pair(store_url, clock)
    keys = [f"k{i:02d}" for i in range(10)]
    a.offer("run", keys)
    a.offer("run", keys[:3])  # offering again changes nothing
    first = a.claim_some("run", 4)
    second = b.claim_some("run", 10)
    assert len(first) == 4 and len(second) == 6
    assert set(first) | set(second) == set(keys) and not set(first) & set(second)
    assert a.claim_some("run", 10) == []
    for k in first:
        assert a.complete("run", k)
    assert a.pending("run") == 6
    clock.at += timedelta(seconds=31)  # b died
    assert sorted(a.claim_some("run", 10)) == sorted(second)
    assert b.claim_some("run", 10, keys=second) == []
    assert a.forget_done("run", clock.at + timedelta(seconds=1)) == 4


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(["claim", "renew", "release", "complete", "wait"]),
            st.sampled_from(["k1", "k2"]),
        ),
        max_size=30,
    )
)
def test_never_two_holders_and_done_once(steps: list[tuple[str, str, str]]) -> None:
    """Whatever the interleaving of two instances, a unit has at most one holder at a time
    and is completed at most once."""
    clock = Clock()
    a, b = _pair("sqlite://", clock)
    by = {"a": a, "b": b}
    holder: dict[str, tuple[str, datetime]] = {}
    done: dict[str, int] = {}
    for who, op, key in steps:
        leases = by[who]
        if op == "wait":
            clock.at += timedelta(seconds=20)
            continue
        held = holder.get(key)
        live = held is not None and held[1] > clock.at
        if op == "claim":
            got = leases.claim("run", key)
            assert got == (done.get(key, 0) == 0 and (not live or held[0] == who))  # type: ignore[index]
            if got:
                holder[key] = (who, clock.at + leases.ttl)
        elif op == "renew":
            got = leases.renew("run", key)
            assert got == (done.get(key, 0) == 0 and live and held[0] == who)  # type: ignore[index]
            if got:
                holder[key] = (who, clock.at + leases.ttl)
        elif op == "release":
            leases.release("run", key)
            if held is not None and held[0] == who and not done.get(key):
                holder.pop(key)
        else:
            got = leases.complete("run", key)
            assert got == (done.get(key, 0) == 0 and live and held[0] == who)  # type: ignore[index]
            if got:
                done[key] = done.get(key, 0) + 1
    assert all(n == 1 for n in done.values())


@pytest.mark.slow
@pytest.mark.parametrize("instances", [2, 4])
def test_instances_on_one_postgresql_do_each_run_once_when_one_is_killed(
    pg_url: str, instances: int
) -> None:
    outcome = run_instances(
        pg_url, runs=240, instances=instances, kill_at=0.3, work_seconds=0.002, ttl=1.0
    )
    assert outcome.killed == 1
    assert (outcome.lost, outcome.duplicated) == (0, 0)
    assert sum(outcome.per_instance.values()) == 240
    assert len(outcome.per_instance) >= 2  # the work was shared


@pytest.mark.slow
def test_instances_on_one_sqlite_file_do_each_run_once_when_one_is_killed(
    tmp_path: object,
) -> None:
    outcome = run_instances(
        f"sqlite:///{tmp_path}/store.db",
        runs=200,
        instances=2,
        kill_at=0.3,
        work_seconds=0.002,
        ttl=1.0,
    )
    assert (outcome.killed, outcome.lost, outcome.duplicated) == (1, 0, 0)
