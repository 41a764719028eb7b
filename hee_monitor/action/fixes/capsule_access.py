"""How the fix engine reads and changes the state capsule.

The engine needs two things: the payload (constraints, status) and a way to append to
``auto_fix_history``. :class:`CapsuleAccess` is that port; the capsule store implements it
with signing and versioning. :class:`JsonCapsuleFile` is the plain-file implementation for
an unsigned payload (tests, local runs); it refuses to rewrite a signed envelope, whose
signature it could not renew.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from hee_monitor.core.errors import CapsuleError

Mutator = Callable[[dict[str, Any]], None]


class CapsuleAccess(Protocol):
    def payload(self) -> dict[str, Any]: ...

    def update(self, mutator: Mutator, *, now: datetime) -> Any: ...


class InMemoryCapsule:
    """A payload held in memory (tests, and runs without a capsule)."""

    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = payload if payload is not None else {}

    def payload(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    def update(self, mutator: Mutator, *, now: datetime) -> None:
        mutator(self.data)
        self.data["version"] = int(self.data.get("version", 0)) + 1


class JsonCapsuleFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CapsuleError(f"state capsule {self.path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise CapsuleError(
                f"state capsule {self.path} is not readable JSON ({exc})",
                hint="validate it with scripts/validate_state_capsule.py",
            ) from None
        if not isinstance(data, dict):
            raise CapsuleError(f"state capsule {self.path}: the top level must be an object")
        return data

    def payload(self) -> dict[str, Any]:
        data = self._read()
        signed = data.get("signed")
        return signed if isinstance(signed, dict) else data

    def update(self, mutator: Mutator, *, now: datetime) -> None:
        data = self._read()
        if "signed" in data and data.get("signatures"):
            raise CapsuleError(
                f"state capsule {self.path} is signed; this file writer cannot re-sign it",
                hint="update it through the capsule store (hee-monitor capsule)",
            )
        payload = data["signed"] if isinstance(data.get("signed"), dict) else data
        mutator(payload)
        payload["version"] = int(payload.get("version", 0)) + 1
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


class SignedCapsule:
    """The capsule store behind the port: reads are verified, every history line becomes a
    new signed version."""

    def __init__(self, store: Any) -> None:
        # typed loosely: the capsule package is optional for the fix engine
        self.store = store

    def payload(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.store.load().payload))

    def update(self, mutator: Mutator, *, now: datetime) -> None:
        self.store.update(mutator, now=now)
