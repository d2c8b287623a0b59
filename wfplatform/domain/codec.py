"""Turn domain dataclasses into JSON-ready dicts and back.

The same form is used by the journal, by comparisons between backends and by exports, so
it is normalised: datetimes are UTC ISO 8601 strings at microsecond precision.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
import sys
import typing
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Databases without time zones (SQLite) hand back naive datetimes; they are UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@functools.cache
def _datetime_fields(cls: type) -> frozenset[str]:
    hints = typing.get_type_hints(cls)
    return frozenset(
        field.name
        for field in dataclasses.fields(cls)
        if datetime in (hints[field.name], *typing.get_args(hints[field.name]))
    )


def to_dict(record: Any) -> dict[str, Any]:
    """The normalised form, sharing nothing with the record (safe to keep or change)."""
    return _deep_copy_json(comparable(record))


def comparable(record: Any) -> dict[str, Any]:
    """The normalised form for comparing or hashing only: it shares the record's JSON
    values (no copy), so it must not be changed or kept."""
    data = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    for name in _datetime_fields(type(record)):
        if data[name] is not None:
            data[name] = as_utc(data[name]).isoformat(timespec="microseconds")
    return data


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    values = _deep_copy_json(data)
    for name in _datetime_fields(cls):
        if isinstance(values.get(name), str):
            values[name] = as_utc(datetime.fromisoformat(values[name]))
    return cls(**values)


def _deep_copy_json(value: Any) -> Any:
    """A copy of JSON-shaped data, much faster than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {key: _deep_copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy_json(item) for item in value]
    return value


PROTOCOL = pickle.HIGHEST_PROTOCOL


INTERNED_LENGTH = 32  # strings up to this long are shared between the records that hold them


def _interned_json(value: Any) -> Any:
    """A copy of JSON-shaped data whose keys and short strings are interned: records kept
    for long share them (a workflow's nodes repeat "id", "type", "parameters", and their
    values often repeat too), instead of each holding its own."""
    if isinstance(value, dict):
        return {
            (sys.intern(key) if type(key) is str else key): _interned_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_interned_json(item) for item in value]
    if type(value) is str and len(value) <= INTERNED_LENGTH:
        return sys.intern(value)
    return value


def kept_copy(record: T) -> T:
    """The copy a store keeps for long (memory's tables): as `copy_record`, with its JSON's
    keys and short strings interned. Slower to make than `copy_record`, smaller to keep."""
    changes = {
        field.name: _interned_json(getattr(record, field.name))
        for field in dataclasses.fields(record)
        if isinstance(getattr(record, field.name), dict | list)
    }
    return dataclasses.replace(record, **changes)


def copy_record(record: T) -> T:
    """A copy that shares no mutable JSON with the original (storage hands out copies).
    The JSON fields go through one pickle round trip: exact for every value, and twice as
    fast as copying them item by item in Python (memory's lists spent a third of their time
    here). Only bytes made here a moment ago are unpickled. The copy is made without
    calling the record's `__init__` again: the original was checked when it was made."""
    values = dict(record.__dict__)
    mutable = {name: value for name, value in values.items() if isinstance(value, dict | list)}
    if mutable:
        values.update(pickle.loads(pickle.dumps(mutable, PROTOCOL)))
    clone = object.__new__(type(record))
    clone.__dict__ = values
    return clone
