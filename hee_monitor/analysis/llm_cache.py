"""Remember the local model's answers so the same log never asks twice.

Answers are keyed by (model, prompt version, log fingerprint). Two stores behind one small
interface: a table in the audit store (SQLAlchemy, shared by several monitor instances) or a
directory of JSON files (no database needed). A broken cache never stops a cycle: reading
it fails soft (a miss) and writing it fails soft (a warning).

A record holds only what was already redacted: the model's validated answer and the
redacted evidence lines it cited, which ``patterns suggest`` turns into pattern proposals.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.record.schema import llm_answers

log = logging.getLogger(__name__)


def cache_key(model: str, prompt_version: str, log_fingerprint: str) -> str:
    return hashlib.sha256(f"{model}\0{prompt_version}\0{log_fingerprint}".encode()).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    key: str
    model: str
    log: str
    log_fingerprint: str
    #: the model's answer, already validated against llm_diagnosis.schema.json
    answer: dict[str, Any]
    #: [{"number": int, "text": str}] the redacted lines the answer cites that exist
    evidence: list[dict[str, Any]]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "model": self.model,
            "log": self.log,
            "log_fingerprint": self.log_fingerprint,
            "answer": self.answer,
            "evidence": self.evidence,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CachedAnswer:
        return cls(
            key=str(data["key"]),
            model=str(data["model"]),
            log=str(data["log"]),
            log_fingerprint=str(data["log_fingerprint"]),
            answer=dict(data["answer"]),
            evidence=list(data["evidence"]),
            created_at=str(data["created_at"]),
        )


class AnswerCache(Protocol):
    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, answer: CachedAnswer) -> None: ...

    def __iter__(self) -> Iterator[CachedAnswer]: ...


class MemoryCache:
    """Answers of this process only (``patterns suggest`` without a cache)."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedAnswer] = {}

    def get(self, key: str) -> CachedAnswer | None:
        return self._entries.get(key)

    def put(self, answer: CachedAnswer) -> None:
        self._entries[answer.key] = answer

    def __iter__(self) -> Iterator[CachedAnswer]:
        return iter(list(self._entries.values()))


class JsonDirCache:
    """One JSON file per answer in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> CachedAnswer | None:
        path = self._path(key)
        try:
            return CachedAnswer.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable LLM cache entry %s (%s)", path, type(exc).__name__)
            return None

    def put(self, answer: CachedAnswer) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(answer.to_json(), fh, indent=2, sort_keys=True)
            os.replace(tmp, self._path(answer.key))
        except OSError as exc:
            log.warning("cannot write the LLM cache in %s (%s)", self.directory, exc.strerror)

    def __iter__(self) -> Iterator[CachedAnswer]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            entry = self.get(path.stem)
            if entry is not None:
                yield entry


class SqlCache:
    """The ``llm_answers`` table of the audit store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            llm_answers.create(engine, checkfirst=True)
        except SQLAlchemyError as exc:
            log.warning("cannot create the LLM cache table (%s)", type(exc).__name__)

    def get(self, key: str) -> CachedAnswer | None:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(llm_answers.c.record).where(llm_answers.c.key == key)
                ).first()
        except SQLAlchemyError as exc:
            log.warning("cannot read the LLM cache (%s)", type(exc).__name__)
            return None
        if row is None:
            return None
        try:
            return CachedAnswer.from_json(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable LLM cache row %s", key[:12])
            return None

    def put(self, answer: CachedAnswer) -> None:
        values = {
            "key": answer.key,
            "log_fingerprint": answer.log_fingerprint,
            "model": answer.model,
            "log": answer.log,
            "record": json.dumps(answer.to_json(), sort_keys=True),
            "created_at": datetime.fromisoformat(answer.created_at),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(llm_answers.delete().where(llm_answers.c.key == answer.key))
                conn.execute(llm_answers.insert().values(**values))
        except SQLAlchemyError as exc:
            log.warning("cannot write the LLM cache (%s)", type(exc).__name__)

    def __iter__(self) -> Iterator[CachedAnswer]:
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(llm_answers.c.record).order_by(llm_answers.c.created_at)
                ).all()
        except SQLAlchemyError as exc:
            log.warning("cannot read the LLM cache (%s)", type(exc).__name__)
            return
        for (record,) in rows:
            try:
                yield CachedAnswer.from_json(json.loads(record))
            except (ValueError, KeyError, TypeError):
                continue


def open_cache(target: Path | str | Engine | AnswerCache | None) -> AnswerCache | None:
    """A cache from a directory path, a SQLAlchemy URL (``sqlite:///...``), an engine or a cache."""
    if target is None:
        return None
    if isinstance(target, Engine):
        return SqlCache(target)
    if isinstance(target, str) and "://" in target:
        from hee_monitor.record.db import open_engine

        return SqlCache(open_engine(target))
    if isinstance(target, str | Path):
        return JsonDirCache(Path(target))
    return target
