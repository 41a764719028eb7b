"""Signed capsules: the envelope ``{"signed": payload, "signatures": [...]}``.

Verification order follows python-tuf: bytes → envelope shape → signatures over the
canonical payload (threshold of distinct trusted keys) → schema → expiry. Only after all of
these does the caller compare the version with the trusted record (see ``trust.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hee_monitor.record.capsule import schema
from hee_monitor.record.capsule.canonical import (
    canonical_bytes,
    canonicalise,
    digest_of,
    dump_envelope,
    dump_indented,
    file_format,
    parse_document,
    parse_signed,
    with_signatures,
)
from hee_monitor.record.capsule.errors import (
    BadSignatureError,
    CapsuleFormatError,
    ExpiredCapsuleError,
    MissingSignatureError,
    ThresholdError,
    UnknownKeyError,
)
from hee_monitor.record.capsule.keys import Signer, TrustedKeys, decode_signature


def format_time(moment: datetime) -> str:
    """UTC, whole seconds, ``Z`` suffix: the one way capsules spell a time."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware UTC time")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


@dataclass(frozen=True)
class Capsule:
    """A verified capsule: its payload, version and digest, and the exact file bytes.

    ``payload`` is the capsule's own dict; treat it as read-only and change a capsule only
    through ``CapsuleDirectory.update`` (which works on a copy).
    """

    payload: dict[str, Any]
    signatures: tuple[dict[str, str], ...]
    raw: bytes
    digest: str

    @property
    def version(self) -> int:
        version: int = self.payload["version"]
        return version

    @property
    def repository(self) -> str:
        repository: str = self.payload["repository"]
        return repository

    @property
    def previous_digest(self) -> str | None:
        previous: str | None = self.payload.get("previous_digest")
        return previous

    @property
    def expires(self) -> datetime:
        return parse_time(self.payload["expires"])

    @property
    def created(self) -> datetime:
        return parse_time(self.payload["created"])

    @property
    def keyids(self) -> tuple[str, ...]:
        return tuple(s["keyid"] for s in self.signatures)


def sign(payload: dict[str, Any], signers: Sequence[Signer]) -> Capsule:
    """Validate ``payload`` against the schema, sign it with every signer and write it in
    the file form it names (``file_format``)."""
    if not signers:
        raise MissingSignatureError("no signing key given", hint="pass --signing-key FILE")
    # the compiled validator's acceptance also proves the payload plain, finite JSON, which
    # lets the canonical form and the file form take their fast paths
    plain = schema.validate(payload, source=f"capsule version {payload.get('version')}")
    if file_format(payload) == 1:
        unsigned = dump_envelope(payload)  # refuses anything but plain, finite JSON
        data = canonical_bytes(payload, plain_json=True)
        signatures = _signatures(data, signers)
        raw = with_signatures(unsigned, list(signatures))
        return Capsule(payload, signatures, raw, digest_of(data))
    if not plain:  # the json module refuses anything but plain, finite JSON, saying why
        dump_indented({"signed": payload, "signatures": []})
    canonical = canonicalise(payload, plain_json=True)
    signatures = _signatures(canonical.data, signers)
    envelope = {"signed": payload, "signatures": list(signatures)}
    raw = dump_indented(envelope, canonical.orjson_members)
    return Capsule(payload, signatures, raw, digest_of(canonical.data))


def _signatures(data: bytes, signers: Sequence[Signer]) -> tuple[dict[str, str], ...]:
    return tuple({"keyid": s.keyid, "sig": s.sign(data).hex()} for s in signers)


