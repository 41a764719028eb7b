"""Random interleavings of deliveries, polls, crashes and faults: each failed run gets
exactly one decision and each intended effect happens once (hypothesis state machine)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import Alert, FailedJob, FailedRun, Finding, Owner, Severity
from hee_monitor.decision.rules import RulesPolicy
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.schema import decisions
from hee_monitor.service.cycle import MonitorCycle
from hee_monitor.service.effects import EffectStore, EffectWorker, Intent, SimulatedCrash
from hee_monitor.sources.interface import Skipped
from tests.fakes.memory import MemoryCapsule, ScriptedAnalyzer

START = datetime(2026, 12, 1, tzinfo=UTC)


def finding(pid: str, transient: bool) -> Finding:
    return Finding(
        pid,
        f"{pid} failed",
        "test",
        Severity.HIGH,
        Owner.DEVELOPER,
        2,
        transient,
        0.9,
        None,
        f"fp-{pid}",
        (),
    )


FINDINGS = {"flaky": (finding("NET-RESET", True),), "broken": (finding("PY-ASSERT", False),)}


@dataclass
class Forge:
    """GitHub's side: runs (with attempts), re-runs made, and a fault switch."""

    runs: dict[int, tuple[str, int]]  # run id → (job name, current attempt)
    reruns: Counter[tuple[int, int]]  # (run id, attempt re-run) → POSTs GitHub performed
    failing: int = 0  # next calls that fail with a 5xx

    def _trouble(self) -> None:
        if self.failing > 0:
            self.failing -= 1
            raise ConnectionError("502 Bad Gateway")

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        self._trouble()
        job, attempt = self.runs[run_id]
        self.reruns[(run_id, attempt)] += 1
        self.runs[run_id] = (job, attempt + 1)  # the new attempt fails again at once

    def get_run(self, repo: str, run_id: int) -> object:
        self._trouble()
        _job, attempt = self.runs[run_id]

        @dataclass
        class Status:
            attempt: int
            status: str = "completed"
            conclusion: str = "failure"

        return Status(attempt)


class ForgeSource:
    """Polls the forge: every attempt of every run, as the runs list shows them."""

    def __init__(self, forge: Forge, deliveries: list[int]) -> None:
        self.forge = forge
        self.deliveries = deliveries

    def poll(self) -> Iterator[FailedRun | Skipped]:
        if self.forge.failing > 0:  # as the GitHub source reports a listing it cannot read
            self.forge.failing -= 1
            yield Skipped("octo/app", "GitHub answered 502 while listing runs")
            return
        wanted = list(self.forge.runs) + self.deliveries
        self.deliveries.clear()
        for run_id in wanted:
            job, attempt = self.forge.runs[run_id]
            yield FailedRun(
                "octo/app",
                run_id,
                attempt,
                "CI",
                "abc1234",
                "main",
                "push",
                "failure",
                (FailedJob(run_id * 10, job, "failure", open_log=lambda: iter([b"log\n"])),),
                html_url=f"https://github.example/octo/app/runs/{run_id}/attempts/{attempt}",
            )


class Told:
    """The notifier people read, with the router's reconciliation answer."""

    def __init__(self) -> None:
        self.alerts: Counter[str] = Counter()
        self.at: dict[str, datetime] = {}

    def notify(self, alert: Alert, now: datetime) -> str:
        key = f"{alert.url}:{alert.kind}"
        self.alerts[key] += 1
        self.at[alert.fingerprint] = now
        return "sent"

    def flush(self, now: datetime) -> None:
        return None

    def recovered(self, repo: str, now: datetime) -> None:
        return None

    def notified_since(self, repo: str, fingerprint: str, since: datetime) -> bool:
        return fingerprint in self.at and self.at[fingerprint] >= since


class EffectsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.db = f"sqlite:///{Path(self.dir.name) / 'audit.db'}"
        self.clock = FakeClock(START)
        self.forge = Forge({}, Counter())
        self.deliveries: list[int] = []
        self.told = Told()
        self.capsule = MemoryCapsule()
        self.crash_at: tuple[str, str] | None = None
        self.next_id = 1
        self.restart()

    def restart(self) -> None:
        """A new life of the monitor (after kill -9): only the database survives."""
        self.audit = AuditStore.open(self.db)

        def crash(point: str, intent: Intent) -> None:
            if self.crash_at == (point, intent.kind):
                self.crash_at = None
                raise SimulatedCrash(point)

        worker = EffectWorker(
            EffectStore(self.audit.engine), {}, self.clock, crash=crash, round_wait=0.0
        )
        self.cycle = MonitorCycle(
            sources=[ForgeSource(self.forge, self.deliveries)],
            analyzer=ScriptedAnalyzer(FINDINGS),
            policy=RulesPolicy(),
            audit=self.audit,
            capsule=self.capsule,
            clock=self.clock,
            notifier=self.told,
            run_control=self.forge,
            worker=worker,
        )

    def teardown(self) -> None:
        self.audit.engine.dispose()
        self.dir.cleanup()

    @rule(kind=st.sampled_from(["flaky", "broken"]))
    def a_run_fails(self, kind: str) -> None:
        self.forge.runs[self.next_id] = (kind, 1)
        self.next_id += 1

    @precondition(lambda self: bool(self.forge.runs))
    @rule(data=st.data())
    def a_webhook_delivers_a_run_again(self, data: st.DataObject) -> None:
        self.deliveries.append(data.draw(st.sampled_from(sorted(self.forge.runs))))

    @rule(n=st.integers(min_value=1, max_value=4))
    def github_fails_for_a_while(self, n: int) -> None:
        self.forge.failing = n

    @rule(point=st.sampled_from(["before", "after"]), kind=st.sampled_from(["rerun", "alert"]))
    def the_next_effect_is_killed(self, point: str, kind: str) -> None:
        self.crash_at = (point, kind)

    @rule(seconds=st.sampled_from([1, 60, 700, 4000]))
    def a_cycle_runs(self, seconds: int) -> None:
        self.clock.advance(seconds)
        try:
            self.cycle.run_once()
        except SimulatedCrash:
            self.restart()

    def settle(self) -> None:
        """No more faults: cycles until every intent is performed."""
        self.crash_at = None
        self.forge.failing = 0
        store = EffectStore(self.audit.engine)
        for _ in range(30):
            self.clock.advance(3600)
            self.cycle.run_once()
            if not store.all(status="pending") and all(
                self.audit.seen(f"octo/app#{run_id}.{attempt}")
                for run_id, (_job, attempt) in self.forge.runs.items()
            ):
                break

    @invariant()
    def at_most_one_decision_per_run_attempt(self) -> None:
        with self.audit.engine.connect() as conn:
            keys = [
                r[0]
                for r in conn.execute(decisions.select().with_only_columns(decisions.c.run_key))
            ]
        assert all(n == 1 for n in Counter(k for k in keys if k).values())

    @invariant()
    def no_effect_happens_twice(self) -> None:
        assert all(n == 1 for n in self.forge.reruns.values())
        assert all(n == 1 for n in self.told.alerts.values())
        assert len(self.forge.reruns) <= 3 * len(self.forge.runs)

    def check_settled(self) -> None:
        self.settle()
        store = EffectStore(self.audit.engine)
        with self.audit.engine.connect() as conn:
            keys = Counter(
                r[0]
                for r in conn.execute(decisions.select().with_only_columns(decisions.c.run_key))
                if r[0]
            )
        for run_id, (_job, attempt) in self.forge.runs.items():
            for n in range(1, attempt + 1):
                assert keys[f"octo/app#{run_id}.{n}"] == 1  # every attempt decided once
        intents = store.all()
        assert all(i.status == "done" for i in intents)
        made = {
            (i.payload["run_id"], i.payload["run_attempt"]) for i in intents if i.kind == "rerun"
        }
        assert made == set(self.forge.reruns)
        routed = [i for i in intents if i.kind == "alert"]
        assert sum(self.told.alerts.values()) <= len(routed)


class SettledMachine(EffectsMachine):
    @rule()
    def everything_settles(self) -> None:
        self.check_settled()


TestEffects = SettledMachine.TestCase
TestEffects.settings = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
