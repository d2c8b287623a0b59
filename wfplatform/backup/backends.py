"""Which backend to read a repository from, outside any unit of work.

Backup, restore and the integrity check read each repository from the backend its current
mode reads from (`Storage.read_backend`: memory while the database is behind its
journal), or from a named one; database reads run in their own
sessions with driver faults translated, as everywhere in the adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..storage.modes import MEMORY
from ..storage.sql import new_session, translate_faults

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
def snapshot(storage: Storage) -> Iterator[Callable[[str], Repository]]:
    """A function giving each repository's read backend, chosen once. Database reads share
    one transaction, REPEATABLE READ on PostgreSQL (SQLite's read transaction is a snapshot
    by itself), so database-backed repositories are read as of one moment and a child is
    never read without its parent. Memory has no snapshots: it is read as it goes."""
    chosen = {name: storage.read_backend(name) for name in storage.bindings}
    session: Session | None = None

    def backend(name: str) -> Repository:
        nonlocal session
        if chosen[name] == MEMORY:
            return storage.memory_repository(name)
        if session is None:
            session = new_session(storage.engine)
            if storage.engine.dialect.name == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return storage.bindings[name].sql(session)

    try:
        with translate_faults():
            yield backend
    finally:
        if session is not None:
            session.close()
