"""Workflows and their numbered versions: interfaces, memory and SQL implementations."""

from __future__ import annotations

import dataclasses
import operator
from abc import abstractmethod
from dataclasses import dataclass

import sqlalchemy as sa

from ..domain.codec import utcnow
from ..domain.workflows import (
    Workflow,
    WorkflowVersion,
    graph_problems,
)
from ..errors import Conflict
from ..models import WorkflowModel, WorkflowVersionModel
from .base import Page, Parent, Repository, RepositorySpec, UniqueKey, reads, writes
from .json_filters import json_array_overlaps
from .memory import MemoryRepository
from .sql import SqlRepository, count_matches

ORDER_FIELDS = ("created_at", "updated_at", "name")


@dataclass(frozen=True)
class WorkflowQuery:
    """Filters of the workflow list; `order` is a field name, `-` first for descending."""

    user_id: str | None = None
    status: str | None = None
    tags: tuple[str, ...] = ()
    search: str | None = None
    node_type: str | None = None
    credential_type: str | None = None
    order: str = "-updated_at"
    limit: int = 50
    offset: int = 0

    @property
    def order_field(self) -> str:
        return self.order.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.order.startswith("-")


@dataclass(frozen=True)
class Usage:
    """What one user's records take: how many, and their `stored_bytes`."""

    count: int = 0
    bytes: int = 0


def _missing_nodes(record: Workflow | WorkflowVersion) -> str | None:
    problems = graph_problems(record.nodes, record.edges)
    return f"the graph names missing nodes: {problems}" if problems else None


def _usage(records: list) -> Usage:
    return Usage(len(records), sum(record.stored_bytes for record in records))


class WorkflowRepository(Repository):
    spec = RepositorySpec(
        "workflows",
        Workflow,
        parents=(Parent("users", "user_id"),),
        internal_references=_missing_nodes,
    )

    @reads
    @abstractmethod
    def list(self, query: WorkflowQuery) -> Page: ...

    @reads
    @abstractmethod
    def usage_of(self, user_id: str) -> Usage:
        """The workflows `user_id` owns: how many, and the bytes they store."""

    @writes
    def add(self, workflow: Workflow) -> Workflow:
        self._insert(workflow)
        return workflow

    @writes
    def update(self, workflow: Workflow, expected_version: int | None = None) -> Workflow:
        """Store `workflow` as the next version; 409 when `expected_version` is stale."""
        current = self._require(workflow.id)
        if expected_version is not None and current.version != expected_version:
            raise Conflict(
                "the workflow changed meanwhile",
                {"expected_version": expected_version, "current_version": current.version},
            )
        stored = dataclasses.replace(workflow, version=current.version + 1, updated_at=utcnow())
        self._replace(stored)
        return stored

    @writes
    def delete(self, workflow_id: str) -> None:
        self._erase(workflow_id)


class WorkflowVersionRepository(Repository):
    spec = RepositorySpec(
        "workflow_versions",
        WorkflowVersion,
        parents=(Parent("workflows", "workflow_id"),),
        unique=(UniqueKey("number", ("workflow_id", "number")),),
        soft_references=(Parent("users", "created_by"),),
        internal_references=_missing_nodes,
    )

    @reads
    @abstractmethod
    def get_number(self, workflow_id: str, number: int) -> WorkflowVersion | None: ...

    @reads
    @abstractmethod
    def list_for(self, workflow_id: str) -> list[WorkflowVersion]:
        """The versions of one workflow, oldest first."""

    @reads
    @abstractmethod
    def page_for(self, workflow_id: str, limit: int, offset: int) -> Page:
        """The versions of one workflow, newest first, one page of them."""

    @reads
    @abstractmethod
    def latest_number(self, workflow_id: str) -> int:
        """The highest version number of the workflow (0 when it has none)."""

    @reads
    @abstractmethod
    def usage_of(self, user_id: str) -> Usage:
        """The versions of the workflows `user_id` owns: how many, and the bytes they store."""

    @writes
    def add(self, version: WorkflowVersion) -> WorkflowVersion:
        self._insert(version)
        return version

    @writes
    def delete_for(self, workflow_id: str) -> int:
        versions = self.list_for(workflow_id)
        for version in versions:
            self._erase(version.id)
        return len(versions)


