"""The ports the monitoring cycle talks through.

The forge's ports (sources, re-runs, run look-ups, and their ``Skipped`` value and
``ProcessedRuns`` register) are declared in :mod:`hee_monitor.sources.interface`; the
others are small Protocols the analyzer, the capsule file and the alert
router satisfy, so the cycle is tested with in-memory implementations and runs in
production with the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from hee_monitor.core.models import Alert, Diagnosis, FailedRun, Finding, HealthState
from hee_monitor.sources.interface import ProcessedRuns, Rerun, Runs, Skipped, Source

__all__ = [
    "Analyzer",
    "Capsule",
    "Escalator",
    "Notifier",
    "ProcessedRuns",
    "RunControl",
    "Skipped",
    "Source",
]


class RunControl(Rerun, Runs, Protocol):
    """What the cycle asks of the forge besides polling: re-run, and look a run up."""


class Analyzer(Protocol):
    def analyze_stream(self, chunks: Iterable[bytes], name: str) -> Diagnosis: ...


class Capsule(Protocol):
    """The state capsule: read the payload, change it through a mutator."""

    def load(self) -> dict[str, Any]: ...

    def update(self, mutator: Callable[[dict[str, Any]], None], *, now: datetime) -> Any: ...


class Notifier(Protocol):
    """Takes an alert; what it returns is for the record only. ``flush`` (once a cycle)
    sends what is due: grouped alerts whose wait is over, retries."""

    def notify(self, alert: Alert, now: datetime) -> str: ...

    def flush(self, now: datetime) -> None: ...

    def recovered(self, repo: str, now: datetime) -> None:
        """The pipeline is healthy again: tell those who were told of its failures."""
        ...


class Escalator(Protocol):
    """Files persistent failures where people track work (GitHub issues)."""

    def observe(
        self, run: FailedRun, findings: Sequence[Finding], state: HealthState, now: datetime
    ) -> object: ...

    def sweep(self, state: HealthState, now: datetime) -> object: ...
