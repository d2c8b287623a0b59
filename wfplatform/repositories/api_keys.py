"""API keys: the interface and its memory and SQL implementations."""

from __future__ import annotations

from abc import abstractmethod

import sqlalchemy as sa

from ..domain.api_keys import ApiKey
from ..models import ApiKeyModel
from .base import Parent, Repository, RepositorySpec, UniqueKey, reads, writes
from .memory import MemoryRepository
from .security_state import OnImport, SecurityState
from .sql import SqlRepository


class ApiKeyRepository(Repository):
    spec = RepositorySpec(
        "api_keys",
        ApiKey,
        parents=(Parent("users", "user_id"),),
        unique=(UniqueKey("key_hash", ("key_hash",)),),
        security=SecurityState(
            "api_key",
            identity=("user_id", "name"),
            fields=(("revoked_at", OnImport.SET_ON_EITHER),),
        ),
    )

    @reads
    @abstractmethod
    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...

    @reads
    @abstractmethod
    def list_for(self, user_id: str) -> list[ApiKey]:
        """A user's keys, oldest first."""

    @writes
    def add(self, key: ApiKey) -> ApiKey:
        self._insert(key)
        return key

    @writes
    def update(self, key: ApiKey) -> ApiKey:
        self._replace(key)
        return key

    @writes
    def delete_for(self, user_id: str) -> int:
        keys = self.list_for(user_id)
        for key in keys:
            self._erase(key.id)
        return len(keys)


class MemoryApiKeyRepository(MemoryRepository, ApiKeyRepository):
    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._store.lock:
            key = self._view.holder("key_hash", key_hash)
            return self.fetch(key) if key else None

    def list_for(self, user_id: str) -> list[ApiKey]:
        with self._store.lock:
            keys = self._view.keys_for(self.parent_index("user_id"), user_id)
            records = [self._view.get(key) for key in keys]
            return self._select(records, bool, _oldest_first, False, len(records), 0).items


class SqlApiKeyRepository(SqlRepository, ApiKeyRepository):
    model = ApiKeyModel

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._session.scalar(sa.select(ApiKeyModel).where(ApiKeyModel.key_hash == key_hash))
        return self.from_row(row) if row is not None else None

    def list_for(self, user_id: str) -> list[ApiKey]:
        rows = self._session.scalars(
            sa.select(ApiKeyModel)
            .where(ApiKeyModel.user_id == user_id)
            .order_by(ApiKeyModel.created_at, ApiKeyModel.id)
        )
        return [self.from_row(row) for row in rows]


def _oldest_first(key: ApiKey) -> tuple:
    return (key.created_at, key.id)
