"""Turn domain dataclasses into JSON-ready dicts and back.

The same form is used by the journal, by comparisons between backends and by exports, so
it is normalised: datetimes are UTC ISO 8601 strings at microsecond precision.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
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
PACKED = "_packed_json"  # where a kept record holds its JSON fields, pickled together


def kept_copy(record: T) -> T:
    """The copy a store keeps for long (memory's tables): its scalar fields as they are
    (immutable, so shared), its JSON fields pickled together into one bytes object under
    `PACKED`, and its cached properties computed (`stored_bytes`: what quotas add up
    without opening the JSON). Half the size of the live JSON, where every dict costs
    about 200 bytes before its first item, and a copy made from it is one unpickling.
    A kept record is read only for its scalar fields and cached properties: its JSON
    fields are not attributes of it (reading one fails loudly); `copy_record` gives the
    whole record back."""
    values = dict(record.__dict__)
    for name, cached in _cached_properties(type(record)):
        # measured now, on the copy only: a value the caller's record cached may be stale
        values[name] = cached.func(record)
    documents = _documents(values)
    for name in documents:
        del values[name]
    if documents:
        # a fresh copy first: pickling keeps containers the caller's JSON shares shared, and
        # every copy handed out would share them too (JSON from a request or a row never does)
        values[PACKED] = pickle.dumps(_deep_copy_json(documents), PROTOCOL)
    kept = object.__new__(type(record))
    kept.__dict__ = values
    return kept


def _documents(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON-shaped values among a record's attributes."""
    return {name: value for name, value in values.items() if isinstance(value, dict | list)}


@functools.cache
def _cached_properties(cls: type) -> tuple[tuple[str, functools.cached_property], ...]:
    return tuple(
        (name, member)
        for klass in reversed(cls.__mro__)
        for name, member in vars(klass).items()
        if isinstance(member, functools.cached_property)
    )


def copy_record(record: T, *, measured: bool = False) -> T:
    """A copy that shares no mutable JSON with the original (storage hands out copies),
    of a live record or of a kept one (`kept_copy`). The JSON fields go through one
    pickle round trip: exact for every value, and twice as fast as copying them item by
    item in Python. Only bytes pickled here, now or when the record was kept, are
    unpickled. The copy is made without calling the record's `__init__` again (the
    original was checked when it was made), and without the original's cached
    properties (the copy may be changed, and measures itself again when asked), unless
    `measured`: a copy its caller never changes keeps them."""
    values = dict(record.__dict__)
    if not measured:
        for name, _ in _cached_properties(type(record)):
            values.pop(name, None)
    packed = values.pop(PACKED, None)
    if packed is not None:
        values.update(pickle.loads(packed))
    else:
        documents = {
            name: value for name, value in values.items() if isinstance(value, dict | list)
        }
        if documents:
            values.update(pickle.loads(pickle.dumps(documents, PROTOCOL)))
    clone = object.__new__(type(record))
    clone.__dict__ = values
    return clone
