"""The schema revision an export records: the Alembic head of the code that wrote it."""

from __future__ import annotations

from alembic.script import ScriptDirectory


def head_revision(migrations_directory: str) -> str | None:
    """The single head of the Alembic revisions (a test keeps it single)."""
    return ScriptDirectory(migrations_directory).get_current_head()
