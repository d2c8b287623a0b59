"""What must hold before a backfill writes anything."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..backends.sql import translate_faults
from ..extensions import head_revision
from ..storage.adapter import Storage
from ..storage.modes import Mode


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
    """A live backfill needs dual mode: every new write then lands in both backends."""
    return [
        f"{name} runs {storage.mode(name).label()}, not dual: switch it to dual first"
        for name in repositories
        if storage.mode(name).mode is not Mode.DUAL
    ]
