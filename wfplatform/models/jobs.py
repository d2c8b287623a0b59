"""Background jobs (backfills, imports) as every process of the service sees them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import JSONDocument, Timestamp


class BackgroundJobModel(db.Model):
    """One job: `family` groups the jobs of which one runs at a time (`migration`,
    `import`; the partial unique index makes it so across processes), `process_id` names
    the storage process running it (its heartbeat tells whether the job can still
    finish), `progress` is rewritten as the job advances."""

    __tablename__ = "background_jobs"
    __table_args__ = (
        sa.Index("ix_background_jobs_family_created_at", "family", "created_at"),
        sa.Index(
            "uq_background_jobs_running_family",
            "family",
            unique=True,
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        ),
    )

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    family: so.Mapped[str] = so.mapped_column(sa.String(40))
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    state: so.Mapped[str] = so.mapped_column(sa.String(20))
    created_by: so.Mapped[str] = so.mapped_column(sa.String(320))
    process_id: so.Mapped[str] = so.mapped_column(sa.String(36))
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    updated_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    parameters: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    progress: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    result: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDocument)
    error: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDocument)
