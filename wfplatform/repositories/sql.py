"""The generic half of every SQL repository: primitives over an ORM session and model."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm import exc as orm_exc

from ..backends.recordset import insert_rows
from ..backends.sql import owns_rows
from ..domain.codec import as_utc, copy_record
from ..errors import (
    CHANGED_MEANWHILE,
    DUPLICATE,
    MISSING_REFERENCE,
    STILL_REFERENCED,
    Conflict,
    ValidationFailed,
)
from . import base
from .base import ChangeSink, Page, Repository


def count_matches(session: Session, model: type, *conditions: Any) -> int:
    """The rows matching `conditions`, counted up to one past `COUNTED_AT_MOST` (see `Page`):
    a count that stops there instead of reading every match."""
    matching = sa.select(sa.literal(1)).select_from(model).where(*conditions)
    capped = matching.limit(base.COUNTED_AT_MOST + 1).subquery()
    return session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0


class SqlRepository(Repository):
    """Runs inside the session of the caller's unit of work; never commits by itself."""

    backend: ClassVar[str] = "database"
    model: ClassVar[type]

    def __init__(self, session: Session, changes: ChangeSink | None = None) -> None:
        super().__init__(changes)
        self._session = session

    @property
    def unique_columns(self) -> tuple[tuple[str, ...], ...]:
        """Column sets with a unique constraint besides the key: the spec's unique keys
        (values come from `to_columns`)."""
        return tuple(key.fields for key in self.spec.unique)

    # -- mapping ----------------------------------------------------------------------------
    def derived_columns(self, record: Any) -> dict[str, Any]:
        """Columns computed from the record (stored for filtering, never read back)."""
        return {}

    def to_columns(self, record: Any) -> dict[str, Any]:
        """Column values; JSON values are shared with the record, not copied (the driver
        serialises them and nothing here mutates them)."""
        values = {field.name: getattr(record, field.name) for field in _fields(type(record))}
        values.update(self.derived_columns(record))
        return values

    def from_row(self, row: Any) -> Any:
        """The record of a mapped row, or of a row of `_by_key` (the same names)."""
        values = {}
        for field in _fields(self.spec.record_type):
            value = getattr(row, field.name)
            if hasattr(value, "tzinfo"):
                value = as_utc(value)
            values[field.name] = value
        record = self.spec.record_type(**values)
        return record if owns_rows(self._session) else copy_record(record)

    def _newest_first(
        self,
        equal: Iterable[tuple[Any, Any]],
        since: datetime | None,
        until: datetime | None,
        limit: int,
        offset: int,
    ) -> Page:
        """A page of the rows whose columns equal the values given (a value None: any),
        created in [since, until), newest first (then by id), with their count."""
        model = self.model
        conditions = [column == value for column, value in equal if value is not None]
        # In UTC: PostgreSQL refuses offsets past 15:59, which ISO 8601 allows.
        if since is not None:
            conditions.append(model.created_at >= as_utc(since))
        if until is not None:
            conditions.append(model.created_at < as_utc(until))
        matches = count_matches(self._session, model, *conditions)
        rows = self._session.scalars(
            sa.select(model)
            .where(*conditions)
            .order_by(model.created_at.desc(), model.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return Page.counted([self.from_row(row) for row in rows], matches)

    # -- primitives -------------------------------------------------------------------------
    def fetch(self, key: str) -> Any | None:
        """A session closed after this read (`single_read`) reads the row without the ORM:
        it would keep the row in an identity map nobody asks again, and building that
        mapped object costs about as much as the query. A unit of work reads through its
        identity map, so it sees the rows it has changed."""
        if owns_rows(self._session):
            statement = _by_key(self.model, self.spec.record_type)
            row = self._session.connection().execute(statement, {"key": key}).first()
        else:
            row = self._session.get(self.model, key)
        return self.from_row(row) if row is not None else None

    def fetch_many(self, keys: list[str]) -> dict[str, Any]:
        rows = self._session.scalars(
            sa.select(self.model)
            .where(self.model.id.in_(keys))
            .execution_options(populate_existing=True)
        )
        return {row.id: self.from_row(row) for row in rows}

    def existing_keys(self, keys: list[str]) -> set[str]:
        return set(self._session.scalars(sa.select(self.model.id).where(self.model.id.in_(keys))))

    def unique_holders(self, records: list[Any]) -> dict[str, str]:
        """For records whose unique values are held by a row with another key: record key
        -> that row's key (what a backfill would collide with)."""
        clashes: dict[str, str] = {}
        for columns in self.unique_columns:
            wanted = {tuple(self.to_columns(r)[c] for c in columns): r.id for r in records}
            wanted = {values: key for values, key in wanted.items() if None not in values}
            if not wanted:
                continue
            targets = [getattr(self.model, column) for column in columns]
            rows = self._session.execute(
                sa.select(self.model.id, *targets).where(sa.tuple_(*targets).in_(list(wanted)))
            )
            for holder, *values in rows:
                key = wanted[tuple(values)]
                if holder != key:
                    clashes[key] = holder
        return clashes

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
        """One race-free statement: INSERT ... ON CONFLICT (id) DO UPDATE."""
        self.upsert_many([record])

    def upsert_many(self, records: list[Any]) -> None:
        """`upsert` for many records in one statement (see `backends.recordset`)."""
        self.upsert_rows([self.to_columns(record) for record in records])

    def upsert_rows(self, rows: list[dict[str, Any]]) -> None:
        """`upsert_many` of records already mapped by `to_columns`."""
        with self._replicating():
            insert_rows(self._session.connection(), self.model.__table__, rows, upsert_key="id")

    def insert_missing(self, record: Any) -> bool:
        """Insert unless a row with this key exists (then it is left as it is); True when
        this call inserted it. Race-free: two copies of one parent never collide."""
        statement = self._dialect_insert().values(**self.to_columns(record))
        statement = statement.on_conflict_do_nothing(index_elements=[self.model.id])
        with self._replicating():
            return self._session.connection().execute(statement).rowcount == 1

    def discard(self, key: str) -> None:
        with self._replicating():
            self._session.connection().execute(sa.delete(self.model).where(self.model.id == key))

    def _dialect_insert(self):
        dialect = self._session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
            self.model.__table__
        )

    @contextmanager
    def _replicating(self) -> Iterator[None]:
        """Replication has no domain answer to give: a refusal means the database holds
        data memory does not (it diverged), reported as a `Conflict` without the SQL."""
        try:
            yield
        except (sa_exc.IntegrityError, sa_exc.DataError):
            raise Conflict(f"{self.spec.name}: the database refused a replicated record") from None

    def _insert(self, record: Any) -> None:
        self._validate(record)
        self._prepare(record)
        self._write(
            lambda: self._session.add(self.model(**self.to_columns(record))), MISSING_REFERENCE
        )
        self._changed(self.spec.key(record), record)

    def _replace(self, record: Any, *, successor: bool = True) -> None:
        self._validate(record)
        key = self.spec.key(record)
        row = self._session.get(self.model, key)
        if row is None:
            self._require(key)
        if successor:
            self._check_successor(row, record)
        self._prepare(record)

        def assign() -> None:
            for name, value in self.to_columns(record).items():
                setattr(row, name, value)

        self._write(assign, MISSING_REFERENCE)
        self._changed(key, record)

    def _erase(self, key: str) -> None:
        row = self._session.get(self.model, key)
        if row is None:
            self._require(key)
        self._write(lambda: self._session.delete(row), STILL_REFERENCED)
        self._changed(key, None)

    def _prepare(self, record: Any) -> None:
        if self._changes is not None:
            self._changes.prepare_put(self.spec, record)

    def _write(self, change: Callable[[], None], reference_message: str) -> None:
        """Apply and flush in a savepoint: a constraint violation becomes the `Conflict`
        memory raises, and the unit of work's earlier writes stay intact."""
        try:
            with self._session.begin_nested():
                change()
                self._session.flush()
        except sa_exc.IntegrityError as exc:
            message = reference_message if _is_foreign_key(exc) else DUPLICATE
            raise Conflict(message.format(name=self.spec.name)) from None
        except orm_exc.StaleDataError:
            raise Conflict(CHANGED_MEANWHILE.format(name=self.spec.name)) from None
        except sa_exc.DataError:
            raise ValidationFailed(f"{self.spec.name}: a value does not fit its field") from None


@functools.cache
def _fields(record_type: type) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(record_type)


@functools.cache
def _by_key(model: type, record_type: type) -> sa.Select:
    """SELECT the record's columns, named as its fields, of the row whose key is `:key`."""
    attributes = sa.inspect(model).column_attrs
    columns = [
        attributes[field.name].columns[0].label(field.name) for field in _fields(record_type)
    ]
    return sa.select(*columns).where(model.__table__.c.id == sa.bindparam("key"))


def _is_foreign_key(exc: sa_exc.IntegrityError) -> bool:
    return "foreign key" in str(exc.orig).lower()
