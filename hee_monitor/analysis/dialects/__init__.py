"""Log dialects: how each CI system marks its steps and their outcomes.

One module per dialect, each a small plug-in behind :class:`~.base.Dialect`; :data:`DIALECTS`
is the registry, in detection order (the first whose ``detect`` accepts a log's first
bytes reads it; ``plain`` accepts any log)."""

from __future__ import annotations

from collections.abc import Sequence

from hee_monitor.analysis.dialects.actions import Actions
from hee_monitor.analysis.dialects.base import Dialect, Step, StepParser, first_failing
from hee_monitor.analysis.dialects.gitlab import GitLab
from hee_monitor.analysis.dialects.jenkins import Jenkins
from hee_monitor.analysis.dialects.plain import Plain
from hee_monitor.analysis.dialects.travis import Travis

DIALECTS: dict[str, Dialect] = {
    "travis": Travis(),
    "gitlab": GitLab(),
    "actions": Actions(),
    "jenkins": Jenkins(),
    "plain": Plain(),
}

#: bytes of a log's head that detection looks at
HEAD_BYTES = 64 * 1024


def detect(head: bytes, failed_steps: Sequence[str] = ()) -> Dialect:
    """The dialect of a log from its first :data:`HEAD_BYTES` (``failed_steps``: the
    names of the job's failed steps, when the CI system's API told them)."""
    head = head[:HEAD_BYTES]
    for dialect in DIALECTS.values():
        if dialect.detect(head):
            if failed_steps and isinstance(dialect, Actions):
                return Actions(failed_steps)
            return dialect
    return DIALECTS["plain"]


def all_markers() -> list[tuple[str, str]]:
    """(dialect name, marker regex) of every registered dialect."""
    return [(name, rx) for name, d in DIALECTS.items() for rx in d.markers]


def steps_of(data: bytes, failed_steps: Sequence[str] = ()) -> tuple[str, list[Step]]:
    """The dialect and steps of a whole log held in memory (tests, benchmarks; the
    analyzer feeds the parser from its scan instead): every line one of the dialect's
    markers selects, normalised, goes to its parser."""
    import re

    from hee_monitor.analysis.logreader import normalise_line

    dialect = detect(data, failed_steps)
    markers = [re.compile(rx) for rx in dialect.markers]
    parser = dialect.parser()
    raws = data.split(b"\n")
    if data.endswith(b"\n"):
        raws.pop()
    for number, raw in enumerate(raws, 1):
        text = normalise_line(raw, redraws=True)
        if any(rx.search(text) for rx in markers):
            parser.feed(number, text)
    return dialect.name, parser.finish(len(raws))


__all__ = [
    "DIALECTS",
    "Dialect",
    "Step",
    "StepParser",
    "all_markers",
    "detect",
    "first_failing",
    "steps_of",
]
