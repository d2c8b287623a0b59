"""Migration jobs: the service runs the migrator on its live memory in the background, one
job at a time, and anyone may follow its progress (rate and ETA) while it runs."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..domain.codec import utcnow
from ..errors import Conflict, DomainError
from .migrator import Migrator, Options

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
log = logging.getLogger(__name__)


@dataclass
class Job:
    id: str
    kind: str  # "dry_run" or "confirm"
    options: Options
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: utcnow().isoformat())
    state: str = RUNNING
    progress: dict[str, dict[str, int]] = field(default_factory=dict)
    result: dict | None = None
    error: Any = None

    def advance(self, repository: str, done: int, total: int) -> None:
        self.progress[repository] = {"done": done, "total": total}

    def describe(self, totals: dict[str, int]) -> dict:
        done = sum(p["done"] for p in self.progress.values())
        total = sum(totals.values())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        remaining = max(total - done, 0)
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "started_at": self.started_at,
            "progress": {"done": done, "total": total, "repositories": self.progress},
            "rate_per_second": round(rate, 1),
            "eta_seconds": round(remaining / rate, 1) if rate and self.state == RUNNING else None,
            "result": self.result,
            "error": self.error,
        }


class MigrationJobs:
    def __init__(self, migrator: Migrator) -> None:
        self.migrator = migrator
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._totals: dict[str, dict[str, int]] = {}

    def start(self, kind: str, options: Options, actor: str, resume: str | None = None) -> Job:
        """Check the guards now (a refusal answers at once), then run in the background."""
        with self._lock:
            if any(job.state == RUNNING for job in self._jobs.values()):
                raise Conflict("a migration job is already running; follow it or wait")
            if kind == "confirm":
                job_id = self.migrator.start(options, actor, resume)
            else:
                self.migrator.check(options, writing=False)
                job_id = str(uuid.uuid4())
            job = self._jobs[job_id] = Job(job_id, kind, options)
            self._totals[job_id] = self._sizes(options)
        runner = threading.Thread(target=self._run, args=(job, actor), name="wf-migration")
        runner.daemon = True
        runner.start()
        return job

    def get(self, job_id: str) -> dict | None:
        job = self._jobs.get(job_id)
        return job.describe(self._totals[job_id]) if job else None

    def wait(self, job_id: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self._jobs.get(job_id)
            if job is None or job.state != RUNNING:
                break
            time.sleep(0.02)
        return self.get(job_id)

    def _sizes(self, options: Options) -> dict[str, int]:
        storage = self.migrator.storage
        names = options.repositories or tuple(storage.bindings)
        return {name: storage.memory_repository(name).count() for name in names}

    def _run(self, job: Job, actor: str) -> None:
        try:
            if job.kind == "confirm":
                job.result = self.migrator.confirm(job.options, actor, job.advance, run_id=job.id)
            else:
                job.result = self.migrator.dry_run(job.options, job.advance)
            job.state = COMPLETED
        except DomainError as error:
            job.error, job.state = error.to_dict()["error"], FAILED
        except Exception as error:  # the job reports it; the service carries on
            job.error, job.state = (
                {"code": "internal_error", "message": type(error).__name__},
                FAILED,
            )
