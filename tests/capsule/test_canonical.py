from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.capsule import CapsuleFormatError, Signer, TrustedKeys, new_payload
from hee_monitor.capsule.canonical import canonical_bytes, digest, dump_document, parse_document
from hee_monitor.capsule.envelope import open_capsule, sign
from tests.capsule.conftest import NOW

SIGNER = Signer.generate()
KEYS = TrustedKeys.of([SIGNER.public_key])

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)
#: names the schema does not know: they must survive untouched
unknown_fields = st.dictionaries(
    st.text(min_size=1, max_size=10).map(lambda s: "x-" + s), json_value, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(top=unknown_fields, nested=unknown_fields, in_fix=unknown_fields)
def test_save_load_save_is_byte_identical_and_keeps_unknown_fields(
    top: dict[str, Any], nested: dict[str, Any], in_fix: dict[str, Any]
) -> None:
    payload = new_payload("octo/app", NOW)
    payload.update(top)
    payload["monitoring_state"].update(nested)
    payload["auto_fix_history"].append(
        {
            "timestamp": "2026-11-22T18:30:00Z",
            "pattern_id": "PAT-1",
            "success": True,
            "rollback": False,
            "hee_context": {
                "state_capsule_version": 0,
                "decision_impact": "low",
                "context_preservation": True,
            },
            **in_fix,
        }
    )
    saved = sign(payload, [SIGNER])
    loaded = open_capsule(saved.raw, KEYS, now=NOW, source="t")
    assert loaded.payload == payload
    assert json.dumps(loaded.payload) == json.dumps(payload)  # same key order too
    assert sign(loaded.payload, [SIGNER]).raw == saved.raw
    assert loaded.digest == saved.digest


def test_canonical_form_ignores_key_order_and_formatting() -> None:
    assert canonical_bytes({"b": 1, "a": [1.0, "é"]}) == canonical_bytes({"a": [1, "é"], "b": 1})
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    assert digest({"a": 1}).startswith("sha256:") and len(digest({"a": 1})) == 71


@pytest.mark.parametrize("value", [float("nan"), 2**60, "\ud800"])
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(CapsuleFormatError):
        canonical_bytes({"v": value})


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": NaN}\n', "not valid JSON"),
        (b'{"a": 1}', "edited after it was signed"),  # no trailing newline
        (b'{\n  "a": 1,\n  "a": 2\n}\n', "edited after it was signed"),  # duplicate key
        (b'{\n  "a": 1e0\n}\n', "edited after it was signed"),
    ],
)
def test_parse_document_refuses_anything_but_the_written_form(raw: bytes, fragment: str) -> None:
    with pytest.raises(CapsuleFormatError, match=fragment):
        parse_document(raw, source="f")


def test_dump_document_is_a_fixed_point() -> None:
    document = {"z": 1, "a": {"é": [1.5, None, True]}}
    raw = dump_document(document)
    assert parse_document(raw, source="f") == document
    assert dump_document(parse_document(raw, source="f")) == raw


# -- the fast canonical form must equal the reference implementation ----------------------

import rfc8785  # noqa: E402

from hee_monitor.capsule.canonical import es6_number  # noqa: E402

tricky_text = st.text(alphabet=st.sampled_from(list('ab1.5e-:,[]{}"\\ \n\x01é€😀')), max_size=12)
tricky_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text
)
tricky_json = st.recursive(
    tricky_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(tricky_text, tricky_json, max_size=5))
def test_fast_canonical_form_equals_rfc8785(value: dict[str, Any]) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=400, deadline=None)
@given(number=st.floats(allow_nan=False, allow_infinity=False))
def test_float_spelling_equals_rfc8785(number: float) -> None:
    assert es6_number(number).encode() == rfc8785.dumps(number)


@pytest.mark.parametrize("value", [{"big": 2**53}, {"a": [1, -(2**60)]}, {"s": "x\ud800"}])
def test_fast_path_hands_unrepresentable_values_to_the_reference(value: object) -> None:
    with pytest.raises(CapsuleFormatError):
        canonical_bytes(value)


# -- the orjson path (payloads known to be plain JSON) must equal RFC 8785 -------------------

any_text = st.text(max_size=12)  # every code point but lone surrogates, control chars too
plain_json = st.recursive(
    tricky_leaf | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(tricky_text | any_text, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(tricky_text | any_text, plain_json, max_size=5))
def test_orjson_canonical_form_equals_rfc8785(value: dict[str, Any]) -> None:
    assert canonical_bytes(value, plain_json=True) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**53},
        {"a": [1, -(2**60)]},
        {"s": "x\ud800"},
        {"\ud800": 1},
        {"f": 1.0},
        {"f": [1e-7, 1e21]},
        {"😀": 1, "\ufb01": 2},  # UTF-16 order differs from code point order
    ],
)
def test_orjson_path_declines_what_it_cannot_spell(value: dict[str, Any]) -> None:
    from hee_monitor.capsule.canonical import _orjson_canonical

    assert _orjson_canonical(value) is None
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeError):
        with pytest.raises(CapsuleFormatError):
            canonical_bytes(value, plain_json=True)
    else:
        assert canonical_bytes(value, plain_json=True) == expected


def test_sign_writes_exactly_the_document_form() -> None:
    payload = new_payload("octo/app", NOW)
    payload["x"] = {"é": [1.5, None, "a\nb"]}
    signed = sign(payload, [SIGNER])
    document = {"signed": payload, "signatures": [dict(s) for s in signed.signatures]}
    assert signed.raw == dump_document(document)


@settings(max_examples=200, deadline=None)
@given(value=plain_json)
def test_prebuilt_record_encoder_equals_the_json_module(value: Any) -> None:
    from hee_monitor.capsule.canonical import _INLINE, _inline

    assert _inline(value) == _INLINE.encode(value)


@pytest.mark.parametrize("value", [float("nan"), {"a": float("inf")}, {"a": object()}])
def test_file_form_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises(CapsuleFormatError, match="cannot be written as JSON"):
        dump_document({"x": [value, {"y": 1}]})
