"""The analysis ports: what the cycle asks of an analyzer (:class:`LogAnalyzer`), and
what the analyzer asks of a fallback classifier (the local LLM).

The analyzer calls a :class:`FallbackClassifier` only for a log that no pattern explains
(or explains with low confidence). It hands over a bounded :class:`LogExcerpt` that it
chose itself; the classifier redacts secrets before anything leaves the process and returns
findings whose evidence points at lines that exist verbatim in the excerpt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hee_monitor.core.models import Diagnosis, Finding

if TYPE_CHECKING:
    from hee_monitor.analysis.baseline import Baseline


class LogAnalyzer(Protocol):
    """Turns a job's log, streamed in chunks, into a diagnosis (the pattern
    :class:`~hee_monitor.analysis.analyzer.Analyzer` implements it)."""

    def analyze_stream(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        failed_steps: Sequence[str] = (),
        baseline: Baseline | None = None,
    ) -> Diagnosis:
        """``failed_steps``: the job's failed steps by the CI system's API; ``baseline``:
        templates of the job's last green run."""
        ...


@dataclass(frozen=True)
class ExcerptLine:
    #: 1-based line number in the original log
    number: int
    #: the line as the analyzer normalised it (ANSI codes, timestamp prefix and CR removed)
    text: str


@dataclass(frozen=True)
class LogExcerpt:
    """A bounded selection of a log's lines for a classifier to read."""

    log: str
    total_lines: int
    lines: tuple[ExcerptLine, ...]
    #: a stable hash of the log's normalised content: the classifier caches answers by it
    log_fingerprint: str


@dataclass(frozen=True)
class FallbackResult:
    findings: tuple[Finding, ...]
    #: a note for the diagnosis, e.g. "LLM fallback unavailable: connection refused"
    note: str | None = None


class FallbackClassifier(Protocol):
    def classify(self, excerpt: LogExcerpt) -> FallbackResult:
        """Explain a log no pattern explained. Never raises for a normal outcome
        (server down, model missing, malformed answer): returns no findings and a note."""
        ...
