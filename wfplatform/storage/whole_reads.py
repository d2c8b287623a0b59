"""Whole repositories read outside any unit of work: one from one backend, or all of them
as of one moment.

Backup, restore, the integrity check and text repair read each repository from the
backend its current mode reads from (`StorageParts.read_backend`: memory while the
database is behind its journal), or from a named one; database reads run in their own
sessions with driver faults translated, as everywhere in the adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ..domain.codec import copy_record
from ..repositories.base import Repository
from .modes import MEMORY
from .on_database import OnDatabase
from .parts import StorageParts

Records = Callable[[str, int], Iterator[Any]]  # (repository, batch size) -> records by key


@contextmanager
def reading(parts: StorageParts, name: str, backend: str | None = None) -> Iterator[Repository]:
    """The committed records of `name` in `backend` (default: the one it reads from now)."""
    if (backend or parts.read_backend(name)) == MEMORY:
        yield parts.memory_repository(name)
        return
    with parts.on_database() as database:
        yield database.repository(name)


@contextmanager
def snapshot(parts: StorageParts) -> Iterator[Records]:
    """A function giving each repository's committed records in key order, every repository
    (in either backend) as of one moment, so a child is never read without its parent.

    Database reads share one transaction, REPEATABLE READ on PostgreSQL (SQLite's read
    transaction is a snapshot by itself), whose snapshot is taken while memory's lock is
    held, together with `MemoryStore.freeze` of the memory-read repositories: no unit of
    work commits to either backend in between. The frozen maps hold references to the
    records memory keeps, not copies, so a large store is never held twice; each is
    copied as it is read."""
    chosen = {name: parts.read_backend(name) for name in parts.bindings}
    in_memory = [name for name, backend in chosen.items() if backend == MEMORY]
    in_database = [name for name, backend in chosen.items() if backend != MEMORY]
    with parts.on_database() as database:  # a session connects only once it is used
        fix_snapshot = _snapshot_statement(database, in_database) if in_database else None
        with parts.memory.lock:
            if fix_snapshot is not None:
                database.session.execute(fix_snapshot)
            frozen = parts.memory.freeze(in_memory)

        def records(name: str, batch_size: int) -> Iterator[Any]:
            if name in frozen:
                return (copy_record(frozen[name][key]) for key in sorted(frozen[name]))
            return database.repository(name).iter_all(batch_size)

        yield records


def _snapshot_statement(database: OnDatabase, names: list[str]):
    """The first statement of the reading transaction, which fixes its snapshot. It runs
    under memory's lock, so it must never wait: on PostgreSQL (REPEATABLE READ) `SELECT 1`
    takes the snapshot and locks nothing (a table read could queue behind a DDL lock and
    stall every memory write); SQLite takes its snapshot at the first read of a table, and
    its readers never wait (write-ahead log)."""
    session = database.session
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return sa.select(sa.literal(1))
    session.connection()
    return sa.select(database.repository(names[0]).model.id).limit(1)
