"""Sensitive values inside a capsule: encrypted with Fernet (AES-128-CBC + HMAC-SHA256)
under a key separate from the signing key, and never present in clear.

Before a capsule is signed, :func:`seal` walks the payload. A string is *sensitive* when it
sits under ``/sensitive``, under a key whose name is configured as sensitive (``token``,
``password``, ``notify_email``, …), or when it looks like a credential or an e-mail address.
Sensitive strings are replaced by ``enc:fernet:<token>``; without an encryption key the
capsule is refused instead (naming the JSON pointer, never the value). Readers see
``<encrypted>`` unless they hold the key and ask to reveal.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from hee_monitor.core.redact import has_secret
from hee_monitor.record.capsule.errors import CapsuleKeyError, SensitiveDataError

ENCRYPTION_KEY_ENV = "HEE_CAPSULE_ENCRYPTION_KEY"
SEALED_PREFIX = "enc:fernet:"
MASK = "<encrypted>"

#: key names whose string values are always sealed, wherever they appear
DEFAULT_SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "token",
        "password",
        "secret",
        "api_key",
        "email",
        "notify_email",
        "webhook_url",
        "authorization",
        "private_key",
    }
)

# What a credential or an address looks like, wherever it turns up (a fix message, a reason).
_LOOKS_SENSITIVE = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"  # e-mail address
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|hooks\.slack\.com/services/"  # Slack webhook URLs
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bBearer\s+[A-Za-z0-9._~+/-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)


def _looks_sensitive(value: str) -> bool:
    """A credential or an address by this module's shapes or by the product's redaction
    gate (:mod:`hee_monitor.core.redact`): free text is sealed by the same detector that
    redacts every other exit."""
    return bool(_LOOKS_SENSITIVE.search(value)) or has_secret(value)


# cheap whole-document screen: only a document that trips it is walked value by value
_SCREEN = re.compile(
    r"gh[pousr]_|github_pat_|xox[abposr]-|hooks\.slack\.com|AKIA[0-9A-Z]{16}|Bearer|PRIVATE KEY"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@lru_cache(maxsize=16)
def _unsealed_key_pattern(names: frozenset[str]) -> re.Pattern[str]:
    # `"name": ` followed by anything but a sealed string (json.dumps default separators)
    alternatives = "|".join(re.escape(json.dumps(n, ensure_ascii=False)) for n in sorted(names))
    return re.compile(f'(?:{alternatives}): ?(?!"{SEALED_PREFIX})')


def _may_hold_sensitive(
    payload: dict[str, Any], sensitive_keys: Collection[str], text: str | None
) -> bool:
    if text is None:
        text = json.dumps(payload, ensure_ascii=False)
    if _SCREEN.search(text) or ("@" in text and _EMAIL.search(text)) or has_secret(text):
        return True
    return bool(sensitive_keys) and bool(
        _unsealed_key_pattern(frozenset(sensitive_keys)).search(text)
    )


class EncryptionKey:
    """The capsule encryption key (a Fernet key: urlsafe base64 of 32 random bytes)."""

    def __init__(self, key: bytes, *, source: str = "encryption key") -> None:
        try:
            self._fernet = Fernet(key.strip())
        except (ValueError, TypeError) as exc:
            raise CapsuleKeyError(
                f"{source}: not a valid encryption key (urlsafe base64 of 32 bytes)",
                hint="create one with `hee-monitor capsule keygen --encryption --out FILE`",
            ) from exc

    @staticmethod
    def generate() -> bytes:
        return Fernet.generate_key()

    def encrypt(self, value: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, sealed: str, *, pointer: str) -> str:
        try:
            return self._fernet.decrypt(sealed[len(SEALED_PREFIX) :].encode("ascii")).decode(
                "utf-8"
            )
        except (InvalidToken, UnicodeError) as exc:
            raise SensitiveDataError(
                f"{pointer}: cannot decrypt (wrong encryption key, or the value was altered)",
                hint=f"use the key the capsule was written with ({ENCRYPTION_KEY_ENV})",
            ) from exc

    def __repr__(self) -> str:
        return "EncryptionKey(<hidden>)"


def load_encryption_key(
    path: Path | None = None, *, env: Mapping[str, str] | None = None
) -> EncryptionKey | None:
    """The key from ``path``, else ``HEE_CAPSULE_ENCRYPTION_KEY``, else None."""
    environ = os.environ if env is None else env
    if path is not None:
        try:
            return EncryptionKey(path.read_bytes(), source=str(path))
        except OSError as exc:
            raise CapsuleKeyError(f"cannot read encryption key {path}: {exc.strerror}") from exc
    value = environ.get(ENCRYPTION_KEY_ENV)
    if value:
        return EncryptionKey(value.encode("utf-8"), source=ENCRYPTION_KEY_ENV)
    return None


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def seal(
    payload: dict[str, Any],
    key: EncryptionKey | None,
    sensitive_keys: Collection[str] = DEFAULT_SENSITIVE_KEYS,
    *,
    text: str | None = None,
) -> list[str]:
    """Encrypt every sensitive string of ``payload`` in place; return their JSON pointers.

    ``text``, the payload as JSON (any spacing), saves serialising it again for the screen.
    Raises :class:`SensitiveDataError` (naming the first pointer) if one must be sealed and
    no key is given; nothing is changed in that case.
    """
    found: list[tuple[Any, Any, str]] = []  # (container, index, pointer)
    if not _may_hold_sensitive(payload, sensitive_keys, text):
        # nothing outside /sensitive can need sealing; check /sensitive itself (small)
        names = payload.get("sensitive")
        payload = {"sensitive": names} if isinstance(names, dict) else {}

    def walk(node: Any, pointer: str, forced: bool) -> None:
        if isinstance(node, dict):
            for name, child in node.items():
                sub = f"{pointer}/{_escape(name)}"
                if isinstance(child, str):
                    if not child.startswith(SEALED_PREFIX) and (
                        forced or name in sensitive_keys or _looks_sensitive(child)
                    ):
                        found.append((node, name, sub))
                elif isinstance(child, dict | list):
                    walk(child, sub, forced or name in sensitive_keys)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, str):
                    if not child.startswith(SEALED_PREFIX) and (forced or _looks_sensitive(child)):
                        found.append((node, index, f"{pointer}/{index}"))
                elif isinstance(child, dict | list):
                    walk(child, f"{pointer}/{index}", forced)

    for name, child in payload.items():
        sub = f"/{_escape(name)}"
        if name == "sensitive" and isinstance(child, dict):
            walk(child, sub, True)
        elif isinstance(child, dict | list):
            walk(child, sub, name in sensitive_keys)
        elif (
            isinstance(child, str)
            and not child.startswith(SEALED_PREFIX)
            and (name in sensitive_keys or _looks_sensitive(child))
        ):
            found.append((payload, name, sub))
    if found and key is None:
        raise SensitiveDataError(
            f"{found[0][2]} holds sensitive data (a credential, an address, or a field "
            f"configured as sensitive) and no encryption key is set; refusing to store it "
            f"in clear ({len(found)} value(s) in all)",
            hint=f"set {ENCRYPTION_KEY_ENV} or pass --encryption-key FILE "
            "(create one with `hee-monitor capsule keygen --encryption --out FILE`)",
        )
    for container, index, _ in found:
        container[index] = key.encrypt(container[index]) if key else container[index]
    return [pointer for _, _, pointer in found]


def _map_sealed(node: Any, pointer: str, fn: Any) -> Any:
    if isinstance(node, dict):
        return {k: _map_sealed(v, f"{pointer}/{_escape(k)}", fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_map_sealed(v, f"{pointer}/{i}", fn) for i, v in enumerate(node)]
    if is_sealed(node):
        return fn(node, pointer)
    return node


def masked(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` with every sealed value replaced by ``<encrypted>``."""
    result: dict[str, Any] = _map_sealed(payload, "", lambda value, pointer: MASK)
    return result


def revealed(payload: dict[str, Any], key: EncryptionKey) -> dict[str, Any]:
    """A copy of ``payload`` with every sealed value decrypted (for ``show --reveal``)."""
    result: dict[str, Any] = _map_sealed(
        copy.deepcopy(payload), "", lambda value, pointer: key.decrypt(value, pointer=pointer)
    )
    return result
