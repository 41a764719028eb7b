"""How long each job usually takes, and whether one run of it took far longer.

Durations of successful job runs are kept in the audit store (``detection_job_durations``);
:func:`slow_verdict` compares a duration with the given percentile of the last N of them.
It is a pure function: the history comes in as numbers, so the threshold is easy to test
and to explain ("31 min against a usual 9 min (p95 of 20 runs)").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    and_,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.errors import StoreError
from hee_monitor.record.schema import job_durations


@dataclass(frozen=True)
class SlowVerdict:
    """A job ran far longer than its history says it should."""

    seconds: float
    percentile: float
    #: the duration at ``percentile`` of the history
    usual_seconds: float
    threshold_seconds: float
    samples: int

    @property
    def ratio(self) -> float:
        return self.seconds / self.usual_seconds if self.usual_seconds > 0 else math.inf

    def describe(self) -> str:
        return (
            f"ran {_human(self.seconds)}, {self.ratio:.1f}× its usual {_human(self.usual_seconds)} "
            f"(p{self.percentile:g} of its last {self.samples} successful runs; "
            f"slow above {_human(self.threshold_seconds)})"
        )


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` with linear interpolation (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def slow_verdict(
    seconds: float | None, history: Sequence[float], settings: DetectionSettings
) -> SlowVerdict | None:
    """A :class:`SlowVerdict` when ``seconds`` is above ``percentile × (1 + margin)`` of
    ``history`` and at least ``slow_min_seconds`` above that percentile; None otherwise
    (also when the history is too short to say)."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    usable = [h for h in history if math.isfinite(h) and h > 0]
    if len(usable) < settings.min_history:
        return None
    usual = percentile(usable, settings.percentile)
    threshold = max(usual * (1.0 + settings.slow_margin), usual + settings.slow_min_seconds)
    # a duration the job already had in a successful run is never "slower than its history",
    # even where the interpolated percentile sits just below it
    if seconds <= threshold or seconds <= max(usable):
        return None
    return SlowVerdict(seconds, settings.percentile, usual, threshold, len(usable))


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


class DurationStore:
    """Successful job durations in the audit store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        repo: str,
        workflow: str,
        job_name: str,
        job_id: int,
        seconds: float,
        *,
        completed_at: datetime,
        conclusion: str = "success",
    ) -> bool:
        """Keep one job run's duration; False when that job was recorded already."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(job_durations).values(
                        repo=repo,
                        workflow=workflow,
                        job_name=job_name,
                        job_id=job_id,
                        conclusion=conclusion,
                        seconds=float(seconds),
                        completed_at=_naive(completed_at),
                    )
                )
        except IntegrityError:
            return False
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot record the duration of job {job_name!r} ({type(exc).__name__})",
                hint="check that the audit database is writable",
            ) from None
        return True

    def count(self, repo: str, workflow: str) -> int:
        """Successful job durations kept for a workflow (all its jobs)."""
        query = select(func.count()).where(
            and_(
                job_durations.c.repo == repo,
                job_durations.c.workflow == workflow,
                job_durations.c.conclusion == "success",
            )
        )
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot count the durations of workflow {workflow!r} ({type(exc).__name__})",
                hint="check the audit database",
            ) from None

    def history(self, repo: str, workflow: str, job_name: str, *, limit: int) -> list[float]:
        """The last ``limit`` successful durations of the job, newest first."""
        query = (
            select(job_durations.c.seconds)
            .where(
                and_(
                    job_durations.c.repo == repo,
                    job_durations.c.workflow == workflow,
                    job_durations.c.job_name == job_name,
                    job_durations.c.conclusion == "success",
                )
            )
            .order_by(job_durations.c.completed_at.desc(), job_durations.c.id.desc())
            .limit(limit)
        )
        try:
            with self.engine.connect() as conn:
                return [float(row[0]) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot read the durations of job {job_name!r} ({type(exc).__name__})",
                hint="check the audit database",
            ) from None
