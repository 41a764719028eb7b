from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hee_monitor.record.capsule import CapsuleKeyError, Signer, load_signer, load_trusted_keys
from hee_monitor.record.capsule.keys import decode_signature, load_public_key


def _raw_public(signer: Signer) -> bytes:
    return signer.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_key_id_is_sha256_of_the_raw_public_key() -> None:
    signer = Signer.generate()
    assert signer.keyid == hashlib.sha256(_raw_public(signer)).hexdigest()
    assert signer.keyid[:16] in repr(signer) and "PRIVATE" not in repr(signer)


def test_signing_key_from_file_pem_or_env_base64(tmp_path: Path) -> None:
    signer = Signer.generate()
    (tmp_path / "k").write_bytes(signer.private_pem())
    assert load_signer(tmp_path / "k", env={}).keyid == signer.keyid
    assert load_signer(env={"HEE_SIGNING_KEY": signer.private_pem().decode()}).keyid == signer.keyid
    raw = signer._key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    env = {"HEE_SIGNING_KEY": base64.b64encode(raw).decode()}
    assert load_signer(env=env).keyid == signer.keyid


def test_bad_key_material_is_never_echoed() -> None:
    secret = "not-a-key-but-secret-looking-0123456789"
    with pytest.raises(CapsuleKeyError) as info:
        load_signer(env={"HEE_SIGNING_KEY": secret})
    assert secret not in str(info.value) and secret not in (info.value.hint or "")
    with pytest.raises(CapsuleKeyError, match="no signing key"):
        load_signer(env={})


def test_trusted_keys_from_files_env_or_the_signer(tmp_path: Path) -> None:
    one, two = Signer.generate(), Signer.generate()
    (tmp_path / "one.pub").write_bytes(one.public_pem())
    keys = load_trusted_keys([str(tmp_path / "one.pub")], env={})
    assert one.keyid in keys and two.keyid not in keys
    inline = base64.b64encode(_raw_public(two)).decode()
    keys = load_trusted_keys(
        [], env={"HEE_TRUSTED_KEYS": f"{tmp_path / 'one.pub'}, {inline}"}, threshold=2
    )
    assert one.keyid in keys and two.keyid in keys and keys.threshold == 2
    assert two.keyid in load_trusted_keys([], env={}, fallback=two)
    with pytest.raises(CapsuleKeyError, match="no trusted public key"):
        load_trusted_keys([], env={})
    with pytest.raises(CapsuleKeyError, match="no such file"):
        load_public_key(str(tmp_path / "missing.pub"))


def test_only_lowercase_hex_signatures_are_accepted() -> None:
    assert decode_signature("ab" * 64) == bytes.fromhex("ab" * 64)
    assert decode_signature("AB" * 64) is None
    assert decode_signature("ab" * 63) is None
    assert decode_signature("zz" * 64) is None
