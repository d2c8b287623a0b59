"""Control-plane tables: they always live in the database, whatever the storage modes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import JSONDocument, Timestamp


class StorageModeModel(db.Model):
    """The current mode of one repository."""

    __tablename__ = "storage_modes"

    repository: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    mode: so.Mapped[str] = so.mapped_column(sa.String(20))
    read_from: so.Mapped[str] = so.mapped_column(sa.String(20))
    shadow_rate: so.Mapped[float] = so.mapped_column(sa.Float)
    fallback: so.Mapped[bool] = so.mapped_column(sa.Boolean)
    changed_at: so.Mapped[datetime] = so.mapped_column(Timestamp)


class ModeChangeModel(db.Model):
    """The audit trail of mode changes: who changed what, when and why."""

    __tablename__ = "storage_mode_changes"

    id: so.Mapped[int] = so.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    repository: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    from_mode: so.Mapped[str] = so.mapped_column(sa.String(20))
    from_read_from: so.Mapped[str] = so.mapped_column(sa.String(20))
    to_mode: so.Mapped[str] = so.mapped_column(sa.String(20))
    to_read_from: so.Mapped[str] = so.mapped_column(sa.String(20))
    actor: so.Mapped[str] = so.mapped_column(sa.String(320))
    reason: so.Mapped[str] = so.mapped_column(sa.Text)
    forced: so.Mapped[bool] = so.mapped_column(sa.Boolean)
    changed_at: so.Mapped[datetime] = so.mapped_column(Timestamp, index=True)


class StorageProcessModel(db.Model):
    """A heartbeat per serving process: per-process modes are valid with one process only."""

    __tablename__ = "storage_processes"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    hostname: so.Mapped[str] = so.mapped_column(sa.String(255))
    pid: so.Mapped[int] = so.mapped_column(sa.Integer)
    started_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    last_seen: so.Mapped[datetime] = so.mapped_column(Timestamp, index=True)
    # What guards must see of every process: its journal length and recent counts.
    activity: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDocument)


class AuditOutboxModel(db.Model):
    """An audit entry stored in the transaction of the control-plane change it records (a
    mode switch), until it is in the audit log (see `storage.audit_outbox`)."""

    __tablename__ = "audit_outbox"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)  # the entry's id
    entry: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
