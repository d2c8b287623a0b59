from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import JSONDocument, Timestamp


class AuditEntryModel(db.Model):
    """No foreign key to users: the trail outlives the accounts it mentions."""

    __tablename__ = "audit_logs"
    __table_args__ = (sa.Index("ix_audit_logs_resource", "resource_type", "resource_id"),)

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    action: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    resource_type: so.Mapped[str] = so.mapped_column(sa.String(64))
    resource_id: so.Mapped[str | None] = so.mapped_column(sa.String(36))
    actor_id: so.Mapped[str | None] = so.mapped_column(sa.String(36), index=True)
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    user_agent: so.Mapped[str | None] = so.mapped_column(sa.String(512))
    changes: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp, index=True)
