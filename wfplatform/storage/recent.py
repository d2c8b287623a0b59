"""Counts over a sliding window (per-second buckets), for "recent" error and mismatch rates
that the readiness checks compare with their thresholds."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

WINDOW_SECONDS = 300


@dataclass(frozen=True)
class Thresholds:
    """Above these, in the recent window, moving forward is refused."""

    max_error_rate: float = 0.01
    max_mismatches: int = 0


class RecentCounts:
    def __init__(self, window_seconds: int = WINDOW_SECONDS, clock=time.monotonic) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: deque[tuple[int, Counter]] = deque()

    def add(self, name: str, amount: int = 1) -> None:
        now = int(self._clock())
        with self._lock:
            if not self._buckets or self._buckets[-1][0] != now:
                self._buckets.append((now, Counter()))
                self._prune(now)
            self._buckets[-1][1][name] += amount

    def totals(self) -> Counter:
        now = int(self._clock())
        with self._lock:
            self._prune(now)
            total: Counter = Counter()
            for _, bucket in self._buckets:
                total.update(bucket)
            return total

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()

    def _prune(self, now: int) -> None:
        while self._buckets and self._buckets[0][0] <= now - self.window_seconds:
            self._buckets.popleft()
