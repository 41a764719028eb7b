from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_dir() -> Path:
    env = os.environ.get("HEE_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared"


def shared_log(relative: str) -> bytes:
    path = shared_dir() / relative
    if not path.is_file():
        pytest.skip(f"reference log not available: {relative}")
    return path.read_bytes()
