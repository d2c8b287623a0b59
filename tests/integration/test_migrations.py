"""The Alembic migrations against the models, on real SQLite and real PostgreSQL.

Every test gets a database of its own (a temporary SQLite file, or a PostgreSQL database
created for it and dropped after it) and an app whose instance folder is under tmp_path,
so nothing is written into the repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app

import wfplatform.models  # noqa: F401 (registers the tables)
from tests import databases
from tests.conftest import require_postgres
from wfplatform import create_app
from wfplatform.extensions import MIGRATIONS, db, head_revision

MODEL_TABLES = frozenset(db.metadata.tables)
BOOKKEEPING = frozenset({"alembic_version"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    require_postgres()
    with databases.temporary_postgres_database() as url:
        yield url


@pytest.fixture
def app(empty_database_url: str, tmp_path: Path) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
            "WF_START_STORAGE": False,
            "WF_JOURNAL_PATH": str(tmp_path / "sync-journal.log"),
        },
        instance_path=str(instance),
    )
    assert app.instance_path == str(instance)
    yield app
    with app.app_context():
        db.engine.dispose()


def table_names(app: Flask) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def leftover_sequences(app: Flask) -> set[str]:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return set()
        return set(sa.inspect(db.engine).get_sequence_names())


def current_revision(app: Flask) -> str | None:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(app: Flask, revision: str = "head") -> None:
    with app.app_context():
        flask_migrate.upgrade(revision=revision)


def downgrade(app: Flask, revision: str = "base") -> None:
    with app.app_context():
        flask_migrate.downgrade(revision=revision)


def test_the_migrations_have_a_single_head():
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()


def test_flask_db_upgrade_creates_every_model_table(app: Flask):
    assert table_names(app) == set()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert table_names(app) == MODEL_TABLES | BOOKKEEPING
    assert current_revision(app) == head_revision()


def test_downgrade_to_base_removes_every_table(app: Flask):
    upgrade(app)
    downgrade(app)
    assert table_names(app) <= BOOKKEEPING
    assert leftover_sequences(app) == set()
    assert current_revision(app) is None


def test_upgrade_downgrade_upgrade_round_trip(app: Flask):
    upgrade(app)
    downgrade(app)
    upgrade(app)
    assert table_names(app) == MODEL_TABLES | BOOKKEEPING
    assert current_revision(app) == head_revision()
    with app.app_context():
        assert compare_with_models(db.engine) == []


def compare_with_models(engine: sa.Engine) -> list:
    """Autogenerate's diff between the database and the models, configured as env.py is
    (the app's Migrate options: compare_type and render_as_batch)."""
    options = dict(current_app.extensions["migrate"].configure_args)
    options.pop("process_revision_directives", None)
    assert options.get("compare_type") is True
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(context, db.metadata)


def test_upgraded_schema_matches_the_models(app: Flask):
    upgrade(app)
    with app.app_context():
        assert compare_with_models(db.engine) == []


def test_flask_db_check_finds_nothing_to_migrate(app: Flask):
    upgrade(app)
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_workflows_stored_before_0009_keep_counting_for_the_bytes_quota(app: Flask):
    """0009 stores each row's content size; rows that were there get theirs at upgrade, so
    a user's usage does not drop to zero (and their quota open up) with the upgrade."""
    from tests.factories import make_user, make_version, make_workflow
    from wfplatform.repositories import Repositories

    upgrade(app, "0008")
    owner = make_user()
    workflow = make_workflow(owner, description="ünïcode", nodes=[{"id": "a", "type": "set"}])
    version = make_version(workflow, 1)
    with app.app_context(), db.engine.begin() as connection:
        for table, record in (("users", owner), ("workflows", workflow)):
            columns = Repositories.users if table == "users" else Repositories.workflows
            row = columns.sql(None).to_columns(record)
            row.pop("content_bytes", None)
            connection.execute(db.metadata.tables[table].insert().values(**row))
        row = Repositories.workflow_versions.sql(None).to_columns(version)
        row.pop("content_bytes")
        connection.execute(db.metadata.tables["workflow_versions"].insert().values(**row))
    upgrade(app)

    with app.app_context(), db.engine.connect() as connection:
        stored = {
            table: connection.scalar(sa.text(f"SELECT content_bytes FROM {table}"))
            for table in ("workflows", "workflow_versions")
        }
    # as the service counts them (the JSON here is ASCII: PostgreSQL's JSONB text is as long)
    assert stored == {
        "workflows": workflow.stored_bytes,
        "workflow_versions": version.stored_bytes,
    }


def _announcing_tables(app: Flask) -> set[str]:
    from wfplatform.models.change_notices import TRIGGER

    with app.app_context(), db.engine.connect() as connection:
        if db.engine.dialect.name != "postgresql":
            return set()
        query = "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        query += "WHERE t.tgname LIKE :trigger"
        return set(connection.execute(sa.text(query), {"trigger": f"{TRIGGER}%"}).scalars())


def test_the_tables_of_cached_repositories_announce_their_changes_from_0010(app: Flask):
    """On PostgreSQL the record cache needs each cached repository's table to announce its
    row changes; upgraded, the schema has exactly those triggers, as `create_all` makes them."""
    from wfplatform.repositories import REPOSITORIES

    cached = {b.sql.model.__tablename__ for b in REPOSITORIES if b.spec.cached_reads}
    postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    upgrade(app, "0009")
    assert _announcing_tables(app) == set()
    upgrade(app)
    assert _announcing_tables(app) == (cached if postgres else set())
    downgrade(app, "0009")
    assert _announcing_tables(app) == set()
    if postgres:
        with app.app_context():
            db.metadata.drop_all(db.engine)
            db.metadata.create_all(db.engine)
        assert _announcing_tables(app) == cached
