"""In-memory stand-ins for the ports of the monitoring cycle (capsule, notifier, analyzer,
sources, run control), so the cycle is tested without a forge, a signing key or a network."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hee_monitor.analysis.baseline import Baseline
from hee_monitor.core.models import Alert, Diagnosis, FailedRun, Finding
from hee_monitor.service.ports import Skipped


class MemoryCapsule:
    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self.payload: dict[str, Any] = payload or {
            "schema_version": 1,
            "version": 1,
            "repository": "octo/app",
            "monitoring_state": {"current_status": "operational"},
            "decision_history": [],
            "open_incidents": [],
        }
        self.updates = 0

    def load(self) -> dict[str, Any]:
        return copy.deepcopy(self.payload)

    def update(self, mutator: Callable[[dict[str, Any]], None], *, now: datetime) -> None:
        draft = copy.deepcopy(self.payload)
        mutator(draft)
        draft["version"] = int(draft.get("version", 0)) + 1
        self.payload = draft
        self.updates += 1


class RecordingNotifier:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.flushes = 0
        self.recoveries: list[str] = []

    def notify(self, alert: Alert, now: datetime) -> str:
        self.alerts.append(alert)
        return "sent"

    def flush(self, now: datetime) -> None:
        self.flushes += 1

    def recovered(self, repo: str, now: datetime) -> None:
        self.recoveries.append(repo)


class ScriptedAnalyzer:
    """Returns the findings listed for a log name (job name); no findings otherwise."""

    def __init__(
        self, findings: dict[str, tuple[Finding, ...]], fail_on: frozenset[str] = frozenset()
    ) -> None:
        self.findings = findings
        self.fail_on = fail_on
        self.calls: list[str] = []

    def analyze_stream(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        failed_steps: Sequence[str] = (),
        baseline: Baseline | None = None,
    ) -> Diagnosis:
        self.calls.append(name)
        data = b"".join(chunks)
        job = next((k for k in [*self.findings, *self.fail_on] if name.endswith("/" + k)), "")
        if job in self.fail_on:
            raise RuntimeError(f"cannot read {name}")
        return Diagnosis(log=name, lines=data.count(b"\n"), failures=self.findings.get(job, ()))


class ListSource:
    """Yields the runs it holds that the processed-runs register has not seen."""

    def __init__(self, items: list[FailedRun | Skipped]) -> None:
        self.items = items

    def poll(self) -> Iterator[FailedRun | Skipped]:
        yield from self.items


@dataclass(frozen=True)
class RunStatus:
    repo: str
    run_id: int
    attempt: int
    status: str
    conclusion: str | None


class RecordingRunControl:
    def __init__(self) -> None:
        self.reruns: list[tuple[str, int]] = []
        self.statuses: dict[tuple[str, int], RunStatus] = {}

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        self.reruns.append((repo, run_id))

    def get_run(self, repo: str, run_id: int) -> RunStatus:
        return self.statuses.get((repo, run_id), RunStatus(repo, run_id, 2, "in_progress", None))
