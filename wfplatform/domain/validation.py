"""Checks every backend applies before storing a record, so a value that would not fit a
column is the same 422 in every mode instead of a database error in some of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ValidationFailed
from .text import text_problems


def check_record(
    record: Any,
    max_lengths: Mapping[str, int],
    choices: Mapping[str, Iterable[str]] | None = None,
    required: Iterable[str] = (),
) -> None:
    problems = {}
    for name, limit in max_lengths.items():
        value = getattr(record, name)
        if value is not None and len(value) > limit:
            problems[name] = f"at most {limit} characters"
    for name in required:
        if not str(getattr(record, name) or "").strip():
            problems[name] = "required"
    for name, allowed in (choices or {}).items():
        allowed = tuple(allowed)
        if getattr(record, name) not in allowed:
            problems[name] = f"one of {', '.join(allowed)}"
    if problems:
        raise ValidationFailed(f"invalid {type(record).__name__.lower()}", problems)


def validate_record(record: Any, encoded: str | None = None) -> None:
    """Text every backend can store in every field (see `text`), then the record's own
    checks (its `validate()`, when it has one). `encoded`: every field of the record as
    JSON, when the caller has just written it (see `text_problems`)."""
    fields = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    problems = text_problems(fields, encoded=encoded)
    if problems:
        raise ValidationFailed(f"invalid {type(record).__name__.lower()}", problems)
    validate = getattr(record, "validate", None)
    if validate is not None:
        validate()
