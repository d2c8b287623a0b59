"""One job's state as its own process sees it: phase, progress, rate and ETA.

The job's thread advances it while request threads describe it, so both go through one
lock and a description shares nothing with the job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.codec import utcnow
from ..domain.ids import new_id

RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"


@dataclass
class Job:
    family: str
    kind: str
    created_by: str
    parameters: dict[str, Any]
    id: str = field(default_factory=new_id)
    totals: dict[str, int] = field(default_factory=dict)  # records per repository, if known
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    state: str = RUNNING
    phase: str | None = None
    progress: dict[str, dict[str, int | None]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    on_advance: Callable[[Job], None] | None = None
    _clock: float = field(default_factory=time.monotonic)
    _elapsed: float | None = None  # seconds the last phase took, once the job ended
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, phase: str, totals: dict[str, int] | None = None) -> None:
        """A new phase (validating, restoring...) counts from zero, with its own totals."""
        with self._lock:
            self.phase, self.progress, self._clock = phase, {}, time.monotonic()
            self.totals = dict(totals or {})
        self._advanced()

    def advance(self, repository: str, done: int, total: int | None = None) -> None:
        """`done` of `total` records of `repository` (`total` None: not known yet)."""
        with self._lock:
            self.progress[repository] = {"done": done, "total": total}
            if total is not None:
                self.totals[repository] = total
        self._advanced()

    def finish(self, state: str, result=None, error=None) -> None:
        with self._lock:
            self.state, self.result, self.error = state, result, error
            self.finished_at = utcnow()
            self._elapsed = time.monotonic() - self._clock

    def describe(self) -> dict[str, Any]:
        with self._lock:
            progress = {name: dict(counts) for name, counts in self.progress.items()}
            total = sum(self.totals.values()) if self.totals else None
            elapsed = self._elapsed if self._elapsed is not None else time.monotonic() - self._clock
            done = sum(counts["done"] or 0 for counts in progress.values())
            rate = done / max(elapsed, 1e-6)
            eta = None
            if total is not None and rate and self.state == RUNNING:
                eta = round(max(total - done, 0) / rate, 1)
            return {
                "id": self.id,
                "kind": self.kind,
                "state": self.state,
                "created_by": self.created_by,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "parameters": self.parameters,
                "phase": self.phase,
                "progress": {"done": done, "total": total, "repositories": progress},
                "rate_per_second": round(rate, 1),
                "eta_seconds": eta,
                "result": self.result,
                "error": self.error,
            }

    def _advanced(self) -> None:
        if self.on_advance is not None:
            self.on_advance(self)
