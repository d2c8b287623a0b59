"""A small circuit breaker for the database: after a fault, operations that may fall back
go straight to their fallback for a moment instead of each waiting for a connection timeout."""

from __future__ import annotations

import threading
import time


class DatabaseHealth:
    def __init__(self, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.last_error: str | None = None

    def mark_down(self, error: str) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.retry_after
            self.last_error = error

    def mark_up(self) -> None:
        with self._lock:
            self._down_until = 0.0
            self.last_error = None

    def is_down(self) -> bool:
        with self._lock:
            return time.monotonic() < self._down_until
