from __future__ import annotations

import gzip
import itertools
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hee_monitor.core.clock import FakeClock
from hee_monitor.record.capsule import (
    CapsuleDirectory,
    CapsuleError,
    ChainError,
    ConflictError,
    EncryptionKey,
    ExpiredCapsuleError,
    Signer,
    TrustedKeys,
    format_time,
)
from hee_monitor.record.capsule.canonical import digest
from hee_monitor.record.capsule.keys import parse_private_key
from tests.record.capsule.conftest import NOW, add_fix, later

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_initialise_writes_a_signed_version_one_once(store: CapsuleDirectory) -> None:
    capsule = store.load(now=NOW)
    assert (capsule.version, capsule.previous_digest, capsule.repository) == (1, None, "octo/app")
    assert capsule.payload["expires"] == "2026-12-22T19:00:00Z"
    assert (store.history_dir / "v00000001.json").read_bytes() == capsule.raw
    with pytest.raises(CapsuleError, match="already exists"):
        store.initialise("octo/app", now=NOW)


def test_update_bumps_version_links_chain_and_keeps_a_backup(store: CapsuleDirectory) -> None:
    before = store.load(now=NOW)
    after = store.update(add_fix(), now=later(1))
    assert after.version == 2
    assert after.previous_digest == before.digest
    assert after.payload["created"] == format_time(later(1))
    assert after.payload["auto_fix_history"][0]["pattern_id"] == "PY-RUFF-LINT"
    assert (store.backups_dir / "current.v00000001.json").read_bytes() == before.raw
    assert store.load(now=later(1)) == after


def test_update_works_on_a_copy_and_writes_nothing_when_the_mutator_fails(
    store: CapsuleDirectory,
) -> None:
    before = store.current_path.read_bytes()

    def broken(payload: dict[str, Any]) -> None:
        payload["monitoring_state"]["current_status"] = "failed"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update(broken, now=later(1))
    assert store.current_path.read_bytes() == before
    assert store.load(now=NOW).payload["monitoring_state"]["current_status"] == "operational"


@pytest.mark.parametrize(
    "field", ["version", "repository", "previous_digest", "expires", "file_format"]
)
def test_managed_fields_cannot_be_changed_by_a_mutator(store: CapsuleDirectory, field: str) -> None:
    with pytest.raises(CapsuleError, match=f"may not change {field}"):
        store.update(lambda p: p.__setitem__(field, "x"), now=later(1))


def test_invalid_result_is_refused_before_anything_is_written(store: CapsuleDirectory) -> None:
    def bad(payload: dict[str, Any]) -> None:
        payload["monitoring_state"]["current_status"] = "sleeping"

    with pytest.raises(CapsuleError, match="/monitoring_state/current_status"):
        store.update(bad, now=later(1))
    assert store.load(now=NOW).version == 1
    assert not (store.history_dir / "v00000002.json").exists()


def test_expected_version_is_a_compare_and_swap(store: CapsuleDirectory) -> None:
    store.update(add_fix(), now=later(1), expected_version=1)
    with pytest.raises(ConflictError, match="expected capsule version 1, found 2"):
        store.update(add_fix(), now=later(1), expected_version=1)


def test_an_expired_capsule_is_refused_on_load_but_can_be_renewed(store: CapsuleDirectory) -> None:
    with pytest.raises(ExpiredCapsuleError):
        store.load(now=later(31))
    renewed = store.update(lambda p: None, now=later(31))
    assert store.load(now=later(31)) == renewed


def test_live_fix_history_is_capped_and_overflow_archived(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys, fix_history_limit=3)
    store.initialise("octo/app", now=NOW)
    for step in range(7):
        store.update(add_fix(f"PAT-{step}", when=later(3 * step)), now=later(3 * step))
    live = store.load(now=later(18)).payload["auto_fix_history"]
    assert [f["pattern_id"] for f in live] == ["PAT-4", "PAT-5", "PAT-6"]
    assert [f["pattern_id"] for f in store.archived_fixes()] == [f"PAT-{i}" for i in range(4)]
    assert sorted(p.name for p in store.archive_dir.iterdir()) == [
        "fixes-2026-11.jsonl.gz",
        "fixes-2026-12.jsonl.gz",
    ]


