"""Many rows in one statement. On PostgreSQL the rows travel as one JSON document that
`json_to_recordset` unpacks on the server: one round trip and one statement to plan per
batch, where an executemany sends a statement per row (or per small page) and SQLAlchemy
and psycopg2 bind every value in Python. Elsewhere (SQLite) an executemany is already fast.

`upsert_key` makes it `INSERT ... ON CONFLICT (key) DO UPDATE`; rows are then deduplicated
by key, the last one winning, as a sequence of single upserts would leave it."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_rows(
    connection: Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    upsert_key: str | None = None,
):
    """Insert `rows` (column name -> value, every row with the same columns) into `table`."""
    if not rows:
        return None
    if upsert_key is not None:
        rows = list({row[upsert_key]: row for row in rows}.values())
    columns = tuple(rows[0])
    if connection.dialect.name == "postgresql":
        statement = _recordset_insert(table, columns, upsert_key)
        return connection.execute(statement, {"rows": json.dumps(rows, default=_encode)})
    return connection.execute(_values_insert(table, columns, upsert_key), rows)


@functools.cache
def _recordset_insert(table: sa.Table, columns: tuple[str, ...], upsert_key: str | None):
    recordset = (
        sa.func.json_to_recordset(sa.cast(sa.bindparam("rows"), postgresql.JSON))
        .table_valued(*(sa.column(name, table.c[name].type) for name in columns))
        .render_derived(with_types=True)
    )
    values = [_stored_as_sqlalchemy_would(recordset.c[name], table.c[name]) for name in columns]
    statement = postgresql.insert(table).from_select(list(columns), sa.select(*values))
    return _on_conflict(statement, columns, upsert_key)


def _stored_as_sqlalchemy_would(value, column: sa.Column):
    """`json_to_recordset` reads a JSON `null` as SQL NULL; SQLAlchemy's JSON type stores
    Python's None as JSON `null` (unless `none_as_null`), and so must this path."""
    if isinstance(column.type, sa.JSON) and not column.type.none_as_null:
        return sa.func.coalesce(value, sa.cast(sa.literal("null"), column.type))
    return value


@functools.cache
def _values_insert(table: sa.Table, columns: tuple[str, ...], upsert_key: str | None):
    return _on_conflict(sqlite.insert(table), columns, upsert_key)


def _on_conflict(statement, columns: tuple[str, ...], upsert_key: str | None):
    if upsert_key is None:
        return statement
    return statement.on_conflict_do_update(
        index_elements=[upsert_key],
        set_={name: statement.excluded[name] for name in columns if name != upsert_key},
    )


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
