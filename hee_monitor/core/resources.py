"""Locate data shipped with the package: the pattern database and the JSON Schemas.

In a source checkout (and an editable install) they live at the top of the repository
(``patterns/``, ``schemas/``); a wheel carries them as ``hee_monitor/_data/...``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Return the directory of shipped data ``name`` (``patterns`` or ``schemas``)."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped data directory {name!r} not found next to {_PACKAGE_DIR}")


def patterns_dir() -> Path:
    return data_dir("patterns")


def schemas_dir() -> Path:
    return data_dir("schemas")


@cache
def load_schema(filename: str) -> dict[str, Any]:
    """Load a JSON Schema shipped in ``schemas/`` (cached: schemas never change at run time)."""
    with (schemas_dir() / filename).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema
