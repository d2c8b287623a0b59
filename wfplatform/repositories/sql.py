"""The generic half of every SQL repository: primitives over an ORM session and model."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from ..domain.codec import as_utc, copy_record
from ..errors import Conflict
from .base import DUPLICATE, MISSING_REFERENCE, STILL_REFERENCED, ChangeSink, Repository


class SqlRepository(Repository):
    """Runs inside the session of the caller's unit of work; never commits by itself."""

    backend: ClassVar[str] = "database"
    model: ClassVar[type]

    def __init__(self, session: Session, changes: ChangeSink | None = None) -> None:
        super().__init__(changes)
        self._session = session

    # -- mapping ----------------------------------------------------------------------------
    def derived_columns(self, record: Any) -> dict[str, Any]:
        """Columns computed from the record (stored for filtering, never read back)."""
        return {}

    def to_columns(self, record: Any) -> dict[str, Any]:
        values = dataclasses.asdict(copy_record(record))
        values.update(self.derived_columns(record))
        return values

    def from_row(self, row: Any) -> Any:
        values = {}
        for field in dataclasses.fields(self.spec.record_type):
            value = getattr(row, field.name)
            if hasattr(value, "tzinfo"):
                value = as_utc(value)
            values[field.name] = value
        return copy_record(self.spec.record_type(**values))

    # -- primitives -------------------------------------------------------------------------
    def fetch(self, key: str) -> Any | None:
        row = self._session.get(self.model, key)
        return self.from_row(row) if row is not None else None

    def fetch_many(self, keys: list[str]) -> dict[str, Any]:
        rows = self._session.scalars(
            sa.select(self.model)
            .where(self.model.id.in_(keys))
            .execution_options(populate_existing=True)
        )
        return {row.id: self.from_row(row) for row in rows}

    def iter_all(self, batch_size: int = 1000) -> Iterator[Any]:
        key_order = self.model.id
        if self._session.get_bind().dialect.name == "postgresql":
            key_order = key_order.collate("C")  # the same order as Python's sorted()
        query = sa.select(self.model).order_by(key_order).execution_options(yield_per=batch_size)
        for row in self._session.scalars(query):
            yield self.from_row(row)

    def keys(self) -> set[str]:
        return set(self._session.scalars(sa.select(self.model.id)))

    def count(self) -> int:
        return self._session.scalar(sa.select(sa.func.count()).select_from(self.model)) or 0

    def upsert(self, record: Any) -> None:
        row = self._session.get(self.model, self.spec.key(record))
        if row is None:
            self._session.add(self.model(**self.to_columns(record)))
        else:
            for name, value in self.to_columns(record).items():
                setattr(row, name, value)
        self._session.flush()

    def discard(self, key: str) -> None:
        self._session.execute(sa.delete(self.model).where(self.model.id == key))

    def _prepare(self, record: Any) -> None:
        if self._changes is not None:
            self._changes.prepare_put(self.spec, record)

    def _insert(self, record: Any) -> None:
        self._prepare(record)
        self._session.add(self.model(**self.to_columns(record)))
        self._flush(MISSING_REFERENCE)
        self._changed(self.spec.key(record), record)

    def _replace(self, record: Any) -> None:
        key = self.spec.key(record)
        row = self._session.get(self.model, key)
        if row is None:
            self._require(key)
        self._prepare(record)
        for name, value in self.to_columns(record).items():
            setattr(row, name, value)
        self._flush(MISSING_REFERENCE)
        self._changed(key, record)

    def _erase(self, key: str) -> None:
        row = self._session.get(self.model, key)
        if row is None:
            self._require(key)
        self._session.delete(row)
        self._flush(STILL_REFERENCED)
        self._changed(key, None)

    def _flush(self, reference_message: str) -> None:
        """Flush now, so constraint violations surface as the same `Conflict` memory raises."""
        try:
            self._session.flush()
        except sa_exc.IntegrityError as exc:
            self._session.rollback()
            message = reference_message if _is_foreign_key(exc) else DUPLICATE
            raise Conflict(message.format(name=self.spec.name)) from exc


def _is_foreign_key(exc: sa_exc.IntegrityError) -> bool:
    return "foreign key" in str(exc.orig).lower()
