"""The audit log: append-only entries, filtered and paginated newest first."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime

from ..domain.audit import AuditEntry
from ..models import AuditEntryModel
from .base import Page, Repository, RepositorySpec, reads, writes
from .memory import MemoryRepository
from .sql import SqlRepository


@dataclass(frozen=True)
class AuditQuery:
    actor_id: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


class AuditRepository(Repository):
    spec = RepositorySpec("audit_logs", AuditEntry, other_ids=("actor_id", "resource_id"))

    @reads
    @abstractmethod
    def list(self, query: AuditQuery) -> Page:
        """Entries matching every given filter, newest first."""

    @writes
    def add(self, entry: AuditEntry) -> AuditEntry:
        self._insert(entry)
        return entry


def _matches(entry: AuditEntry, query: AuditQuery) -> bool:
    return (
        (query.actor_id is None or entry.actor_id == query.actor_id)
        and (query.action is None or entry.action == query.action)
        and (query.resource_type is None or entry.resource_type == query.resource_type)
        and (query.resource_id is None or entry.resource_id == query.resource_id)
        and (query.since is None or entry.created_at >= query.since)
        and (query.until is None or entry.created_at < query.until)
    )


class MemoryAuditRepository(MemoryRepository, AuditRepository):
    def list(self, query: AuditQuery) -> Page:
        with self._store.lock:
            return self._select(
                self._view.records(),
                lambda entry: _matches(entry, query),
                lambda entry: (entry.created_at, entry.id),
                True,
                query.limit,
                query.offset,
            )


class SqlAuditRepository(SqlRepository, AuditRepository):
    model = AuditEntryModel

    def list(self, query: AuditQuery) -> Page:
        model = AuditEntryModel
        equal = (
            (model.actor_id, query.actor_id),
            (model.action, query.action),
            (model.resource_type, query.resource_type),
            (model.resource_id, query.resource_id),
        )
        return self._newest_first(equal, query.since, query.until, query.limit, query.offset)
