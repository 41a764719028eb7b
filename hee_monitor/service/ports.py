"""The ports the monitoring cycle talks through.

The forge's ports (sources, re-runs, run look-ups, and their ``Skipped`` value and
``ProcessedRuns`` register) are declared in :mod:`hee_monitor.sources.interface`; the
others are small Protocols the analyzer, the capsule file and the alert
router satisfy, so the cycle is tested with in-memory implementations and runs in
production with the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from hee_monitor.action.alerts.interface import Notifier
from hee_monitor.analysis.interface import LogAnalyzer
from hee_monitor.core.capsule import CapsuleStore
from hee_monitor.core.models import FailedRun, Finding, HealthState
from hee_monitor.sources.interface import ProcessedRuns, Rerun, Runs, Skipped, Source

__all__ = [
    "CapsuleStore",
    "Escalator",
    "LogAnalyzer",
    "Notifier",
    "ProcessedRuns",
    "RunControl",
    "Skipped",
    "Source",
]


class RunControl(Rerun, Runs, Protocol):
    """What the cycle asks of the forge besides polling: re-run, and look a run up."""


class Escalator(Protocol):
    """Files persistent failures where people track work (GitHub issues)."""

    def observe(
        self, run: FailedRun, findings: Sequence[Finding], state: HealthState, now: datetime
    ) -> object: ...

    def sweep(self, state: HealthState, now: datetime) -> object: ...
