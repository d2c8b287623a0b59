"""A record of an export document, decoded and checked the way every write checks it."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Hashable, Iterator
from datetime import datetime
from typing import Any

from ..domain.codec import from_dict
from ..domain.validation import validate_record
from ..errors import ValidationFailed
from ..repositories import REPOSITORIES, RepositoryBackends

BINDINGS: dict[str, RepositoryBackends] = {binding.name: binding for binding in REPOSITORIES}
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


class InvalidRecord(Exception):
    """A record that does not decode into its domain type or fails its checks."""

    def __init__(self, problems: dict[str, Any]) -> None:
        super().__init__(problems)
        self.problems = problems


def decode_record(repository: str, data: dict[str, Any]) -> Any:
    """The domain record for one exported record, or `InvalidRecord` saying what is wrong:
    unknown or missing fields, values of the wrong JSON type, failed `validate()`."""
    record_type = BINDINGS[repository].interface.spec.record_type
    problems = _shape_problems(record_type, data)
    if problems:
        raise InvalidRecord(problems)
    try:
        record = from_dict(record_type, data)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord({"record": str(exc)}) from None
    try:
        validate_record(record)
    except ValidationFailed as error:
        raise InvalidRecord(error.details or {"record": error.message}) from None
    return record


def unique_values(repository: str, record: Any) -> Iterator[tuple[str, Hashable]]:
    """(index, value) for every unique field of the record, as memory indexes them (emails
    case-insensitively, one value or several per index)."""
    for index, index_key in BINDINGS[repository].memory.unique.items():
        value = index_key(record)
        if value is None:
            continue
        values = value if isinstance(value, list | set | frozenset) else [value]
        for item in values:
            yield index, item


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
