"""What must hold before a backfill writes anything."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..backends.sql import translate_faults
from ..extensions import head_revision
from ..storage.adapter import Storage
from ..storage.modes import DATABASE, Mode


def schema_refusal(engine: Engine) -> str | None:
    """Set when the database is not at the latest schema revision."""
    head = head_revision()
    with translate_faults(), engine.connect() as connection:
        try:
            current = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        except sa.exc.DBAPIError:
            current = None
    if current != head:
        return f"the schema is at {current or 'nothing'}, not {head}: run `flask db upgrade`"
    return None


def mode_refusals(storage: Storage, repositories: list[str]) -> list[str]:
    """A live backfill needs dual mode reading memory: every new write then lands in both
    backends, memory first, under the record locks each batch holds. Once reads come
    from the database, writes reach it before they take those locks, so a batch could
    write memory's older copy over a change, or bring back a record just deleted."""
    refusals = []
    for name in repositories:
        mode = storage.mode(name)
        if mode.mode is not Mode.DUAL:
            refusals.append(f"{name} runs {mode.label()}, not dual: switch it to dual first")
        elif mode.primary == DATABASE:
            refusals.append(
                f"{name} reads from the database: a backfill copies memory into it, "
                "so switch its reads back to memory first"
            )
    return refusals
