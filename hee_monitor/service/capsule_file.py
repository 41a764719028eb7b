"""An unsigned JSON capsule file: the payload of the capsule contract, for runs without a
signing key (a first try, a local pre-commit run) and as the capsule port's plain
implementation. Reads a signed envelope's payload too, but writes only the payload.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hee_monitor.core.clock import Clock, SystemClock
from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule.envelope import parse_time
from hee_monitor.record.capsule.errors import ExpiredCapsuleError
from hee_monitor.record.capsule.files import (
    load_capsule_file,
    save_capsule_file,
    update_capsule_file,
)
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.record.capsule.sealing import EncryptionKey
from hee_monitor.record.capsule.store import new_payload


class PlainCapsuleFile:
    """``path`` holds the payload as JSON; updates bump ``version`` and replace atomically."""

    def __init__(self, path: Path, repository: str = "") -> None:
        self.path = Path(path)
        self.repository = repository

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return new_payload(self.repository, SystemClock().now())
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CapsuleError(
                f"{self.path}: cannot read the state capsule ({exc})",
                hint="restore it from state_capsules/backups or delete it to start afresh",
            ) from None
        payload = data.get("signed", data) if isinstance(data, dict) else None
        if not isinstance(payload, dict):
            raise CapsuleError(f"{self.path}: not a state capsule (expected a JSON object)")
        return payload

    def update(self, mutator: Callable[[dict[str, Any]], None], *, now: datetime) -> dict[str, Any]:
        payload = (
            copy.deepcopy(self.load()) if self.path.exists() else new_payload(self.repository, now)
        )
        fresh = not self.path.exists()
        mutator(payload)
        if not fresh:
            payload["version"] = int(payload.get("version", 0)) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return payload


log = logging.getLogger(__name__)

#: a signed capsule that expires within this is renewed (a heartbeat version)
RENEW_WITHIN = timedelta(days=7)


class SignedCapsuleFile:
    """A signed capsule file (``--state-capsule current.json``): every read is verified
    against ``trusted_keys``; every update is the next version, signed and chained.

    The monitor holds the signing key, so a capsule nothing changes (a repository that
    stays green) is renewed before it expires: :meth:`renew_if_due` writes a heartbeat
    version (same content, new expiry) once the expiry is within :data:`RENEW_WITHIN`, and
    a capsule found expired is renewed, not fatal."""

    def __init__(
        self,
        path: Path,
        repository: str,
        signer: Signer,
        trusted_keys: TrustedKeys,
        *,
        encryption_key: EncryptionKey | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        self.repository = repository
        self.signer = signer
        self.trusted_keys = trusted_keys
        self.encryption_key = encryption_key
        self.clock: Clock = clock or SystemClock()

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return new_payload(self.repository, self.clock.now())
        try:
            capsule = load_capsule_file(
                self.path, self.trusted_keys, now=self.clock.now(), record=False
            )
        except ExpiredCapsuleError as exc:
            log.warning("%s; renewing it with the signing key", exc.message)
            self.renew(self.clock.now())
            capsule = load_capsule_file(
                self.path, self.trusted_keys, now=self.clock.now(), record=False
            )
        return copy.deepcopy(capsule.payload)

    def renew(self, now: datetime) -> object:
        """A heartbeat version: the same content, signed again with a new expiry (every
        signature and the chain are verified first, as for any update)."""
        return update_capsule_file(
            self.path,
            self.path,
            lambda _payload: None,
            [self.signer],
            self.trusted_keys,
            now=now,
            encryption_key=self.encryption_key,
        )

    def renew_if_due(self, now: datetime, within: timedelta = RENEW_WITHIN) -> bool:
        """Renew when the capsule expires within ``within``; True when it did."""
        if not self.path.exists():
            return False
        expires = parse_time(str(self.load()["expires"]))
        if expires - now > within:
            return False
        self.renew(now)
        return True

    def update(self, mutator: Callable[[dict[str, Any]], None], *, now: datetime) -> object:
        if not self.path.exists():
            save_capsule_file(
                self.path,
                new_payload(self.repository, now),
                [self.signer],
                now=now,
                encryption_key=self.encryption_key,
            )
        return update_capsule_file(
            self.path,
            self.path,
            mutator,
            [self.signer],
            self.trusted_keys,
            now=now,
            encryption_key=self.encryption_key,
        )
