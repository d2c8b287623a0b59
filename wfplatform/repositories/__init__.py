"""Every data-plane repository, parents before children (the order backfills and replays use)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .api_keys import ApiKeyRepository, MemoryApiKeyRepository, SqlApiKeyRepository
from .audit import AuditRepository, MemoryAuditRepository, SqlAuditRepository
from .base import Repository, declared_operations
from .memory import MemoryRepository
from .sql import SqlRepository
from .users import MemoryUserRepository, SqlUserRepository, UserRepository
from .workflows import (
    MemoryWorkflowRepository,
    MemoryWorkflowVersionRepository,
    SqlWorkflowRepository,
    SqlWorkflowVersionRepository,
    WorkflowRepository,
    WorkflowVersionRepository,
)


@dataclass(frozen=True)
class RepositoryBackends:
    """One repository interface and its two implementations."""

    interface: type[Repository]
    memory: type[MemoryRepository]
    sql: type[SqlRepository]

    @property
    def name(self) -> str:
        return self.interface.spec.name

    @cached_property
    def operations(self) -> dict[str, str]:
        return declared_operations(self.interface)


REPOSITORIES: tuple[RepositoryBackends, ...] = (
    RepositoryBackends(UserRepository, MemoryUserRepository, SqlUserRepository),
    RepositoryBackends(WorkflowRepository, MemoryWorkflowRepository, SqlWorkflowRepository),
    RepositoryBackends(
        WorkflowVersionRepository, MemoryWorkflowVersionRepository, SqlWorkflowVersionRepository
    ),
    RepositoryBackends(ApiKeyRepository, MemoryApiKeyRepository, SqlApiKeyRepository),
    RepositoryBackends(AuditRepository, MemoryAuditRepository, SqlAuditRepository),
)
