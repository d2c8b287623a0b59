from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import Timestamp


class UserModel(db.Model):
    __tablename__ = "users"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(320))
    email_key: so.Mapped[str] = so.mapped_column(sa.String(320), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    role: so.Mapped[str] = so.mapped_column(sa.String(20), index=True)
    is_active: so.Mapped[bool] = so.mapped_column(sa.Boolean)
    failed_logins: so.Mapped[int] = so.mapped_column(sa.Integer)
    locked_until: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp, index=True)
    updated_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
