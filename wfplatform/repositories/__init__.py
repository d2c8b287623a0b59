"""The registry: every data-plane repository, declared once, parents before children (the
order backfills, replays and exports use).

`Repositories` is the one list: each line names a repository's interface and its two
implementations. The storage adapter and its units of work inherit the lines as typed
attributes, so `storage.users` is a `UserRepository` to readers, editors and mypy (the
adapter routes the calls); every other list of repositories is derived from this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar, overload

from ..models.change_notices import announce_changes
from .api_keys import ApiKeyRepository, MemoryApiKeyRepository, SqlApiKeyRepository
from .audit import AuditRepository, MemoryAuditRepository, SqlAuditRepository
from .base import Repository, RepositorySpec, declared_operations
from .credentials import CredentialRepository, MemoryCredentialRepository, SqlCredentialRepository
from .executions import (
    ExecutionRepository,
    MemoryExecutionRepository,
    MemoryNodeExecutionRepository,
    NodeExecutionRepository,
    SqlExecutionRepository,
    SqlNodeExecutionRepository,
)
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

R = TypeVar("R", bound=Repository)


class RepositoryHolder(Protocol):
    """What a registry line is an attribute of: something that hands out repositories by
    name (the adapter, a unit of work)."""

    def repository(self, name: str) -> Any: ...


@dataclass(frozen=True)
class RepositoryBackends(Generic[R]):
    """One repository interface and its two implementations; as an attribute of a
    `RepositoryHolder`, that holder's repository of this name, typed as the interface."""

    interface: type[R]
    memory: type[MemoryRepository]
    sql: type[SqlRepository]

    @property
    def name(self) -> str:
        return self.interface.spec.name

    @property
    def spec(self) -> RepositorySpec:
        return self.interface.spec

    @cached_property
    def operations(self) -> dict[str, str]:
        return declared_operations(self.interface)

    def __set_name__(self, owner: type, attribute: str) -> None:
        if attribute != self.name:
            raise TypeError(f"the registry line {attribute} declares repository {self.name}")

    @overload
    def __get__(self, holder: None, owner: type) -> RepositoryBackends[R]: ...

    @overload
    def __get__(self, holder: RepositoryHolder, owner: type) -> R: ...

    def __get__(self, holder: RepositoryHolder | None, owner: type) -> Any:
        if holder is None:
            return self
        try:
            return holder.repository(self.name)
        except KeyError:  # a holder built with another registry (tests do)
            raise AttributeError(self.name) from None


class Repositories:
    """One line per repository, parents before children. A subclass (the adapter, a unit of
    work) defines `repository(name)`, which each line's attribute calls."""

    users = RepositoryBackends(UserRepository, MemoryUserRepository, SqlUserRepository)
    workflows = RepositoryBackends(
        WorkflowRepository, MemoryWorkflowRepository, SqlWorkflowRepository
    )
    workflow_versions = RepositoryBackends(
        WorkflowVersionRepository, MemoryWorkflowVersionRepository, SqlWorkflowVersionRepository
    )
    api_keys = RepositoryBackends(ApiKeyRepository, MemoryApiKeyRepository, SqlApiKeyRepository)
    credentials = RepositoryBackends(
        CredentialRepository, MemoryCredentialRepository, SqlCredentialRepository
    )
    executions = RepositoryBackends(
        ExecutionRepository, MemoryExecutionRepository, SqlExecutionRepository
    )
    node_executions = RepositoryBackends(
        NodeExecutionRepository, MemoryNodeExecutionRepository, SqlNodeExecutionRepository
    )
    audit_logs = RepositoryBackends(AuditRepository, MemoryAuditRepository, SqlAuditRepository)


REPOSITORIES: tuple[RepositoryBackends, ...] = tuple(
    line for line in vars(Repositories).values() if isinstance(line, RepositoryBackends)
)
NAMES: tuple[str, ...] = tuple(binding.name for binding in REPOSITORIES)
BY_NAME: dict[str, RepositoryBackends] = {binding.name: binding for binding in REPOSITORIES}

for _binding in REPOSITORIES:
    if _binding.spec.cached_reads:
        announce_changes(_binding.sql.model.__table__)
