"""Run jobs of one family in background threads, one at a time across the processes that
share the database, saving their progress as they go."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..domain.ids import is_uuid
from ..errors import DomainError, StorageUnavailable
from .job import COMPLETED, FAILED, Job
from .store import JobStore, describe_row

log = logging.getLogger(__name__)
SAVE_EVERY = 1.0  # seconds between progress saves
FINISH_TRIES = 5  # a job's outcome is saved even if the database blinks meanwhile


class Processes(Protocol):
    """The processes sharing the database (`Storage.process_registry`): this one's id, and
    the ones alive, each a dict with its "id"."""

    id: str

    def alive(self) -> list[dict]: ...


class JobFenced(Exception):
    """Another process found this job's process silent and reported the job interrupted
    (another job may run now): the job must stop rather than write on beside it."""


class BackgroundJobs:
    """`start` checks, claims and launches; `get`/`recent` answer from this process for its
    running jobs and from the database for every other job (finished ones included)."""

    def __init__(self, family: str, store: JobStore, processes: Processes) -> None:
        self.family = family
        self.store = store
        self.processes = processes
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # running here, or ended with the outcome unsaved
        self._runners: dict[str, threading.Thread] = {}

    def start(self, job: Job, work: Callable[[Job], dict], check=None) -> Job:
        """Run `check()` (what should answer at once; it writes nothing), claim the job in
        the database (refused while a job of this family runs anywhere), then run
        `work(job)` in a thread; its result or error becomes the job's outcome."""
        if check is not None:
            check()
        with self._lock:
            self._interrupt_orphans()
            self.store.claim(job, self.processes.id)
            self._jobs[job.id] = job
        job.on_advance = self._saver()
        runner = threading.Thread(target=self._run, args=(job, work), name=f"wf-{self.family}")
        runner.daemon = True
        self._runners[job.id] = runner
        runner.start()
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        if not is_uuid(job_id):
            return None
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

    def _interrupt_orphans(self) -> None:
        """Running jobs of processes that stopped beating: they will never finish."""
        running = self.store.running()
        if not running:
            return
        alive = {process["id"] for process in self.processes.alive()} | {self.processes.id}
        orphans = [row.id for row in running if row.process_id not in alive]
        if orphans:
            self.store.interrupt(orphans)
            self.interrupted(orphans)

    def interrupted(self, job_ids: list[str]) -> None:
        """Jobs just found interrupted (a family may have more to mark)."""

    def _saver(self) -> Callable[[Job], None]:
        last = time.monotonic()

        def save(job: Job) -> None:
            nonlocal last
            if time.monotonic() - last < SAVE_EVERY:
                return
            last = time.monotonic()
            try:
                saved = self.store.save(job, self.processes.id)
            except StorageUnavailable as error:  # progress only: the job carries on
                log.warning("%s job %s: progress not saved: %s", self.family, job.id, error)
                return
            if not saved:
                raise JobFenced(f"{self.family} job {job.id} was reported interrupted")

        return save

    def _run(self, job: Job, work: Callable[[Job], dict]) -> None:
        try:
            job.finish(COMPLETED, result=work(job))
        except JobFenced:
            log.error(
                "%s job %s stopped: another process reported it interrupted", self.family, job.id
            )
            self._forget(job)
            return
        except (DomainError, StorageUnavailable) as error:
            job.finish(FAILED, error=error.to_dict()["error"])
        except Exception as error:  # the job reports it; the service carries on
            log.exception("%s job %s failed", self.family, job.id)
            job.finish(FAILED, error={"code": "internal_error", "message": type(error).__name__})
        if self._save_outcome(job):
            self._forget(job)

    def _save_outcome(self, job: Job) -> bool:
        for attempt in range(FINISH_TRIES):
            try:
                if not self.store.save(job, self.processes.id):
                    log.error(
                        "%s job %s ended after it was reported interrupted", self.family, job.id
                    )
                return True
            except StorageUnavailable as error:
                log.warning("%s job %s: outcome not saved yet: %s", self.family, job.id, error)
                time.sleep(2**attempt * 0.1)
        log.error("%s job %s: outcome not saved; only this process knows it", self.family, job.id)
        return False

    def _forget(self, job: Job) -> None:
        """The database answers for the job from now on, in every process alike."""
        self._jobs.pop(job.id, None)
        self._runners.pop(job.id, None)
