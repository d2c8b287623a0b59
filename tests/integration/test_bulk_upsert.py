"""The SQL repositories' bulk upsert (the backfill's and replication's write path): one
statement per batch on PostgreSQL, an executemany on SQLite, the same answers on both."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.factories import make_user, make_workflow
from wfplatform.backends.sql import new_session
from wfplatform.backfill.runs import RunStore
from wfplatform.errors import Conflict
from wfplatform.models import LedgerEntryModel
from wfplatform.repositories.users import SqlUserRepository
from wfplatform.repositories.workflows import SqlWorkflowRepository


@pytest.fixture
def session(engine):
    with new_session(engine, write=True) as session:
        yield session


def test_inserts_and_overwrites_in_one_call(session):
    users = SqlUserRepository(session)
    kept, changed = make_user(), make_user()
    users.upsert_many([kept, changed])
    renamed = dataclasses.replace(changed, name="Renamed")
    added = make_user()
    users.upsert_many([renamed, added])
    session.commit()

    assert users.fetch(kept.id) == kept
    assert users.fetch(changed.id) == renamed
    assert users.fetch(added.id) == added
    assert users.count() == 3


def test_the_last_copy_of_a_key_wins_like_a_sequence_of_upserts(session):
    users = SqlUserRepository(session)
    first = make_user()
    second = dataclasses.replace(first, name="Second")
    users.upsert_many([first, second])

    assert users.fetch(first.id) == second


def test_keeps_json_documents_text_and_instants_exactly(session):
    owner = make_user()
    SqlUserRepository(session).upsert_many([owner])
    workflows = SqlWorkflowRepository(session)
    awkward = make_workflow(
        owner,
        name='Quote " backslash \\ tab \t newline \n émoji 🎉',
        tags=["a,b", "{braces}", "null"],
        nodes=[{"id": "x", "type": "code", "parameters": {"n": None, "f": 1.5, "deep": [[]]}}],
        settings={"empty": {}, "list": [1, "two", False]},
        created_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    )
    workflows.upsert_many([awkward])
    session.commit()

    assert workflows.fetch(awkward.id) == awkward


def test_a_missing_parent_refuses_the_whole_batch(session):
    users = SqlUserRepository(session)
    owner = make_user()
    users.upsert_many([owner])
    orphan = make_workflow(make_user())
    with pytest.raises(Conflict, match="refused a replicated record"):
        SqlWorkflowRepository(session).upsert_many([make_workflow(owner), orphan])


def test_a_ledger_entry_without_a_before_is_stored_as_every_other_path_stores_it(engine):
    """`before` is None for inserts. SQLAlchemy's JSON type (SQLite's executemany, the ORM,
    the per-row path this replaced) stores JSON `null`; json_to_recordset turns a JSON
    null into SQL NULL, so the two databases now disagree on `before IS NULL`."""
    runs = RunStore(engine)
    run_id = runs.create("ops", "test", {})
    entry = {"repository": "users", "record_id": "x", "action": "insert", "checksum": "c"}
    with new_session(engine, write=True) as session:
        runs.record_batch(session, run_id, [{**entry, "before": None}], {})
        session.commit()
        is_sql_null = session.scalar(sa.select(LedgerEntryModel.before.is_(None)))

    assert is_sql_null is False
