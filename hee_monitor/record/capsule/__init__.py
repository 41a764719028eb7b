"""Signed, versioned state capsules (see docs/state-capsule.md).

The public API, kept small::

    store = CapsuleDirectory(Path("state_capsules"), signer, trusted_keys, encryption_key)
    store.initialise("octo/app", now=now)                  # version 1
    capsule = store.load()                                  # verified, or a CapsuleError
    store.update(lambda p: p["monitoring_state"].update(current_status="degraded"), now=now)

    capsule = load_capsule_file(Path("current.json"), trusted_keys, now=now)
    save_capsule_file(Path("out.json"), payload, [signer], now=now)
"""

from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule.envelope import Capsule, format_time, parse_time
from hee_monitor.record.capsule.errors import (
    BadSignatureError,
    CapsuleFormatError,
    CapsuleKeyError,
    CapsuleStorageError,
    ChainError,
    ConflictError,
    ExpiredCapsuleError,
    ForkError,
    MissingSignatureError,
    RollbackError,
    SchemaViolationError,
    SensitiveDataError,
    SignatureError,
    ThresholdError,
    UnknownKeyError,
    Violation,
)
from hee_monitor.record.capsule.files import (
    load_capsule_file,
    save_capsule_file,
    update_capsule_file,
)
from hee_monitor.record.capsule.keys import Signer, TrustedKeys, load_signer, load_trusted_keys
from hee_monitor.record.capsule.sealing import EncryptionKey, load_encryption_key
from hee_monitor.record.capsule.store import CapsuleDirectory, new_payload

__all__ = [
    "BadSignatureError",
    "Capsule",
    "CapsuleDirectory",
    "CapsuleError",
    "CapsuleFormatError",
    "CapsuleKeyError",
    "CapsuleStorageError",
    "ChainError",
    "ConflictError",
    "EncryptionKey",
    "ExpiredCapsuleError",
    "ForkError",
    "MissingSignatureError",
    "RollbackError",
    "SchemaViolationError",
    "SensitiveDataError",
    "SignatureError",
    "Signer",
    "ThresholdError",
    "TrustedKeys",
    "UnknownKeyError",
    "Violation",
    "format_time",
    "load_capsule_file",
    "load_encryption_key",
    "load_signer",
    "load_trusted_keys",
    "new_payload",
    "parse_time",
    "save_capsule_file",
    "update_capsule_file",
]
