"""What `Storage.on_database()` yields: the database itself, whatever the modes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..repositories import RepositoryBackends
from ..repositories.sql import SqlRepository


class OnDatabase:
    """One session on the database and each repository's SQL side in it, for code that
    reads or writes the database itself, whatever the modes."""

    def __init__(self, session: Session, bindings: dict[str, RepositoryBackends]) -> None:
        self.session = session
        self._bindings = bindings

    def repository(self, name: str) -> SqlRepository:
        return self._bindings[name].sql(self.session)

    def commit(self) -> None:
        self.session.commit()