def _envelope(document: Any, source: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    if not isinstance(document, dict) or set(document) != {"signed", "signatures"}:
        raise CapsuleFormatError(
            f'{source}: not a signed capsule (expected exactly "signed" and "signatures")',
            hint="sign a payload with `hee-monitor capsule generate` or `capsule update`",
        )
    payload, signatures = document["signed"], document["signatures"]
    if not isinstance(payload, dict):
        raise CapsuleFormatError(f'{source}: "signed" must be a JSON object')
    if not isinstance(signatures, list) or not all(
        isinstance(s, dict)
        and set(s) == {"keyid", "sig"}
        and all(isinstance(v, str) for v in s.values())
        for s in signatures
    ):
        raise CapsuleFormatError(
            f'{source}: "signatures" must be a list of {{"keyid": ..., "sig": ...}} objects'
        )
    return payload, signatures


def verify_signatures(
    data: bytes, signatures: Sequence[dict[str, str]], keys: TrustedKeys, source: str
) -> None:
    """Require ``keys.threshold`` valid signatures of ``data`` (the canonical payload) by
    distinct trusted keys."""
    if not signatures:
        raise MissingSignatureError(
            f"{source}: the capsule is not signed",
            hint="sign it with `hee-monitor capsule update --signing-key FILE`",
        )
    valid: set[str] = set()
    bad: list[str] = []
    unknown: list[str] = []
    for entry in signatures:
        keyid = entry["keyid"]
        if keyid not in keys:
            unknown.append(keyid)
            continue
        sig = decode_signature(entry["sig"])
        if sig is not None and keys.verify(keyid, sig, data):
            valid.add(keyid)  # a key counts once, however often it signed
        else:
            bad.append(keyid)
    if len(valid) >= keys.threshold:
        return
    if bad:
        raise BadSignatureError(
            f"{source}: the signature by key {bad[0][:16]}… does not match the content: "
            "the capsule was altered or corrupted after signing",
            hint="do not use this file; restore a good version "
            "(`hee-monitor capsule history`, `hee-monitor capsule restore VERSION`)",
        )
    if not valid and unknown:
        raise UnknownKeyError(
            f"{source}: signed only by untrusted key(s) "
            + ", ".join(k[:16] + "…" for k in unknown),
            hint="if the key is yours, add its .pub file with --trusted-key or HEE_TRUSTED_KEYS",
        )
    raise ThresholdError(
        f"{source}: {len(valid)} valid signature(s) by trusted keys, {keys.threshold} required",
        hint="have more trusted keys sign it (`hee-monitor capsule update` with several "
        "--signing-key options)",
    )


def check_expiry(payload: dict[str, Any], now: datetime, source: str) -> None:
    expires = parse_time(payload["expires"])
    if now >= expires:
        raise ExpiredCapsuleError(
            f"{source}: capsule version {payload['version']} expired at "
            f"{payload['expires']} (now {format_time(now)})",
            hint="whoever holds the signing key renews it with `hee-monitor capsule update` "
            "(every update moves the expiry forward)",
        )


def open_capsule(
    raw: bytes,
    keys: TrustedKeys,
    *,
    now: datetime | None,
    source: str,
) -> Capsule:
    """Parse and verify capsule bytes: format, signatures, schema and (if ``now``) expiry.

    Does not consult the trusted-version record; see ``trust.TrustRecord.check``.
    """
    document, canonical = parse_signed(raw, source=source)
    payload, signatures = _envelope(document, source)
    # strictly parsed: plain, finite JSON (and form 2's check has computed it already)
    data = canonical.data if canonical is not None else canonical_bytes(payload, plain_json=True)
    verify_signatures(data, signatures, keys, source)
    schema.validate(payload, source=source)
    if now is not None:
        check_expiry(payload, now, source)
    return Capsule(payload, tuple(signatures), raw, digest_of(data))


def read_unverified(raw: bytes, *, source: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Payload and signatures without any check beyond JSON shape (for `validate`, which
    reports content problems even when signatures are not at hand)."""
    document = parse_document(raw, source=source, strict=False)
    if isinstance(document, dict) and set(document) == {"signed", "signatures"}:
        return _envelope(document, source)
    if isinstance(document, dict):
        return document, []  # a bare payload
    raise CapsuleFormatError(f"{source}: expected a JSON object")
