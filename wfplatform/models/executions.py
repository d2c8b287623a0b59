from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import JSONDocument, Timestamp


class ExecutionModel(db.Model):
    """The platform's largest table: each list and the sweeper read an index. The slot
    columns are NULL unless the run holds a slot (NULLs never clash in a unique key)."""

    __tablename__ = "executions"
    __table_args__ = (
        # a list's order is (created_at, id): with the id in the index, a page reads the
        # index in order and stops, with no sort of every match
        sa.Index("ix_executions_user_id_created_at", "user_id", "created_at", "id"),
        sa.Index("ix_executions_workflow_id_created_at", "workflow_id", "created_at", "id"),
        sa.Index("ix_executions_status_created_at", "status", "created_at", "id"),
        # the sweeper: running executions whose lease expired
        sa.Index("ix_executions_status_lease_expires_at", "status", "lease_expires_at"),
        # one retry of an execution, however many clients ask at once
        sa.UniqueConstraint("retry_of"),
        sa.UniqueConstraint("workflow_id", "workflow_slot"),
        sa.UniqueConstraint("global_slot"),
    )

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    # no foreign key: the history of a run outlives the workflow it ran
    workflow_id: so.Mapped[str] = so.mapped_column(sa.String(36))
    user_id: so.Mapped[str] = so.mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    workflow_version: so.Mapped[int] = so.mapped_column(sa.Integer)
    status: so.Mapped[str] = so.mapped_column(sa.String(20))
    trigger: so.Mapped[str] = so.mapped_column(sa.String(20))
    input: so.Mapped[Any] = so.mapped_column(JSONDocument, nullable=True)
    error: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDocument, nullable=True)
    retry_of: so.Mapped[str | None] = so.mapped_column(sa.String(36))
    attempt: so.Mapped[int] = so.mapped_column(sa.Integer)
    runner: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    lease_expires_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    cancel_requested_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    workflow_slot: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    global_slot: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    last_seq: so.Mapped[int] = so.mapped_column(sa.Integer)
    data_bytes: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    truncated: so.Mapped[int] = so.mapped_column(sa.Integer)
    started_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    duration_ms: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    version: so.Mapped[int] = so.mapped_column(sa.Integer)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    updated_at: so.Mapped[datetime] = so.mapped_column(Timestamp)

    # UPDATE ... WHERE version = <the version read>: of two claims, one wins.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class NodeExecutionModel(db.Model):
    __tablename__ = "node_executions"
    __table_args__ = (
        sa.Index("ix_node_executions_execution_id_start_seq", "execution_id", "start_seq"),
    )

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    execution_id: so.Mapped[str] = so.mapped_column(sa.String(36), sa.ForeignKey("executions.id"))
    node_id: so.Mapped[str] = so.mapped_column(sa.String(100))
    node_type: so.Mapped[str] = so.mapped_column(sa.String(200))
    attempt: so.Mapped[int] = so.mapped_column(sa.Integer)
    status: so.Mapped[str] = so.mapped_column(sa.String(20))
    input: so.Mapped[Any] = so.mapped_column(JSONDocument, nullable=True)
    output: so.Mapped[Any] = so.mapped_column(JSONDocument, nullable=True)
    error: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDocument, nullable=True)
    truncated: so.Mapped[bool] = so.mapped_column(sa.Boolean)
    start_seq: so.Mapped[int] = so.mapped_column(sa.Integer)
    end_seq: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    started_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(Timestamp)
    duration_ms: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    version: so.Mapped[int] = so.mapped_column(sa.Integer)

    # UPDATE ... WHERE version = <the version read>: a runner that lost its lease does not
    # overwrite the end the sweeper gave its node.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}
