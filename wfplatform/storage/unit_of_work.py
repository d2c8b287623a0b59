"""Units of work: several writes that commit atomically in every mode.

Writes run against each repository's primary backend: the database inside one transaction,
memory inside a staged overlay. `commit()` then, holding the stripes of every touched record:
commits the primaries (the memory overlay is validated and applied only once the database
side committed), copies the final state of every touched record to the secondary backends,
and releases the stripes. Nobody reads a half-applied unit of work from memory, and both
backends see writes to one record in the same order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..domain.codec import to_dict
from .journal import Change
from .modes import DATABASE, MEMORY, Mode, RepositoryMode
from .sql import new_session, translate_faults

if TYPE_CHECKING:
    from ..repositories.base import Repository, RepositorySpec
    from .adapter import Storage


class UnitOfWork:
    def __init__(self, storage: Storage, modes: dict[str, RepositoryMode], degraded: bool) -> None:
        self._storage = storage
        self.modes = modes
        self.degraded = degraded
        self._memory = storage.memory.begin()
        self._session: Session | None = None
        self.changes: list[tuple[str, str, Any | None]] = []
        self.used: set[str] = set()  # repositories an operation ran on
        self.journaled = False

    def __getattr__(self, name: str) -> Any:
        if name in self._storage.bindings:
            from .routing import BoundRepository

            return BoundRepository(self, name)
        raise AttributeError(name)

    # -- routing ------------------------------------------------------------------------------
    def primary(self, repository: str) -> str:
        mode = self.modes[repository]
        if self.degraded and mode.can_fall_back:
            return MEMORY
        return mode.primary

    def backend(self, repository: str) -> Repository:
        self.used.add(repository)
        binding = self._storage.bindings[repository]
        if self.primary(repository) == MEMORY:
            return binding.memory(self._storage.memory, self._memory, self)
        return binding.sql(self.session, self)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = new_session(self._storage.engine)
        return self._session

    # -- the change sink the repositories report to -----------------------------------------
    def record_change(self, spec: RepositorySpec, key: str, record: Any | None) -> None:
        """Changes are kept in the order the primary applied them: replayed in that order,
        they satisfy the other backend's unique and foreign keys as they satisfied these."""
        self.changes.append((spec.name, key, record))

    def prepare_put(self, spec: RepositorySpec, record: Any) -> None:
        """In dual reading the database, copy parents that exist only in memory first."""
        mode = self.modes[spec.name]
        if mode.mode is Mode.DUAL and self.primary(spec.name) == DATABASE:
            self._storage.replicator.ensure_parents(self.session, spec, record)

    # -- commit -------------------------------------------------------------------------------
    def commit(self) -> None:
        if not self.changes:
            return
        storage = self._storage
        records = {(repository, key) for repository, key, _ in self.changes}
        touched = {repository for repository, _ in records}
        with storage.locks.hold(records), storage.tracker.writing(touched):
            self._commit_primaries(touched)
            self._apply_secondaries()

    def _commit_primaries(self, touched: set[str]) -> None:
        primaries = {self.primary(repository) for repository in touched}
        with translate_faults():
            if primaries == {MEMORY}:
                self._memory.commit()
            elif primaries == {DATABASE}:
                self.session.commit()
            else:
                with self._storage.memory.lock:
                    self._memory.validate()
                    self.session.commit()
                    self._memory.apply()

    def _apply_secondaries(self) -> None:
        to_memory: list[tuple[str, str, Any]] = []
        to_database: list[Change] = []
        for repository, key, record in self.changes:
            mode = self.modes[repository]
            if mode.mode is not Mode.DUAL:
                continue
            if self.primary(repository) == DATABASE:
                to_memory.append((repository, key, record))
            else:
                data = to_dict(record) if record is not None else None
                to_database.append(Change(repository, key, data))
        if to_memory:
            self._storage.apply_to_memory(to_memory)
        if to_database:
            applied = self._storage.replicator.replicate(to_database, journal_only=self.degraded)
            self.journaled = not applied

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
