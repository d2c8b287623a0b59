"""Users: the interface and its memory and SQL implementations."""

from __future__ import annotations

from abc import abstractmethod

import sqlalchemy as sa

from ..domain.users import User
from ..models import UserModel
from .base import Page, Repository, RepositorySpec, UniqueKey, reads, writes
from .memory import MemoryRepository
from .security_state import OnImport, SecurityState
from .sql import SqlRepository, count_matches


class UserRepository(Repository):
    spec = RepositorySpec(
        "users",
        User,
        unique=(UniqueKey("email", ("email_key",)),),
        security=SecurityState(
            "user",
            identity=("email",),
            fields=(
                ("password_hash", OnImport.KEEP_TARGETS),
                ("role", OnImport.KEEP_TARGETS),
                ("is_active", OnImport.TRUE_ON_BOTH),
                ("failed_logins", OnImport.KEEP_TARGETS),
                ("locked_until", OnImport.KEEP_TARGETS),
            ),
        ),
        # every authenticated request reads its user: one round trip saved on each
        cached_reads=True,
    )

    @reads
    @abstractmethod
    def get_by_email(self, email: str) -> User | None: ...

    @reads
    @abstractmethod
    def list(self, limit: int = 50, offset: int = 0) -> Page:
        """Users, oldest first."""

    @writes
    def add(self, user: User) -> User:
        self._insert(user)
        return user

    @writes
    def update(self, user: User) -> User:
        self._replace(user)
        return user

    @writes
    def delete(self, user_id: str) -> None:
        self._erase(user_id)


class MemoryUserRepository(MemoryRepository, UserRepository):
    def get_by_email(self, email: str) -> User | None:
        with self._store.lock:
            key = self._view.holder("email", email.strip().lower())
            return self.fetch(key) if key else None

    def list(self, limit: int = 50, offset: int = 0) -> Page:
        with self._store.lock:
            return self._select(
                self._view.records(),
                lambda user: True,
                lambda user: (user.created_at, user.id),
                False,
                limit,
                offset,
            )


class SqlUserRepository(SqlRepository, UserRepository):
    model = UserModel

    def derived_columns(self, record: User) -> dict:
        return {"email_key": record.email_key}

    def get_by_email(self, email: str) -> User | None:
        row = self._session.scalar(
            sa.select(UserModel).where(UserModel.email_key == email.strip().lower())
        )
        return self.from_row(row) if row is not None else None

    def list(self, limit: int = 50, offset: int = 0) -> Page:
        matches = count_matches(self._session, UserModel)
        rows = self._session.scalars(
            sa.select(UserModel)
            .order_by(UserModel.created_at, UserModel.id)
            .limit(limit)
            .offset(offset)
        )
        return Page.counted([self.from_row(row) for row in rows], matches)
