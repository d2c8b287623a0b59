"""A complete comparison of both backends, repository by repository.

Both sides are streamed in key order and merge-joined, so a large store is not loaded
twice. Keys that differ are checked again under their record locks before being reported:
a write that raced the comparison is not a difference."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..backends.sql import new_session, translate_faults
from ..domain.codec import comparable
from .parts import StorageParts

REPORT_CAP = 100


def verify(parts: StorageParts, repositories: Iterable[str] | None = None) -> dict:
    names = list(repositories) if repositories else list(parts.bindings)
    report = {name: compare_repository(parts, name) for name in names}
    return {
        "differences": sum(item["differences"] for item in report.values()),
        "repositories": report,
    }


def compare_repository(parts: StorageParts, repository: str) -> dict:
    suspects: dict[str, list[str]] = {"only_in_memory": [], "only_in_database": [], "differing": []}
    memory = parts.memory_repository(repository).iter_all()
    with translate_faults(), new_session(parts.engine) as session:
        database = parts.bindings[repository].sql(session).iter_all()
        for key, in_memory, in_database in _merge(memory, database):
            if in_database is None:
                suspects["only_in_memory"].append(key)
            elif in_memory is None:
                suspects["only_in_database"].append(key)
            elif in_memory != in_database:
                suspects["differing"].append(key)
    confirmed = {kind: _recheck(parts, repository, keys) for kind, keys in suspects.items()}
    counts = {kind: len(keys) for kind, keys in confirmed.items()}
    return {
        "differences": sum(counts.values()),
        "counts": counts,
        **{kind: keys[:REPORT_CAP] for kind, keys in confirmed.items()},
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


def read_both(parts: StorageParts, repository: str, keys: list[str]) -> tuple[dict, dict]:
    """(memory's records, the database's records) among `keys`, read while the caller
    holds their record locks."""
    with translate_faults(), new_session(parts.engine) as session:
        in_database = parts.bindings[repository].sql(session).fetch_many(keys)
    return parts.memory_repository(repository).peek_many(keys), in_database


def _recheck(parts: StorageParts, repository: str, keys: list[str], batch: int = 500) -> list[str]:
    """The keys that still differ when read again under their record locks, in batches."""
    still = []
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        with parts.locks.hold((repository, key) for key in chunk):
            in_memory, in_database = read_both(parts, repository, chunk)
        for key in chunk:
            left, right = in_memory.get(key), in_database.get(key)
            if (comparable(left) if left else None) != (comparable(right) if right else None):
                still.append(key)
    return still
