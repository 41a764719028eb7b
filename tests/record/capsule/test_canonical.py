from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.record.capsule import CapsuleFormatError, Signer, TrustedKeys, new_payload
from hee_monitor.record.capsule.canonical import (
    canonical_bytes,
    digest,
    dump_document,
    parse_document,
)
from hee_monitor.record.capsule.envelope import open_capsule, sign
from tests.record.capsule.conftest import NOW

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

from hee_monitor.record.capsule.canonical import es6_number  # noqa: E402

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
    from hee_monitor.record.capsule.canonical import _orjson_canonical

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
    from hee_monitor.record.capsule.canonical import _INLINE, _inline

    assert _inline(value) == _INLINE.encode(value)


@pytest.mark.parametrize("value", [float("nan"), {"a": float("inf")}, {"a": object()}])
def test_file_form_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises(CapsuleFormatError, match="cannot be written as JSON"):
        dump_document({"x": [value, {"y": 1}]})


# -- form 2 (indented JSON) written by orjson must equal the json module's ------------------

import orjson  # noqa: E402

from hee_monitor.record.capsule.canonical import (  # noqa: E402
    FILE_FORMAT,
    canonicalise,
    dump_document_v1,
    dump_indented,
)

any_float = st.floats(allow_nan=False, allow_infinity=False)
# floats where orjson and Python spell differently (1e-07, 5e-05) or ECMAScript differs
spelled_floats = any_float | st.sampled_from([1e-7, 5e-5, 9.99e-5, 1e-5, 1e16, 1e21, -0.0, 80.0])
float_json = st.recursive(
    tricky_leaf | any_text | spelled_floats,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(tricky_text | any_text, children, max_size=4)
    ),
    max_leaves=20,
)


def _reference_form(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(tricky_text | any_text, float_json | plain_json, max_size=6))
def test_form_two_written_by_orjson_equals_the_json_module(payload: dict[str, Any]) -> None:
    payload["file_format"] = FILE_FORMAT
    document = {"signed": payload, "signatures": [{"keyid": "k", "sig": "s"}]}
    try:
        expected = _reference_form(document)
    except UnicodeEncodeError:
        return  # a lone surrogate: not JSON text at all (both writers refuse it)
    canonical = canonicalise(payload, plain_json=True)
    assert dump_indented(document, canonical.orjson_members) == expected
    assert dump_document(document, plain_json=True) == expected
    assert parse_document(expected, source="f") == document


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(tricky_text | any_text, float_json, max_size=6))
def test_member_by_member_canonical_form_equals_rfc8785(value: dict[str, Any]) -> None:
    canonical = canonicalise(value, plain_json=True)
    assert canonical.data == rfc8785.dumps(value)
    for name in canonical.orjson_members:  # orjson writes these members as json does
        member = value[name]
        assert orjson.dumps(member, option=orjson.OPT_INDENT_2).decode() == json.dumps(
            member, indent=2, ensure_ascii=False
        )


def test_floats_stay_in_their_member() -> None:
    payload = new_payload("octo/app", NOW)
    payload["monitoring_state"]["coverage_metrics"]["line"] = 91.2
    payload["auto_fix_history"].append({"pattern_id": "P", "note": "a.5e-7 is text"})
    canonical = canonicalise(payload, plain_json=True)
    assert "monitoring_state" not in canonical.orjson_members
    assert {"version", "constraints"} <= canonical.orjson_members
    assert canonical.data == rfc8785.dumps(payload)


def test_sign_writes_form_two_exactly_as_the_json_module_would() -> None:
    payload = new_payload("octo/app", NOW)
    assert payload["file_format"] == 2
    payload["monitoring_state"]["coverage_metrics"].update(line=91.2, branch=1e-7, spec=5e-5)
    payload["x"] = {"é": [1.5, None, "a\nb", {}, []], "n": 2**53 - 1}
    signed = sign(payload, [SIGNER])
    document = {"signed": payload, "signatures": [dict(s) for s in signed.signatures]}
    assert signed.raw == _reference_form(document)
    assert open_capsule(signed.raw, KEYS, now=NOW, source="t").payload == payload


# -- form 1 is still read, and only where the signed payload names it ------------------------


def _form_one_payload() -> dict[str, Any]:
    payload = new_payload("octo/app", NOW)
    del payload["file_format"]  # as versions before form 2 wrote it
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
        }
    )
    return payload


def test_a_capsule_naming_no_file_format_is_written_and_read_in_form_one() -> None:
    signed = sign(_form_one_payload(), [SIGNER])
    document = {"signed": signed.payload, "signatures": [dict(s) for s in signed.signatures]}
    assert signed.raw == dump_document_v1(document)
    assert b'"auto_fix_history": [\n      {"timestamp": ' in signed.raw  # a record per line
    loaded = open_capsule(signed.raw, KEYS, now=NOW, source="t")
    assert loaded.payload == signed.payload
    assert sign(loaded.payload, [SIGNER]).raw == signed.raw  # round trip, byte for byte


def test_the_other_form_of_the_same_signed_content_is_refused() -> None:
    one = sign(_form_one_payload(), [SIGNER])
    as_two = _reference_form({"signed": one.payload, "signatures": list(one.signatures)})
    with pytest.raises(CapsuleFormatError, match="edited after it was signed"):
        open_capsule(as_two, KEYS, now=NOW, source="t")
    two = sign(new_payload("octo/app", NOW), [SIGNER])
    as_one = dump_document_v1({"signed": two.payload, "signatures": list(two.signatures)})
    with pytest.raises(CapsuleFormatError, match="edited after it was signed"):
        open_capsule(as_one, KEYS, now=NOW, source="t")


@pytest.mark.parametrize("named", [3, "2", True, None])
def test_an_unknown_file_format_is_refused_with_a_hint(named: object) -> None:
    payload = new_payload("octo/app", NOW)
    payload["file_format"] = named
    raw = _reference_form({"signed": payload, "signatures": []})
    with pytest.raises(CapsuleFormatError, match="is not a form this version") as info:
        parse_document(raw, source="f")
    assert info.value.hint


def test_text_that_looks_like_a_number_keeps_its_member_on_orjson() -> None:
    payload = new_payload("octo/app", NOW)
    payload["decision_history"].append(
        {"timestamp": "2026-11-22T18:30:00Z", "action": "alert",
         "reasons": ["coverage 91.5% below 95", "python 3.11", "v1.2.3", "1.5"]}
    )  # fmt: skip
    payload["x-text"] = {"note": "ratio:1.5, then more"}  # looks like a float token
    canonical = canonicalise(payload, plain_json=True)
    assert "decision_history" in canonical.orjson_members
    assert "x-text" not in canonical.orjson_members  # a false alarm: the slower path
    assert canonical.data == rfc8785.dumps(payload)


def test_hostile_nesting_is_a_clean_format_error() -> None:
    from hee_monitor.record.capsule.canonical import parse_document
    from hee_monitor.record.capsule.errors import CapsuleFormatError

    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(CapsuleFormatError, match="nested too deeply"):
        parse_document(raw, source="deep.json")
