"""Bytes of a capsule: what is signed, what is hashed, and what is written to disk.

* Signatures and digests cover the RFC 8785 (JCS) canonical JSON of the payload only, so
  they do not depend on how a file happens to be formatted.
* Files are written in one deterministic form (2-space indent, UTF-8, keys in payload
  order, trailing newline). A file is accepted only if its bytes are exactly that form of
  its own content: this is what makes *every* edit of a signed file detectable, including
  ones the canonical form cannot see (whitespace, escapes, ``1.0`` vs ``1e0``, key order,
  duplicate keys). Keys keep their order, so load → save round-trips byte for byte and
  unknown fields survive.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from hee_monitor.capsule.errors import CapsuleFormatError

DIGEST_PREFIX = "sha256:"


def canonical_bytes(payload: Any) -> bytes:
    """RFC 8785 canonical JSON of ``payload`` (what signatures and digests cover)."""
    try:
        return rfc8785.dumps(payload)
    except rfc8785.CanonicalizationError as exc:
        raise CapsuleFormatError(
            f"payload cannot be canonicalised (RFC 8785): {exc}",
            hint="numbers must be finite and integers within ±2^53; strings valid Unicode",
        ) from exc


def digest(payload: Any) -> str:
    """``sha256:<hex>`` of the canonical payload: a version's identity in the hash chain."""
    return DIGEST_PREFIX + hashlib.sha256(canonical_bytes(payload)).hexdigest()


def dump_document(document: Any) -> bytes:
    """The one form in which hee-monitor writes capsule files."""
    try:
        text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
        return (text + "\n").encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise CapsuleFormatError(f"capsule cannot be written as JSON: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_document(raw: bytes, *, source: str, strict: bool = True) -> Any:
    """Parse capsule bytes; with ``strict`` also require the deterministic form."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CapsuleFormatError(
            f"{source}: not UTF-8 (byte {exc.start}): the file is corrupt or was altered",
            hint="restore a good copy, e.g. `hee-monitor capsule restore VERSION`",
        ) from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise CapsuleFormatError(
            f"{source}: not valid JSON ({exc}): the file is corrupt or was altered",
            hint="restore a good copy, e.g. `hee-monitor capsule restore VERSION`",
        ) from exc
    if strict and dump_document(document) != raw:
        raise CapsuleFormatError(
            f"{source}: the bytes differ from the form hee-monitor writes, so the file was "
            "edited after it was signed",
            hint="never edit a capsule by hand: change it with `hee-monitor capsule update`",
        )
    return document
