from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.record.capsule import (
    CapsuleDirectory,
    ChainError,
    ForkError,
    RollbackError,
    Signer,
    TrustedKeys,
)
from hee_monitor.record.capsule.envelope import sign
from hee_monitor.record.capsule.trust import TrustRecord
from tests.record.capsule.conftest import NOW, add_fix, later


def _versions(store: CapsuleDirectory, count: int) -> list[bytes]:
    raws = [store.current_path.read_bytes()]
    for step in range(count):
        store.update(add_fix(when=later(step)), now=later(step))
        raws.append(store.current_path.read_bytes())
    return raws


def test_every_older_version_replayed_is_refused(store: CapsuleDirectory) -> None:
    raws = _versions(store, 6)
    assert store.load(now=later(6)).version == 7
    for number, raw in enumerate(raws[:-1], start=1):
        store.current_path.write_bytes(raw)
        with pytest.raises(RollbackError) as info:
            store.load(now=later(6))
        assert f"capsule version {number} is older than the trusted version 7" in str(info.value)
        assert "hee-monitor capsule restore" in (info.value.hint or "")
    # the trusted record did not move during the replays
    assert TrustRecord(store.directory / "trusted.json").get("octo/app") == (7, _digest(raws[-1]))


def _digest(raw: bytes) -> str:
    from hee_monitor.record.capsule.canonical import digest

    return digest(json.loads(raw)["signed"])


def test_same_version_with_other_content_is_a_fork(store: CapsuleDirectory, signer: Signer) -> None:
    current = store.load(now=NOW)
    forked = json.loads(current.raw)["signed"]
    forked["monitoring_state"]["current_status"] = "maintenance"
    store.current_path.write_bytes(sign(forked, [signer]).raw)
    with pytest.raises(ForkError, match="version 1 differs from the trusted version 1"):
        store.load(now=NOW)


def test_next_version_not_linked_to_the_trusted_one_breaks_the_chain(
    store: CapsuleDirectory, signer: Signer
) -> None:
    payload = json.loads(store.load(now=NOW).raw)["signed"]
    payload["version"] = 2
    payload["previous_digest"] = "sha256:" + "0" * 64
    store.current_path.write_bytes(sign(payload, [signer]).raw)
    with pytest.raises(ChainError, match="does not follow the trusted version 1"):
        store.load(now=NOW)


def test_a_gap_is_accepted_only_when_the_versions_between_link_up(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    source = CapsuleDirectory(tmp_path / "a", signer, keys)
    source.initialise("octo/app", now=NOW)
    raws = _versions(source, 3)  # versions 1..4
    reader = CapsuleDirectory(tmp_path / "b", None, keys)
    reader.current_path.parent.mkdir()
    reader.current_path.write_bytes(raws[0])
    assert reader.load(now=NOW).version == 1
    reader.current_path.write_bytes(raws[3])
    with pytest.raises(ChainError, match="version 3 is not available"):
        reader.load(now=NOW)
    reader.history_dir.mkdir(exist_ok=True)
    for number in (2, 3):
        (reader.history_dir / f"v{number:08d}.json").write_bytes(raws[number - 1])
    assert reader.load(now=later(3)).version == 4
    # a rewritten in-between version is caught
    tampered = json.loads(raws[2])["signed"]
    tampered["monitoring_state"]["current_status"] = "failed"
    (reader.history_dir / "v00000003.json").write_bytes(sign(tampered, [signer]).raw)
    reader.trust.path.unlink()
    reader.current_path.write_bytes(raws[0])
    # history is append-only: version 1 put back over a history up to 4 is a rollback,
    # with or without trusted.json
    with pytest.raises(RollbackError, match="history/ holds signed version 4"):
        reader.load(now=NOW)
    fresh = CapsuleDirectory(tmp_path / "c", None, keys)
    fresh.current_path.parent.mkdir()
    fresh.current_path.write_bytes(raws[0])
    fresh.load(now=NOW)
    fresh.history_dir.mkdir(exist_ok=True)
    for number in (2, 3):
        source_file = reader.history_dir / f"v{number:08d}.json"
        (fresh.history_dir / source_file.name).write_bytes(source_file.read_bytes())
    reader = fresh
    reader.current_path.write_bytes(raws[3])
    with pytest.raises(ChainError, match="hash chain broken"):
        reader.load(now=later(3))


def test_a_refused_capsule_is_never_recorded_as_trusted(store: CapsuleDirectory) -> None:
    raws = _versions(store, 2)
    record = store.trust.path.read_bytes()
    store.current_path.write_bytes(raws[0])
    with pytest.raises(RollbackError):
        store.load(now=later(2))
    assert store.trust.path.read_bytes() == record


def test_a_capsule_of_another_repository_swapped_in_is_refused(
    store: CapsuleDirectory, signer: Signer
) -> None:
    store.load(now=NOW)
    from hee_monitor.record.capsule import new_payload

    store.current_path.write_bytes(sign(new_payload("octo/other", NOW), [signer]).raw)
    with pytest.raises(ForkError, match="capsule of octo/other, but this state directory"):
        store.load(now=NOW)
