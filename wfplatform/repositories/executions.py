"""Executions and node executions: interfaces, memory and SQL implementations.

An execution changes only from the version read (`update`: UPDATE ... WHERE version), so
of two runners claiming one queued execution, or a renewal racing a cancel, exactly one
wins and the other is told (`Conflict`) in every backend."""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..domain.codec import as_utc
from ..domain.executions import QUEUED, RUNNING, Execution, NodeExecution
from ..models import ExecutionModel, NodeExecutionModel
from .base import Page, Parent, Repository, RepositorySpec, UniqueKey, reads, writes
from .memory import MemoryRepository
from .sql import SqlRepository


@dataclass(frozen=True)
class ExecutionQuery:
    """Every filter given must match; `user_id` None lists everyone's (for admins).
    `since` and `until` bound `created_at` (from inclusive, until exclusive)."""

    user_id: str | None = None
    workflow_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


class ExecutionRepository(Repository):
    spec = RepositorySpec(
        "executions",
        Execution,
        parents=(Parent("users", "user_id"),),
        unique=(
            UniqueKey("workflow_slot", ("workflow_id", "workflow_slot")),
            UniqueKey("global_slot", ("global_slot",)),
            UniqueKey("retry_of", ("retry_of",)),  # retried once (the retry may be in turn)
        ),
        # the history of a run outlives its workflow and the run it repeated
        soft_references=(Parent("workflows", "workflow_id"), Parent("executions", "retry_of")),
    )

    @reads
    @abstractmethod
    def list(self, query: ExecutionQuery) -> Page:
        """Executions matching the query, newest first."""

    @reads
    @abstractmethod
    def running(self, workflow_id: str | None = None) -> list[Execution]:
        """The running executions (of one workflow): who holds which slots."""

    @reads
    @abstractmethod
    def queued(self, limit: int, per_workflow: int | None = None) -> list[Execution]:
        """The oldest queued executions, at most `per_workflow` of each workflow (None:
        any number)."""

    @reads
    @abstractmethod
    def lease_expired(self, now: datetime, limit: int) -> list[Execution]:
        """Running executions whose lease ended before `now`, oldest lease first."""

    @writes
    def add(self, execution: Execution) -> Execution:
        self._insert(execution)
        return execution

    @writes
    def update(self, execution: Execution) -> Execution:
        """Replace the version `execution` was made from (`version` one more), else a
        `Conflict`."""
        self._replace(execution)
        return execution

    @writes
    def delete(self, execution_id: str) -> None:
        """One execution, once its node executions are gone (foreign keys do not cascade)."""
        self._erase(execution_id)


def _newest_first(execution: Execution) -> tuple:
    return (execution.created_at, execution.id)


def _in_range(execution: Execution, query: ExecutionQuery) -> bool:
    return (query.since is None or execution.created_at >= query.since) and (
        query.until is None or execution.created_at < query.until
    )


class MemoryExecutionRepository(MemoryRepository, ExecutionRepository):
    indexes = {
        "status": operator.attrgetter("status"),
        "workflow_id": operator.attrgetter("workflow_id"),
    }
    orders = {"created_at": operator.attrgetter("created_at")}

    def list(self, query: ExecutionQuery) -> Page:
        view = self._view
        with self._store.lock:
            filters = [
                view.keys_for(index, value)
                for index, value in (
                    (self.parent_index("user_id"), query.user_id),
                    ("workflow_id", query.workflow_id),
                    ("status", query.status),
                )
                if value is not None
            ]
            keys = None
            if filters:
                smallest, *others = sorted(filters, key=len)
                keys = {key for key in smallest if all(key in other for other in others)}
            if query.since is None and query.until is None:
                return self._select_indexed(keys, "created_at", True, query.limit, query.offset)
            records = view.records() if keys is None else (view.get(key) for key in keys)
            return self._select(
                records,
                lambda execution: _in_range(execution, query),
                _newest_first,
                True,
                query.limit,
                query.offset,
            )

    def running(self, workflow_id: str | None = None) -> list[Execution]:
        return [
            execution
            for execution in self._with_status(RUNNING)
            if workflow_id is None or execution.workflow_id == workflow_id
        ]

    def queued(self, limit: int, per_workflow: int | None = None) -> list[Execution]:
        chosen, taken = [], Counter()
        for execution in sorted(self._with_status(QUEUED), key=_newest_first):
            if per_workflow is None or taken[execution.workflow_id] < per_workflow:
                taken[execution.workflow_id] += 1
                chosen.append(execution)
        return chosen[:limit]

    def lease_expired(self, now: datetime, limit: int) -> list[Execution]:
        expired = [
            execution
            for execution in self._with_status(RUNNING)
            if execution.lease_expires_at is not None and execution.lease_expires_at < now
        ]
        return sorted(expired, key=lambda execution: execution.lease_expires_at)[:limit]

    def _with_status(self, status: str) -> list[Execution]:
        with self._store.lock:
            keys = self._view.keys_for("status", status)
        return list(self.fetch_many(sorted(keys)).values())