class MemoryWorkflowRepository(MemoryRepository, WorkflowRepository):
    """Lists intersect the indexes of the filters given and walk the date orders: a page
    of a large table costs about its own size, not the table's (search aside: it looks
    through every workflow's search text, though without opening a record)."""

    indexes = {
        "status": operator.attrgetter("status"),
        "tags": lambda workflow: list(workflow.tags),
        "node_types": operator.attrgetter("node_types"),
        "credential_types": operator.attrgetter("required_credential_types"),
    }
    orders = {field: operator.attrgetter(field) for field in ("created_at", "updated_at")}
    texts = {"search_text": operator.attrgetter("search_text")}

    def list(self, query: WorkflowQuery) -> Page:
        view = self._view
        with self._store.lock:
            filters = []
            if query.user_id is not None:
                filters.append(view.keys_for(self.parent_index("user_id"), query.user_id))
            if query.status:
                filters.append(view.keys_for("status", query.status))
            if query.tags:
                tagged = (view.keys_for("tags", tag) for tag in query.tags)
                filters.append(set().union(*tagged) if len(query.tags) > 1 else next(tagged))
            if query.node_type:
                filters.append(view.keys_for("node_types", query.node_type))
            if query.credential_type:
                filters.append(view.keys_for("credential_types", query.credential_type))
            if query.search:
                filters.append(view.keys_containing("search_text", query.search.casefold()))
            keys = None  # every workflow
            if filters:
                smallest, *others = sorted(filters, key=len)
                keys = (
                    smallest if not others else {k for k in smallest if all(k in o for o in others)}
                )
            return self._select_indexed(
                keys, query.order_field, query.descending, query.limit, query.offset
            )

    def usage_of(self, user_id: str) -> Usage:
        with self._store.lock:
            keys = self._view.keys_for(self.parent_index("user_id"), user_id)
            return _usage([self._view.get(key) for key in keys])


class SqlWorkflowRepository(SqlRepository, WorkflowRepository):
    model = WorkflowModel

    def derived_columns(self, record: Workflow) -> dict:
        return {
            "node_types": record.node_types,
            "credential_types": record.required_credential_types,
            "search_text": record.search_text,
            "content_bytes": record.stored_bytes,
        }

    def list(self, query: WorkflowQuery) -> Page:
        model = WorkflowModel
        conditions = []
        if query.user_id is not None:
            conditions.append(model.user_id == query.user_id)
        if query.status:
            conditions.append(model.status == query.status)
        if query.tags:
            conditions.append(json_array_overlaps(self._session, model.tags, query.tags))
        if query.node_type:
            conditions.append(
                json_array_overlaps(self._session, model.node_types, [query.node_type])
            )
        if query.credential_type:
            conditions.append(
                json_array_overlaps(self._session, model.credential_types, [query.credential_type])
            )
        if query.search:
            pattern = f"%{_escape_like(query.search.casefold())}%"
            conditions.append(model.search_text.like(pattern, escape="\\"))
        column = getattr(model, query.order_field)
        ordering = (column.desc(), model.id.desc()) if query.descending else (column, model.id)
        matches = count_matches(self._session, model, *conditions)
        rows = self._session.scalars(
            sa.select(model)
            .where(*conditions)
            .order_by(*ordering)
            .limit(query.limit)
            .offset(query.offset)
        )
        return Page.counted([self.from_row(row) for row in rows], matches)

    def usage_of(self, user_id: str) -> Usage:
        model = WorkflowModel
        return _sql_usage(self._session, model, model.user_id == user_id)


