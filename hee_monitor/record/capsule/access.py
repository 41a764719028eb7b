"""The capsule stores: every implementation of :class:`~hee_monitor.core.capsule.CapsuleStore`
(``load() -> dict`` and ``update(mutator, *, now)``), which the cycle, the fix engine and
the commands all use.

* :class:`SignedCapsule`: signed and versioned; a state directory when the path is
  ``<dir>/current.json`` (history, backups, archive), else a single file whose trusted
  record lives beside it. Reads are verified; a missing capsule is created as version 1 on
  the first update.
* :class:`PlainCapsuleFile`: an unsigned JSON payload, for runs without a signing key (a
  first try, a local pre-commit run). Reads a signed envelope's payload too, but refuses to
  rewrite one (it could not renew the signature).
* :class:`InMemoryCapsule`: a payload in memory (runs without a capsule, tests).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hee_monitor.core.capsule import CapsuleStore, Mutator
from hee_monitor.core.clock import Clock, SystemClock
from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule.envelope import parse_time
from hee_monitor.record.capsule.errors import ExpiredCapsuleError
from hee_monitor.record.capsule.files import (
    load_capsule_file,
    save_capsule_file,
    update_capsule_file,
)
from hee_monitor.record.capsule.keys import (
    SIGNING_KEY_ENV,
    Signer,
    TrustedKeys,
    load_signer,
    load_trusted_keys,
)
from hee_monitor.record.capsule.sealing import EncryptionKey, load_encryption_key
from hee_monitor.record.capsule.store import CURRENT_FILE, CapsuleDirectory, new_payload

__all__ = [
    "CapsuleStore",
    "InMemoryCapsule",
    "Mutator",
    "PlainCapsuleFile",
    "SignedCapsule",
    "signed_capsule_from_env",
]


log = logging.getLogger(__name__)

#: a signed capsule that expires within this is renewed by a heartbeat version
RENEW_WITHIN = timedelta(days=7)


class SignedCapsule:
    """A signed capsule: every read verified against ``trusted_keys``, every update the
    next version, signed and chained. ``directory`` (default: the path is named
    ``current.json``) keeps history, backups and an archive beside it."""

    def __init__(
        self,
        path: Path,
        signer: Signer | None,
        trusted_keys: TrustedKeys,
        *,
        repository: str = "",
        encryption_key: EncryptionKey | None = None,
        clock: Clock | None = None,
        directory: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.signer = signer
        self.trusted_keys = trusted_keys
        self.repository = repository
        self.encryption_key = encryption_key
        self.clock: Clock = clock or SystemClock()
        self._store = (
            CapsuleDirectory(self.path.parent, signer, trusted_keys, encryption_key, self.clock)
            if (self.path.name == CURRENT_FILE if directory is None else directory)
            else None
        )

    def load(self) -> dict[str, Any]:
        """The verified payload (a copy), or a fresh version-1 payload if there is none. An
        expired capsule is renewed first when the signing key is held (not fatal)."""
        now = self.clock.now()
        if not self.path.exists():
            return new_payload(self.repository, now)
        try:
            return self._load(now)
        except ExpiredCapsuleError as exc:
            if self.signer is None:
                raise
            log.warning("%s; renewing it with the signing key", exc.message)
            self.renew(now)
            return self._load(now)

    def _load(self, now: datetime) -> dict[str, Any]:
        if self._store is not None:
            return dict(self._store.load(now=now).payload)
        capsule = load_capsule_file(self.path, self.trusted_keys, now=now, record=False)
        return copy.deepcopy(dict(capsule.payload))

    def renew(self, now: datetime) -> dict[str, Any]:
        """A heartbeat version: the same content, verified, signed again with a new expiry."""
        return self.update(lambda _payload: None, now)

    def renew_if_due(self, now: datetime, within: timedelta = RENEW_WITHIN) -> bool:
        """Renew a capsule nobody changes before it expires (when it expires within
        ``within`` and the signing key is held); True when it did."""
        if self.signer is None or not self.path.exists():
            return False
        if parse_time(str(self.load()["expires"])) - now > within:
            return False
        self.renew(now)
        return True

    def update(self, mutator: Mutator, now: datetime | None = None) -> dict[str, Any]:
        moment = now or self.clock.now()
        signers = [self.signer] if self.signer else []
        if self._store is not None:
            if not self._store.exists():
                self._store.initialise(self.repository, now=moment)
            return self._store.update(mutator, now=moment).payload
        if not self.path.exists():
            save_capsule_file(
                self.path,
                new_payload(self.repository, moment),
                signers,
                now=moment,
                encryption_key=self.encryption_key,
            )
        return update_capsule_file(
            self.path,
            self.path,
            mutator,
            signers,
            self.trusted_keys,
            now=moment,
            encryption_key=self.encryption_key,
        ).payload


def signed_capsule_from_env(
    path: Path,
    *,
    repository: str = "",
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> SignedCapsule | None:
    """A :class:`SignedCapsule` if ``HEE_SIGNING_KEY`` is set, else None (the caller then
    uses its unsigned file, or refuses)."""
    environ = os.environ if env is None else env
    if not environ.get(SIGNING_KEY_ENV):
        return None
    signer = load_signer(env=environ)
    trusted = load_trusted_keys([], env=environ, fallback=signer)
    return SignedCapsule(
        path,
        signer,
        trusted,
        repository=repository,
        encryption_key=load_encryption_key(env=environ),
        clock=clock,
    )


class PlainCapsuleFile:
    """``path`` holds the payload as JSON; updates bump ``version`` and replace atomically.
    An unsigned envelope (``{"signed": payload, "signatures": []}``) keeps its form."""

    def __init__(self, path: Path, repository: str = "") -> None:
        self.path = Path(path)
        self.repository = repository

    def _read(self) -> dict[str, Any]:
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
        return data  # type: ignore[no-any-return]

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return new_payload(self.repository, SystemClock().now())
        data = self._read()
        payload: dict[str, Any] = copy.deepcopy(data.get("signed", data))
        return payload

    def update(self, mutator: Mutator, *, now: datetime) -> dict[str, Any]:
        fresh = not self.path.exists()
        data: dict[str, Any] = new_payload(self.repository, now) if fresh else self._read()
        if "signed" in data and data.get("signatures"):
            raise CapsuleError(
                f"state capsule {self.path} is signed; an unsigned writer cannot re-sign it",
                hint="set HEE_SIGNING_KEY so the signed store updates it "
                "(or use hee-monitor capsule)",
            )
        payload = data["signed"] if isinstance(data.get("signed"), dict) else data
        mutator(payload)
        if not fresh:
            payload["version"] = int(payload.get("version", 0)) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return payload


class InMemoryCapsule:
    """A payload held in memory (runs without a capsule file, tests)."""

    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = payload if payload is not None else {}

    def load(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    def update(self, mutator: Mutator, *, now: datetime) -> dict[str, Any]:
        mutator(self.data)
        self.data["version"] = int(self.data.get("version", 0)) + 1
        return self.data
