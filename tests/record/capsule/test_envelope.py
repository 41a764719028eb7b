from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.record.capsule import (
    BadSignatureError,
    CapsuleError,
    CapsuleFormatError,
    ExpiredCapsuleError,
    MissingSignatureError,
    SchemaViolationError,
    Signer,
    ThresholdError,
    TrustedKeys,
    UnknownKeyError,
    new_payload,
)
from hee_monitor.record.capsule.canonical import dump_document
from hee_monitor.record.capsule.envelope import open_capsule, sign
from tests.record.capsule.conftest import NOW

SIGNER = Signer.generate()
KEYS = TrustedKeys.of([SIGNER.public_key])


def _signed_file() -> bytes:
    payload = new_payload("octo/app", NOW)
    payload["monitoring_state"]["current_status"] = "degraded"
    payload["monitoring_state"]["coverage_metrics"]["line"] = 91.25
    payload["open_incidents"].append(
        {"id": "INC-1", "opened": "2026-11-22T18:00:00Z", "severity": "high", "title": "Tests — ü"}
    )
    payload["x-unknown"] = {"kept": [1, 2.5, None]}
    return sign(payload, [SIGNER]).raw


SIGNED = _signed_file()


def test_every_single_byte_flip_is_detected() -> None:
    undetected = []
    for position in range(len(SIGNED)):
        for mask in (0x01, 0x20, 0x80):
            tampered = bytearray(SIGNED)
            tampered[position] ^= mask
            try:
                open_capsule(bytes(tampered), KEYS, now=NOW, source="t")
            except CapsuleError:
                continue
            undetected.append((position, mask))
    assert undetected == []
    assert open_capsule(SIGNED, KEYS, now=NOW, source="t").version == 1


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(SIGNED) - 1), new=st.integers(0, 255))
def test_any_byte_replaced_by_any_value_is_detected(position: int, new: int) -> None:
    if SIGNED[position] == new:
        return
    tampered = bytearray(SIGNED)
    tampered[position] = new
    with pytest.raises(CapsuleError):
        open_capsule(bytes(tampered), KEYS, now=NOW, source="t")


def _envelope(raw: bytes) -> dict:  # type: ignore[type-arg]
    document: dict = json.loads(raw)  # type: ignore[type-arg]
    return document


def test_unsigned_capsule_is_refused_as_missing_signature() -> None:
    document = _envelope(SIGNED)
    document["signatures"] = []
    with pytest.raises(MissingSignatureError, match="not signed"):
        open_capsule(dump_document(document), KEYS, now=NOW, source="t")


def test_changed_content_is_a_bad_signature() -> None:
    document = _envelope(SIGNED)
    document["signed"]["monitoring_state"]["current_status"] = "operational"
    with pytest.raises(BadSignatureError, match="altered or corrupted"):
        open_capsule(dump_document(document), KEYS, now=NOW, source="t")


def test_signature_by_an_unknown_key_is_refused() -> None:
    stranger = Signer.generate()
    raw = sign(_envelope(SIGNED)["signed"], [stranger]).raw
    with pytest.raises(UnknownKeyError, match="untrusted key") as info:
        open_capsule(raw, KEYS, now=NOW, source="t")
    assert "--trusted-key" in (info.value.hint or "")


def test_bare_payload_is_not_a_signed_capsule() -> None:
    with pytest.raises(CapsuleFormatError, match="not a signed capsule"):
        open_capsule(dump_document(_envelope(SIGNED)["signed"]), KEYS, now=NOW, source="t")


def test_schema_violation_names_pointer_and_rule() -> None:
    payload = _envelope(SIGNED)["signed"]
    payload["monitoring_state"]["hee_specific"]["spec_coverage"] = 140
    document = {"signed": payload, "signatures": []}
    # sign() validates first, so build a signed-but-invalid capsule by hand
    from hee_monitor.record.capsule.canonical import canonical_bytes

    document["signatures"] = [
        {"keyid": SIGNER.keyid, "sig": SIGNER.sign(canonical_bytes(payload)).hex()}
    ]
    with pytest.raises(SchemaViolationError) as info:
        open_capsule(dump_document(document), KEYS, now=NOW, source="t")
    assert [(v.pointer, v.rule) for v in info.value.violations] == [
        ("/monitoring_state/hee_specific/spec_coverage", "maximum")
    ]
    assert "/monitoring_state/hee_specific/spec_coverage" in info.value.message


