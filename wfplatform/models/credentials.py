from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import Timestamp


class CredentialModel(db.Model):
    """`sealed_data` is the sealed text only: no column holds a secret in the clear."""

    __tablename__ = "credentials"
    __table_args__ = (sa.Index("ix_credentials_user_id_type", "user_id", "type"),)

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    user_id: so.Mapped[str] = so.mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    type: so.Mapped[str] = so.mapped_column(sa.String(100))
    sealed_data: so.Mapped[str] = so.mapped_column(sa.Text)
    expires_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    is_active: so.Mapped[bool] = so.mapped_column(sa.Boolean)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    version: so.Mapped[int] = so.mapped_column(sa.Integer)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    updated_at: so.Mapped[datetime] = so.mapped_column(Timestamp)

    # UPDATE ... WHERE version = <the version read>: a concurrent update is a conflict.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}
