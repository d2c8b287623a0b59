"""Migration jobs: the service runs the backfiller on its live memory in the background, one
job at a time, and anyone may follow its progress (rate and ETA) while it runs."""

from __future__ import annotations

from dataclasses import asdict

from ..domain.ids import new_id
from ..jobs import BackgroundJobs, Job
from ..jobs.store import JobStore
from .backfiller import Backfiller, Options


class BackfillJobs(BackgroundJobs):
    def __init__(self, backfiller: Backfiller) -> None:
        storage = backfiller.storage
        store = JobStore(storage.control_plane_engine, "migration")
        super().__init__("migration", store, storage.process_registry)
        self.backfiller = backfiller

    def begin(self, kind: str, options: Options, actor: str, resume: str | None = None) -> Job:
        """Check the guards now (a refusal answers at once), then run in the background.
        A confirmed job has the id of the run it records (a resumed run's, on resume)."""
        job = Job("migration", kind, actor, asdict(options), id=resume or new_id())

        def check() -> None:
            if kind == "confirm":
                self.backfiller.check_start(options, resume)
            else:
                self.backfiller.check(options, writing=False)
            job.totals = self._sizes(options)

        def work(job: Job) -> dict:
            if kind == "dry_run":
                return self.backfiller.dry_run(options, job.advance)
            self.backfiller.open_run(options, actor, resume, run_id=job.id)
            return self.backfiller.confirm(options, actor, job.advance, run_id=job.id)

        return self.start(job, work, check)

    def begin_rollback(self, run_id: str, actor: str, *, dry_run: bool, force: bool) -> Job:
        """Check the rollback's guards now, then undo the run in the background (a large
        run takes longer than an HTTP request may)."""
        kind = "rollback_dry_run" if dry_run else "rollback"
        job = Job("migration", kind, actor, {"run_id": run_id, "dry_run": dry_run, "force": force})
        return self.start(
            job,
            lambda job: self.backfiller.rollback(run_id, dry_run=dry_run, force=force),
            lambda: self.backfiller.check_rollback(self.backfiller.runs.get(run_id)),
        )

    def interrupted(self, job_ids: list[str]) -> None:
        """A confirmed job's run is interrupted with it (`resume` continues it)."""
        for run_id in job_ids:
            self.backfiller.runs.interrupt(run_id)

    def _sizes(self, options: Options) -> dict[str, int]:
        storage = self.backfiller.storage
        names = options.repositories or storage.repository_names
        return {name: storage.in_memory(name).count() for name in names}
