"""The last trusted version of each repository's capsule (``trusted.json``).

Like python-tuf's trusted metadata set: a capsule is compared with what was trusted before
it, and only once *every* check has passed does it become the new trusted version. An older
version is a rollback, the same version with other content a fork, and a newer version must
link back to the trusted one through ``previous_digest`` (directly, or through the versions
in between when they are at hand).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hee_monitor.record.capsule.canonical import digest
from hee_monitor.record.capsule.envelope import Capsule, format_time
from hee_monitor.record.capsule.errors import (
    CapsuleStorageError,
    ChainError,
    ForkError,
    RollbackError,
)
from hee_monitor.record.capsule.fsutil import atomic_write

TRUSTED_FILE = "trusted.json"

#: version → that version's payload as read (strictly parsed) from its capsule file, or None
#: when it is not available
PayloadLookup = Callable[[int], dict[str, Any] | None]


class TrustRecord:
    """Reads and writes ``trusted.json``: repository → {version, digest, recorded}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"repositories": {}}
        except (OSError, ValueError) as exc:
            raise CapsuleStorageError(
                f"trusted-version record {self.path} is unreadable: {exc}",
                hint="restore it from a backup; deleting it makes the next capsule trusted "
                "on first use, which disables rollback protection once",
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("repositories"), dict):
            raise CapsuleStorageError(f"trusted-version record {self.path} has a wrong shape")
        return data

    def get(self, repository: str) -> tuple[int, str] | None:
        entry = self._read()["repositories"].get(repository)
        if not isinstance(entry, dict):
            return None
        return int(entry["version"]), str(entry["digest"])

    def repositories(self) -> list[str]:
        return sorted(self._read()["repositories"])

    def record(self, capsule: Capsule, now: datetime) -> None:
        data = self._read()
        data["repositories"][capsule.repository] = {
            "version": capsule.version,
            "digest": capsule.digest,
            "recorded": format_time(now),
        }
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        atomic_write(self.path, text.encode("utf-8"))

    def check(self, capsule: Capsule, lookup: PayloadLookup | None = None) -> None:
        """Raise if ``capsule`` would roll back, fork or break the chain of trust."""
        trusted = self.get(capsule.repository)
        if trusted is None:
            return  # first use: nothing to compare with
        check_against(capsule.payload, capsule.digest, trusted, lookup)


def check_against(
    payload: dict[str, Any],
    payload_digest: str,
    trusted: tuple[int, str],
    lookup: PayloadLookup | None,
) -> None:
    version = payload["version"]
    trusted_version, trusted_digest = trusted
    if version < trusted_version:
        raise RollbackError(
            f"capsule version {version} is older than the trusted version {trusted_version} "
            "(an old capsule was replayed or an old artifact was picked up)",
            hint="use the newest capsule; if you restored on purpose run "
            "`hee-monitor capsule restore VERSION`, which makes a new, higher version",
        )
    if version == trusted_version:
        if payload_digest != trusted_digest:
            raise ForkError(
                f"capsule version {version} differs from the trusted version {version} "
                f"({payload_digest[:19]}… vs {trusted_digest[:19]}…): two updates were made "
                "from the same version",
                hint="keep one of them: restore the good content with "
                "`hee-monitor capsule restore VERSION` (a new version), and serialise "
                "updates (one job at a time)",
            )
        return
    # newer: walk previous_digest links back to the trusted version
    link = payload.get("previous_digest")
    for older in range(version - 1, trusted_version, -1):
        older_payload = lookup(older) if lookup else None
        if older_payload is None:
            raise ChainError(
                f"capsule version {version} cannot be linked to the trusted version "
                f"{trusted_version}: version {older} is not available to check the chain",
                hint="copy the missing versions into the history directory, or load each "
                "version in order",
            )
        older_digest = digest(older_payload, plain_json=True)  # read from a capsule file
        if older_digest != link:
            raise ChainError(
                f"hash chain broken: version {older + 1} says the previous digest is "
                f"{str(link)[:19]}…, but version {older} has {older_digest[:19]}…",
                hint="the history was rewritten; do not trust these versions",
            )
        link = older_payload.get("previous_digest")
    if link != trusted_digest:
        raise ChainError(
            f"hash chain broken: version {trusted_version + 1} does not follow the trusted "
            f"version {trusted_version} (previous_digest {str(link)[:19]}…, trusted "
            f"{trusted_digest[:19]}…)",
            hint="this capsule comes from another history; if that is intended, restore "
            "its content with `hee-monitor capsule restore`",
        )
