"""What a backfill would do with one record, compared with the database's row."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..domain.codec import comparable
from ..domain.validation import validate_record
from ..errors import ValidationFailed

INSERT, UPDATE, IDENTICAL, CONFLICT, INVALID = (
    "insert",
    "update",
    "identical",
    "conflict",
    "invalid",
)
ACTIONS = (INSERT, UPDATE, IDENTICAL, CONFLICT, INVALID)


def canonical(data: dict[str, Any] | None) -> str:
    """A record's normalised form (`comparable`) as one JSON text: written once for each
    record a batch looks at, what its checksum and its quick text check both read."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def checksum(data: dict[str, Any] | None) -> str:
    """The checksum of a record's normalised form (a missing row has its own)."""
    return checksum_of(canonical(data))


def checksum_of(canonical_text: str) -> str:
    return hashlib.sha256(canonical_text.encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    action: str
    record: Any
    current: Any | None = None  # the database's row, when there is one
    reason: str | None = None


@dataclass(frozen=True)
class BatchFacts:
    """What the database says about one batch (its valid records: an invalid one, e.g. text
    with a NUL, could not even be looked up on PostgreSQL)."""

    invalid: dict[str, str]  # key -> why the record cannot be stored
    current: dict[str, Any]  # key -> row
    unique_holders: dict[str, str]  # key -> the other key holding its unique value
    missing_parents: dict[str, str]  # key -> "parent <repository> <key>"


def invalid_reason(record: Any, canonical_text: str) -> str | None:
    """Why no backend may store `record` (its field names and rules, never its values);
    `canonical_text`: the record's `canonical` form."""
    try:
        validate_record(record, encoded=canonical_text)
    except ValidationFailed as error:
        return f"{error.message}: {error.details}"
    return None


def classify(record: Any, facts: BatchFacts) -> Verdict:
    if record.id in facts.invalid:
        return Verdict(INVALID, record, reason=facts.invalid[record.id])
    if record.id in facts.missing_parents:
        reason = f"{facts.missing_parents[record.id]} is not in the database"
        return Verdict(INVALID, record, reason=reason)
    current = facts.current.get(record.id)
    if current is not None and comparable(current) == comparable(record):
        return Verdict(IDENTICAL, record, current)
    if record.id in facts.unique_holders:
        reason = f"a unique value is held by {facts.unique_holders[record.id]}"
        return Verdict(CONFLICT, record, current, reason)
    return Verdict(INSERT if current is None else UPDATE, record, current)