def test_archive_moves_old_versions_and_the_chain_stays_verifiable(store: CapsuleDirectory) -> None:
    for day in range(1, 60, 5):
        store.update(add_fix(when=later(day)), now=later(day))
    current = store.load(now=later(56))
    result = store.archive(older_than=timedelta(days=30), now=later(56))
    assert result.versions == tuple(range(1, 7))  # created before day 26
    assert {p.name for p in result.files} == {"2026-11.jsonl.gz", "2026-12.jsonl.gz"}
    assert not (store.history_dir / "v00000001.json").exists()
    report = store.verify_chain(now=later(56))
    assert (report.current_version, report.oldest_version, report.checked) == (
        current.version,
        1,
        current.version,
    )
    locations = {i.version: i.location for i in store.history()}
    assert locations[1] == "archive/2026-11" and locations[current.version] == "history"
    # archiving again moves nothing twice, and archived versions stay byte-exact
    assert store.archive(older_than=timedelta(days=30), now=later(56)).versions == ()
    with gzip.open(store.archive_dir / "2026-11.jsonl.gz", "rt") as fh:
        first = json.loads(fh.readline())
    assert digest(json.loads(first["file"])["signed"]) == store.version(2).previous_digest


def test_verify_chain_notices_a_deleted_or_rewritten_history_file(
    store: CapsuleDirectory, signer: Signer
) -> None:
    for day in range(1, 4):
        store.update(add_fix(when=later(day)), now=later(day))
    payload = json.loads((store.history_dir / "v00000002.json").read_bytes())["signed"]
    payload["monitoring_state"]["current_status"] = "maintenance"
    from hee_monitor.record.capsule.envelope import sign

    (store.history_dir / "v00000002.json").write_bytes(sign(payload, [signer]).raw)
    with pytest.raises(ChainError, match="between version 2 and 3"):
        store.verify_chain(now=later(3))
    (store.history_dir / "v00000002.json").unlink()
    with pytest.raises(ChainError, match="version 2 is missing"):
        store.verify_chain(now=later(3))


def test_restore_makes_a_new_higher_version_with_old_content(store: CapsuleDirectory) -> None:
    store.update(lambda p: p["monitoring_state"].update(current_status="degraded"), now=later(1))
    store.update(add_fix(when=later(2)), now=later(2))
    restored = store.restore(1, now=later(3))
    assert restored.version == 4
    assert restored.payload["monitoring_state"]["current_status"] == "operational"
    assert restored.payload["auto_fix_history"] == []
    assert restored.payload["decision_history"][-1]["action"] == "restore"
    assert store.verify_chain(now=later(3)).checked == 4
    with pytest.raises(CapsuleError, match="no version 9"):
        store.restore(9, now=later(3))


def test_old_versions_stay_readable_after_key_rotation(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys)
    store.initialise("octo/app", now=NOW)
    store.update(add_fix(), now=later(1))
    new_key = Signer.generate()
    rotated = CapsuleDirectory(
        tmp_path, new_key, TrustedKeys.of([signer.public_key, new_key.public_key])
    )
    rotated.update(add_fix(when=later(2)), now=later(2))
    only_new = CapsuleDirectory(tmp_path, new_key, TrustedKeys.of([new_key.public_key]))
    assert only_new.load(now=later(2)).version == 3
    assert only_new.version(1).version == 1  # proven by the chain, not by the retired key
    assert only_new.restore(1, now=later(3)).version == 4


_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.sampled_from(["operational", "degraded", "maintenance"])),
        st.tuples(st.just("fix"), st.sampled_from(["PAT-A", "PAT-B"])),
        st.tuples(st.just("metric"), st.floats(min_value=0, max_value=100)),
        st.tuples(st.just("extra"), st.text(max_size=10)),
        st.tuples(st.just("restore"), st.integers(min_value=1, max_value=5)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=15, deadline=None)
