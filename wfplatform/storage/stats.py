"""Counters per repository and backend. Thread-safe; cheap enough for every operation."""

from __future__ import annotations

import bisect
import threading
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from ..domain.codec import utcnow
from .modes import DATABASE, MEMORY
from .recent import RecentCounts

LATENCY_BUCKETS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
MISMATCH_SAMPLES = 10


@dataclass
class BackendStats:
    reads: int = 0
    writes: int = 0
    errors: int = 0
    fallbacks: int = 0
    latency_count: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_MS))

    def observe(self, kind: str, elapsed_ms: float) -> None:
        if kind == "read":
            self.reads += 1
        else:
            self.writes += 1
        self.latency_count += 1
        self.latency_sum_ms += elapsed_ms
        self.latency_max_ms = max(self.latency_max_ms, elapsed_ms)
        index = bisect.bisect_left(LATENCY_BUCKETS_MS, elapsed_ms)  # the first bound >= it
        if index < len(LATENCY_BUCKETS_MS):
            self.latency_buckets[index] += 1


@dataclass
class RepositoryStats:
    backends: dict[str, BackendStats] = field(
        default_factory=lambda: {MEMORY: BackendStats(), DATABASE: BackendStats()}
    )
    shadow_compares: int = 0
    shadow_skipped: int = 0
    shadow_dropped: int = 0
    shadow_missing: int = 0
    mismatches: int = 0
    mismatch_samples: deque = field(default_factory=lambda: deque(maxlen=MISMATCH_SAMPLES))
    journaled: int = 0
    replayed: int = 0
    lazy_synced: int = 0
    secondary_conflicts: int = 0
    secondary_errors: int = 0
    cache_hits: int = 0  # reads the record cache answered: no backend read them
    since: str = field(default_factory=lambda: utcnow().isoformat())


COUNTERS = (
    "shadow_compares",
    "shadow_skipped",
    "shadow_dropped",
    "shadow_missing",
    "mismatches",
    "journaled",
    "replayed",
    "lazy_synced",
    "secondary_conflicts",
    "secondary_errors",
    "cache_hits",
)


class StorageStats:
    """Totals since the last reset, plus the last five minutes per repository (operations,
    errors, mismatches) for the readiness checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repositories: dict[str, RepositoryStats] = {}
        self._recent: defaultdict[str, RecentCounts] = defaultdict(RecentCounts)
        # told of every event as it happens (metrics shared between processes); never reset
        self.listener: Any = None

    def recent(self, repository: str) -> Counter:
        return self._recent[repository].totals()

    def _repo(self, repository: str) -> RepositoryStats:
        stats = self._repositories.get(repository)
        if stats is None:
            stats = self._repositories[repository] = RepositoryStats()
        return stats

    def observe(self, repository: str, backend: str, kind: str, elapsed_ms: float) -> None:
        with self._lock:
            self._repo(repository).backends[backend].observe(kind, elapsed_ms)
        self._recent[repository].add("operations")
        if self.listener is not None:
            self.listener.observe(repository, backend, kind, elapsed_ms)

    def error(self, repository: str, backend: str, *, fell_back: bool) -> None:
        self._recent[repository].add("errors")
        with self._lock:
            backend_stats = self._repo(repository).backends[backend]
            backend_stats.errors += 1
            if fell_back:
                backend_stats.fallbacks += 1
        if self.listener is not None:
            self.listener.error(repository, backend, fell_back=fell_back)

    def add(self, repository: str, counter: str, amount: int = 1) -> None:
        if counter not in COUNTERS:
            raise KeyError(counter)
        with self._lock:
            stats = self._repo(repository)
            setattr(stats, counter, getattr(stats, counter) + amount)
        if self.listener is not None:
            self.listener.add(repository, counter, amount)

    def mismatch(self, repository: str, sample: dict[str, Any]) -> None:
        self._recent[repository].add("mismatches")
        with self._lock:
            stats = self._repo(repository)
            stats.mismatches += 1
            stats.mismatch_samples.append({"at": utcnow().isoformat(), **sample})
        if self.listener is not None:
            self.listener.add(repository, "mismatches")

    def snapshot(self, repository: str) -> dict[str, Any]:
        with self._lock:
            stats = self._repo(repository)
            data = asdict(stats)
            data["mismatch_samples"] = list(stats.mismatch_samples)
            return data

    def reset(self, repository: str | None = None) -> None:
        with self._lock:
            names = [repository] if repository else list(self._repositories)
            for name in names:
                self._repositories[name] = RepositoryStats()
                self._recent[name].clear()
