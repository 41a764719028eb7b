"""The source port: where failed workflow runs come from.

A source's :meth:`Source.poll` yields :class:`~hee_monitor.core.models.FailedRun` records and,
for what it could not read (a repository without access, a run whose data is broken),
:class:`Skipped` values: one bad repository never stops a monitoring cycle. Failures that
stop the whole source (bad credentials) raise :class:`~hee_monitor.core.errors.SourceError`.

Each run attempt is handed out once: sources consult a :class:`ProcessedRuns` store by
``FailedRun.key`` (``"owner/repo#run_id.attempt"``); the monitor backs it by the audit store
so that holds across restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hee_monitor.core.errors import SourceError
from hee_monitor.core.models import FailedRun

__all__ = [
    "InMemoryPollCursors",
    "InMemoryProcessedRuns",
    "PollCursors",
    "PollResult",
    "ProcessedRuns",
    "Skipped",
    "Source",
    "SourceError",
]


@dataclass(frozen=True)
class Skipped:
    """Something a source could not read this cycle, and why (no secret in ``reason``)."""

    repo: str
    reason: str
    #: the run concerned, when the skip is about one run rather than the whole repository
    run_id: int | None = None
    #: the run's attempt, when known
    attempt: int | None = None


PollResult = FailedRun | Skipped


@runtime_checkable
class Source(Protocol):
    """Yields failed runs not handed out before, and skips."""

    def poll(self) -> Iterator[PollResult]: ...


@runtime_checkable
class ProcessedRuns(Protocol):
    """Remembers which run attempts were already handed out (keys are ``FailedRun.key``)."""

    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class InMemoryProcessedRuns:
    """A :class:`ProcessedRuns` for one process (tests, one-shot runs)."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        with self._lock:
            return key in self._keys

    def mark(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def __len__(self) -> int:
        return len(self._keys)


@runtime_checkable
class PollCursors(Protocol):
    """Remembers, per listing (a key the source chooses), the ETag of the last answer the
    source finished with, so a conditional request after a restart is still a free 304."""

    def get_etag(self, key: str) -> str | None: ...

    def put_etag(self, key: str, etag: str | None) -> None: ...


class InMemoryPollCursors:
    """A :class:`PollCursors` for one process."""

    def __init__(self) -> None:
        self._etags: dict[str, str] = {}
        self._lock = threading.Lock()

    def get_etag(self, key: str) -> str | None:
        with self._lock:
            return self._etags.get(key)

    def put_etag(self, key: str, etag: str | None) -> None:
        with self._lock:
            if etag:
                self._etags[key] = etag
            else:
                self._etags.pop(key, None)
