from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hee_monitor.record.capsule import (
    ForkError,
    RollbackError,
    Signer,
    TrustedKeys,
    load_capsule_file,
    new_payload,
    save_capsule_file,
    update_capsule_file,
)
from hee_monitor.record.capsule.store import CapsuleDirectory
from tests.record.capsule.conftest import NOW, add_fix, later


def test_a_capsule_travels_as_one_file_and_replays_are_refused(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    first = tmp_path / "artifact-1" / "current.json"
    first.parent.mkdir()
    state = tmp_path / "state"
    save_capsule_file(first, new_payload("octo/app", NOW), [signer], now=NOW, state_dir=state)
    second = tmp_path / "artifact-2" / "current.json"
    updated = update_capsule_file(
        first, second, add_fix(), [signer], keys, now=later(1), state_dir=state
    )
    assert updated.version == 2
    assert load_capsule_file(second, keys, now=later(1), state_dir=state) == updated
    with pytest.raises(RollbackError, match="version 1 is older than the trusted version 2"):
        load_capsule_file(first, keys, now=later(1), state_dir=state)


def test_trusted_record_defaults_to_beside_the_file(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    path = tmp_path / "current.json"
    save_capsule_file(path, new_payload("octo/app", NOW), [signer], now=NOW)
    assert (tmp_path / "trusted.json").exists()
    assert load_capsule_file(path, keys, now=NOW).version == 1


def test_two_updates_from_the_same_version_cannot_both_win(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    source = tmp_path / "current.json"
    save_capsule_file(source, new_payload("octo/app", NOW), [signer], now=NOW)
    original = source.read_bytes()
    update_capsule_file(
        source,
        tmp_path / "a.json",
        add_fix("PAT-A"),
        [signer],
        keys,
        now=later(1),
        state_dir=tmp_path,
    )
    # the second job still holds version 1: it is now a rollback, not a silent overwrite
    with pytest.raises(RollbackError):
        update_capsule_file(
            original,
            tmp_path / "b.json",
            add_fix("PAT-B"),
            [signer],
            keys,
            now=later(1),
            state_dir=tmp_path,
        )
    assert not (tmp_path / "b.json").exists()


def test_a_different_version_two_from_another_job_is_a_fork(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    source = tmp_path / "current.json"
    save_capsule_file(source, new_payload("octo/app", NOW), [signer], now=NOW)
    other_state = tmp_path / "elsewhere"
    other_state.mkdir()
    (other_state / "trusted.json").write_bytes((tmp_path / "trusted.json").read_bytes())
    update_capsule_file(
        source,
        tmp_path / "a.json",
        add_fix("PAT-A"),
        [signer],
        keys,
        now=later(1),
        state_dir=tmp_path,
    )
    update_capsule_file(
        source,
        other_state / "b.json",
        add_fix("PAT-B"),
        [signer],
        keys,
        now=later(1),
        state_dir=other_state,
    )
    with pytest.raises(ForkError, match="version 2 differs"):
        load_capsule_file(other_state / "b.json", keys, now=later(1), state_dir=tmp_path)


def test_a_store_directory_and_a_file_share_the_same_format(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys)
    store.initialise("octo/app", now=NOW)
    store.update(add_fix(), now=later(1))
    assert load_capsule_file(store.current_path, keys, now=later(1)).version == 2

    def mutate(payload: dict[str, Any]) -> None:
        payload["x-seen-by-file-mode"] = True

    update_capsule_file(
        store.current_path, store.current_path, mutate, [signer], keys, now=later(2)
    )
    assert store.load(now=later(2)).payload["x-seen-by-file-mode"] is True


def test_a_form_one_file_verifies_and_its_update_is_written_in_form_two(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    from hee_monitor.record.capsule.canonical import dump_document_v1, dump_indented

    payload = new_payload("octo/app", NOW)
    del payload["file_format"]  # written before form 2
    first = tmp_path / "current.json"
    old = save_capsule_file(first, payload, [signer], now=NOW)
    assert first.read_bytes() == dump_document_v1(
        {"signed": old.payload, "signatures": list(old.signatures)}
    )
    assert load_capsule_file(first, keys, now=NOW) == old
    second = tmp_path / "next.json"
    new = update_capsule_file(first, second, add_fix(), [signer], keys, now=later(1))
    assert new.payload["file_format"] == 2
    assert second.read_bytes() == dump_indented(
        {"signed": new.payload, "signatures": list(new.signatures)}
    )
    assert load_capsule_file(second, keys, now=later(1)).previous_digest == old.digest
