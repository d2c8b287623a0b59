"""The storage storage adapter: every repository, routed by its mode.

    storage.users.add(user)                 # one write, its own unit of work
    storage.atomic(lambda uow: ...)         # several writes, atomic in every mode
    storage.switch("dual", reason=..., actor=...)

A database fault inside a unit of work whose repositories run `dual` reading the database
(with fallback on) re-runs the unit of work against memory, and the database's share goes
to the journal: the function given to `atomic` must not have side effects outside storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from ..domain.codec import utcnow
from ..errors import Conflict, GuardRefused, StorageUnavailable
from ..repositories import REPOSITORIES, Repositories, RepositoryBackends
from ..repositories.memory import MemoryRepository
from . import fleet, readiness, switching, verify
from .health import DatabaseHealth
from .journal import SyncJournal
from .locks import CommitSequencer, LockTimeout, ModeGate, StripedLocks, WriteTracker
from .memory import MemoryStore
from .mode_registry import ModeChangeAudit, ModeRegistry
from .modes import DATABASE, MEMORY, Mode, RepositoryMode
from .processes import ProcessRegistry
from .reads import Reader
from .replication import Replicator, SyncWorker
from .routing import AdaptedRepository
from .shadow import ShadowReader
from .sql import new_session, translate_faults
from .stats import StorageStats
from .tracing import operation_span
from .unit_of_work import UnitOfWork
from .warmup import Warmup

T = TypeVar("T")
LOCK_RETRIES = 5
JOURNAL_PENDING = "the journal holds writes the database lacks: replay it first"
MEMORY_IS_PRIMARY = (
    "memory is the primary copy here: records not in the database yet would be deleted "
    "(load memory only while reads come from the database)"
)
log = logging.getLogger(__name__)


class Storage(Repositories):
    """The adapter: `storage.users` (each registry line a typed attribute) routes every call."""

    def __init__(
        self,
        engine: Engine,
        modes: ModeRegistry,
        journal_path: str,
        *,
        repositories: Iterable[RepositoryBackends] = REPOSITORIES,
        retry_after: float = 1.0,
        sync_interval: float = 1.0,
        shadow_capacity: int = 1000,
        thresholds: readiness.Thresholds | None = None,
    ) -> None:
        self.engine = engine
        self.modes = modes
        self.bindings = {binding.name: binding for binding in repositories}
        self.memory = MemoryStore()
        for binding in self.bindings.values():
            binding.memory.create_table(self.memory)
        self.gate = ModeGate()
        self.locks = StripedLocks()
        self.tracker = WriteTracker()
        self.sequencer = CommitSequencer()
        self.stats = StorageStats()
        self.health = DatabaseHealth(retry_after)
        self.journal = SyncJournal(
            journal_path, {name: binding.spec for name, binding in self.bindings.items()}
        )
        self.shadow = ShadowReader(shadow_capacity)
        self.reader = Reader(self)
        self.replicator = Replicator(self)
        self.sync_worker = SyncWorker(self, sync_interval)
        self.thresholds = thresholds or readiness.Thresholds()
        self.processes = ProcessRegistry(engine)
        self.last_verify: dict[str, dict] = {}
        self.warmup = Warmup()

    def repository(self, name: str) -> AdaptedRepository:
        if name not in self.bindings:
            raise KeyError(f"unknown repository {name!r}")
        return AdaptedRepository(self, name)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """What a serving process does before it serves: replay what an earlier process
        left in the journal, load the memory copies of repositories in `dual` (see
        `warmup`), then keep replaying, follow mode changes and say this process is alive
        (see `SyncWorker`, which also finishes a start-up the database cut short)."""
        adopted = self.journal.adopt_orphans()
        if adopted:
            log.info("adopted %d journal entries of processes that are gone", adopted)
        try:  # before replaying: guards elsewhere must see the journal meanwhile
            self.processes.beat(fleet.activity(self))
        except StorageUnavailable as fault:  # the worker keeps trying
            self.health.mark_down(fault.message)
        if len(self.journal):
            log.info("journal holds %d entries from an earlier run", len(self.journal))
        self.warmup.expect(
            name for name, mode in self.modes.snapshot().items() if mode.mode is Mode.DUAL
        )
        self.catch_up()
        self.sync_worker.start()

    def catch_up(self) -> None:
        """Replay the journal and load the memory copies still waiting for it; the
        background worker calls this every second until done. Never raises: a start-up
        must not fail on what the next try may fix."""
        try:
            if self.warmup.pending():
                self._warm_up()
            elif len(self.journal) and not self.health.is_down():
                self.replay_journal()
        except StorageUnavailable as fault:
            self.health.mark_down(fault.message)
        except Exception:
            log.exception("catching up with the database failed; trying again shortly")

    def _warm_up(self) -> None:
        """Replay the journal (it holds acknowledged writes the database lacks), then load
        each repository `warmup` waits for. A database fault leaves the rest for the next try."""
        if len(self.journal):
            self.replay_journal()
            if len(self.journal):
                return  # the database is behind: loading now would miss those writes
        for name in self.warmup.pending():
            if self.modes.get(name).mode is Mode.DATABASE_ONLY:
                self.warmup.mark_loaded(name, self.warmup.generation(name))  # no copy needed
                continue
            started = time.perf_counter()
            try:
                changed = self.load_memory(name)
            except StorageUnavailable as fault:
                log.warning("memory of %s not loaded yet: %s", name, fault.message)
                return
            log.info(
                "memory of %s loaded from the database (%d records changed, %.1f s)",
                name,
                changed,
                time.perf_counter() - started,
            )

    def close(self) -> None:
        self.sync_worker.stop()
        self.shadow.close()
        self.journal.close()
        try:
            self.processes.leave()
        except StorageUnavailable:
            pass  # its heartbeat simply stops; the row is forgotten later

    def process_warning(self) -> str | None:
        """Set when several processes share this database while some repositories keep
        their records in process memory (each process would hold different data), or may
        fall back to it (each process's memory holds only the writes it made: a fallback
        serves, and journals, what that process last saw)."""
        modes = self.modes.snapshot()
        in_memory = [name for name, mode in modes.items() if mode.primary == MEMORY]
        falling_back = [name for name, mode in modes.items() if mode.can_fall_back]
        alive = self.processes.alive()
        if len(alive) < 2 or not (in_memory or falling_back):
            return None
        problems = []
        if in_memory:
            problems.append(
                f"{', '.join(in_memory)} keep records in process memory (memory-only, or dual "
                "reading memory): run a single process until they read from the database"
            )
        if falling_back:
            problems.append(
                f"{', '.join(falling_back)} fall back to process memory, which holds only "
                "this process's writes: run a single process, or switch fallback off"
            )
        return f"{len(alive)} processes use this database while " + "; ".join(problems)

    # -- units of work ------------------------------------------------------------------------
    def serving_mode(self, name: str) -> RepositoryMode:
        """The mode as this process can serve it now: no fallback to a memory copy that
        is not loaded yet (see `warmup`)."""
        mode = self.modes.get(name)
        if mode.can_fall_back and not self.warmup.is_loaded(name):
            return mode.with_settings(fallback=False)
        return mode

    def atomic(self, work: Callable[[UnitOfWork], T]) -> T:
        with self.gate.operation():
            modes = {name: self.serving_mode(name) for name in self.bindings}
            may_fall_back = any(mode.can_fall_back for mode in modes.values())
            # While the database is down or behind its journal, writes that may fall back go
            # to memory and queue behind the journal: replay must keep their order.
            behind = self.health.is_down() or len(self.journal) > 0
            degraded = may_fall_back and behind
            try:
                return self._run_patiently(work, modes, degraded)
            except StorageUnavailable as fault:
                if degraded or not may_fall_back:
                    raise
                log.warning("database failed; unit of work served from memory: %s", fault.message)
                return self._run_patiently(work, modes, degraded=True)

    def _run_patiently(self, work: Callable[[UnitOfWork], T], modes: dict, degraded: bool) -> T:
        """Run again, after a pause, a unit of work that gave up waiting for record locks
        (it had rolled back, so whoever held them could finish)."""
        for attempt in range(LOCK_RETRIES):
            try:
                return self._run(work, modes, degraded)
            except LockTimeout:
                time.sleep(0.05 * (attempt + 1))
        raise Conflict("the records are busy with other requests; try again")

    def _run(self, work: Callable[[UnitOfWork], T], modes: dict, degraded: bool) -> T:
        uow = UnitOfWork(self, modes, degraded)
        try:
            with operation_span("unit_of_work.commit") as span:
                result = work(uow)
                repositories = sorted({repository for repository, _, _ in uow.changes})
                span.set_attribute("wf.storage.repositories", repositories)
                span.set_attribute("wf.storage.fallback", degraded)
                uow.commit()
                span.set_attribute("wf.storage.journaled", uow.journaled)
            return result
        except StorageUnavailable as fault:
            self.health.mark_down(fault.message)
            for name in uow.used:
                if uow.primary(name) == DATABASE:
                    self.stats.error(name, DATABASE, fell_back=modes[name].can_fall_back)
            raise
        finally:
            uow.close()

    # -- helpers used by the adapter's parts ----------------------------------------------------
    def read_backend(self, name: str) -> str:
        """Where a whole-repository read (export, integrity check) should look now: the
        primary, but memory while a database that may fall back is down or behind its
        journal (the journaled writes are not in it yet)."""
        mode = self.serving_mode(name)
        behind = self.health.is_down() or len(self.journal) > 0
        backend = MEMORY if mode.can_fall_back and behind else mode.primary
        self.warmup.require_servable(name, backend, len(self.journal) > 0)
        return backend

    def memory_repository(self, name: str) -> MemoryRepository:
        """The committed memory side of a repository, read and written directly."""
        return self.bindings[name].memory(self.memory)

    def apply_to_memory(self, changes: list[tuple[str, str, Any]]) -> None:
        with self.memory.lock:
            for repository, key, record in changes:
                memory = self.memory_repository(repository)
                if record is None:
                    memory.discard(key)
                else:
                    memory.upsert(record)

    def replay_journal(self) -> dict[str, Any]:
        with operation_span("journal.replay") as span:
            result = self.replicator.replay()
            span.set_attribute("wf.journal.replayed", result["replayed"])
            span.set_attribute("wf.journal.pending", result["pending"])
            return result

    # -- the operator's API ---------------------------------------------------------------------
    def switch(
        self,
        mode: str,
        *,
        reason: str,
        actor: str,
        read_from: str | None = None,
        repositories: Iterable[str] | None = None,
        shadow_rate: float | None = None,
        fallback: bool | None = None,
        force: bool = False,
        dry_run: bool = False,
        audit: ModeChangeAudit | None = None,
    ) -> dict:
        """See `switching.switch`: guarded, for some or all repositories; `audit` makes the
        audit entry stored with the switch (`services.cutover` gives one)."""
        return switching.switch(
            self,
            mode,
            reason=reason,
            actor=actor,
            read_from=read_from,
            repositories=repositories,
            shadow_rate=shadow_rate,
            fallback=fallback,
            force=force,
            dry_run=dry_run,
            audit=audit,
        )

    def follow_mode_changes(self) -> list[str]:
        """Adopt modes another process switched (they share the database); returns the
        repositories that changed. The background worker calls this every second."""
        changes = self.modes.stored_changes()
        if changes:
            with self.gate.switch():
                before = self.modes.snapshot()
                self.modes.adopt(changes)
                self.warmup.expect_walked_back(before, changes)
            for name, mode in changes.items():
                log.info("repository %s now runs %s (switched elsewhere)", name, mode.label())
        return sorted(changes)

    def readiness(self, repository: str) -> dict:
        return readiness.readiness(self, repository)

    def verify(self, repositories: Iterable[str] | None = None) -> dict:
        with operation_span("storage.verify") as span:
            report = verify.verify(self, repositories)
            span.set_attribute("wf.verify.repositories", sorted(report["repositories"]))
            span.set_attribute("wf.verify.differences", report["differences"])
            for kind in ("only_in_memory", "only_in_database", "differing"):
                count = sum(r["counts"][kind] for r in report["repositories"].values())
                span.set_attribute(f"wf.verify.{kind}", count)
        log.log(
            logging.WARNING if report["differences"] else logging.INFO,
            "verify found %d differences",
            report["differences"],
        )
        at = utcnow().isoformat()
        for name, result in report["repositories"].items():
            self.last_verify[name] = {"at": at, "differences": result["differences"]}
        return report

    @contextmanager
    def changing(self, records: Iterable[tuple[str, str]]) -> Iterator[None]:
        """For writers outside units of work (load-memory, journal replay, backfill,
        rollback, repairs): the records' locks, and the shadow reads' write tracker, so a
        comparison racing the change is skipped instead of counted as a mismatch."""
        records = list(records)
        with self.tracker.writing(records), self.locks.hold(records):
            yield

    def load_memory(self, repository: str, batch_size: int = 500) -> int:
        """Make memory equal to the database for one repository (before reads move back to
        memory). Each batch is re-read under its records' locks, so a write racing the load
        is never overwritten with an older copy. Returns the number of records changed."""
        binding = self.bindings[repository]
        memory = self.memory_repository(repository)
        generation = self.warmup.generation(repository)
        with translate_faults(), new_session(self.engine) as session:
            keys = sorted(binding.sql(session).keys() | memory.keys())
        changed = 0
        for start in range(0, len(keys), batch_size):
            batch = keys[start : start + batch_size]
            with self.changing((repository, key) for key in batch):
                in_memory, in_database = verify.read_both(self, repository, batch)
                for key in batch:
                    if key not in in_database:
                        if key in in_memory:
                            memory.discard(key)
                            changed += 1
                    elif in_memory.get(key) != in_database[key]:
                        memory.upsert(in_database[key])
                        changed += 1
        self.warmup.mark_loaded(repository, generation)
        return changed

    def reload_memory(self, repositories: Iterable[str], *, force: bool = False) -> dict:
        """The operator's load-memory: `load_memory` for each repository, after replaying
        the journal; refused (unless `force`) where memory is the primary copy
        (`memory-only`, `dual` reading memory), which holds records the database may lack,
        or while the journal still holds writes: loading would delete them from memory."""
        names = list(repositories)
        if len(self.journal):
            self.replay_journal()  # the database lacks the journaled writes until then
        refused: dict[str, list[str]] = {}
        for name in names:
            if self.modes.get(name).primary == MEMORY:
                refused.setdefault(name, []).append(MEMORY_IS_PRIMARY)
            if len(self.journal):
                refused.setdefault(name, []).append(JOURNAL_PENDING)
        if refused and not force:
            raise GuardRefused(
                "loading memory would delete what only memory holds", {"refused": refused}
            )
        return {name: self.load_memory(name) for name in names}

    def describe(self) -> dict:
        """Per repository: its mode, settings and stats."""
        modes = self.modes.snapshot()
        return {
            name: {
                **modes[name].describe(),
                "journal": len(self.journal),
                "stats": self.stats.snapshot(name),
                "last_verify": self.last_verify.get(name),
            }
            for name in self.bindings
        }