@given(operations=_OPERATIONS)
def test_random_update_sequences_keep_the_chain_valid(operations: list[tuple[str, Any]]) -> None:
    signer = Signer.generate()
    with tempfile.TemporaryDirectory() as tmp:
        store = CapsuleDirectory(Path(tmp), signer, TrustedKeys.of([signer.public_key]))
        store.initialise("octo/app", now=NOW)
        for step, (kind, value) in enumerate(operations, start=1):
            now = later(step)
            version = store.load(now=now).version
            if kind == "status":
                store.update(
                    lambda p, v=value: p["monitoring_state"].update(current_status=v), now=now
                )
            elif kind == "fix":
                store.update(add_fix(value, when=now), now=now)
            elif kind == "metric":
                store.update(
                    lambda p, v=value: p["monitoring_state"]["coverage_metrics"].update(line=v),
                    now=now,
                )
            elif kind == "extra":
                store.update(lambda p, v=value: p.__setitem__("x-note", v), now=now)
            else:
                store.restore(min(value, version), now=now)
            assert store.load(now=now).version == version + 1
        report = store.verify_chain(now=later(len(operations)))
        assert report.checked == len(operations) + 1
        infos = store.history()
        for older, newer in itertools.pairwise(infos):
            assert newer.previous_digest == older.digest


# -- two processes, one capsule ---------------------------------------------------------------


def _increment(directory: str, key_pem: bytes, times: int) -> None:
    signer = parse_private_key(key_pem, source="test")
    store = CapsuleDirectory(Path(directory), signer, TrustedKeys.of([signer.public_key]))
    for _ in range(times):

        def bump(payload: dict[str, Any]) -> None:
            payload["x-counter"] = payload.get("x-counter", 0) + 1

        store.update(bump, now=NOW)


