"""Which backend to read a repository from, outside any unit of work.

Backup, restore and the integrity check read each repository from the backend its current
mode reads from (`Storage.read_backend`: memory while the database is behind its
journal), or from a named one; database reads run in their own
sessions with driver faults translated, as everywhere in the adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..backends.sql import new_session, translate_faults
from ..storage.modes import MEMORY

if TYPE_CHECKING:
    from ..repositories.base import Repository
    from ..storage.adapter import Storage


@contextmanager
def reading(storage: Storage, name: str, backend: str | None = None) -> Iterator[Repository]:
    """The committed records of `name` in `backend` (default: the one it reads from now)."""
    if (backend or storage.read_backend(name)) == MEMORY:
        yield storage.memory_repository(name)
        return
    with translate_faults(), new_session(storage.engine) as session:
        yield storage.bindings[name].sql(session)


@contextmanager
def snapshot(storage: Storage) -> Iterator[Callable[[str, int], Iterator[Any]]]:
    """A function giving each repository's committed records in key order, every repository
    (in either backend) as of one moment, so a child is never read without its parent.

    Database reads share one transaction, REPEATABLE READ on PostgreSQL (SQLite's read
    transaction is a snapshot by itself), whose snapshot is taken while memory's lock is
    held, together with `MemoryStore.freeze` of the memory-read repositories: no unit of
    work commits to either backend in between. The frozen maps hold references to the
    records, not copies, so a large store is never held twice."""
    chosen = {name: storage.read_backend(name) for name in storage.bindings}
    in_memory = [name for name, backend in chosen.items() if backend == MEMORY]
    in_database = [name for name, backend in chosen.items() if backend != MEMORY]
    session: Session | None = new_session(storage.engine) if in_database else None
    try:
        with translate_faults():
            fix_snapshot = _snapshot_statement(storage, session, in_database)
            with storage.memory.lock:
                if fix_snapshot is not None:
                    session.execute(fix_snapshot)
                frozen = storage.memory.freeze(in_memory)

            def records(name: str, batch_size: int) -> Iterator[Any]:
                if name in frozen:
                    return (frozen[name][key] for key in sorted(frozen[name]))
                return storage.bindings[name].sql(session).iter_all(batch_size)

            yield records
    finally:
        if session is not None:
            session.close()


def _snapshot_statement(storage: Storage, session: Session | None, names: list[str]):
    """The first statement of the reading transaction, which fixes its snapshot. It runs
    under memory's lock, so it must never wait: on PostgreSQL (REPEATABLE READ) `SELECT 1`
    takes the snapshot and locks nothing (a table read could queue behind a DDL lock and
    stall every memory write); SQLite takes its snapshot at the first read of a table, and
    its readers never wait (write-ahead log)."""
    if session is None:
        return None
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return sa.select(sa.literal(1))
    session.connection()
    return sa.select(storage.bindings[names[0]].sql.model.id).limit(1)
