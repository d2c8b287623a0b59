"""Credentials: the interface and its memory and SQL implementations. Both hold the
sealed text only: the services seal before storing and open after reading."""

from __future__ import annotations

import operator
from abc import abstractmethod
from dataclasses import dataclass

import sqlalchemy as sa

from ..domain.credentials import Credential
from ..models import CredentialModel
from .base import Page, Parent, Repository, RepositorySpec, reads, writes
from .memory import MemoryRepository
from .sql import SqlRepository, count_matches


@dataclass(frozen=True)
class CredentialQuery:
    """Every filter given must match; `user_id` None lists everyone's (for admins)."""

    user_id: str | None = None
    type: str | None = None
    limit: int = 50
    offset: int = 0


class CredentialRepository(Repository):
    spec = RepositorySpec("credentials", Credential, parents=(Parent("users", "user_id"),))

    @reads
    @abstractmethod
    def list(self, query: CredentialQuery) -> Page:
        """Credentials matching the query, by name (then id)."""

    @writes
    def add(self, credential: Credential) -> Credential:
        self._insert(credential)
        return credential

    @writes
    def update(self, credential: Credential) -> Credential:
        """Replace the version `credential` was made from (`version` one more), else a
        `Conflict`: a concurrent change is never overwritten."""
        self._replace(credential)
        return credential

    @writes
    def delete(self, credential_id: str) -> None:
        self._erase(credential_id)


def _by_name(credential: Credential) -> tuple:
    return (credential.name, credential.id)


class MemoryCredentialRepository(MemoryRepository, CredentialRepository):
    indexes = {"type": operator.attrgetter("type")}

    def list(self, query: CredentialQuery) -> Page:
        view = self._view
        with self._store.lock:
            if query.user_id is not None:
                keys = set(view.keys_for(self.parent_index("user_id"), query.user_id))
            else:
                keys = view.keys()
            if query.type is not None:
                keys &= view.keys_for("type", query.type)
            records = [view.get(key) for key in keys]
            return self._select(records, bool, _by_name, False, query.limit, query.offset)


class SqlCredentialRepository(SqlRepository, CredentialRepository):
    model = CredentialModel

    def list(self, query: CredentialQuery) -> Page:
        model = CredentialModel
        conditions = [
            column == value
            for column, value in ((model.user_id, query.user_id), (model.type, query.type))
            if value is not None
        ]
        name = model.name
        if self._session.get_bind().dialect.name == "postgresql":
            name = name.collate("C")  # the order memory's sort gives (code points)
        rows = self._session.scalars(
            sa.select(model)
            .where(*conditions)
            .order_by(name, model.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        items = [self.from_row(row) for row in rows]
        return Page.counted(items, count_matches(self._session, model, *conditions))