def test_concurrent_updaters_lose_nothing(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys)
    store.initialise("octo/app", now=NOW)
    context = multiprocessing.get_context("fork")
    times = 12
    workers = [
        context.Process(target=_increment, args=(str(tmp_path), signer.private_pem(), times))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    final = store.load(now=NOW)
    assert final.payload["x-counter"] == 3 * times
    assert final.version == 1 + 3 * times
    assert store.verify_chain(now=NOW).checked == final.version


# -- SIGKILL in the middle of writes ----------------------------------------------------------

_LOOPING_UPDATER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from hee_monitor.record.capsule import CapsuleDirectory, TrustedKeys
from hee_monitor.record.capsule.keys import parse_private_key

signer = parse_private_key(sys.stdin.buffer.read(), source="stdin")
store = CapsuleDirectory(Path(sys.argv[1]), signer, TrustedKeys.of([signer.public_key]))
now = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
while True:
    def mutate(payload):
        payload["x-counter"] = payload.get("x-counter", 0) + 1
        payload.setdefault("x-log", []).append("." * 200)
    capsule = store.update(mutate, now=now)
    print(capsule.version, flush=True)
"""


def test_sigkill_during_updates_never_leaves_a_torn_or_unsigned_capsule(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys)
    store.initialise("octo/app", now=NOW)
    chooser = random.Random(20261122)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    last_seen = 1
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOOPING_UPDATER, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO_ROOT,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(signer.private_pem())
        proc.stdin.close()
        for _ in range(chooser.randint(1, 6)):
            last_seen = int(proc.stdout.readline())
        # land somewhere inside the next update: a random fraction of one update's time
        threading.Event().wait(chooser.uniform(0, 0.01))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        capsule = store.load(now=NOW)  # verified: signature, schema, trust, chain
        assert capsule.version >= last_seen
        assert capsule.payload["x-counter"] == capsule.version - 1
    assert store.verify_chain(now=NOW).checked == store.load(now=NOW).version
    store.update(lambda p: None, now=NOW)
    assert list(tmp_path.rglob("*.tmp")) == []  # an update clears what killed writers left


def test_clock_is_used_when_no_time_is_given(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    clock = FakeClock(NOW)
    store = CapsuleDirectory(tmp_path, signer, keys, clock=clock)
    store.initialise("octo/app")
    clock.advance(timedelta(days=31).total_seconds())
    with pytest.raises(ExpiredCapsuleError):
        store.load()


def test_backups_are_pruned_and_survive_archiving(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys, backups_kept=2)
    store.initialise("octo/app", now=NOW)
    raws = {1: store.current_path.read_bytes()}
    for day in range(1, 5):
        raws[day + 1] = store.update(add_fix(when=later(day)), now=later(day)).raw
    kept = sorted(p.name for p in store.backups_dir.iterdir())
    assert kept == ["current.v00000003.json", "current.v00000004.json"]
    store.archive(older_than=timedelta(days=0), now=later(5))
    assert (store.backups_dir / "current.v00000004.json").read_bytes() == raws[4]


def test_a_state_directory_written_in_form_one_moves_to_form_two_with_its_next_update(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    from hee_monitor.record.capsule import new_payload
    from hee_monitor.record.capsule.canonical import dump_document_v1
    from hee_monitor.record.capsule.envelope import sign

    # a state directory as versions before form 2 left it: version 1, in form 1
    payload = new_payload("octo/app", NOW)
    del payload["file_format"]
    old = sign(payload, [signer])
    assert old.raw == dump_document_v1({"signed": payload, "signatures": list(old.signatures)})
    directory = tmp_path / "state"
    (directory / "history").mkdir(parents=True)
    (directory / "current.json").write_bytes(old.raw)
    (directory / "history" / "v00000001.json").write_bytes(old.raw)

    store = CapsuleDirectory(directory, signer, keys, clock=FakeClock(NOW))
    assert store.load(now=NOW).digest == old.digest  # old capsules verify
    new = store.update(add_fix(), now=later(1))
    assert new.payload["file_format"] == 2 and new.previous_digest == old.digest
    raw = (directory / "current.json").read_bytes()
    envelope = {"signed": new.payload, "signatures": list(new.signatures)}
    expected = json.dumps(envelope, indent=2, ensure_ascii=False)
    assert raw == (expected + "\n").encode("utf-8")
    assert (directory / "history" / "v00000001.json").read_bytes() == old.raw  # kept as is
    assert store.verify_chain(now=later(1)).checked == 2
    assert store.load(now=later(1)).raw == raw


def _history_versions(store: CapsuleDirectory) -> list[int]:
    return sorted(int(p.name[1:9]) for p in store.history_dir.glob("v*.json"))


def test_an_old_capsule_put_back_without_trusted_json_is_a_rollback(
    store: CapsuleDirectory,
) -> None:
    from hee_monitor.record.capsule.errors import RollbackError

    for _ in range(5):
        store.update(lambda p: None)
    old = (store.history_dir / "v00000004.json").read_bytes()
    store.current_path.write_bytes(old)
    (store.directory / "trusted.json").unlink()
    with pytest.raises(RollbackError, match="history/ holds signed version 6"):
        store.load()
    with pytest.raises(RollbackError):
        store.update(lambda p: None)
    # nothing in history was overwritten or orphaned
    assert _history_versions(store) == [1, 2, 3, 4, 5, 6]
    assert (store.history_dir / "v00000004.json").read_bytes() == old


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(["update", "restore", "verify", "drop-trust", "put-back-old"]),
        min_size=1,
        max_size=12,
    )
)
def test_no_version_number_ever_decreases_in_history(
    tmp_path_factory: pytest.TempPathFactory,
    signer: Signer,
    keys: TrustedKeys,
    encryption_key: EncryptionKey,
    steps: list[str],
) -> None:
    from hee_monitor.core.clock import FakeClock
    from hee_monitor.record.capsule.errors import CapsuleError

    store = CapsuleDirectory(
        tmp_path_factory.mktemp("state"), signer, keys, encryption_key, FakeClock(NOW)
    )
    store.initialise("octo/app", now=NOW)
    highest = 1
    for step in steps:
        try:
            if step == "update":
                store.update(lambda p: None)
            elif step == "restore":
                store.restore(1)
            elif step == "verify":
                store.load()
            elif step == "drop-trust":
                (store.directory / "trusted.json").unlink(missing_ok=True)
            elif step == "put-back-old":
                store.current_path.write_bytes((store.history_dir / "v00000001.json").read_bytes())
        except CapsuleError:
            pass  # refusing is allowed; rewriting history is not
        versions = _history_versions(store)
        assert versions == list(range(1, len(versions) + 1))
        assert versions[-1] >= highest
        highest = versions[-1]
