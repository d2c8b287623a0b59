"""Real databases for tests: a temporary SQLite file, or a fresh PostgreSQL database that
is created for the run and dropped after it, so runs never collide."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from wfplatform.backends.sql import configure_engine, engine_options

POSTGRES_ADMIN_URL = os.environ.get(
    "WF_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_unavailable_reason(admin_url: str = POSTGRES_ADMIN_URL) -> str | None:
    engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        return f"no PostgreSQL answers at {make_url(admin_url).render_as_string()}: {exc.orig}"
    finally:
        engine.dispose()
    return None


@contextmanager
def temporary_postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    name = f"wf_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, **engine_options(url))
    configure_engine(engine)
    return engine


def empty_all_tables(engine: Engine, metadata: sa.MetaData) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


def stamp_head(engine: Engine) -> None:
    """Mark a schema made by `create_all` as being at the latest migration (what
    `flask db upgrade` leaves), for code that checks the revision."""
    from wfplatform.extensions import head_revision

    with engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
        )
        connection.execute(sa.text("DELETE FROM alembic_version"))
        connection.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:head)"),
            {"head": head_revision()},
        )
