"""The record cache on PostgreSQL, as two serving processes share one database: a user read
by key is kept, and forgotten when anyone changes it, wherever the change is made; while
the database cannot tell of changes, nothing is served from the cache."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.engine import Engine

from tests import databases
from tests.conftest import build_storage
from tests.factories import make_user
from wfplatform.extensions import db
from wfplatform.storage.adapter import Storage
from wfplatform.storage.change_feed import APPLICATION_NAME

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = databases.create_engine(postgres_url)
    db.metadata.create_all(engine)
    databases.stamp_head(engine)
    databases.empty_all_tables(engine, db.metadata)
    yield engine
    engine.dispose()


@pytest.fixture
def serving(pg_engine: Engine, tmp_path: Path) -> Iterator[Callable[..., Storage]]:
    """Started storages with a record cache, each standing for a serving process."""
    started: list[Storage] = []

    def start(mode: str = "database-only", **settings) -> Storage:
        journal = tmp_path / f"journal-{len(started)}.log"
        storage = build_storage(pg_engine, journal, mode, cache_capacity=100, **settings)
        storage.start()
        started.append(storage)
        wait_for(lambda: storage.record_cache()["live"], "the change feed to listen")
        return storage

    yield start
    for storage in started:
        storage.close()


def wait_for(condition: Callable[[], object], what: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"waited {timeout} s for {what}")


def cached(storage: Storage, user) -> None:
    """Read `user` until the cache answers."""
    start = hits(storage)
    wait_for(lambda: storage.users.get(user.id) and hits(storage) > start, "a cached read")


def hits(storage: Storage) -> int:
    return storage.describe()["users"]["stats"]["cache_hits"]


def database_reads(storage: Storage) -> int:
    return storage.describe()["users"]["stats"]["backends"]["database"]["reads"]


def test_a_user_read_again_is_answered_by_the_cache(serving) -> None:
    storage = serving()
    user = storage.users.add(make_user())
    # The notice of the insert may still be on its way: a read racing it keeps nothing.
    cached(storage, user)
    before = hits(storage), database_reads(storage)
    for _ in range(3):
        assert storage.users.get(user.id) == user
    assert (hits(storage), database_reads(storage)) == (before[0] + 3, before[1])


def test_a_cached_read_is_an_event_on_the_callers_span_not_a_span(serving, spans) -> None:
    storage = serving()
    user = storage.users.add(make_user())
    cached(storage, user)
    spans.clear()
    with trace.get_tracer("test").start_as_current_span("request"):
        storage.users.get(user.id)
    (request,) = spans.get_finished_spans()  # no `users.get` span beside it
    (event,) = request.events
    assert (event.name, dict(event.attributes)) == ("users.get", {"wf.storage.cached": True})


def test_a_write_of_this_process_is_seen_by_its_next_read(serving) -> None:
    storage = serving()
    user = storage.users.add(make_user())
    cached(storage, user)
    storage.users.update(dataclasses.replace(user, role="admin"))
    assert storage.users.get(user.id).role == "admin"  # at once: no notice awaited


@pytest.mark.parametrize("mode", ["database-only", "dual"])
def test_a_change_made_by_another_process_is_seen_once_announced(serving, mode) -> None:
    settings = {"read_from": "database"} if mode == "dual" else {}
    here, there = serving(mode, **settings), serving(mode, **settings)
    user = here.users.add(make_user())
    cached(here, user)
    there.users.update(dataclasses.replace(user, is_active=False))
    wait_for(lambda: not here.users.get(user.id).is_active, "the other process's change")


def test_a_change_made_at_psql_is_seen_too(serving, pg_engine: Engine) -> None:
    storage = serving()
    user = storage.users.add(make_user())
    cached(storage, user)
    with pg_engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": user.id}
        )
    wait_for(lambda: storage.users.get(user.id).role == "admin", "the change at psql")
    with pg_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM users"))
    wait_for(lambda: storage.users.get(user.id) is None, "the delete at psql")


def _terminate_feeds(engine: Engine) -> int:
    with engine.begin() as connection:
        return len(
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).all()
        )


def test_while_the_feed_is_down_every_read_goes_to_the_database(serving, pg_engine: Engine) -> None:
    """A change made while nobody listened is never announced: the cache is bypassed while
    the feed is away and starts empty when it is back."""
    storage = serving()
    user = storage.users.add(make_user())
    cached(storage, user)
    assert _terminate_feeds(pg_engine) == 1
    wait_for(lambda: not storage.record_cache()["live"], "the feed to notice")
    with pg_engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": user.id}
        )
    reads = database_reads(storage)
    assert storage.users.get(user.id).role == "admin"
    assert database_reads(storage) == reads + 1
    wait_for(lambda: storage.record_cache()["live"], "the feed to listen again")
    assert storage.users.get(user.id).role == "admin"


def test_reads_from_memory_are_never_cached(serving) -> None:
    storage = serving("dual", read_from="memory")
    user = storage.users.add(make_user())
    for _ in range(3):
        storage.users.get(user.id)
    assert hits(storage) == 0


def test_a_database_without_the_triggers_is_read_uncached(pg_engine: Engine, tmp_path) -> None:
    """A database not upgraded to revision 0010 announces nothing: no cache at all, until
    it is."""
    with pg_engine.begin() as connection:
        connection.execute(sa.text("DROP TRIGGER wf_record_changes ON users"))
    storage = build_storage(pg_engine, tmp_path / "journal.log", "database-only", cache_capacity=9)
    storage.start()
    try:
        user = storage.users.add(make_user())
        for _ in range(3):
            storage.users.get(user.id)
        assert hits(storage) == 0 and not storage.record_cache()["live"]
        # upgraded while the process runs: it starts caching without a restart
        with pg_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "CREATE TRIGGER wf_record_changes AFTER INSERT OR UPDATE OR DELETE ON users "
                    "FOR EACH ROW EXECUTE FUNCTION wf_announce_record_change()"
                )
            )
        wait_for(lambda: storage.record_cache()["live"], "the feed to find the trigger")
        cached(storage, user)
    finally:
        storage.close()
        db.metadata.drop_all(pg_engine)  # the next test makes the tables and triggers again


def test_a_password_changed_in_one_worker_ends_the_old_tokens_in_the_others(
    pg_engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    """What the cache must never break: two serving processes, the token checked (and its
    user cached) by one, the password changed through the other."""
    from tests.api.conftest import app_config, login, register
    from tests.apps import close_app
    from wfplatform import create_app

    apps = []
    for n in range(2):
        config = {
            **app_config(postgres_url, "database-only", None, tmp_path / f"worker-{n}"),
            "WF_START_STORAGE": True,
        }
        apps.append(create_app(config, instance_path=str(tmp_path / f"worker-{n}")))
    try:
        here, there = (app.test_client() for app in apps)
        storage = apps[0].extensions["wf_storage"]
        wait_for(lambda: storage.record_cache()["live"], "the change feed to listen")
        user = register(here)
        old = login(here, user["email"])
        wait_for(
            lambda: here.get("/api/users/me", headers=old).status_code == 200 and hits(storage),
            "a cached user",
        )
        body = {"current_password": "correct horse", "new_password": "a new horse staple"}
        assert there.post("/api/users/me/password", json=body, headers=old).status_code == 200
        wait_for(
            lambda: here.get("/api/users/me", headers=old).status_code == 401,
            "the old token to be refused",
            timeout=2,
        )
    finally:
        for app in apps:
            close_app(app)
