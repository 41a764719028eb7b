from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hee_monitor.record.capsule import (
    CapsuleDirectory,
    CapsuleKeyError,
    EncryptionKey,
    SensitiveDataError,
    Signer,
    TrustedKeys,
    load_encryption_key,
)
from hee_monitor.record.capsule.sealing import MASK, is_sealed, masked, revealed, seal
from tests.record.capsule.conftest import NOW, add_fix, later

TOKEN = "ghp_" + "A1b2C3d4" * 5
EMAIL = "oncall@example.com"


def test_sensitive_values_are_sealed_wherever_they_are(encryption_key: EncryptionKey) -> None:
    payload: dict[str, Any] = {
        "sensitive": {"notify_email": EMAIL, "nested": {"anything": "plain"}},
        "auto_fix_history": [{"note": f"pushed with {TOKEN}", "pattern_id": "PAT-1"}],
        "decision_history": [{"reasons": [f"mailed {EMAIL}", "harmless"]}],
        "integrations": {"slack": {"webhook_url": "https://example.invalid/x"}},
        "password": "hunter2",
        "repository": "octo/app",
    }
    sealed = seal(payload, encryption_key)
    assert sorted(sealed) == [
        "/auto_fix_history/0/note",
        "/decision_history/0/reasons/0",
        "/integrations/slack/webhook_url",
        "/password",
        "/sensitive/nested/anything",
        "/sensitive/notify_email",
    ]
    text = repr(payload)
    for secret in (TOKEN, EMAIL, "hunter2", "example.invalid", "plain"):
        assert secret not in text
    assert payload["repository"] == "octo/app"
    assert payload["decision_history"][0]["reasons"][1] == "harmless"
    assert revealed(payload, encryption_key)["sensitive"]["notify_email"] == EMAIL
    assert masked(payload)["password"] == MASK
    # sealing is idempotent: sealed values are left alone
    before = repr(payload)
    assert seal(payload, encryption_key) == []
    assert repr(payload) == before


def test_without_a_key_sensitive_data_is_refused_naming_the_pointer_only() -> None:
    payload: dict[str, Any] = {"sensitive": {"notify_email": EMAIL}}
    with pytest.raises(SensitiveDataError) as info:
        seal(payload, None)
    assert "/sensitive/notify_email" in info.value.message
    assert EMAIL not in info.value.message and EMAIL not in (info.value.hint or "")
    assert payload["sensitive"]["notify_email"] == EMAIL  # nothing half-done


def test_configured_sensitive_keys(encryption_key: EncryptionKey) -> None:
    payload: dict[str, Any] = {"oncall_phone": "+1 555 0100", "token": "abc"}
    assert seal(payload, encryption_key, sensitive_keys={"oncall_phone"}) == ["/oncall_phone"]
    assert payload["token"] == "abc"


def test_wrong_key_cannot_reveal(encryption_key: EncryptionKey) -> None:
    payload: dict[str, Any] = {"sensitive": {"notify_email": EMAIL}}
    seal(payload, encryption_key)
    other = EncryptionKey(EncryptionKey.generate())
    with pytest.raises(SensitiveDataError, match="/sensitive/notify_email: cannot decrypt") as info:
        revealed(payload, other)
    assert EMAIL not in str(info.value)


def test_store_never_writes_clear_text_anywhere(
    tmp_path: Path, signer: Signer, keys: TrustedKeys, encryption_key: EncryptionKey
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys, encryption_key, fix_history_limit=1)
    store.initialise("octo/app", now=NOW)

    def mutate(payload: dict[str, Any]) -> None:
        payload["sensitive"]["notify_email"] = EMAIL
        add_fix(note=f"used {TOKEN}")(payload)

    store.update(mutate, now=later(1))
    store.update(add_fix(when=later(2)), now=later(2))  # pushes the first fix to the archive
    capsule = store.load(now=later(2))
    assert is_sealed(capsule.payload["sensitive"]["notify_email"])
    import gzip

    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            assert EMAIL.encode() not in data and TOKEN.encode() not in data, path


def test_store_without_key_refuses_and_keeps_the_old_version(
    tmp_path: Path, signer: Signer, keys: TrustedKeys
) -> None:
    store = CapsuleDirectory(tmp_path, signer, keys)
    store.initialise("octo/app", now=NOW)
    with pytest.raises(SensitiveDataError):
        store.update(lambda p: p["sensitive"].update(notify_email=EMAIL), now=later(1))
    assert store.load(now=later(1)).version == 1


def test_encryption_key_from_env_or_file(tmp_path: Path) -> None:
    key = EncryptionKey.generate()
    assert load_encryption_key(env={}) is None
    assert load_encryption_key(env={"HEE_CAPSULE_ENCRYPTION_KEY": key.decode()}) is not None
    (tmp_path / "k").write_bytes(key)
    loaded = load_encryption_key(tmp_path / "k", env={})
    assert loaded is not None and "hidden" in repr(loaded)
    with pytest.raises(CapsuleKeyError, match="not a valid encryption key"):
        load_encryption_key(env={"HEE_CAPSULE_ENCRYPTION_KEY": "short"})
