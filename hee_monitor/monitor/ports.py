"""The ports the monitoring cycle talks through.

Each is a small Protocol mirroring the component that implements it (sources, analyzer,
capsule store, alert router), so the cycle is tested with in-memory implementations and
runs in production with the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hee_monitor.models import Alert, Diagnosis, FailedRun


@dataclass(frozen=True)
class Skipped:
    """A run (or job) a source could not hand over; recorded, never fatal to a cycle."""

    key: str
    reason: str


class ProcessedRuns(Protocol):
    """Which run attempts were already processed (exactly once, across restarts)."""

    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class Source(Protocol):
    """Yields failed runs not yet processed (and skips for what it could not read)."""

    def poll(self) -> Iterator[FailedRun | Skipped]: ...


@dataclass(frozen=True)
class RunStatus:
    """The latest attempt of a workflow run, as a source reports it."""

    repo: str
    run_id: int
    run_attempt: int
    status: str  # queued | in_progress | completed
    conclusion: str | None  # success | failure | cancelled | ... (None until completed)
    head_sha: str = ""


class RunControl(Protocol):
    """What the cycle asks of the forge besides polling: re-run, and look a run up."""

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None: ...

    def get_run(self, repo: str, run_id: int) -> RunStatus: ...


class Analyzer(Protocol):
    def analyze_stream(self, chunks: Iterable[bytes], name: str) -> Diagnosis: ...


class Capsule(Protocol):
    """The state capsule: read the payload, change it through a mutator."""

    def load(self) -> dict[str, Any]: ...

    def update(self, mutator: Callable[[dict[str, Any]], None], *, now: datetime) -> Any: ...


class Notifier(Protocol):
    def notify(self, alert: Alert, now: datetime) -> object: ...
