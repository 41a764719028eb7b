from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.record.capsule import (
    CapsuleDirectory,
    EncryptionKey,
    Signer,
    TrustedKeys,
    format_time,
)

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture(scope="session")
def keys(signer: Signer) -> TrustedKeys:
    return TrustedKeys.of([signer.public_key])


@pytest.fixture(scope="session")
def encryption_key() -> EncryptionKey:
    return EncryptionKey(EncryptionKey.generate())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(
    tmp_path: Path,
    signer: Signer,
    keys: TrustedKeys,
    encryption_key: EncryptionKey,
    clock: FakeClock,
) -> CapsuleDirectory:
    capsule_store = CapsuleDirectory(tmp_path / "state", signer, keys, encryption_key, clock)
    capsule_store.initialise("octo/app", now=NOW)
    return capsule_store


def add_fix(
    pattern_id: str = "PY-RUFF-LINT", when: datetime = NOW, **extra: Any
) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        payload["auto_fix_history"].append(
            {
                "timestamp": format_time(when),
                "pattern_id": pattern_id,
                "success": True,
                "rollback": False,
                "hee_context": {
                    "state_capsule_version": payload["version"],
                    "decision_impact": "low",
                    "context_preservation": True,
                },
                **extra,
            }
        )

    return mutate


def later(days: float) -> datetime:
    return NOW + timedelta(days=days)
