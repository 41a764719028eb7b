from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from hee_monitor.analysis.llm_cache import (
    AnswerCache,
    CachedAnswer,
    JsonDirCache,
    MemoryCache,
    SqlCache,
    cache_key,
    open_cache,
)
from hee_monitor.record.db import open_engine


def _answer(fingerprint: str, created: str = "2026-01-01T00:00:00+00:00") -> CachedAnswer:
    return CachedAnswer(
        key=cache_key("llama3.2", "1", fingerprint),
        model="llama3.2",
        log=f"{fingerprint}.log",
        log_fingerprint=fingerprint,
        answer={"category": "network", "evidence_lines": [3]},
        evidence=[{"number": 3, "text": "curl: (6) Could not resolve host"}],
        created_at=created,
    )


def test_the_key_depends_on_model_prompt_version_and_log() -> None:
    keys = {
        cache_key("llama3.2", "1", "fp"),
        cache_key("mistral", "1", "fp"),
        cache_key("llama3.2", "2", "fp"),
        cache_key("llama3.2", "1", "fp2"),
    }
    assert len(keys) == 4


@pytest.mark.parametrize("kind", ["memory", "dir", "sql"])
def test_round_trip_and_listing(tmp_path: Path, kind: str) -> None:
    cache: AnswerCache = {
        "memory": lambda: MemoryCache(),
        "dir": lambda: JsonDirCache(tmp_path / "c"),
        "sql": lambda: SqlCache(open_engine(f"sqlite:///{tmp_path}/s.db")),
    }[kind]()
    assert cache.get(_answer("a").key) is None
    assert list(cache) == []
    cache.put(_answer("a", "2026-01-01T00:00:00+00:00"))
    cache.put(_answer("b", "2026-01-02T00:00:00+00:00"))
    cache.put(_answer("a", "2026-01-03T00:00:00+00:00"))  # replaces
    assert cache.get(_answer("a").key) == _answer("a", "2026-01-03T00:00:00+00:00")
    assert sorted(e.log_fingerprint for e in cache) == ["a", "b"]


def test_an_unwritable_directory_is_a_warning_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = JsonDirCache(blocker / "sub")
    cache.put(_answer("a"))
    assert cache.get(_answer("a").key) is None
    assert "cannot write the LLM cache" in caplog.text


def test_a_corrupt_row_is_a_miss(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path}/s.db")
    cache = SqlCache(engine)
    cache.put(_answer("a"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE llm_answers SET record = '{broken'"))
    assert cache.get(_answer("a").key) is None
    assert list(cache) == []


def test_open_cache_from_what_configuration_gives(tmp_path: Path) -> None:
    assert open_cache(None) is None
    assert isinstance(open_cache(str(tmp_path)), JsonDirCache)
    assert isinstance(open_cache(tmp_path), JsonDirCache)
    assert isinstance(open_cache(f"sqlite:///{tmp_path}/s.db"), SqlCache)
    memory = MemoryCache()
    assert open_cache(memory) is memory
