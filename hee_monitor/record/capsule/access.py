"""The signed capsule behind the capsule ports of other components.

The monitor cycle reads and changes its capsule through ``load() -> dict`` and
``update(mutator, *, now) -> dict``; the fix engine through ``payload() -> dict`` and
``update(mutator, now)``. :class:`SignedCapsule` serves both over a signed capsule: a
state directory when the path is ``<dir>/current.json`` (history, backups, archive), else a
single file whose trusted record lives beside it. Reads are verified; a missing capsule
is created as version 1 on the first update.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from hee_monitor.core.clock import Clock, SystemClock
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
from hee_monitor.record.capsule.store import CURRENT_FILE, CapsuleStore, new_payload

Mutator = Callable[[dict[str, Any]], None]


class SignedCapsule:
    def __init__(
        self,
        path: Path,
        signer: Signer | None,
        trusted_keys: TrustedKeys,
        *,
        repository: str = "",
        encryption_key: EncryptionKey | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        self.signer = signer
        self.trusted_keys = trusted_keys
        self.repository = repository
        self.encryption_key = encryption_key
        self.clock: Clock = clock or SystemClock()
        self._store = (
            CapsuleStore(self.path.parent, signer, trusted_keys, encryption_key, self.clock)
            if self.path.name == CURRENT_FILE
            else None
        )

    def load(self) -> dict[str, Any]:
        """The verified payload (a copy), or a fresh version-1 payload if there is none."""
        now = self.clock.now()
        if not self.path.exists():
            return new_payload(self.repository, now)
        if self._store is not None:
            return dict(self._store.load(now=now).payload)
        return dict(load_capsule_file(self.path, self.trusted_keys, now=now).payload)

    payload = load

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
