from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule.envelope import parse_time
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.service.capsule_file import PlainCapsuleFile, SignedCapsuleFile

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def test_update_creates_then_bumps_the_version_and_keeps_unknown_fields(tmp_path: Path) -> None:
    capsule = PlainCapsuleFile(tmp_path / "current.json", "octo/app")
    capsule.update(lambda p: p.update(custom={"kept": True}), now=NOW)
    assert capsule.load()["version"] == 1 and capsule.load()["repository"] == "octo/app"
    capsule.update(lambda p: p["monitoring_state"].update(current_status="degraded"), now=NOW)
    data = json.loads((tmp_path / "current.json").read_text())
    assert data["version"] == 2 and data["custom"] == {"kept": True}


def test_reads_a_signed_envelope_payload(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"signed": {"version": 4, "repository": "a/b"}, "signatures": []}))
    assert PlainCapsuleFile(path).load()["version"] == 4


def test_a_failing_mutator_leaves_the_file_untouched(tmp_path: Path) -> None:
    capsule = PlainCapsuleFile(tmp_path / "c.json", "a/b")
    capsule.update(lambda p: None, now=NOW)
    before = (tmp_path / "c.json").read_bytes()

    def boom(p: dict[str, object]) -> None:
        p["version"] = 99
        raise ValueError("no")

    with pytest.raises(ValueError):
        capsule.update(boom, now=NOW)
    assert (tmp_path / "c.json").read_bytes() == before


def test_garbage_is_a_capsule_error(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(CapsuleError, match="cannot read the state capsule"):
        PlainCapsuleFile(tmp_path / "c.json").load()


def _signed(tmp_path: Path, clock: FakeClock) -> SignedCapsuleFile:
    signer = Signer.generate()
    return SignedCapsuleFile(
        tmp_path / "signed.json",
        "octo/app",
        signer,
        TrustedKeys.of([signer.public_key]),
        clock=clock,
    )


def test_a_capsule_nobody_changes_is_renewed_before_it_expires(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    capsule = _signed(tmp_path, clock)
    capsule.update(lambda p: p["monitoring_state"].update(current_status="operational"), now=NOW)
    assert capsule.renew_if_due(NOW) is False
    before = capsule.load()["version"]
    clock.advance(25 * 86400)  # within a week of the 30-day expiry
    assert capsule.renew_if_due(clock.now()) is True
    renewed = capsule.load()
    assert renewed["version"] == before + 1
    assert renewed["monitoring_state"]["current_status"] == "operational"
    assert parse_time(renewed["expires"]) - clock.now() > timedelta(days=29)


def test_an_expired_capsule_is_renewed_when_the_key_is_held(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    capsule = _signed(tmp_path, clock)
    capsule.update(lambda p: None, now=NOW)
    before = capsule.load()["version"]
    clock.advance(40 * 86400)
    payload = capsule.load()  # not an ExpiredCapsuleError
    assert payload["version"] == before + 1 and parse_time(payload["expires"]) > clock.now()
