"""Units of work: several writes that commit atomically in every mode.

Writes run against each repository's primary backend: the database inside one transaction,
memory inside a staged overlay. `commit()` then, holding the stripes of every touched record:
commits the primaries (the memory overlay is validated and applied only once the database
side committed), copies the final state of every touched record to the secondary backends,
and releases the stripes. Nobody reads a half-applied unit of work from memory, and both
backends see writes to one record in the same order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..backends.sql import new_session, translate_faults
from ..domain.codec import to_dict
from ..errors import StorageUnavailable
from ..repositories import Repositories
from ..repositories.base import Repository, RepositorySpec
from .journal import Change
from .modes import DATABASE, MEMORY, Mode, RepositoryMode
from .parts import StorageParts
from .replication import Replicator
from .routing import BoundRepository

MIXED_LOCK_PATIENCE = 0.5  # seconds


class UnitOfWork(Repositories):
    """`uow.users` (each registry line a typed attribute) runs calls inside this unit;
    `replicator` brings the secondaries up to date once the primaries committed."""

    def __init__(
        self,
        parts: StorageParts,
        replicator: Replicator,
        modes: dict[str, RepositoryMode],
        degraded: bool,
    ) -> None:
        self.parts = parts
        self._replicator = replicator
        self.modes = modes
        self.degraded = degraded
        self._memory = parts.memory.begin()
        self._session: Session | None = None
        self.changes: list[tuple[str, str, Any | None]] = []
        self.used: set[str] = set()  # repositories an operation ran on
        self.journaled = False
        # parents copied to the database: counted, and told to the write tracker, at commit
        self.lazy_synced: list[tuple[str, str]] = []

    def repository(self, name: str) -> BoundRepository:
        if name not in self.parts.bindings:
            raise KeyError(f"unknown repository {name!r}")
        return BoundRepository(self, name)

    # -- routing ------------------------------------------------------------------------------
    def primary(self, repository: str) -> str:
        mode = self.modes[repository]
        if self.degraded and mode.can_fall_back:
            return MEMORY
        return mode.primary

    def backend(self, repository: str) -> Repository:
        self.used.add(repository)
        binding = self.parts.bindings[repository]
        parts = self.parts
        backend = self.primary(repository)
        parts.warmup.require_servable(repository, backend, len(parts.journal) > 0)
        if backend == MEMORY:
            return binding.memory(parts.memory, self._memory, self)
        return binding.sql(self.session, self)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = new_session(self.parts.engine, write=True)
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
            self._replicator.ensure_parents(self.session, spec, record, set(), self.lazy_synced)

    # -- commit -------------------------------------------------------------------------------
    def commit(self) -> None:
        """Commit the primaries, then bring the secondaries up to date (see the module doc).

        Memory-first repositories hold their records' locks from the memory commit until
        the database has the change (or the journal does), and replicate in commit order.
        Database-first repositories take no lock while the database holds row locks for
        them: afterwards, under the records' locks, memory takes the database's current
        state, so concurrent writers leave both sides equal whatever order they finish in."""
        if not self.changes:
            return
        parts = self.parts
        records = {(repository, key) for repository, key, _ in self.changes}
        touched = {repository for repository, _ in records}
        memory_first = {(r, k) for r, k in records if self.primary(r) == MEMORY}
        # A unit of work also writing database-first holds row locks by now: it must not
        # wait for record locks for long (their holders may wait for those rows); it gives
        # up, rolls back and is run again (see `Storage.atomic`).
        mixed = bool(memory_first) and len(memory_first) < len(records)
        patience = MIXED_LOCK_PATIENCE if mixed else None
        with parts.tracker.writing(records), parts.tracker.copying(self.lazy_synced):
            with parts.locks.hold(memory_first, timeout=patience):
                to_database = self._changes_for_database()
                ticket = self._commit_primaries(touched, needs_ticket=bool(to_database))
                for repository, _ in self.lazy_synced:
                    parts.stats.add(repository, "lazy_synced")
                if ticket is not None:
                    with parts.sequencer.turn(ticket):
                        applied = self._replicator.replicate(
                            to_database, journal_only=self.degraded
                        )
                        self.journaled = not applied
            self._refresh_memory()

    def _commit_primaries(self, touched: set[str], needs_ticket: bool) -> int | None:
        primaries = {self.primary(repository) for repository in touched}
        with translate_faults():
            if primaries == {DATABASE}:
                self.session.commit()
                return None
            with self.parts.memory.lock:
                self._memory.validate()
                if DATABASE in primaries:
                    self.session.commit()
                self._memory.apply()
                return self.parts.sequencer.take() if needs_ticket else None

    def _changes_for_database(self) -> list[Change]:
        """Dual repositories written memory-first: their changes, in order, for the database."""
        return [
            Change(repository, key, to_dict(record) if record is not None else None)
            for repository, key, record in self.changes
            if self.modes[repository].mode is Mode.DUAL and self.primary(repository) == MEMORY
        ]

    def _refresh_memory(self) -> None:
        """Dual repositories written database-first: memory takes the committed state."""
        keys: dict[str, set[str]] = {}
        for repository, key, _ in self.changes:
            if self.modes[repository].mode is Mode.DUAL and self.primary(repository) == DATABASE:
                keys.setdefault(repository, set()).add(key)
        if not keys:
            return
        parts = self.parts
        with parts.locks.hold((r, k) for r, ks in keys.items() for k in ks):
            states = self._committed_states(keys)
            parts.apply_to_memory(
                [(r, k, states[r].get(k)) for r, ks in keys.items() for k in sorted(ks)]
            )
            if len(parts.journal):
                self._replicator.requeue(
                    [
                        Change(r, k, to_dict(states[r][k]) if k in states[r] else None)
                        for r, ks in keys.items()
                        for k in sorted(ks)
                    ]
                )

    def _committed_states(self, keys: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
        parts = self.parts
        try:
            with translate_faults(), new_session(parts.engine) as session:
                return {
                    repository: parts.bindings[repository].sql(session).fetch_many(sorted(ks))
                    for repository, ks in keys.items()
                }
        except StorageUnavailable:
            # The database went away right after our commit: what we committed is its state.
            final: dict[str, dict[str, Any]] = {repository: {} for repository in keys}
            for repository, key, record in self.changes:
                if repository in keys:
                    if record is None:
                        final[repository].pop(key, None)
                    else:
                        final[repository][key] = record
            return final

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
