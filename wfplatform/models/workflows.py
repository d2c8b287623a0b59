from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from ..extensions import db
from .types import JSONDocument, Timestamp, only_on


class WorkflowModel(db.Model):
    """Foreign keys do not cascade: deletes go through the repositories, child first, so the
    adapter sees every removed record and the memory backend gives the same answers."""

    __tablename__ = "workflows"
    __table_args__ = (
        sa.Index("ix_workflows_user_id_updated_at", "user_id", "updated_at"),
        # a status filter, newest first: the page stops early, the count reads the index
        sa.Index("ix_workflows_status_updated_at", "status", "updated_at"),
        # `search` is a substring match: trigrams (pg_trgm) find it without a scan
        only_on(
            "postgresql",
            sa.Index(
                "ix_workflows_search_text",
                "search_text",
                postgresql_using="gin",
                postgresql_ops={"search_text": "gin_trgm_ops"},
            ),
        ),
        sa.Index("ix_workflows_tags", "tags", postgresql_using="gin"),
        sa.Index("ix_workflows_node_types", "node_types", postgresql_using="gin"),
        sa.Index("ix_workflows_credential_types", "credential_types", postgresql_using="gin"),
    )

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    user_id: so.Mapped[str] = so.mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(20))
    tags: so.Mapped[list[str]] = so.mapped_column(JSONDocument)
    nodes: so.Mapped[list[dict[str, Any]]] = so.mapped_column(JSONDocument)
    edges: so.Mapped[list[dict[str, Any]]] = so.mapped_column(JSONDocument)
    settings: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    node_types: so.Mapped[list[str]] = so.mapped_column(JSONDocument)
    credential_types: so.Mapped[list[str]] = so.mapped_column(JSONDocument)
    search_text: so.Mapped[str] = so.mapped_column(sa.Text)
    # what the record stores for its owner (`stored_bytes`), summed by the bytes quota
    content_bytes: so.Mapped[int] = so.mapped_column(sa.BigInteger, server_default="0")
    version: so.Mapped[int] = so.mapped_column(sa.Integer)
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)
    updated_at: so.Mapped[datetime] = so.mapped_column(Timestamp, index=True)

    # UPDATE ... WHERE version = <the version read>: a concurrent update is a conflict.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class WorkflowVersionModel(db.Model):
    __tablename__ = "workflow_versions"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "number"),)

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    workflow_id: so.Mapped[str] = so.mapped_column(sa.String(36), sa.ForeignKey("workflows.id"))
    number: so.Mapped[int] = so.mapped_column(sa.Integer)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    nodes: so.Mapped[list[dict[str, Any]]] = so.mapped_column(JSONDocument)
    edges: so.Mapped[list[dict[str, Any]]] = so.mapped_column(JSONDocument)
    settings: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDocument)
    created_by: so.Mapped[str | None] = so.mapped_column(sa.String(36))
    # what the record stores for its owner (`stored_bytes`), summed by the bytes quota
    content_bytes: so.Mapped[int] = so.mapped_column(sa.BigInteger, server_default="0")
    created_at: so.Mapped[datetime] = so.mapped_column(Timestamp)


# The trigram index needs its extension first (a trusted extension: the database's owner
# may create it); revision 0011 does the same on a migrated database.
sa.event.listen(
    WorkflowModel.__table__,
    "before_create",
    sa.DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)
