"""An unsigned JSON capsule file: the payload of the capsule contract, for runs without a
signing key (a first try, a local pre-commit run) and as the capsule port's plain
implementation. Reads a signed envelope's payload too, but writes only the payload.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hee_monitor.errors import CapsuleError


def new_payload(repository: str, now: datetime) -> dict[str, Any]:
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "schema_version": 1,
        "version": 1,
        "created": stamp,
        "expires": (now + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
        "repository": repository,
        "previous_digest": None,
        "monitoring_state": {"current_status": "operational", "status_since": stamp},
        "auto_fix_history": [],
        "decision_history": [],
        "open_incidents": [],
        "constraints": {},
    }


class PlainCapsuleFile:
    """``path`` holds the payload as JSON; updates bump ``version`` and replace atomically."""

    def __init__(self, path: Path, repository: str = "") -> None:
        self.path = Path(path)
        self.repository = repository

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return new_payload(self.repository, datetime.now().astimezone())
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
