"""A last-green baseline: the masked templates of a passing run's log of the same job.

A line of a failing log whose template the passing run printed too (set-up output, the
tests that pass both times, a warning the job always prints) is noise: it can neither be
the root cause nor raise an alarm. ``hee-monitor analyze FAIL.log --baseline PASS.log``
reads it from files; the monitor fetches the newest successful run of the same workflow,
branch and job from GitHub and keeps its template set in the audit store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hee_monitor.analysis.logreader import iter_log_lines, log_sources
from hee_monitor.analysis.templates import template
from hee_monitor.core.errors import AnalysisError, LogReadError

#: lines of a baseline log read (the head of a longer one)
MAX_BASELINE_LINES = 500_000
#: templates kept per baseline (bounded memory and audit-store rows)
MAX_TEMPLATES = 200_000
#: a "log" with more NUL or other control bytes than this share of its head is binary
_BINARY_SHARE = 0.10


@dataclass(frozen=True)
class Baseline:
    """Templates of one or more passing logs, and where they came from."""

    name: str
    templates: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.templates)


def baseline_from_lines(name: str, lines: Iterable[str]) -> Baseline:
    out: set[str] = set()
    for count, text in enumerate(lines):
        if count >= MAX_BASELINE_LINES or len(out) >= MAX_TEMPLATES:
            break
        t = template(text)
        if t:
            out.add(t)
    return Baseline(name, frozenset(out))


def _binary(head: bytes) -> bool:
    if not head:
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 27 or 27 < b < 32)
    return controls / len(head) > _BINARY_SHARE


def load_baseline(path: Path) -> Baseline:
    """The baseline of one passing log file (plain, gzip, UTF-16 or a zip of job logs).
    Raises AnalysisError naming the file when it is missing, unreadable or binary; an
    empty file gives an empty baseline (no effect)."""
    if not path.is_file():
        raise AnalysisError(
            f"baseline log not found: {path}",
            hint="pass the log of a passing run of the same job (--baseline PASS.log)",
        )
    try:
        sources = log_sources(path)
        lines: list[str] = []
        for source in sources:
            chunks = source.open()
            first = True
            for line in iter_log_lines(_checked(chunks, path, first)):
                lines.append(line.text)
                if len(lines) >= MAX_BASELINE_LINES:
                    break
    except LogReadError as exc:
        raise AnalysisError(f"cannot read baseline log {path}: {exc}", hint=exc.hint) from None
    except OSError as exc:
        raise AnalysisError(
            f"cannot read baseline log {path}: {exc.strerror or exc}",
            hint="check that the path names a readable log file",
        ) from None
    return baseline_from_lines(str(path), lines)


def _checked(chunks: Iterable[bytes], path: Path, first: bool) -> Iterable[bytes]:
    for chunk in chunks:
        if first:
            first = False
            if _binary(chunk[:8192]):
                raise AnalysisError(
                    f"baseline {path} is not a text log (binary content)",
                    hint="pass the text log of a passing run, as GitHub serves it",
                )
        yield chunk


def merged(baselines: Iterable[Baseline]) -> Baseline | None:
    """One baseline of several (their templates together), or None for none."""
    items = [b for b in baselines]
    if not items:
        return None
    out: set[str] = set()
    for b in items:
        out |= b.templates
    return Baseline(", ".join(b.name for b in items), frozenset(out))