def _sql_usage(session, model, condition, join=None) -> Usage:
    """COUNT and the sum of the stored `content_bytes` (each row's `stored_bytes`, as
    memory counts them): one aggregate query, nothing loaded, no JSON read."""
    total = sa.func.coalesce(sa.func.sum(model.content_bytes), 0)
    query = sa.select(sa.func.count(), total).select_from(model)
    if join is not None:
        query = query.join(*join)
    count, size = session.execute(query.where(condition)).one()
    return Usage(count or 0, int(size or 0))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class MemoryWorkflowVersionRepository(MemoryRepository, WorkflowVersionRepository):
    def get_number(self, workflow_id: str, number: int) -> WorkflowVersion | None:
        with self._store.lock:
            key = self._view.holder("number", (workflow_id, number))
            return self.fetch(key) if key else None

    def list_for(self, workflow_id: str) -> list[WorkflowVersion]:
        with self._store.lock:
            keys = self._view.keys_for(self.parent_index("workflow_id"), workflow_id)
            page = self._select(
                [self._view.get(key) for key in keys],
                lambda version: True,
                lambda version: version.number,
                False,
                len(keys),
                0,
            )
        return page.items

    def page_for(self, workflow_id: str, limit: int, offset: int) -> Page:
        with self._store.lock:
            keys = self._view.keys_for(self.parent_index("workflow_id"), workflow_id)
            records = [self._view.get(key) for key in keys]
            return self._select(records, bool, lambda v: v.number, True, limit, offset)

    def latest_number(self, workflow_id: str) -> int:
        with self._store.lock:
            keys = self._view.keys_for(self.parent_index("workflow_id"), workflow_id)
            return max((self._view.get(key).number for key in keys), default=0)

    def usage_of(self, user_id: str) -> Usage:
        with self._store.lock:
            workflows = self._source.view("workflows")
            keys = [
                key
                for workflow_id in workflows.keys_for(self.parent_index("user_id"), user_id)
                for key in self._view.keys_for(self.parent_index("workflow_id"), workflow_id)
            ]
            return _usage([self._view.get(key) for key in keys])


class SqlWorkflowVersionRepository(SqlRepository, WorkflowVersionRepository):
    model = WorkflowVersionModel

    def derived_columns(self, record: WorkflowVersion) -> dict:
        return {"content_bytes": record.stored_bytes}

    def get_number(self, workflow_id: str, number: int) -> WorkflowVersion | None:
        row = self._session.scalar(
            sa.select(WorkflowVersionModel).where(
                WorkflowVersionModel.workflow_id == workflow_id,
                WorkflowVersionModel.number == number,
            )
        )
        return self.from_row(row) if row is not None else None

    def list_for(self, workflow_id: str) -> list[WorkflowVersion]:
        rows = self._session.scalars(
            sa.select(WorkflowVersionModel)
            .where(WorkflowVersionModel.workflow_id == workflow_id)
            .order_by(WorkflowVersionModel.number)
        )
        return [self.from_row(row) for row in rows]

    def page_for(self, workflow_id: str, limit: int, offset: int) -> Page:
        model = WorkflowVersionModel
        condition = model.workflow_id == workflow_id
        matches = count_matches(self._session, model, condition)
        rows = self._session.scalars(
            sa.select(model)
            .where(condition)
            .order_by(model.number.desc())
            .limit(limit)
            .offset(offset)
        )
        return Page.counted([self.from_row(row) for row in rows], matches)

    def latest_number(self, workflow_id: str) -> int:
        model = WorkflowVersionModel
        latest = self._session.scalar(
            sa.select(sa.func.max(model.number)).where(model.workflow_id == workflow_id)
        )
        return latest or 0

    def usage_of(self, user_id: str) -> Usage:
        join = (WorkflowModel, WorkflowModel.id == WorkflowVersionModel.workflow_id)
        condition = WorkflowModel.user_id == user_id
        return _sql_usage(self._session, WorkflowVersionModel, condition, join)
