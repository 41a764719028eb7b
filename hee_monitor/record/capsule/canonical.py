"""Bytes of a capsule: what is signed, what is hashed, and what is written to disk.

* Signatures and digests cover the RFC 8785 (JCS) canonical JSON of the payload only, so
  they do not depend on how a file happens to be formatted.
* Files are written in one deterministic form, named inside the signed payload by
  ``file_format`` (see docs/adr/0002-indented-file-form.md): 2, JSON indented by two spaces
  exactly as ``json.dumps(document, indent=2, ensure_ascii=False)`` writes it plus a
  newline; absent (or 1), the first form (objects over lines, one history record per line,
  see ``dump_document_v1``). A file is accepted only if its bytes are exactly the form its
  own content names: this is what makes *every* edit of a signed file detectable, including
  ones the canonical form cannot see (whitespace, escapes, ``1.0`` vs ``1e0``, key order,
  duplicate keys, the layout itself). Keys keep their order, so load → save round-trips byte
  for byte and unknown fields survive.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785

from hee_monitor.record.capsule.errors import CapsuleFormatError

DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True)
class Canonical:
    """The canonical bytes of a payload, and what computing them proved on the way."""

    data: bytes
    #: members of the payload (an object) that are plain JSON without floats, written by
    #: orjson exactly as the json module writes them: the file writer may use orjson there
    orjson_members: frozenset[str] = frozenset()


def canonical_bytes(payload: Any, *, plain_json: bool = False) -> bytes:
    """RFC 8785 canonical JSON of ``payload`` (what signatures and digests cover)."""
    return canonicalise(payload, plain_json=plain_json).data


def canonicalise(payload: Any, *, plain_json: bool = False) -> Canonical:
    """RFC 8785 canonical JSON of ``payload``, with the members found free of floats.

    ``plain_json`` vouches that ``payload`` holds only JSON values with finite numbers (it
    was parsed from strict JSON, or the compiled schema validator accepted it): then every
    member without floats is encoded by orjson, whose sorted compact output is RFC 8785 for
    objects, arrays, strings, integers, booleans and null (see ``_orjson_canonical``).

    The C JSON encoder with sorted keys and no whitespace already produces RFC 8785 output
    except for how floats are spelled (``1.0`` is ``1``, ``1e-07`` is ``1e-7``), so that is
    the path for the rest, with floats re-spelled the ECMAScript way. Anything unusual
    (characters outside the BMP, whose key order differs in UTF-16, huge integers, values
    JSON cannot hold, many float-like tokens) goes to the reference implementation,
    ``rfc8785``.
    """
    if plain_json:
        if isinstance(payload, dict):
            by_member = _canonical_by_member(payload)
            if by_member is not None:
                return by_member
        fast = _orjson_canonical(payload)
        if fast is not None:
            return Canonical(fast)
    return Canonical(_json_canonical(payload))


def _json_canonical(payload: Any) -> bytes:
    try:
        text = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (ValueError, TypeError):
        return _reference(payload)
    if not text.startswith(("{", "[")) or (not text.isascii() and _NON_BMP.search(text)):
        return _reference(payload)
    respelled = _respell_numbers(text)
    if respelled is None:
        return _reference(payload)
    text = respelled
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let the reference implementation say so
        return _reference(payload)


_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER  # integers beyond ±(2^53 - 1) are refused, as RFC 8785 does
    | orjson.OPT_PASSTHROUGH_SUBCLASS  # str/int/dict/list subclasses: let json decide
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# a float in orjson's output has a point or a signed exponent ("1.5", "1e-7", "1e+21");
# text inside strings can look the same, which merely takes the slower path. A token with a
# point is also followed by "," "]" or "}" and its digits follow ":" "," "[" (or "-"): text
# like "v1.2" or "91.5%" does not count (see _point_token)
_FLOAT_POINT = re.compile(rb"\.\d+(?:e[-+]\d+)?(?=[,\]}])")
_FLOAT_EXPONENT = re.compile(rb"e[-+]\d")
_DIGITS = frozenset(b"0123456789")
_BEFORE_NUMBER = frozenset(b":,[")


def _point_token(out: bytes) -> bool:
    """Whether ``out`` may hold a float with a point (false alarms only inside strings)."""
    for match in _FLOAT_POINT.finditer(out):
        start = point = match.start()
        while start > 0 and out[start - 1] in _DIGITS:
            start -= 1
        if start == point:
            continue  # no digit before the point: text, not a number
        if start > 0 and out[start - 1] == ord("-"):
            start -= 1
        if start == 0 or out[start - 1] in _BEFORE_NUMBER:
            return True
    return False


_NON_BMP_UTF8 = re.compile(rb"[\xf0-\xf4]")


def _canonical_by_member(payload: dict[Any, Any]) -> Canonical | None:
    """The canonical form of a plain JSON object assembled member by member (None: decline).

    A float anywhere makes orjson's output unusable as it is; taking the members one by one
    confines that to the member holding it (the small ``monitoring_state``, typically), which
    then takes the float-respelling path, while the long histories stay on orjson.
    RFC 8785 orders members by the UTF-16 code units of their names: for names inside the
    Basic Multilingual Plane that is code point order, which is how Python sorts strings.
    """
    names = list(payload)
    if not all(type(name) is str for name in names):
        return None
    names.sort()
    if not all(name.isascii() or not _NON_BMP.search(name) for name in names):
        return None
    try:
        encoded = [orjson.dumps(name) for name in names]
    except orjson.JSONEncodeError:  # a lone surrogate
        return None
    parts: list[bytes] = []  # joined once at the end: the histories are megabytes
    plain: list[str] = []
    for name, encoded_name in zip(names, encoded, strict=True):
        value = payload[name]
        member: bytes | None = None
        if isinstance(value, dict | list):
            member = _orjson_canonical(value)
        elif type(value) in _PLAIN_SCALARS:
            member = _orjson_scalar(value)
        if member is None:
            member = _json_canonical(value)  # floats, or what the reference must judge
        else:
            plain.append(name)
        parts += (b"," if parts else b"{", encoded_name, b":", member)
    parts.append(b"}")
    return Canonical(b"".join(parts) if names else b"{}", frozenset(plain))


_PLAIN_SCALARS = (str, int, bool, type(None))


def _orjson_scalar(value: str | int | bool | None) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:  # a lone surrogate, an integer beyond ±(2^53 - 1)
        return None


def _orjson_canonical(payload: Any) -> bytes | None:
    r"""orjson's sorted compact encoding when it is RFC 8785, else None.

    orjson escapes exactly what RFC 8785 does (``"``, ``\\``, and U+0000-U+001F as
    ``\b \t \n \f \r`` or lowercase ``\u00xx``) and writes everything else as UTF-8; it
    sorts keys by code point, which is RFC 8785's UTF-16 order unless a character lies
    outside the BMP. Floats are spelled differently (``1.0``), so any float-like token
    declines. Property tests hold this equal to ``rfc8785.dumps``.
    """
    if not isinstance(payload, dict | list):
        return None
    try:
        out = orjson.dumps(payload, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:  # big integers, lone surrogates, non-JSON types
        return None
    if b"." in out and _point_token(out):  # (a cheap test first: no point, no float)
        return None
    if _FLOAT_EXPONENT.search(out):
        return None
    if not out.isascii() and _NON_BMP_UTF8.search(out):
        return None
    return out


def _reference(payload: Any) -> bytes:
    try:
        return rfc8785.dumps(payload)
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:  # a lone surrogate in a key
        raise CapsuleFormatError(
            f"payload cannot be canonicalised (RFC 8785): {exc}",
            hint="numbers must be finite and integers within ±2^53; strings valid Unicode",
        ) from exc


_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
# a float as Python spells it, or an integer too long to be safe; numbers in compact JSON
# always follow ":", "," or "[" (inside strings such text can occur too: checked below)
_NUMBER_TOKEN = re.compile(r"[:,\[](-?(?:\d+\.\d+(?:e[+-]\d+)?|\d+e[+-]\d+|\d{16,}))(?=[,\]}])")
_ESCAPED_QUOTE = re.compile(r'(?<!\\)(?:\\\\)*\\"')
_MAX_RESPELLED = 10_000
_SAFE_INT = 2**53 - 1


def _respell_numbers(text: str) -> str | None:
    """``text`` with every float outside strings spelled as ECMAScript does; None when the
    reference implementation must decide (a huge integer, or too many candidates)."""
    pieces: list[str] = []
    position = 0
    inside = False  # whether ``position`` is inside a string
    for count, match in enumerate(_NUMBER_TOKEN.finditer(text)):
        if count >= _MAX_RESPELLED:
            return None
        start, end = match.span(1)
        segment = text[position:start]
        quotes = segment.count('"') - len(_ESCAPED_QUOTE.findall(segment))
        inside ^= quotes % 2 == 1
        pieces.append(segment)
        token = match.group(1)
        if inside:
            pieces.append(token)
        elif "." in token or "e" in token:
            pieces.append(es6_number(float(token)))
        elif abs(int(token)) > _SAFE_INT:
            return None
        else:
            pieces.append(token)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def es6_number(value: float) -> str:
    """A finite float spelled as ECMAScript's Number.prototype.toString (RFC 8785 §3.2.2.3).

    Python's ``repr`` already yields the shortest round-tripping digits; only the layout
    (where the point goes, when to use an exponent, how to write it) differs.
    """
    if value == 0:
        return "0"
    if value < 0:
        return "-" + es6_number(-value)
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # value = 0.<digits> x 10^n
    n = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    power = n - 1
    sign = "+" if power >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(power)}"


def digest(payload: Any, *, plain_json: bool = False) -> str:
    """``sha256:<hex>`` of the canonical payload: a version's identity in the hash chain.

    ``plain_json`` as for :func:`canonical_bytes` (true for payloads read from files)."""
    return digest_of(canonical_bytes(payload, plain_json=plain_json))


def digest_of(canonical: bytes) -> str:
    return DIGEST_PREFIX + hashlib.sha256(canonical).hexdigest()


#: the file form written for payloads that name none yet (the store names it in each new
#: version, so an old capsule moves to it with its next update)
FILE_FORMAT = 2
FILE_FORMATS = (1, 2)


def file_format(payload: Any) -> int:
    """The file form ``payload`` names in ``file_format`` (absent: 1, the first form)."""
    named = payload.get("file_format", 1) if isinstance(payload, dict) else 1
    if type(named) is int and named in FILE_FORMATS:
        return named
    raise CapsuleFormatError(
        f"file_format {named!r} is not a form this version of hee-monitor knows "
        f"({', '.join(map(str, FILE_FORMATS))})",
        hint="read it with the hee-monitor version that wrote it, or a newer one",
    )


def _form_of(document: Any) -> int:
    if isinstance(document, dict) and isinstance(document.get("signed"), dict):
        return file_format(document["signed"])
    return 1


def dump_document(document: Any, *, plain_json: bool = False) -> bytes:
    """The bytes hee-monitor writes for ``document``, in the form it names (envelopes: the
    ``file_format`` of their payload; anything else: form 1).

    ``plain_json`` vouches that ``document`` holds only finite JSON values (it was strictly
    parsed, or the compiled schema validator accepted its payload): form 2 is then written
    mostly by orjson, else by the json module.
    """
    if _form_of(document) != 2:
        return dump_document_v1(document)
    if not plain_json:
        return _indented_reference(document)
    return dump_indented(document, canonicalise(document["signed"], plain_json=True).orjson_members)


_INDENT_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_PASSTHROUGH_SUBCLASS  # str/int/dict/list subclasses: let json decide
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_MEMBER_INDENT = "\n    "  # a member of "signed" sits two levels deep


def dump_indented(document: Any, orjson_members: frozenset[str] = frozenset()) -> bytes:
    """Form 2 of an envelope: ``json.dumps(document, indent=2, ensure_ascii=False)`` and a
    newline.

    ``orjson_members`` (from :func:`canonicalise`) names members of ``document["signed"]``
    that are plain JSON without floats: for those orjson writes the same bytes (two-space
    indent, ``": "`` and ``","`` separators, ``[]``/``{}`` when empty, UTF-8 as is, the same
    escapes, keys in order), so the document is written by orjson with the other members
    (floats: orjson spells some differently) spliced in as written by the json module. A
    property test holds the result equal to the json module's.
    """
    if orjson_members and isinstance(document, dict) and isinstance(document.get("signed"), dict):
        signed = {
            name: value if name in orjson_members else orjson.Fragment(_member_form(value))
            for name, value in document["signed"].items()
        }
        try:
            return orjson.dumps({**document, "signed": signed}, option=_INDENT_OPTIONS)
        except orjson.JSONEncodeError:  # something beside the payload orjson refuses
            pass
    return _indented_reference(document)


def _member_form(value: Any) -> bytes:
    return _indented_reference(value, newline=_MEMBER_INDENT)[: -len(_MEMBER_INDENT)]


def _require_string_keys(value: Any) -> None:
    # json.dumps would turn 1, 1.5, True or None keys into strings: not a round trip
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise TypeError(f"object keys must be strings, not {type(key).__name__}")
                stack.append(child)
        elif isinstance(node, list | tuple):
            stack.extend(node)


def _indented_reference(document: Any, *, newline: str = "\n") -> bytes:
    """``json.dumps(document, indent=2, ensure_ascii=False)`` + newline, with every line
    break written as ``newline`` (JSON text has no other line breaks: strings escape them)."""
    try:
        _require_string_keys(document)
        text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        if newline != "\n":
            text = text.replace("\n", newline)
        return text.encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        raise CapsuleFormatError(f"capsule cannot be written as JSON: {exc}") from exc


def dump_document_v1(document: Any) -> bytes:
    """Form 1, the first one hee-monitor wrote (still read, and written for payloads that
    name no ``file_format``).

    Objects are spread over lines (two-space indent); a list of records (fixes, decisions,
    incidents) has one record per line, as compact JSON written by the C JSON encoder.
    """
    try:
        lines: list[str] = []
        _render(document, "", lines, "")
        return ("\n".join(lines) + "\n").encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        raise CapsuleFormatError(f"capsule cannot be written as JSON: {exc}") from exc


_UNSIGNED_TAIL = b'  "signatures": []\n}\n'


def dump_envelope(payload: Any) -> bytes:
    """Form 1 of ``{"signed": payload, "signatures": []}``, for ``with_signatures``."""
    return dump_document_v1({"signed": payload, "signatures": []})


def with_signatures(unsigned: bytes, signatures: list[dict[str, str]]) -> bytes:
    """Form 1 of an envelope from ``dump_envelope``'s bytes and its signatures: equal to
    ``dump_document_v1`` of the whole envelope, without writing the payload again."""
    if not unsigned.endswith(_UNSIGNED_TAIL):
        raise ValueError("not the bytes of dump_envelope")
    lines: list[str] = []
    _render(signatures, "  ", lines, '  "signatures": ')
    return unsigned[: -len(_UNSIGNED_TAIL)] + ("\n".join(lines) + "\n}\n").encode("utf-8")


_INLINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# the C encoder behind _INLINE, made once: the same bytes without building it per record
# (circular structures end in RecursionError instead of a "circular reference" ValueError)
_MAKE_ENCODER: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)
_C_INLINE = (
    _MAKE_ENCODER(
        None, _not_json, json.encoder.encode_basestring, None, ": ", ", ", False, False, False
    )
    if _MAKE_ENCODER is not None
    else None
)


def _inline(value: Any) -> str:
    if _C_INLINE is None:
        return _INLINE.encode(value)
    return "".join(_C_INLINE(value, 0))


def _render(value: Any, indent: str, lines: list[str], head: str, tail: str = "") -> None:
    """Append ``value`` to ``lines``; ``head`` prefixes its first line, ``tail`` ends its last."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        lines.append(head + "{")
        items = list(value.items())
        for position, (key, child) in enumerate(items):
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__}")
            comma = "," if position < len(items) - 1 else ""
            _render(child, inner, lines, f"{inner}{_inline(key)}: ", comma)
        lines.append(indent + "}" + tail)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        lines.append(head + "[")
        last = len(value) - 1
        lines.extend(
            f"{inner}{_inline(item)}{',' if position < last else ''}"
            for position, item in enumerate(value)
        )
        lines.append(indent + "]" + tail)
    else:
        lines.append(head + _inline(value) + tail)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_document(raw: bytes, *, source: str, strict: bool = True) -> Any:
    """Parse capsule bytes; with ``strict`` also require the form the document names."""
    return parse_signed(raw, source=source, strict=strict)[0]


