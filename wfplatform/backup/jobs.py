"""Imports as background jobs: a large document takes longer than an HTTP request may, so
the service validates and restores it in the background while the caller follows it."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from ..jobs import BackgroundJobs, Job
from ..jobs.store import JobStore
from ..services.context import Actor
from .importer import RecordChecks, import_export
from .reader import open_export

if TYPE_CHECKING:
    from ..storage.adapter import Storage


class ImportJobs(BackgroundJobs):
    def __init__(
        self, storage: Storage, schema_revision: str | None, checks: RecordChecks | None = None
    ) -> None:
        store = JobStore(storage.control_plane_engine, "import")
        super().__init__("import", store, storage.process_registry)
        self.storage = storage
        self.schema_revision = schema_revision
        self.checks = checks

    def begin(self, document: IO[bytes], *, dry_run: bool, force: bool, actor: Actor) -> Job:
        """Read the header now (a document that is not an export answers at once), then
        validate and restore in the background. The job owns `document` and closes it."""
        kind = "dry_run" if dry_run else "restore"
        job = Job("import", kind, actor.label or actor.role, {"dry_run": dry_run, "force": force})

        def check() -> None:
            with open_export(document):  # opening reads and validates the header
                pass

        def work(job: Job) -> dict:
            with document:
                return import_export(
                    self.storage,
                    document,
                    dry_run=dry_run,
                    force=force,
                    schema_revision=self.schema_revision,
                    actor=actor,
                    progress=job,
                    checks=self.checks,
                )

        try:
            return self.start(job, work, check)
        except BaseException:
            document.close()
            raise
