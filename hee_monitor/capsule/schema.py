"""Validate a payload against schemas/state_capsule.schema.json.

``jsonschema``'s Draft 2020-12 validator is the reference: it is compiled once per process
(the schema never changes at run time) with a strict RFC 3339 ``date-time`` check, and it
reports every violation with the JSON pointer of the offending value and the keyword it
broke. Walking 10,000 history entries with it takes seconds, though, so the same schema is
also compiled by ``jsonschema-rs`` (a Rust validator, with the same ``date-time`` check
called back); a payload it accepts is valid, and anything it rejects is judged (and
explained) by the reference validator. A property test holds the two to the same verdicts.
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

from hee_monitor.capsule.errors import SchemaViolationError, Violation
from hee_monitor.resources import load_schema

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


@cache
def fast_validator() -> Callable[[Any], bool]:
    """The schema compiled by jsonschema-rs (cached): whether a payload is valid."""
    compiled = jsonschema_rs.Draft202012Validator(
        load_schema(SCHEMA_FILE),
        formats={"date-time": _is_datetime},
        validate_formats=True,
        ignore_unknown_formats=False,
    )
    return compiled.is_valid


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


def validate(payload: Any, *, source: str = "capsule") -> None:
    """Raise :class:`SchemaViolationError` listing every violation, if any."""
    found = violations(payload)
    if found:
        listing = "; ".join(str(v) for v in found[:10])
        more = f" (and {len(found) - 10} more)" if len(found) > 10 else ""
        raise SchemaViolationError(
            f"{source} does not match {SCHEMA_FILE}: {listing}{more}",
            found,
            hint="run `hee-monitor capsule validate` to list every problem",
        )
