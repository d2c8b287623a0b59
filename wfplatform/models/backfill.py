"""Control-plane tables of the backfill: runs and their ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import JSONDocument, Timestamp


class BackfillRunModel(db.Model):
    __tablename__ = "migration_runs"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    created_by: so.Mapped[str] = so.mapped_column(sa.String(320))
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp, index=True)
    updated_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    state: so.Mapped[str] = so.mapped_column(sa.String(20), index=True)
    source: so.Mapped[str] = so.mapped_column(sa.String(200))
    options: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    counts: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # while `rolling_back`: the state to return to if the rollback leaves rows of the run
    state_before_rollback: so.Mapped[str | None] = so.mapped_column(sa.String(20))


class LedgerEntryModel(db.Model):
    """What one run did to one row, with the row's checksum after it (and the row before,
    for overwrites), so a rollback can undo exactly that and notice later changes."""

    __tablename__ = "migration_ledger"
    __table_args__ = (sa.Index("ix_migration_ledger_run_id_id", "run_id", "id"),)

    # BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER primary key (64-bit anyway)
    id: so.Mapped[int] = so.mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: so.Mapped[str] = so.mapped_column(sa.String(36), sa.ForeignKey("migration_runs.id"))
    repository: so.Mapped[str] = so.mapped_column(sa.String(64))
    record_id: so.Mapped[str] = so.mapped_column(sa.String(36))
    action: so.Mapped[str] = so.mapped_column(sa.String(20))
    checksum: so.Mapped[str] = so.mapped_column(sa.String(64))
    before: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDocument)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    # set, in the transaction that undid it, when a rollback undoes this entry
    undone_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