def test_expiry_uses_the_injected_time() -> None:
    expires = NOW + timedelta(days=30)
    assert open_capsule(SIGNED, KEYS, now=expires - timedelta(seconds=1), source="t")
    with pytest.raises(ExpiredCapsuleError, match="expired at 2026-12-22T19:00:00Z"):
        open_capsule(SIGNED, KEYS, now=expires, source="t")
    assert open_capsule(SIGNED, KEYS, now=None, source="t").version == 1


def test_rotation_with_threshold_two() -> None:
    old, new, newest = Signer.generate(), Signer.generate(), Signer.generate()
    payload = _envelope(SIGNED)["signed"]
    during = TrustedKeys.of([old.public_key, new.public_key, newest.public_key], threshold=2)
    # two distinct trusted signatures meet the threshold
    assert open_capsule(sign(payload, [old, new]).raw, during, now=NOW, source="t")
    # one signature, or the same key twice, does not
    with pytest.raises(ThresholdError, match="1 valid signature"):
        open_capsule(sign(payload, [old]).raw, during, now=NOW, source="t")
    with pytest.raises(ThresholdError):
        open_capsule(sign(payload, [old, old]).raw, during, now=NOW, source="t")
    # after rotation the old key is gone: capsules signed by new + newest still load,
    # capsules relying on the old key no longer do
    after = TrustedKeys.of([new.public_key, newest.public_key], threshold=2)
    assert open_capsule(sign(payload, [new, newest]).raw, after, now=NOW, source="t")
    with pytest.raises(ThresholdError):
        open_capsule(sign(payload, [old, new]).raw, after, now=NOW, source="t")
    # an extra signature by an unknown key does not spoil a valid set
    assert open_capsule(sign(payload, [new, newest, old]).raw, after, now=NOW, source="t")


def test_threshold_cannot_exceed_the_number_of_keys() -> None:
    with pytest.raises(CapsuleError, match="threshold 2"):
        TrustedKeys.of([SIGNER.public_key], threshold=2)


# -- form 1 files (written before form 2) are held to the same strictness --------------------


def _form_one_file() -> bytes:
    payload = _envelope(SIGNED)["signed"]
    del payload["file_format"]
    return sign(payload, [SIGNER]).raw


SIGNED_FORM_ONE = _form_one_file()


def test_every_single_byte_flip_of_a_form_one_file_is_detected() -> None:
    assert not SIGNED_FORM_ONE.startswith(SIGNED[:200])  # really the other layout
    undetected = []
    for position in range(len(SIGNED_FORM_ONE)):
        tampered = bytearray(SIGNED_FORM_ONE)
        tampered[position] ^= 0x20
        try:
            open_capsule(bytes(tampered), KEYS, now=NOW, source="t")
        except CapsuleError:
            continue
        undetected.append(position)
    assert undetected == []
    assert open_capsule(SIGNED_FORM_ONE, KEYS, now=NOW, source="t").version == 1


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("top", float("nan")),
        ("record", float("inf")),
        ("percent", float("nan")),
        ("top", {"a": [1, -float("inf")]}),
    ],
)
def test_sign_refuses_values_json_cannot_hold(where: str, value: object) -> None:
    payload = _envelope(SIGNED)["signed"]
    if where == "top":
        payload["x-score"] = value
    elif where == "record":
        payload["open_incidents"][0]["x-score"] = value
    else:
        payload["monitoring_state"]["coverage_metrics"]["branch"] = value
    with pytest.raises(CapsuleFormatError, match="cannot be written as JSON"):
        sign(payload, [SIGNER])


def test_sign_refuses_integers_without_a_canonical_form() -> None:
    payload = _envelope(SIGNED)["signed"]
    payload["x-big"] = 2**53
    with pytest.raises(CapsuleFormatError, match="canonicalised"):
        sign(payload, [SIGNER])
