"""Pattern ids a capsule's fix history may name (for ``validate --hee-rules``).

Uses the analysis layer's pattern database loader when it is installed; otherwise reads
just the ``id`` of every pattern in the shipped YAML files. Either way: a set of strings.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from hee_monitor.errors import PatternError
from hee_monitor.resources import patterns_dir


def _ids_in(document: Any) -> set[str]:
    ids: set[str] = set()
    if isinstance(document, dict):
        entries = document.get("patterns", [])
        if isinstance(document.get("id"), str):
            ids.add(document["id"])
    else:
        entries = document
    if isinstance(entries, list):
        ids.update(e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str))
    return ids


def read_ids(directory: Path) -> set[str]:
    """The ``id`` of every pattern in the YAML files under ``directory``."""
    ids: set[str] = set()
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
        try:
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                ids |= _ids_in(document)
        except (OSError, yaml.YAMLError) as exc:
            raise PatternError(f"cannot read pattern ids from {path}: {exc}") from exc
    return ids


def known_pattern_ids(directory: Path | None = None) -> set[str] | None:
    """Ids from ``directory``, else from the shipped pattern database; None if there is no
    pattern database to ask (the caller then skips the rule and says so)."""
    if directory is not None:
        return read_ids(directory)
    try:
        patterns = importlib.import_module("hee_monitor.analysis.patterns")
    except ImportError:
        patterns = None
    if patterns is not None and hasattr(patterns, "load_database"):
        database = patterns.load_database()
        found = getattr(database, "ids", None) or [
            getattr(p, "id", None) for p in getattr(database, "patterns", [])
        ]
        return {str(i) for i in (found() if callable(found) else found) if i}
    try:
        return read_ids(patterns_dir())
    except FileNotFoundError:
        return None
