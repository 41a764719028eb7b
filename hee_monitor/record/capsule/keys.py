"""Ed25519 signing keys and the set of trusted public keys (the only module that imports
``cryptography``'s signature primitives).

A key id is the SHA-256 (hex) of the public key's 32 raw bytes, so the same key always has
the same id whether it came from a PEM file, an environment variable or base64.

Private keys are read from a file or from ``HEE_SIGNING_KEY`` (PEM, or base64 of the 32 raw
bytes); their text is never echoed in an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hee_monitor.record.capsule.errors import CapsuleKeyError

SIGNING_KEY_ENV = "HEE_SIGNING_KEY"
TRUSTED_KEYS_ENV = "HEE_TRUSTED_KEYS"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


class Signer:
    """Signs canonical payload bytes with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.keyid = key_id(self.public_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return public_pem(self.public_key)

    def __repr__(self) -> str:  # never show key material
        return f"Signer(keyid={self.keyid[:16]}…)"


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class TrustedKeys:
    """Public keys whose signatures count, and how many distinct ones are required.

    Several keys allow rotation (sign with the new key, keep the old one trusted until every
    verifier has the new one); a threshold above 1 requires that many distinct signers.
    """

    keys: Mapping[str, Ed25519PublicKey]
    threshold: int = 1
    _ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise CapsuleKeyError(f"threshold must be at least 1, got {self.threshold}")
        if self.threshold > len(self.keys):
            raise CapsuleKeyError(
                f"threshold {self.threshold} needs at least {self.threshold} trusted keys, "
                f"{len(self.keys)} given",
                hint="add public keys with --trusted-key or HEE_TRUSTED_KEYS",
            )
        object.__setattr__(self, "_ids", frozenset(self.keys))

    @classmethod
    def of(cls, public_keys: Iterable[Ed25519PublicKey], threshold: int = 1) -> TrustedKeys:
        return cls({key_id(k): k for k in public_keys}, threshold)

    def verify(self, keyid: str, signature: bytes, data: bytes) -> bool:
        """True if ``keyid`` is trusted and ``signature`` is its valid signature of ``data``."""
        key = self.keys.get(keyid)
        if key is None:
            return False
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def __contains__(self, keyid: object) -> bool:
        return keyid in self._ids


def _read_text(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CapsuleKeyError(
            f"cannot read {what} {path}: {exc.strerror}",
            hint="create one with `hee-monitor capsule keygen`",
        ) from exc


def _b64_raw(text: bytes) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def parse_private_key(material: bytes, *, source: str) -> Signer:
    """A private key from PEM (PKCS#8) or base64 of the 32 raw bytes."""
    stripped = material.strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(stripped, password=None)
        except (ValueError, TypeError) as exc:
            raise CapsuleKeyError(
                f"{source}: not a readable unencrypted PEM private key",
                hint="generate one with `hee-monitor capsule keygen`",
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise CapsuleKeyError(f"{source}: not an Ed25519 private key")
        return Signer(key)
    raw = _b64_raw(stripped)
    if raw is None:
        raise CapsuleKeyError(
            f"{source}: expected a PEM private key or base64 of 32 raw Ed25519 bytes",
            hint="generate one with `hee-monitor capsule keygen`",
        )
    return Signer(Ed25519PrivateKey.from_private_bytes(raw))


def parse_public_key(material: bytes, *, source: str) -> Ed25519PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo) or base64 of the 32 raw bytes."""
    stripped = material.strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(stripped)
        except (ValueError, TypeError) as exc:
            raise CapsuleKeyError(f"{source}: not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise CapsuleKeyError(f"{source}: not an Ed25519 public key")
        return key
    raw = _b64_raw(stripped)
    if raw is None:
        raise CapsuleKeyError(
            f"{source}: expected a PEM public key or base64 of 32 raw Ed25519 bytes"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def load_signer(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Signer:
    """The signing key from ``path``, else from ``HEE_SIGNING_KEY``."""
    environ = os.environ if env is None else env
    if path is not None:
        return parse_private_key(_read_text(path, "signing key"), source=str(path))
    value = environ.get(SIGNING_KEY_ENV)
    if not value:
        raise CapsuleKeyError(
            "no signing key: pass --signing-key FILE or set HEE_SIGNING_KEY",
            hint="create a key pair with `hee-monitor capsule keygen --out capsule-key`",
        )
    return parse_private_key(value.encode("utf-8"), source=SIGNING_KEY_ENV)


def load_public_key(spec: str) -> Ed25519PublicKey:
    """A public key named by ``spec``: a file path, or base64 of the raw key inline."""
    path = Path(spec)
    if path.is_file():
        return parse_public_key(_read_text(path, "public key"), source=str(path))
    raw = _b64_raw(spec.encode("utf-8"))
    if raw is not None:
        return Ed25519PublicKey.from_public_bytes(raw)
    raise CapsuleKeyError(
        f"trusted key {spec!r}: no such file, and not base64 of a raw public key",
        hint="pass the .pub file written by `hee-monitor capsule keygen`",
    )


def load_trusted_keys(
    specs: Iterable[str],
    *,
    threshold: int = 1,
    env: Mapping[str, str] | None = None,
    fallback: Signer | None = None,
) -> TrustedKeys:
    """Trusted keys from ``specs``, else ``HEE_TRUSTED_KEYS`` (comma separated paths or base64
    keys), else the public half of ``fallback`` (the key that signs is trusted by itself)."""
    environ = os.environ if env is None else env
    chosen = [s for s in specs if s]
    if not chosen:
        chosen = [s.strip() for s in environ.get(TRUSTED_KEYS_ENV, "").split(",") if s.strip()]
    if not chosen:
        if fallback is None:
            raise CapsuleKeyError(
                "no trusted public key: pass --trusted-key FILE or set HEE_TRUSTED_KEYS",
                hint="the .pub file written by `hee-monitor capsule keygen` is a trusted key",
            )
        return TrustedKeys.of([fallback.public_key], threshold)
    return TrustedKeys.of([load_public_key(s) for s in chosen], threshold)


def decode_signature(text: str) -> bytes | None:
    """Signature bytes from lowercase hex (what hee-monitor writes); None if malformed.

    Only one spelling is accepted so that a signature string cannot be changed (e.g. its
    case) without the change being detected.
    """
    if len(text) != 128 or text != text.lower():
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None