def parse_signed(raw: bytes, *, source: str, strict: bool = True) -> tuple[Any, Canonical | None]:
    """:func:`parse_document`, and the canonical form of the payload when the form check
    computed it (form 2 needs it to know which members orjson may write)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson is the stricter parser (no NaN, no lone surrogates, integers in 64 bits);
        # let the json module decide, and explain, what it refused
        document = _parse_with_json(raw, source)
    canonical = None
    if strict:
        if _form_of(document) == 1:
            written = dump_document_v1(document) == raw
        else:
            canonical = canonicalise(document["signed"], plain_json=True)  # strictly parsed
            # before refusing, the json module has its say (orjson and it agree, property
            # tests hold them to it: this only costs time on a refusal)
            written = dump_indented(document, canonical.orjson_members) == raw
            written = written or _indented_reference(document) == raw
        if not written:
            raise CapsuleFormatError(
                f"{source}: the bytes differ from the form hee-monitor writes, so the file "
                "was edited after it was signed",
                hint="never edit a capsule by hand: change it with `hee-monitor capsule update`",
            )
    return document, canonical


def _parse_with_json(raw: bytes, source: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CapsuleFormatError(
            f"{source}: not UTF-8 (byte {exc.start}): the file is corrupt or was altered",
            hint="restore a good copy, e.g. `hee-monitor capsule restore VERSION`",
        ) from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        # hostile input: nesting deeper than any capsule has costs a clean refusal, not a
        # traceback (orjson stops at 1,024 levels; the json module at the recursion limit)
        raise CapsuleFormatError(
            f"{source}: JSON nested too deeply to be a capsule",
            hint="restore a good copy, e.g. `hee-monitor capsule restore VERSION`",
        ) from None
    except ValueError as exc:
        raise CapsuleFormatError(
            f"{source}: not valid JSON ({exc}): the file is corrupt or was altered",
            hint="restore a good copy, e.g. `hee-monitor capsule restore VERSION`",
        ) from exc
    return document
