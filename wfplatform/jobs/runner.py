"""Run jobs of one family in background threads, one at a time across the processes that
share the database, saving their progress as they go."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import Conflict, DomainError, StorageUnavailable
from ..storage.processes import ProcessRegistry
from .job import COMPLETED, FAILED, RUNNING, Job
from .store import JobStore, describe_row

log = logging.getLogger(__name__)
SAVE_EVERY = 1.0  # seconds between progress saves
FINISH_TRIES = 5  # a job's outcome is saved even if the database blinks meanwhile


class BackgroundJobs:
    """`start` checks, records and launches; `get`/`recent` answer from this process for its
    own jobs (always current) and from the database for the others'."""

    def __init__(self, family: str, store: JobStore, processes: ProcessRegistry) -> None:
        self.family = family
        self.store = store
        self.processes = processes
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._runners: dict[str, threading.Thread] = {}

    def start(self, job: Job, work: Callable[[Job], dict], prepare=None) -> Job:
        """Refuse while a job of this family runs anywhere; else run `prepare()` (checks
        that should answer at once; it may return the job's id), record and launch."""
        with self._lock:
            self._refuse_while_running()
            if prepare is not None:
                job.id = prepare() or job.id
            self.store.create(job, self.processes.id)
            self._jobs[job.id] = job
        job.on_advance = self._saver()
        runner = threading.Thread(target=self._run, args=(job, work), name=f"wf-{self.family}")
        runner.daemon = True
        self._runners[job.id] = runner
        runner.start()
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        if job is not None:
            return job.describe()
        self._interrupt_orphans()
        row = self.store.get(job_id)
        return describe_row(row) if row is not None else None

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        self._interrupt_orphans()
        return [
            self._jobs[row.id].describe() if row.id in self._jobs else describe_row(row)
            for row in self.store.recent(limit)
        ]

    def wait(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """A job of this process once it ended and its outcome was saved (or as it is
        after `timeout` seconds); another process's job as it is now."""
        runner = self._runners.get(job_id)
        if runner is not None:
            runner.join(timeout)
        return self.get(job_id)

    def _refuse_while_running(self) -> None:
        self._interrupt_orphans()
        finished_here = {key for key, job in self._jobs.items() if job.state != RUNNING}
        if any(row.id not in finished_here for row in self.store.running()):
            raise Conflict(f"another {self.family} job is running; follow it or wait")

    def _interrupt_orphans(self) -> None:
        """Running jobs of processes that stopped beating: they will never finish."""
        running = self.store.running()
        if not running:
            return
        alive = {process["id"] for process in self.processes.alive()} | {self.processes.id}
        self.store.interrupt([row.id for row in running if row.process_id not in alive])

    def _saver(self) -> Callable[[Job], None]:
        last = time.monotonic()

        def save(job: Job) -> None:
            nonlocal last
            if time.monotonic() - last < SAVE_EVERY:
                return
            last = time.monotonic()
            try:
                self.store.save(job)
            except StorageUnavailable as error:  # progress only: the job carries on
                log.warning("%s job %s: progress not saved: %s", self.family, job.id, error)

        return save

    def _run(self, job: Job, work: Callable[[Job], dict]) -> None:
        try:
            job.finish(COMPLETED, result=work(job))
        except DomainError as error:
            job.finish(FAILED, error=error.to_dict()["error"])
        except Exception as error:  # the job reports it; the service carries on
            log.exception("%s job %s failed", self.family, job.id)
            job.finish(FAILED, error={"code": "internal_error", "message": type(error).__name__})
        self._save_outcome(job)

    def _save_outcome(self, job: Job) -> None:
        for attempt in range(FINISH_TRIES):
            try:
                self.store.save(job)
                return
            except StorageUnavailable as error:
                log.warning("%s job %s: outcome not saved yet: %s", self.family, job.id, error)
                time.sleep(2**attempt * 0.1)
        log.error(
            "%s job %s: outcome not saved; this process still answers for it", self.family, job.id
        )
