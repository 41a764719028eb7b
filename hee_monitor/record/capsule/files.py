"""A capsule passed around as one file (``--state-capsule current.json`` in CI).

The file carries payload and signatures. Its trusted-version record lives in
``state_dir/trusted.json`` (by default beside the file), so a replayed older artifact is
refused just as in a :class:`~hee_monitor.record.capsule.store.CapsuleDirectory`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hee_monitor.record.capsule.envelope import Capsule, open_capsule, sign
from hee_monitor.record.capsule.errors import ConflictError
from hee_monitor.record.capsule.fsutil import atomic_write, locked, read_bytes
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.record.capsule.sealing import DEFAULT_SENSITIVE_KEYS, EncryptionKey, seal
from hee_monitor.record.capsule.store import (
    DEFAULT_EXPIRY,
    DEFAULT_FIX_HISTORY_LIMIT,
    LOCK_FILE,
    CapsuleDirectory,
    Mutator,
    archive_fixes,
    make_successor,
)
from hee_monitor.record.capsule.trust import TRUSTED_FILE, TrustRecord


def _state_dir(path: Path, state_dir: Path | None) -> Path:
    return state_dir if state_dir is not None else path.resolve().parent


def verify_capsule_bytes(
    raw: bytes,
    trusted_keys: TrustedKeys,
    *,
    now: datetime,
    source: str,
    state_dir: Path,
    record: bool = True,
    check_expiry: bool = True,
) -> Capsule:
    """Verify capsule bytes against keys, expiry and ``state_dir``'s trusted record
    (versions in ``state_dir/history`` fill gaps in the chain); then record it as trusted."""
    capsule = open_capsule(raw, trusted_keys, now=now if check_expiry else None, source=source)
    history = CapsuleDirectory(state_dir, None, trusted_keys)
    trust = TrustRecord(state_dir / TRUSTED_FILE)
    with locked(state_dir / LOCK_FILE):
        trust.check(capsule, history._payload_of)
        if record and trust.get(capsule.repository) != (capsule.version, capsule.digest):
            trust.record(capsule, now)
    return capsule


def load_capsule_file(
    path: Path,
    trusted_keys: TrustedKeys,
    *,
    now: datetime,
    state_dir: Path | None = None,
    record: bool = True,
) -> Capsule:
    """Read and verify a capsule file (format, signatures, schema, expiry, rollback, fork,
    chain); record it as the trusted version unless ``record`` is False."""
    return verify_capsule_bytes(
        read_bytes(path),
        trusted_keys,
        now=now,
        source=str(path),
        state_dir=_state_dir(path, state_dir),
        record=record,
    )


def save_capsule_file(
    path: Path,
    payload: dict[str, Any],
    signers: Sequence[Signer],
    *,
    now: datetime,
    encryption_key: EncryptionKey | None = None,
    sensitive_keys: Collection[str] = DEFAULT_SENSITIVE_KEYS,
    state_dir: Path | None = None,
) -> Capsule:
    """Seal, validate, sign and atomically write ``payload`` as it is (version fields
    included: use :func:`update_capsule_file` to make a next version); record it as trusted."""
    seal(payload, encryption_key, sensitive_keys)
    capsule = sign(payload, signers)
    directory = _state_dir(path, state_dir)
    with locked(directory / LOCK_FILE):
        atomic_write(path, capsule.raw)
        TrustRecord(directory / TRUSTED_FILE).record(capsule, now)
    return capsule


def update_capsule_file(
    source: Path | bytes,
    output: Path,
    mutator: Mutator,
    signers: Sequence[Signer],
    trusted_keys: TrustedKeys,
    *,
    now: datetime,
    state_dir: Path | None = None,
    encryption_key: EncryptionKey | None = None,
    expiry: timedelta = DEFAULT_EXPIRY,
    fix_history_limit: int = DEFAULT_FIX_HISTORY_LIMIT,
    sensitive_keys: Collection[str] = DEFAULT_SENSITIVE_KEYS,
) -> Capsule:
    """Verify ``source`` (a path or the capsule bytes), apply ``mutator`` and write the next
    version to ``output``. Fix-history overflow goes to ``state_dir/history/archive``."""
    directory = _state_dir(output, state_dir)
    raw = read_bytes(source) if isinstance(source, Path) else source
    name = str(source) if isinstance(source, Path) else "capsule"
    current = verify_capsule_bytes(
        raw, trusted_keys, now=now, source=name, state_dir=directory, check_expiry=False
    )
    successor = make_successor(
        current,
        mutator,
        now=now,
        signers=signers,
        encryption_key=encryption_key,
        expiry=expiry,
        fix_history_limit=fix_history_limit,
        sensitive_keys=sensitive_keys,
    )
    trust = TrustRecord(directory / TRUSTED_FILE)
    with locked(directory / LOCK_FILE):
        # compare-and-swap: another update from the same version got here first
        if trust.get(current.repository) != (current.version, current.digest):
            raise ConflictError(
                f"{name} changed while it was being updated (another update of version "
                f"{current.version} was recorded first); nothing was written",
                hint="run the update again on the newest capsule",
            )
        if successor.trimmed_fixes:
            archive_fixes(directory / "history" / "archive", successor.trimmed_fixes)
        atomic_write(output, successor.capsule.raw)
        trust.record(successor.capsule, now)
    return successor.capsule
