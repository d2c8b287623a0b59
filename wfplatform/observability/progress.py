"""The progress of the backfill this process runs, which the metrics report."""

from __future__ import annotations

import threading


class BackfillProgress:
    """The progress of the backfill run this process executes (at most one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kind: str | None = None
        self.running = False
        self.progress: dict[str, tuple[int, int]] = {}

    def begin(self, kind: str) -> None:
        with self._lock:
            self.kind, self.running, self.progress = kind, True, {}

    def advance(self, repository: str, done: int, total: int) -> None:
        with self._lock:
            self.progress[repository] = (done, total)

    def end(self) -> None:
        with self._lock:
            self.running = False

    def snapshot(self) -> tuple[str | None, bool, dict[str, tuple[int, int]]]:
        with self._lock:
            return self.kind, self.running, dict(self.progress)
