from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule import RollbackError, Signer
from hee_monitor.record.capsule.access import PlainCapsuleFile, signed_capsule_from_env
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
    assert access.load()["auto_fix_history"][0]["pattern_id"] == "PY-RUFF-LINT"
    assert access.load()["version"] == 3
    old = (tmp_path / name).read_bytes()
    access.update(_bump, now=NOW)
    (tmp_path / name).write_bytes(old)
    with pytest.raises(RollbackError):
        access.load()


def test_without_a_signing_key_there_is_no_signed_capsule(tmp_path: Path) -> None:
    assert signed_capsule_from_env(tmp_path / "current.json", env={}) is None


def test_plain_file_creates_then_bumps_the_version_and_keeps_unknown_fields(
    tmp_path: Path,
) -> None:
    capsule = PlainCapsuleFile(tmp_path / "current.json", "octo/app")
    capsule.update(lambda p: p.update(custom={"kept": True}), now=NOW)
    assert capsule.load()["version"] == 1 and capsule.load()["repository"] == "octo/app"
    capsule.update(lambda p: p["monitoring_state"].update(current_status="degraded"), now=NOW)
    data = json.loads((tmp_path / "current.json").read_text())
    assert data["version"] == 2 and data["custom"] == {"kept": True}


def test_plain_file_reads_a_signed_envelope_payload(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"signed": {"version": 4, "repository": "a/b"}, "signatures": []}))
    assert PlainCapsuleFile(path).load()["version"] == 4


def test_plain_file_with_a_failing_mutator_leaves_the_file_untouched(tmp_path: Path) -> None:
    capsule = PlainCapsuleFile(tmp_path / "c.json", "a/b")
    capsule.update(lambda p: None, now=NOW)
    before = (tmp_path / "c.json").read_bytes()

    def boom(p: dict[str, object]) -> None:
        p["version"] = 99
        raise ValueError("no")

    with pytest.raises(ValueError):
        capsule.update(boom, now=NOW)
    assert (tmp_path / "c.json").read_bytes() == before


def test_plain_file_garbage_is_a_capsule_error(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(CapsuleError, match="cannot read the state capsule"):
        PlainCapsuleFile(tmp_path / "c.json").load()


def test_plain_file_refuses_to_rewrite_a_signed_envelope(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    envelope = {"signed": {"version": 4}, "signatures": [{"keyid": "k", "sig": "s"}]}
    path.write_text(json.dumps(envelope))
    with pytest.raises(CapsuleError, match="signed; an unsigned writer cannot re-sign it"):
        PlainCapsuleFile(path).update(lambda p: None, now=NOW)
    assert json.loads(path.read_text()) == envelope


def test_plain_file_keeps_an_unsigned_envelope(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"signed": {"version": 4}, "signatures": []}))
    PlainCapsuleFile(path).update(lambda p: p.update(note="x"), now=NOW)
    assert json.loads(path.read_text()) == {
        "signed": {"version": 5, "note": "x"},
        "signatures": [],
    }


@pytest.mark.parametrize("name", ["current.json", "capsule.json"])
def test_a_capsule_nobody_changes_is_renewed_before_it_expires(tmp_path: Path, name: str) -> None:
    from datetime import timedelta

    from hee_monitor.record.capsule.envelope import parse_time

    clock = FakeClock(NOW)
    env = {"HEE_SIGNING_KEY": Signer.generate().private_pem().decode()}
    access = signed_capsule_from_env(tmp_path / name, repository="octo/app", env=env, clock=clock)
    assert access is not None
    access.update(_bump, now=NOW)
    assert access.renew_if_due(NOW) is False
    before = access.load()["version"]
    clock.advance(25 * 86400)  # within a week of the 30-day expiry
    assert access.renew_if_due(clock.now()) is True
    renewed = access.load()
    assert renewed["version"] == before + 1
    assert renewed["monitoring_state"]["current_status"] == "degraded"
    assert parse_time(renewed["expires"]) - clock.now() > timedelta(days=29)


@pytest.mark.parametrize("name", ["current.json", "capsule.json"])
def test_an_expired_capsule_is_renewed_when_the_key_is_held(tmp_path: Path, name: str) -> None:
    from hee_monitor.record.capsule.envelope import parse_time

    clock = FakeClock(NOW)
    env = {"HEE_SIGNING_KEY": Signer.generate().private_pem().decode()}
    access = signed_capsule_from_env(tmp_path / name, repository="octo/app", env=env, clock=clock)
    assert access is not None
    access.update(_bump, now=NOW)
    before = access.load()["version"]
    clock.advance(40 * 86400)
    payload = access.load()  # renewed, not an ExpiredCapsuleError
    assert payload["version"] == before + 1 and parse_time(payload["expires"]) > clock.now()
