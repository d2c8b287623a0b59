"""The parts the storage adapter's pieces share, in one object they all receive.

`Storage` builds one `StorageParts` and hands it to each of its pieces (reads,
replication, units of work, verify, readiness, switching, the background worker); a piece
reaches the engine, the modes, the memory store, the locks, the journal and the counters
through it, never through `Storage`. So imports in the package go one way: the adapter
above its pieces, the pieces above these parts, the parts above the modules that define
them (see docs/ARCHITECTURE.md, "The storage package's layers")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine

from ..backends.memory import MemoryStore
from ..backends.sql import new_session, translate_faults
from ..repositories import RepositoryBackends
from ..repositories.base import ReadinessCheck
from ..repositories.memory import MemoryRepository
from .health import DatabaseHealth
from .journal import SyncJournal
from .locks import CommitSequencer, ModeGate, StripedLocks, WriteTracker
from .mode_registry import ModeRegistry
from .modes import MEMORY, RepositoryMode
from .on_database import OnDatabase
from .processes import ProcessRegistry
from .recent import Thresholds
from .record_cache import RecordCache
from .shadow import DEFAULT_BUDGET, ShadowReader
from .stats import StorageStats
from .warmup import Warmup


class StorageParts:
    """Everything one adapter owns, built once; thread-safe where each part says it is."""

    def __init__(
        self,
        engine: Engine,
        modes: ModeRegistry,
        journal_path: str,
        repositories: Iterable[RepositoryBackends],
        *,
        retry_after: float = 1.0,
        shadow_capacity: int = 1000,
        shadow_budget: float = DEFAULT_BUDGET,
        thresholds: Thresholds | None = None,
        reading_engine: Engine | None = None,
        cache_capacity: int = 0,
    ) -> None:
        self.engine = engine
        self.reading_engine = reading_engine or engine  # reads outside units of work
        self.modes = modes
        self.bindings = {binding.name: binding for binding in repositories}
        self.memory = MemoryStore()
        for binding in self.bindings.values():
            binding.memory.create_table(self.memory)
        # a repository on the committed tables keeps no state of its own: one serves all
        self._committed = {
            name: binding.memory(self.memory) for name, binding in self.bindings.items()
        }
        self.gate = ModeGate()
        self.locks = StripedLocks()
        self.tracker = WriteTracker()
        self.cache = RecordCache(self.tracker, cache_capacity)
        self.sequencer = CommitSequencer()
        self.stats = StorageStats()
        self.health = DatabaseHealth(retry_after)
        self.journal = SyncJournal(
            journal_path, {name: binding.spec for name, binding in self.bindings.items()}
        )
        self.shadow = ShadowReader(shadow_capacity, shadow_budget)
        self.processes = ProcessRegistry(engine)
        self.warmup = Warmup()
        self.thresholds = thresholds or Thresholds()
        self.last_verify: dict[str, dict] = {}
        # repository -> readiness checks the composition root adds (see `add_readiness_check`)
        self.readiness_checks: dict[str, list[ReadinessCheck]] = defaultdict(list)

    def serving_mode(self, name: str) -> RepositoryMode:
        """The mode as this process can serve it now: no fallback to a memory copy that
        is not loaded yet (see `warmup`)."""
        mode = self.modes.get(name)
        if mode.can_fall_back and not self.warmup.is_loaded(name):
            return mode.with_settings(fallback=False)
        return mode

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
        return self._committed[name]

    def apply_to_memory(self, changes: list[tuple[str, str, Any]]) -> None:
        with self.memory.lock:
            for repository, key, record in changes:
                memory = self.memory_repository(repository)
                if record is None:
                    memory.discard(key)
                else:
                    memory.upsert(record)

    @contextmanager
    def changing(self, records: Iterable[tuple[str, str]]) -> Iterator[None]:
        """For writers outside units of work (load-memory, journal replay, backfill,
        rollback, repairs): the records' locks, and the shadow reads' write tracker, so a
        comparison racing the change is skipped instead of counted as a mismatch."""
        records = list(records)
        with self.tracker.writing(records), self.locks.hold(records):
            yield

    @contextmanager
    def on_database(self, *, write: bool = False) -> Iterator[OnDatabase]:
        """A session of its own on the database, driver faults translated; it connects
        when first used and commits only when asked."""
        with translate_faults(), new_session(self.engine, write=write) as session:
            yield OnDatabase(session, self.bindings)
