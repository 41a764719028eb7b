from __future__ import annotations

import os
from pathlib import Path

import pytest

from hee_monitor.analysis.analyzer import Analyzer
from hee_monitor.analysis.patterns import PatternDatabase, load_database

DATA = Path(__file__).parent / "data"
SAMPLE_PATTERNS = DATA / "sample_patterns.yaml"


def _shared_dir() -> Path:
    """The shared data directory next to the checkout (HEE_SHARED_DIR overrides)."""
    if env := os.environ.get("HEE_SHARED_DIR"):
        return Path(env)
    root = Path(__file__).resolve().parents[2]
    for parent in (root.parent, *root.parent.parents):
        if (parent / "shared").is_dir():
            return parent / "shared"
    return root.parent / "shared"


REFERENCE_LOGS = _shared_dir() / "reference" / "actions-logs"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled-database and parsed-pattern caches go to a temporary directory."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def sample_db() -> PatternDatabase:
    return load_database([SAMPLE_PATTERNS], shipped=False)


@pytest.fixture(scope="session")
def analyzer(sample_db: PatternDatabase) -> Analyzer:
    return Analyzer(sample_db)
