"""A complete comparison of both backends, repository by repository.

Both sides are streamed in key order and merge-joined, so a large store is not loaded
twice. Keys that differ are checked again under their record locks before being reported:
a write that raced the comparison is not a difference."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from ..backends.sql import new_session, translate_faults
from ..domain.codec import comparable
from .parts import StorageParts

REPORT_CAP = 100
KINDS = ("only_in_memory", "only_in_database", "differing")


def verify(parts: StorageParts, repositories: Iterable[str] | None = None) -> dict:
    names = list(repositories) if repositories else list(parts.bindings)
    report = {name: compare_repository(parts, name) for name in names}
    return {
        "differences": sum(item["differences"] for item in report.values()),
        "repositories": report,
    }


def compare_repository(parts: StorageParts, repository: str) -> dict:
    """Every key of both sides merged; the suspects are read again under their locks."""
    suspects = scan(parts, repository)
    return report(recheck(parts, repository, list(suspects)))


def scan(parts: StorageParts, repository: str) -> dict[str, str]:
    """The kind of difference (`KINDS`) of every key whose copies differed as both sides
    were streamed past, in key order: suspects, until `recheck` confirms them."""
    suspects = {}
    memory = parts.memory_repository(repository).iter_all()
    with translate_faults(), new_session(parts.engine) as session:
        database = parts.bindings[repository].sql(session).iter_all()
        for key, in_memory, in_database in _merge(memory, database):
            kind = difference(in_memory, in_database)
            if kind is not None:
                suspects[key] = kind
    return suspects


def difference(in_memory: Any, in_database: Any) -> str | None:
    """Which of `KINDS` two comparable forms (None: absent) are, or None when equal."""
    if in_memory == in_database:
        return None
    if in_database is None:
        return "only_in_memory"
    return "only_in_database" if in_memory is None else "differing"


def report(differences: dict[str, str]) -> dict:
    """A repository's comparison report from its differences by key."""
    ordered = sorted(differences)
    keys = {kind: [key for key in ordered if differences[key] == kind] for kind in KINDS}
    counts = {kind: len(found) for kind, found in keys.items()}
    return {
        "differences": sum(counts.values()),
        "counts": counts,
        **{kind: found[:REPORT_CAP] for kind, found in keys.items()},
    }


def _merge(memory: Iterator[Any], database: Iterator[Any]) -> Iterator[tuple]:
    """(key, memory form, database form) for every key on either side, in key order."""
    left, right = next(memory, None), next(database, None)
    while left is not None or right is not None:
        if right is None or (left is not None and left.id < right.id):
            yield left.id, comparable(left), None
            left = next(memory, None)
        elif left is None or right.id < left.id:
            yield right.id, None, comparable(right)
            right = next(database, None)
        else:
            yield left.id, comparable(left), comparable(right)
            left, right = next(memory, None), next(database, None)


def probe(parts: StorageParts, repository: str) -> None:
    """Ask the repository's table for one key: `StorageUnavailable` unless it answers."""
    model = parts.bindings[repository].sql.model
    with translate_faults(), new_session(parts.engine) as session:
        session.scalar(sa.select(model.id).limit(1))


def read_both(parts: StorageParts, repository: str, keys: list[str]) -> tuple[dict, dict]:
    """(memory's records, the database's records) among `keys`, read while the caller
    holds their record locks."""
    with translate_faults(), new_session(parts.engine) as session:
        in_database = parts.bindings[repository].sql(session).fetch_many(keys)
    return parts.memory_repository(repository).fetch_many(keys), in_database


def recheck(
    parts: StorageParts, repository: str, keys: Iterable[str], batch: int = 500
) -> dict[str, str]:
    """The differences among `keys` read again under their record locks, in batches."""
    keys = list(keys)
    still = {}
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        with parts.locks.hold((repository, key) for key in chunk):
            in_memory, in_database = read_both(parts, repository, chunk)
        for key in chunk:
            left, right = in_memory.get(key), in_database.get(key)
            kind = difference(
                comparable(left) if left else None, comparable(right) if right else None
            )
            if kind is not None:
                still[key] = kind
    return still
