"""Portable "the JSON array column shares an element with these values" filters."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def json_array_overlaps(session: Session, column: sa.ColumnElement, values: Sequence[str]):
    """PostgreSQL uses the JSONB `?|` operator (GIN-indexed); SQLite uses `json_each`."""
    if session.get_bind().dialect.name == "postgresql":
        return column.op("?|")(sa.cast(list(values), postgresql.ARRAY(sa.Text)))
    element = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(element).where(element.c.value.in_(list(values))))