class SqlExecutionRepository(SqlRepository, ExecutionRepository):
    model = ExecutionModel

    def list(self, query: ExecutionQuery) -> Page:
        model = ExecutionModel
        equal = (
            (model.user_id, query.user_id),
            (model.workflow_id, query.workflow_id),
            (model.status, query.status),
        )
        return self._newest_first(equal, query.since, query.until, query.limit, query.offset)

    def running(self, workflow_id: str | None = None) -> list[Execution]:
        model = ExecutionModel
        conditions = [model.status == RUNNING]
        if workflow_id is not None:
            conditions.append(model.workflow_id == workflow_id)
        return self._rows(sa.select(model).where(*conditions).order_by(model.id))

    def queued(self, limit: int, per_workflow: int | None = None) -> list[Execution]:
        model = ExecutionModel
        waiting = model.status == QUEUED
        if per_workflow is not None:
            place = sa.func.row_number().over(
                partition_by=model.workflow_id, order_by=(model.created_at, model.id)
            )
            ranked = sa.select(model.id, place.label("place")).where(waiting).subquery()
            waiting = model.id.in_(sa.select(ranked.c.id).where(ranked.c.place <= per_workflow))
        return self._rows(
            sa.select(model).where(waiting).order_by(model.created_at, model.id).limit(limit)
        )

    def lease_expired(self, now: datetime, limit: int) -> list[Execution]:
        model = ExecutionModel
        return self._rows(
            sa.select(model)
            .where(model.status == RUNNING, model.lease_expires_at < as_utc(now))
            .order_by(model.lease_expires_at)
            .limit(limit)
        )

    def _rows(self, statement: sa.Select) -> list[Execution]:
        return [self.from_row(row) for row in self._session.scalars(statement)]


class NodeExecutionRepository(Repository):
    spec = RepositorySpec(
        "node_executions", NodeExecution, parents=(Parent("executions", "execution_id"),)
    )

    @reads
    @abstractmethod
    def for_execution(self, execution_id: str) -> list[NodeExecution]:
        """The node executions of one execution in the order they started."""

    @writes
    def add(self, node_execution: NodeExecution) -> NodeExecution:
        self._insert(node_execution)
        return node_execution

    @writes
    def update(self, node_execution: NodeExecution) -> NodeExecution:
        self._replace(node_execution)
        return node_execution

    @writes
    def delete(self, node_execution_id: str) -> None:
        self._erase(node_execution_id)


def _by_start(node_execution: NodeExecution) -> tuple:
    return (node_execution.start_seq, node_execution.id)


class MemoryNodeExecutionRepository(MemoryRepository, NodeExecutionRepository):
    def for_execution(self, execution_id: str) -> list[NodeExecution]:
        with self._store.lock:
            keys = self._view.keys_for(self.parent_index("execution_id"), execution_id)
            records = [self._view.get(key) for key in keys]
            return self._select(records, bool, _by_start, False, len(records), 0).items


class SqlNodeExecutionRepository(SqlRepository, NodeExecutionRepository):
    model = NodeExecutionModel

    def for_execution(self, execution_id: str) -> list[NodeExecution]:
        model = NodeExecutionModel
        rows = self._session.scalars(
            sa.select(model)
            .where(model.execution_id == execution_id)
            .order_by(model.start_seq, model.id)
        )
        return [self.from_row(row) for row in rows]
