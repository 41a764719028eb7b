"""The ports the monitoring cycle talks through.

Each is a small Protocol mirroring the component that implements it (sources, analyzer,
capsule store, alert router), so the cycle is tested with in-memory implementations and
runs in production with the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hee_monitor.models import Alert, Diagnosis, FailedRun, Finding, HealthState


@dataclass(frozen=True)
class Skipped:
    """Something a source could not read this cycle, and why; recorded, never fatal."""

    repo: str
    reason: str
    #: the run concerned, when the skip is about one run rather than the whole repository
    run_id: int | None = None


class ProcessedRuns(Protocol):
    """Which run attempts were already processed (exactly once, across restarts)."""

    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class Source(Protocol):
    """Yields failed runs not yet processed (and skips for what it could not read)."""

    def poll(self) -> Iterator[FailedRun | Skipped]: ...


class RunState(Protocol):
    """The latest attempt of a workflow run, as the forge reports it."""

    @property
    def status(self) -> str: ...  # queued | in_progress | completed

    @property
    def conclusion(self) -> str | None: ...  # success | failure | ... (None until completed)


class RunControl(Protocol):
    """What the cycle asks of the forge besides polling: re-run, and look a run up."""

    def rerun_failed_jobs(self, repo: str, run_id: int) -> object: ...

    def get_run(self, repo: str, run_id: int) -> RunState: ...


class Analyzer(Protocol):
    def analyze_stream(self, chunks: Iterable[bytes], name: str) -> Diagnosis: ...


class Capsule(Protocol):
    """The state capsule: read the payload, change it through a mutator."""

    def load(self) -> dict[str, Any]: ...

    def update(self, mutator: Callable[[dict[str, Any]], None], *, now: datetime) -> Any: ...


class Notifier(Protocol):
    def notify(self, alert: Alert, now: datetime) -> object: ...


class Escalator(Protocol):
    """Files persistent failures where people track work (GitHub issues)."""

    def observe(
        self, run: FailedRun, findings: Sequence[Finding], state: HealthState, now: datetime
    ) -> object: ...

    def sweep(self, state: HealthState, now: datetime) -> object: ...
