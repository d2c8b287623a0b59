"""Bringing the database up to date with changes already committed elsewhere.

Used for the secondary side of dual writes, for writes served from memory while the
database was down, for lazy sync, and for replaying the journal. Changes are applied in one
transaction, parents before children; a parent that exists only in memory is copied first
(counted as lazy-synced), so a child write never fails on a foreign key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from ..backends.sql import new_session, translate_faults
from ..domain.codec import from_dict, to_dict
from ..errors import DomainError, StorageUnavailable
from ..repositories.base import WRITE
from .journal import Change, JournalEntry
from .modes import DATABASE
from .parts import StorageParts

log = logging.getLogger(__name__)
REPLAY_BATCH = 100  # journal entries a replay applies in one transaction


class Replicator:
    """`wake_worker` has the background worker replay soon what was just journaled."""

    def __init__(self, parts: StorageParts, wake_worker: Callable[[], None]) -> None:
        self._parts = parts
        self._wake_worker = wake_worker
        self._replay_lock = threading.Lock()

    # -- dual writes --------------------------------------------------------------------------
    def replicate(self, changes: list[Change], *, journal_only: bool = False) -> bool:
        """Apply `changes` to the database, or journal them; True when nothing was journaled.

        While the journal holds anything, new changes queue behind it: replay keeps order.
        Memory has committed `changes` already, so no failure is raised to the writer: an
        outage journals them, and a refusal or any other error (see `_diverged`) leaves the
        backends differing, counted and sampled for verify to confirm."""
        parts = self._parts
        if journal_only or len(parts.journal) or parts.health.is_down():
            self._journal(changes)
            return False
        started = time.perf_counter()
        try:
            self.apply(changes)
        except StorageUnavailable as fault:
            self._fell_back(changes, fault)
            return False
        except Exception:  # memory committed them: see `_apply_each`
            if not self._apply_each(changes):
                return False
        elapsed = (time.perf_counter() - started) * 1000
        for repository in {change.repository for change in changes}:
            parts.stats.observe(repository, DATABASE, WRITE, elapsed)
        return True

    def requeue(self, changes: list[Change]) -> None:
        """Queue states the database already has behind the journal, so replaying older
        entries cannot take the database back in time."""
        self._journal(changes)

    def _apply_each(self, changes: list[Change]) -> bool:
        """A failed batch: apply what the database accepts, report the rest as diverged,
        journal what is left if the database goes away meanwhile (False then)."""
        for position, change in enumerate(changes):
            try:
                self.apply([change])
            except StorageUnavailable as fault:
                self._fell_back(changes[position:], fault)
                return False
            except Exception as error:  # a refusal or worse: see `_diverged`
                self._diverged([change], error)
        return True

    def _fell_back(self, changes: list[Change], fault: StorageUnavailable) -> None:
        parts = self._parts
        parts.health.mark_down(fault.message)
        for repository in {change.repository for change in changes}:
            parts.stats.error(repository, DATABASE, fell_back=True)
        log.warning("database write failed, journaled: %s", fault.message)
        self._journal(changes)

    def _journal(self, changes: list[Change]) -> None:
        self._parts.journal.append(changes)
        for change in changes:
            self._parts.stats.add(change.repository, "journaled")
        self._wake_worker()

    def _diverged(self, changes: list[Change], error: Exception) -> None:
        """The database did not take a state memory already committed: it holds stale data.

        A refusal (a unique or foreign key: `DomainError`) counts as `secondary_conflicts`;
        any other error (a driver's `DataError` or `UnicodeEncodeError` on a value stored
        before it was checked, a bug) as `secondary_errors`. Neither is journaled: the
        database would fail the same way at every replay, and the journal would hold every
        later write behind it. The sample names the keys and the error's type, never values;
        verify confirms the difference and a repair or a backfill settles it."""
        expected = isinstance(error, DomainError)
        counter = "secondary_conflicts" if expected else "secondary_errors"
        reason = error.message if expected else type(error).__name__
        for repository in {change.repository for change in changes}:
            self._parts.stats.add(repository, counter)
            self._parts.stats.mismatch(
                repository,
                {
                    "operation": "dual-write",
                    "keys": [c.key for c in changes if c.repository == repository][:10],
                    "reason": reason,
                },
            )
        if expected:
            log.error("database refused a dual write (%s); run verify", reason)
        else:
            log.error("database failed on a dual write (%s); run verify", reason)

    def apply(self, changes: Iterable[Change]) -> None:
        """Apply in the given order (the order the primary applied them) in one transaction;
        parents copied on the way count as lazy-synced once it committed."""
        stored: set[tuple[str, str]] = set()
        synced: list[tuple[str, str]] = []
        with translate_faults(), new_session(self._parts.engine, write=True) as session:
            for change in changes:
                repository = self._sql(change.repository, session)
                if change.data is None:
                    repository.discard(change.key)
                    stored.discard((change.repository, change.key))
                    continue
                record = from_dict(repository.spec.record_type, change.data)
                self.ensure_parents(session, repository.spec, record, stored, synced)
                repository.upsert(record)
                stored.add((change.repository, change.key))
            with self._parts.tracker.copying(synced):
                session.commit()
        for parent_repository, _ in synced:
            self._parts.stats.add(parent_repository, "lazy_synced")

    # -- parents first ------------------------------------------------------------------------
    def ensure_parents(
        self,
        session: Session,
        spec: Any,
        record: Any,
        stored: set[tuple[str, str]],
        synced: list[tuple[str, str]],
    ) -> None:
        """Copy parents that exist only in memory into the database (`stored`: known there);
        `synced` gets each copied parent (repository, key), to count and to tell the write
        tracker of (`WriteTracker.copying`) around the commit of `session`."""
        for parent_repository, parent_key in spec.parent_keys(record):
            if (parent_repository, parent_key) in stored:
                continue
            sql = self._sql(parent_repository, session)
            if sql.fetch(parent_key) is not None:
                continue
            parent = self._parts.memory_repository(parent_repository).fetch(parent_key)
            if parent is None:
                continue  # the database will answer with its foreign-key error
            self.ensure_parents(session, sql.spec, parent, stored, synced)
            if sql.insert_missing(parent):
                synced.append((parent_repository, parent_key))

    def copy_to_database(self, repository: str, record: Any) -> None:
        """Write one record (and missing parents) through to the database."""
        self.apply([Change(repository, record.id, to_dict(record))])

    def _sql(self, repository: str, session: Session):
        return self._parts.bindings[repository].sql(session)

    # -- the journal --------------------------------------------------------------------------
    def replay(self) -> dict[str, Any]:
        """Apply pending journal entries in order, `REPLAY_BATCH` entries a transaction (and
        a checkpoint); stop at the first fault. A batch the database refuses is replayed
        again entry by entry, so only the refused entries are set aside."""
        parts = self._parts
        replayed = 0
        with self._replay_lock:
            pending = parts.journal.pending()
            for start in range(0, len(pending), REPLAY_BATCH):
                batch = pending[start : start + REPLAY_BATCH]
                try:
                    if self._replay_together(batch):
                        replayed += len(batch)
                        continue
                    for entry in batch:
                        self._replay_alone(entry)
                        replayed += 1
                except StorageUnavailable as fault:
                    parts.health.mark_down(fault.message)
                    for repository in {c.repository for e in batch for c in e.changes}:
                        parts.stats.error(repository, DATABASE, fell_back=False)
                    log.warning(
                        "journal replay stopped after %d entries (%d pending): %s",
                        replayed,
                        len(parts.journal),
                        fault.message,
                    )
                    return {
                        "replayed": replayed,
                        "pending": len(parts.journal),
                        "error": str(fault),
                    }
        if replayed:
            parts.health.mark_up()
            log.info("replayed %d journal entries", replayed)
        return {"replayed": replayed, "pending": len(parts.journal), "error": None}

    def _replay_together(self, entries: list[JournalEntry]) -> bool:
        """All `entries` in one transaction; False (nothing applied) when the database
        refused any of them."""
        parts = self._parts
        changes = [change for entry in entries for change in entry.changes]
        try:
            with parts.changing((change.repository, change.key) for change in changes):
                self.apply(changes)
                parts.journal.mark_replayed(entries[-1].seq)
        except StorageUnavailable:
            raise
        except Exception:  # a refusal or worse: found out entry by entry
            return False
        self._count_replayed(changes)
        return True

    def _replay_alone(self, entry: JournalEntry) -> None:
        parts = self._parts
        records = [(change.repository, change.key) for change in entry.changes]
        try:
            with parts.changing(records):
                self.apply(entry.changes)
                parts.journal.mark_replayed(entry.seq)
        except StorageUnavailable:
            raise
        except Exception as error:  # a refusal or worse: see `_diverged`
            self._diverged(list(entry.changes), error)
            parts.journal.mark_replayed(entry.seq)
        self._count_replayed(entry.changes)

    def _count_replayed(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self._parts.stats.add(change.repository, "replayed")
