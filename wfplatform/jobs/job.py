"""One job's state as its own process sees it: phase, progress, rate and ETA."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain.codec import utcnow

RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"


@dataclass
class Job:
    family: str
    kind: str
    created_by: str
    parameters: dict[str, Any]
    totals: dict[str, int] = field(default_factory=dict)  # records per repository, if known
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: str = field(default_factory=lambda: utcnow().isoformat())
    finished_at: str | None = None
    state: str = RUNNING
    phase: str | None = None
    progress: dict[str, dict[str, int | None]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    on_advance: Callable[[Job], None] | None = None
    _clock: float = field(default_factory=time.monotonic)

    def begin(self, phase: str, totals: dict[str, int] | None = None) -> None:
        """A new phase (validating, restoring...) counts from zero, with its own totals."""
        self.phase, self.progress, self._clock = phase, {}, time.monotonic()
        self.totals = dict(totals or {})
        self._advanced()

    def advance(self, repository: str, done: int, total: int | None = None) -> None:
        """`done` of `total` records of `repository` (`total` None: not known yet)."""
        self.progress[repository] = {"done": done, "total": total}
        if total is not None:
            self.totals[repository] = total
        self._advanced()

    def finish(self, state: str, result=None, error=None) -> None:
        self.state, self.result, self.error = state, result, error
        self.finished_at = utcnow().isoformat()

    def _advanced(self) -> None:
        if self.on_advance is not None:
            self.on_advance(self)

    def describe(self) -> dict[str, Any]:
        done = sum(p["done"] or 0 for p in self.progress.values())
        total = sum(self.totals.values()) if self.totals else None
        rate = done / max(time.monotonic() - self._clock, 1e-6)
        eta = None
        if total is not None and rate and self.state == RUNNING:
            eta = round(max(total - done, 0) / rate, 1)
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "created_by": self.created_by,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "parameters": self.parameters,
            "phase": self.phase,
            "progress": {"done": done, "total": total, "repositories": self.progress},
            "rate_per_second": round(rate, 1),
            "eta_seconds": eta,
            "result": self.result,
            "error": self.error,
        }
