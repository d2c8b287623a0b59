"""A record of an export document, decoded and checked as the API checks what it accepts.

A document may come from anywhere, so a record passes every rule a record written through
the API passed: the shape of its fields, the record's own `validate()`, ids that are UUIDs,
strings that fit their columns (the SQL models declare the lengths, in every mode), JSON
that is finite and nested at most `MAX_DEPTH` deep, and per repository the API's own
schemas (`CONTENT_CHECKS`: a workflow's nodes, edges and graph rules, an email)."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Hashable, Iterator
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, validate

from ..domain.codec import from_dict
from ..domain.ids import is_uuid
from ..domain.validation import validate_record
from ..errors import ValidationFailed
from ..repositories import BY_NAME
from ..repositories.base import RepositorySpec
from ..services.workflow_content import content_problems, plain_json

# JSON carries datetimes as ISO 8601 strings (the codec parses them).
_JSON_TYPES: dict[Any, tuple[type, ...]] = {datetime: (str,), float: (int, float)}
JSON_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}


_EMAIL = validate.Email()


def _email_problems(record: Any) -> dict[str, list[str]]:
    try:
        _EMAIL(record.email)
    except ValidationError as error:
        return {"email": error.messages}
    return {}


# The API's checks of what a client sends, per repository, on the stored record.
CONTENT_CHECKS = {
    "users": _email_problems,
    "workflows": content_problems,
    "workflow_versions": content_problems,
}


class InvalidRecord(Exception):
    """A record that does not decode into its domain type or fails its checks."""

    def __init__(self, problems: dict[str, Any]) -> None:
        super().__init__(problems)
        self.problems = problems


def decode_record(repository: str, data: dict[str, Any]) -> Any:
    """The domain record for one exported record, or `InvalidRecord` saying what is wrong:
    unknown or missing fields, values of the wrong JSON type, failed `validate()`."""
    record_type = BY_NAME[repository].spec.record_type
    problems = _shape_problems(record_type, data) or _json_problems(data)
    if problems:
        raise InvalidRecord(problems)
    try:
        record = from_dict(record_type, data)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord({"record": str(exc)}) from None
    try:
        validate_record(record)
    except ValidationFailed as error:
        problems.update(error.details or {"record": error.message})
    problems.update(_id_problems(repository, record))
    problems.update(_length_problems(repository, record))
    if not problems:
        problems.update(CONTENT_CHECKS.get(repository, _nothing)(record))
    if problems:
        raise InvalidRecord(problems)
    return record


def _nothing(record: Any) -> dict[str, Any]:
    return {}


def _json_problems(data: dict[str, Any]) -> dict[str, list[str]]:
    """Checked before decoding: decoding copies JSON recursively."""
    problems = {}
    for name, value in data.items():
        try:
            plain_json(value)
        except ValidationError as error:
            problems[name] = error.messages
    return problems


def _id_problems(repository: str, record: Any) -> dict[str, str]:
    return {
        name: "not a UUID"
        for name in BY_NAME[repository].spec.id_fields()
        if getattr(record, name) is not None and not is_uuid(getattr(record, name))
    }


def _length_problems(repository: str, record: Any) -> dict[str, str]:
    return {
        name: f"at most {limit} characters"
        for name, limit in _column_lengths(repository).items()
        if isinstance(getattr(record, name), str) and len(getattr(record, name)) > limit
    }


@functools.cache
def _column_lengths(repository: str) -> dict[str, int]:
    """Field -> the length of its SQL column, for the record's string columns."""
    binding = BY_NAME[repository]
    table = binding.sql.model.__table__
    fields = {field.name for field in dataclasses.fields(binding.spec.record_type)}
    return {
        column.name: column.type.length
        for column in table.columns
        if column.name in fields and getattr(column.type, "length", None)
    }


def unique_values(spec: RepositorySpec, record: Any) -> Iterator[tuple[str, Hashable]]:
    """(index, value) for every unique key of the record, as memory indexes them (emails
    case-insensitively)."""
    for key in spec.unique:
        value = key.value(record)
        if value is not None:
            yield key.name, value


def _shape_problems(record_type: type, data: dict[str, Any]) -> dict[str, str]:
    fields = _fields(record_type)
    problems = {name: "unknown field" for name in data if name not in fields}
    for name, (accepted, required) in fields.items():
        if name not in data:
            if required:
                problems[name] = "required"
        elif not isinstance(data[name], accepted) or _bool_for_number(data[name], accepted):
            problems[name] = f"expected {' or '.join(_json_name(kind) for kind in accepted)}"
    return problems


@functools.cache
def _fields(record_type: type) -> dict[str, tuple[tuple[type, ...], bool]]:
    """Per field: the JSON types it accepts, and whether a record must carry it (no default,
    or the key: a missing id must not become a fresh one)."""
    hints = typing.get_type_hints(record_type)
    found = {}
    for field in dataclasses.fields(record_type):
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        found[field.name] = (_accepted(hints[field.name]), field.name == "id" or not has_default)
    return found


def _accepted(hint: Any) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(kind for arg in typing.get_args(hint) for kind in _accepted(arg))
    if hint is Any:
        return (object,)
    origin = typing.get_origin(hint) or hint
    return _JSON_TYPES.get(origin, (origin,))


def _bool_for_number(value: Any, accepted: tuple[type, ...]) -> bool:
    """JSON's true is not a number, though Python's bool is an int."""
    return isinstance(value, bool) and bool not in accepted and object not in accepted


def _json_name(kind: type) -> str:
    return JSON_NAMES.get(kind, kind.__name__)
