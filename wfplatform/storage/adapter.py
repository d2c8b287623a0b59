"""The storage adapter: every repository, routed by its mode.

    storage.users.add(user)                 # one write, its own unit of work
    storage.atomic(lambda uow: ...)         # several writes, atomic in every mode
    storage.switch("dual", reason=..., actor=...)

A database fault inside a unit of work whose repositories run `dual` reading the database
(with fallback on) re-runs the unit of work against memory, and the database's share goes
to the journal: the function given to `atomic` must not have side effects outside storage.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..domain.codec import utcnow
from ..errors import Conflict, StorageUnavailable
from ..repositories import REPOSITORIES, Repositories, RepositoryBackends
from ..repositories.base import ReadinessCheck, RepositorySpec
from ..repositories.memory import MemoryRepository
from . import change_feed, fleet, loading, readiness, switching, verify, whole_reads
from .journal import damage_warning
from .locks import LockTimeout
from .mode_registry import ModeChangeAudit, ModeRegistry
from .modes import DATABASE, MEMORY, Mode, RepositoryMode, needs_one_process
from .on_database import OnDatabase
from .parts import StorageParts
from .processes import ProcessRegistry
from .reads import Reader
from .recent import Thresholds
from .replication import Replicator
from .routing import AdaptedRepository
from .shadow import DEFAULT_BUDGET
from .sync_worker import SyncWorker
from .tracing import operation_span
from .unit_of_work import UnitOfWork
from .warmup import NOT_LOADED

T = TypeVar("T")
LOCK_RETRIES = 5
log = logging.getLogger(__name__)


class Storage(Repositories):
    """Every repository routed by its mode, and the cut-over's controls. The adapter
    composes its pieces around one `StorageParts`; code outside `wfplatform.storage` uses
    only the methods below, never the parts (see docs/ARCHITECTURE.md, "The storage
    package's layers"):

    - Repositories: `storage.<name>` (each registry line a typed attribute) and
      `repository(name)` (reads routed, each write its own unit of work), `atomic(work)`
      for several writes, `repository_names` (parents first), `spec(name)` and
      `add_readiness_check(name, check)`.
    - Modes: `mode(name)` (as stored), `current_modes()`, `serving_mode(name)` (as this
      process serves it now), `mode_history(limit)`, `switch(...)`, `readiness(name)`,
      `describe()`; `waiting_for_memory(name)` (the start-up load).
    - The cut-over's operations: `verify(...)`, `replay_journal()`, `reload_memory(...)`
      (`load_memory(name)`: one repository, without its guards), `reset_stats(names)`.
    - Reading or writing one backend directly, for the backfill, backup and restore, the
      integrity check, admin loading and text repair: `changing(records)` (the records'
      locks, held around such writes), `in_memory(name)`, `on_database(write=...)`,
      `column_mapper(name)`, `holding_memory()`, `read_backend(name)`,
      `reading(name, backend)`, `snapshot()`.
    - Health, for the control-plane API, the readiness probe and the metrics:
      `journal_length()`, `journal_damage()`, `journal_warning()`, `database_health()`,
      `record_cache()`,
      `check_database()`, `process_warning()`, `process_registry` (also what background
      jobs fence with), `report_stats_to(listener)`.
    - The control plane's own tables (jobs, backfill runs, the audit outbox, the schema
      check): `control_plane_engine`.
    - Its life: `start()`, `catch_up()` and `follow_mode_changes()` (the background
      worker's round), `close()`.
    """

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
        shadow_budget: float = DEFAULT_BUDGET,
        thresholds: Thresholds | None = None,
        reading_engine: Engine | None = None,
        cache_capacity: int = 0,
    ) -> None:
        """`reading_engine`: for reads outside units of work (see
        `backends.sql.reading_engine`), disposed by `close`; `engine` when not given.
        `cache_capacity`: records of the repositories declaring `cached_reads` kept per
        process once started, on PostgreSQL (see `record_cache`); 0 keeps none."""
        self.parts = StorageParts(
            engine,
            modes,
            journal_path,
            repositories,
            retry_after=retry_after,
            shadow_capacity=shadow_capacity,
            shadow_budget=shadow_budget,
            thresholds=thresholds,
            reading_engine=reading_engine,
            cache_capacity=cache_capacity,
        )
        self._feed: change_feed.ChangeFeed | None = None
        self.sync_worker = SyncWorker(self.parts, self, sync_interval)
        self.replicator = Replicator(self.parts, self.sync_worker.wake)
        self.reader = Reader(self.parts, self.replicator)

    def _adapted(self, name: str) -> AdaptedRepository:
        return AdaptedRepository(self.parts, name, self.atomic, self.reader)

    def repository(self, name: str) -> AdaptedRepository:
        if name not in self.parts.bindings:
            raise KeyError(f"unknown repository {name!r}")
        return self._adapted(name)

    @property
    def repository_names(self) -> tuple[str, ...]:
        """Every repository this adapter routes, parents before children."""
        return tuple(self.parts.bindings)

    def spec(self, name: str) -> RepositorySpec:
        return self.parts.bindings[name].spec

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """A check of `name`'s readiness for a step beside its spec's, for one that needs
        what only the composition root has (the credentials' key ring): shown and enforced
        like the spec's (see `RepositorySpec.readiness`)."""
        self.parts.readiness_checks[name].append(check)

    def column_mapper(self, name: str) -> Callable[[Any], dict[str, Any]]:
        """The SQL side's `to_columns` of one repository, used without a session (a bulk
        writer maps its rows before it opens the session that writes them)."""
        return self.parts.bindings[name].sql(None).to_columns

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """What a serving process does before it serves: replay what an earlier process
        left in the journal, load the memory copies of repositories in `dual` (see
        `warmup`), then keep replaying, follow mode changes and say this process is alive
        (see `SyncWorker`, which also finishes a start-up the database cut short)."""
        adopted = self.parts.journal.adopt_orphans()
        if adopted:
            log.info("adopted %d journal entries of processes that are gone", adopted)
        try:  # before replaying: guards elsewhere must see the journal meanwhile
            self.parts.processes.beat(fleet.activity(self.parts))
        except StorageUnavailable as fault:  # the worker keeps trying
            self.parts.health.mark_down(fault.message)
        if len(self.parts.journal):
            log.info("journal holds %d entries from an earlier run", len(self.parts.journal))
        self.parts.warmup.expect(
            name for name, mode in self.parts.modes.snapshot().items() if mode.mode is Mode.DUAL
        )
        self.catch_up()
        self.sync_worker.start()
        self._feed = change_feed.follow(self.parts)

    def catch_up(self) -> None:
        """Replay the journal and load the memory copies still waiting for it; the
        background worker calls this every second until done. Never raises: a start-up
        must not fail on what the next try may fix."""
        try:
            if self.parts.warmup.pending():
                loading.warm_up(self.parts, self.replay_journal)
            elif len(self.parts.journal) and not self.parts.health.is_down():
                self.replay_journal()
        except StorageUnavailable as fault:
            self.parts.health.mark_down(fault.message)
        except Exception:
            log.exception("catching up with the database failed; trying again shortly")

    def close(self) -> None:
        self.sync_worker.stop()
        if self._feed is not None:
            self._feed.stop()
        self.parts.shadow.close()
        self.parts.journal.close()
        if self.parts.reading_engine is not self.parts.engine:
            self.parts.reading_engine.dispose()
        try:
            self.parts.processes.leave()
        except StorageUnavailable:
            pass  # its heartbeat simply stops; the row is forgotten later

    def process_warning(self) -> str | None:
        """Set when several processes share this database while some repositories keep
        their records in process memory (each process would hold different data), or may
        fall back to it (each process's memory holds only the writes it made: a fallback
        serves, and journals, what that process last saw)."""
        modes = self.parts.modes.snapshot()
        in_memory = [name for name, mode in modes.items() if mode.primary == MEMORY]
        falling_back = [name for name, mode in modes.items() if mode.can_fall_back]
        alive = self.parts.processes.alive()
        if len(alive) < 2 or not needs_one_process(modes):
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
    def atomic(self, work: Callable[[UnitOfWork], T]) -> T:
        with self.parts.gate.operation():
            modes = {name: self.parts.serving_mode(name) for name in self.parts.bindings}
            may_fall_back = any(mode.can_fall_back for mode in modes.values())
            # While the database is down or behind its journal, writes that may fall back go
            # to memory and queue behind the journal: replay must keep their order.
            behind = self.parts.health.is_down() or len(self.parts.journal) > 0
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
        uow = UnitOfWork(self.parts, self.replicator, modes, degraded)
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
            self.parts.health.mark_down(fault.message)
            for name in uow.used:
                if uow.primary(name) == DATABASE:
                    self.parts.stats.error(name, DATABASE, fell_back=modes[name].can_fall_back)
            raise
        finally:
            uow.close()

    # -- the journal ---------------------------------------------------------------------------
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
            self.parts,
            mode,
            wake_worker=self.sync_worker.wake,
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
        changes = self.parts.modes.stored_changes()
        if changes:
            with self.parts.gate.switch():
                before = self.parts.modes.snapshot()
                self.parts.modes.adopt(changes)
                self.parts.warmup.expect_walked_back(before, changes)
            for name, mode in changes.items():
                log.info("repository %s now runs %s (switched elsewhere)", name, mode.label())
        return sorted(changes)

    def readiness(self, repository: str) -> dict:
        return readiness.readiness(self.parts, repository)

    def verify(self, repositories: Iterable[str] | None = None) -> dict:
        with operation_span("storage.verify") as span:
            report = verify.verify(self.parts, repositories)
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
            self.parts.last_verify[name] = {"at": at, "differences": result["differences"]}
        return report

    def load_memory(self, repository: str, batch_size: int = 500) -> int:
        """See `loading.load_memory`: memory made equal to the database."""
        return loading.load_memory(self.parts, repository, batch_size)

    def reload_memory(self, repositories: Iterable[str], *, force: bool = False) -> dict:
        """See `loading.reload_memory`: the operator's load-memory, guarded."""
        return loading.reload_memory(self.parts, repositories, self.replay_journal, force=force)

    def describe(self) -> dict:
        """Per repository: its mode, settings and stats."""
        modes = self.parts.modes.snapshot()
        return {
            name: {
                **modes[name].describe(),
                "journal": len(self.parts.journal),
                "stats": self.parts.stats.snapshot(name),
                "last_verify": self.parts.last_verify.get(name),
            }
            for name in self.parts.bindings
        }

    def record_cache(self) -> dict[str, Any]:
        """Whether the record cache serves now (its change feed hears from the database),
        how many records it keeps and may keep (see `record_cache`)."""
        return self.parts.cache.describe()

    # -- modes, as outside code sees them -------------------------------------------------------
    def mode(self, name: str) -> RepositoryMode:
        """The repository's mode as stored (see `serving_mode` for how it is served now)."""
        return self.parts.modes.get(name)

    def current_modes(self) -> dict[str, RepositoryMode]:
        return self.parts.modes.snapshot()

    def serving_mode(self, name: str) -> RepositoryMode:
        """See `StorageParts.serving_mode`: no fallback to a memory copy not loaded yet."""
        return self.parts.serving_mode(name)

    def mode_history(self, limit: int = 100) -> list[dict]:
        """Every mode change, newest first: who, when, from, to, why, forced."""
        return self.parts.modes.history(limit)

    def waiting_for_memory(self, name: str) -> str | None:
        """Why the repository cannot serve while the memory copy a start-up (or a walk
        back) needs is being loaded (see `warmup`); None once it is loaded."""
        return None if self.parts.warmup.is_loaded(name) else NOT_LOADED

    def reset_stats(self, names: Iterable[str]) -> None:
        for name in names:
            self.parts.stats.reset(name)

    # -- one backend, directly ------------------------------------------------------------------
    def changing(self, records: Iterable[tuple[str, str]]) -> AbstractContextManager[None]:
        """Held around any write outside a unit of work: see `StorageParts.changing`."""
        return self.parts.changing(records)

    def in_memory(self, name: str) -> MemoryRepository:
        """The committed memory side of one repository, read and written directly."""
        return self.parts.memory_repository(name)

    def on_database(self, *, write: bool = False) -> AbstractContextManager[OnDatabase]:
        """A session of its own on the database and the repositories' SQL sides in it."""
        return self.parts.on_database(write=write)

    def holding_memory(self) -> AbstractContextManager[Any]:
        """Memory's lock: no unit of work commits to memory, and no read of it runs, while
        it is held (a moment: every memory operation of the process waits)."""
        return self.parts.memory.lock

    def read_backend(self, name: str) -> str:
        """See `StorageParts.read_backend`: where a whole-repository read looks now."""
        return self.parts.read_backend(name)

    def reading(self, name: str, backend: str | None = None) -> AbstractContextManager:
        """See `whole_reads.reading`: one repository's records in one backend."""
        return whole_reads.reading(self.parts, name, backend)

    def snapshot(self) -> AbstractContextManager[whole_reads.Records]:
        """See `whole_reads.snapshot`: every repository as of one moment."""
        return whole_reads.snapshot(self.parts)

    # -- health ---------------------------------------------------------------------------------
    def journal_length(self) -> int:
        """Writes this process acknowledged that the database does not hold yet."""
        return len(self.parts.journal)

    def journal_damage(self) -> dict[str, Any]:
        """Damaged journal lines kept aside: where, how many now, what the start found."""
        journal = self.parts.journal
        return {
            "file": str(journal.set_aside_path),
            "lines_kept_aside": journal.set_aside_lines(),
            "found_at_start": dataclasses.asdict(journal.damage),
        }

    def journal_warning(self) -> str | None:
        """Set while damaged journal lines are kept aside (their writes were not replayed)."""
        return damage_warning(self.parts.journal.set_aside_lines())

    def database_health(self) -> dict[str, Any]:
        """Whether the database is taken for down (a fault moments ago), and its last error."""
        health = self.parts.health
        return {"down": health.is_down(), "last_error": health.last_error}

    def check_database(self) -> str | None:
        """Ask the database to answer now: None when it does, else the fault's message
        (the database is then taken for down, as after any fault)."""
        try:
            with self.parts.on_database() as database:
                database.session.execute(sa.text("SELECT 1"))
        except StorageUnavailable as fault:
            self.parts.health.mark_down(fault.message)
            return fault.message
        return None

    @property
    def process_registry(self) -> ProcessRegistry:
        """The processes using this database (alive, this one's id and pid)."""
        return self.parts.processes

    def report_stats_to(self, listener: Any) -> None:
        """Have every count the stats take also reported to `listener` (the metrics)."""
        self.parts.stats.listener = listener

    @property
    def control_plane_engine(self) -> Engine:
        """The database, for the control plane's own tables: they live there whatever the
        repositories' modes."""
        return self.parts.engine
