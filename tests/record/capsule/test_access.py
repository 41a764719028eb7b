from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.record.capsule import RollbackError, Signer
from hee_monitor.record.capsule.access import signed_capsule_from_env
from tests.record.capsule.conftest import NOW, add_fix


def _bump(payload: dict[str, Any]) -> None:
    payload["monitoring_state"]["current_status"] = "degraded"


@pytest.mark.parametrize("name", ["current.json", "capsule.json"])
def test_signed_capsule_serves_the_monitor_and_fix_engine_ports(tmp_path: Path, name: str) -> None:
    env = {"HEE_SIGNING_KEY": Signer.generate().private_pem().decode()}
    access = signed_capsule_from_env(
        tmp_path / name, repository="octo/app", env=env, clock=FakeClock(NOW)
    )
    assert access is not None
    assert access.load()["version"] == 1  # nothing on disk yet: a fresh payload
    first = access.update(_bump, now=NOW)
    assert (first["version"], first["monitoring_state"]["current_status"]) == (2, "degraded")
    access.update(add_fix(), NOW)  # the fix engine passes now positionally
    assert access.payload()["auto_fix_history"][0]["pattern_id"] == "PY-RUFF-LINT"
    assert access.load()["version"] == 3
    old = (tmp_path / name).read_bytes()
    access.update(_bump, now=NOW)
    (tmp_path / name).write_bytes(old)
    with pytest.raises(RollbackError):
        access.load()


def test_without_a_signing_key_there_is_no_signed_capsule(tmp_path: Path) -> None:
    assert signed_capsule_from_env(tmp_path / "current.json", env={}) is None
