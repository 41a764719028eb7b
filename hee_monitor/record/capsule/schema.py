"""Validate a payload against schemas/state_capsule.schema.json.

``jsonschema``'s Draft 2020-12 validator is the reference: it is compiled once per process
(the schema never changes at run time) with a strict RFC 3339 ``date-time`` check, and it
reports every violation with the JSON pointer of the offending value and the keyword it
broke. Walking 10,000 history entries with it takes seconds, though, so a stricter copy of
the schema is also compiled by ``jsonschema-rs`` (a Rust validator): a payload it accepts is
valid, and anything it rejects is judged (and explained) by the reference validator. Property
tests hold the two to the same verdicts.

The copy differs in two ways, both of which only ever make it reject more:

* timestamps must be spelled as capsules write them (``2026-11-22T19:00:00Z``), and the
  Rust ``date-time`` check (month lengths, leap years) then decides, instead of calling back
  into Python for every one of them;
* members the schema does not name (unknown fields are allowed) must be JSON values, which
  ``jsonschema-rs`` refuses to see in NaN, infinities or other Python objects. So a payload
  it accepts is also plain, finite JSON, and the fast JSON writers may be used for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from hee_monitor.core.resources import load_schema
from hee_monitor.record.capsule.errors import SchemaViolationError, Violation

SCHEMA_FILE = "state_capsule.schema.json"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


_UTC_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")  # how capsules spell times


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the "type" keyword reports non-strings
    if _UTC_SECONDS.fullmatch(value):  # the common case, checked without rewriting it
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def validator() -> Draft202012Validator:
    """The compiled validator (cached)."""
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_datetime)
    schema = load_schema(SCHEMA_FILE)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=checker)


#: a capsule timestamp (``format_time``): years 0001-9999, whole seconds, UTC; with the
#: compiled ``date-time`` check on top, a string that matches is one ``_is_datetime`` accepts
FAST_UTC_TIME = (
    "^(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
    "-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
)
_JSON_VALUE_REF = {"$ref": "#/$defs/_json_value"}
_JSON_TYPES = ["null", "boolean", "number", "string", "array", "object"]
_SINGLE_SUBSCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def _types(node: dict[str, Any]) -> set[str]:
    declared = node.get("type")
    return {declared} if isinstance(declared, str) else set(declared or ())


def _closed(node: Any) -> Any:
    """``node`` with every object and array it describes closed over JSON values: members
    and items it does not describe must still be JSON (``jsonschema-rs`` rejects NaN,
    infinities and non-JSON objects as values of any JSON type)."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _SINGLE_SUBSCHEMA:
        if key in node:
            out[key] = _closed(node[key])
    for key in _SUBSCHEMA_MAPS:
        if key in node:
            out[key] = {name: _closed(sub) for name, sub in node[key].items()}
    for key in _SUBSCHEMA_LISTS:
        if key in node:
            out[key] = [_closed(sub) for sub in node[key]]
    types = _types(node)
    if ("object" in types or "properties" in node) and "additionalProperties" not in node:
        out["additionalProperties"] = _JSON_VALUE_REF
    if "array" in types and "items" not in node:
        out["items"] = _JSON_VALUE_REF
    return out


def fast_schema() -> dict[str, Any]:
    """The stricter copy of the schema that ``jsonschema-rs`` compiles (see the module)."""
    schema: dict[str, Any] = _closed(load_schema(SCHEMA_FILE))
    defs = schema["$defs"]
    defs["utc_time"] = {**defs["utc_time"], "pattern": FAST_UTC_TIME}
    defs["_json_value"] = {
        "type": _JSON_TYPES,
        "items": _JSON_VALUE_REF,
        "additionalProperties": _JSON_VALUE_REF,
    }
    return schema


@cache
def fast_validator() -> Callable[[Any], bool]:
    """The stricter copy compiled by jsonschema-rs (cached): True only for a valid payload
    that is also plain, finite JSON."""
    compiled = jsonschema_rs.Draft202012Validator(
        fast_schema(), validate_formats=True, ignore_unknown_formats=False
    )

    def is_valid(payload: Any) -> bool:
        try:
            return bool(compiled.is_valid(payload))
        except (ValueError, TypeError, OverflowError, RecursionError):
            return False  # not JSON at all ("Unsupported type"): the reference decides

    return is_valid


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _leaves(error: ValidationError) -> list[ValidationError]:
    # oneOf/anyOf failures carry the useful detail in their sub-errors
    if error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def violations(payload: Any) -> list[Violation]:
    """Every schema violation in ``payload`` (empty when valid), in document order."""
    found: list[Violation] = []
    if fast_validator()(payload):
        return found
    # otherwise the reference validator decides, and says where and why
    for error in validator().iter_errors(payload):
        if error.validator in ("oneOf", "anyOf") and error.context:
            # report the branch that got furthest, not every alternative
            best = max(_leaves(error), key=lambda e: len(e.absolute_path))
            if len(best.absolute_path) > len(error.absolute_path):
                error = best
        found.append(
            Violation(
                pointer=_pointer(error.absolute_path),
                rule=f"{error.validator}",
                message=_message(error),
            )
        )
    found.sort(key=lambda v: v.pointer)
    return found


def _message(error: ValidationError) -> str:
    # never echo long values (they could be large or, before sealing, sensitive)
    if error.validator == "required":
        return str(error.message)
    if error.validator in ("type", "enum", "const", "minimum", "maximum", "format", "pattern"):
        return f"{error.validator} {error.validator_value!r} not satisfied"
    return f"violates {error.validator}"


def validate(payload: Any, *, source: str = "capsule") -> bool:
    """Raise :class:`SchemaViolationError` listing every violation, if any.

    Returns whether the compiled validator accepted ``payload``, which also proves it plain,
    finite JSON (False: valid, but judged by the reference validator)."""
    if fast_validator()(payload):
        return True
    found = violations(payload)
    if found:
        listing = "; ".join(str(v) for v in found[:10])
        more = f" (and {len(found) - 10} more)" if len(found) > 10 else ""
        raise SchemaViolationError(
            f"{source} does not match {SCHEMA_FILE}: {listing}{more}",
            found,
            hint="run `hee-monitor capsule validate` to list every problem",
        )
    return False
