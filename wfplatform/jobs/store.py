"""Jobs in the database (`background_jobs`), so any process of the service can answer for
a job another one runs, and a job whose process died is reported as interrupted."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from ..backends.sql import new_session, translate_faults
from ..domain.codec import as_utc, utcnow
from ..errors import Conflict
from ..models import BackgroundJobModel
from .job import INTERRUPTED, RUNNING, Job

PROGRESS_FIELDS = ("phase", "progress", "rate_per_second", "eta_seconds")


class JobStore:
    def __init__(self, engine: Engine, family: str) -> None:
        self._engine = engine
        self.family = family

    def claim(self, job: Job, process_id: str) -> None:
        """Record `job` as running in `process_id`; a finished job with its id (a run being
        resumed) starts again. The database keeps one running job per family (a partial
        unique index), so two processes starting at once cannot both succeed."""
        with translate_faults(), new_session(self._engine, write=True) as session:
            row = session.get(BackgroundJobModel, job.id)
            if row is None:
                row = BackgroundJobModel(id=job.id, family=self.family)
                session.add(row)
            elif row.family != self.family or row.state == RUNNING:
                raise Conflict(f"job {job.id} is running; follow it or wait")
            row.kind, row.state, row.created_by = job.kind, job.state, job.created_by
            row.process_id, row.parameters, row.progress = process_id, job.parameters, {}
            row.created_at = row.updated_at = job.started_at
            row.finished_at = row.result = row.error = None
            try:
                session.commit()
            except sa_exc.IntegrityError:
                running = [row.id for row in self.running()]
                raise Conflict(
                    f"another {self.family} job is running; follow it or wait",
                    {"running": running},
                ) from None

    def save(self, job: Job, process_id: str) -> bool:
        """The job's progress, and its outcome once it has one. False when the job is no
        longer this process's to save: another process found it interrupted."""
        values: dict[str, Any] = {
            "state": job.state,
            "updated_at": utcnow(),
            "progress": _progress(job),
        }
        if job.state != RUNNING:
            values.update(finished_at=job.finished_at, result=job.result, error=job.error)
        with translate_faults(), new_session(self._engine, write=True) as session:
            saved = session.execute(
                sa.update(BackgroundJobModel)
                .where(
                    BackgroundJobModel.id == job.id,
                    BackgroundJobModel.state == RUNNING,
                    BackgroundJobModel.process_id == process_id,
                )
                .values(values)
            )
            session.commit()
        return saved.rowcount == 1

    def get(self, job_id: str) -> BackgroundJobModel | None:
        with translate_faults(), new_session(self._engine) as session:
            row = session.get(BackgroundJobModel, job_id)
            return row if row is not None and row.family == self.family else None

    def recent(self, limit: int) -> list[BackgroundJobModel]:
        with translate_faults(), new_session(self._engine) as session:
            return list(
                session.scalars(
                    sa.select(BackgroundJobModel)
                    .where(BackgroundJobModel.family == self.family)
                    .order_by(BackgroundJobModel.created_at.desc())
                    .limit(limit)
                )
            )

    def running(self) -> list[BackgroundJobModel]:
        with translate_faults(), new_session(self._engine) as session:
            return list(
                session.scalars(
                    sa.select(BackgroundJobModel).where(
                        BackgroundJobModel.family == self.family,
                        BackgroundJobModel.state == RUNNING,
                    )
                )
            )

    def interrupt(self, job_ids: list[str]) -> None:
        """Jobs whose process is gone: they will never finish."""
        if not job_ids:
            return
        now = utcnow()
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.execute(
                sa.update(BackgroundJobModel)
                .where(BackgroundJobModel.id.in_(job_ids), BackgroundJobModel.state == RUNNING)
                .values(state=INTERRUPTED, updated_at=now, finished_at=now)
            )
            session.commit()


def describe_row(row: BackgroundJobModel) -> dict[str, Any]:
    """The same shape as `Job.describe`, as last saved (plus when it finished)."""
    progress = row.progress or {}
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "created_by": row.created_by,
        "started_at": as_utc(row.created_at).isoformat(),
        "finished_at": as_utc(row.finished_at).isoformat() if row.finished_at else None,
        "parameters": row.parameters,
        **{name: progress.get(name) for name in PROGRESS_FIELDS},
        "result": row.result,
        "error": row.error,
    }


def _progress(job: Job) -> dict[str, Any]:
    description = job.describe()
    return {name: description[name] for name in PROGRESS_FIELDS}
