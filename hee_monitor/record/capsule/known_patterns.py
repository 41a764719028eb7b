"""Pattern ids a capsule's fix history may name (for ``validate --hee-rules``): the ids of
the pattern database the analyzer uses, loaded by :mod:`hee_monitor.analysis.patterns`."""

from __future__ import annotations

from pathlib import Path

from hee_monitor.analysis.patterns import load_database, shipped_dir


def known_pattern_ids(directory: Path | None = None) -> set[str] | None:
    """Ids of the patterns in ``directory``, else of the shipped database; None when there
    is no database to ask (the caller then skips the rule and says so)."""
    if directory is not None:
        return {pattern.id for pattern in load_database([directory], shipped=False)}
    if shipped_dir() is None:
        return None
    return {pattern.id for pattern in load_database()}
