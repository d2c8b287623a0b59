"""The database's notices of changed records, for the record cache: on PostgreSQL, the
tables of repositories declaring `cached_reads` announce every row change, whoever makes
it (any process of the service, the backfill, an operator at psql; see
`models.change_notices`). One thread per process listens on a connection of its own and
tells the cache.

Down is safe: the cache serves nothing while the feed has not heard from the database
for `record_cache.LIVE_SECONDS`, and is emptied on every reconnection (notices sent
while the feed was away are lost)."""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from ..models.change_notices import CHANNEL, TRIGGER
from .parts import StorageParts
from .record_cache import RecordCache

log = logging.getLogger(__name__)

APPLICATION_NAME = "wfplatform change feed"  # how pg_stat_activity names its connection
POLL_SECONDS = 1.0
RETRY_SECONDS = 1.0


def tables_announcing(engine: Engine, tables: Iterable[str]) -> set[str]:
    """Those of `tables` whose rows' changes the database announces (the trigger is
    there): a database not upgraded to revision 0010 yet has none."""
    tables = list(tables)
    query = sa.text(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = :trigger AND c.relname = ANY(:tables) "
        "AND c.relnamespace = to_regnamespace(current_schema())"
    )
    with engine.connect() as connection:
        return set(connection.execute(query, {"trigger": TRIGGER, "tables": tables}).scalars())


def follow(parts: StorageParts) -> ChangeFeed | None:
    """The started feed of the cached repositories whose tables announce their changes,
    or None (not PostgreSQL, no cache, no such table yet): the cache then serves nothing."""
    tables = {
        binding.sql.model.__tablename__: name
        for name, binding in parts.bindings.items()
        if binding.spec.cached_reads
    }
    if not parts.cache.capacity or parts.engine.dialect.name != "postgresql" or not tables:
        return None
    try:
        announcing = tables_announcing(parts.engine, tables)
    except sa_exc.SQLAlchemyError as error:
        log.warning("the record cache is off: %s", error)
        return None
    for table in sorted(set(tables) - announcing):
        log.warning("%s is read uncached: its table lacks a trigger (flask db upgrade)", table)
    if not announcing:
        return None
    feed = ChangeFeed(parts.engine, parts.cache, {table: tables[table] for table in announcing})
    feed.start()
    return feed


class ChangeFeed:
    """`repositories`: table name -> repository name, for the tables to listen to."""

    def __init__(self, engine: Engine, cache: RecordCache, repositories: dict[str, str]) -> None:
        self._engine = engine
        self._cache = cache
        self._repositories = repositories
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wf-change-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Idempotent (a storage may be closed twice: by its owner and at exit)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_writer.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as error:  # any fault: the cache stops serving, then retry
                self._cache.lost()
                if not self._stopping.is_set():
                    log.warning("the record cache is off until the database answers: %s", error)
                    self._stopping.wait(RETRY_SECONDS)

    def _listen(self) -> None:
        pooled = self._engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # a connection of its own, closed here, never back in the pool
        try:
            connection.rollback()
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"SET application_name = '{APPLICATION_NAME}'")
                cursor.execute(f"LISTEN {CHANNEL}")
            # Listening from here on: what was kept before may have changed unheard.
            self._cache.lost()
            self._cache.alive()
            while not self._stopping.is_set():
                readable, _, _ = select.select(
                    [connection, self._wake_reader], [], [], POLL_SECONDS
                )
                if connection in readable:
                    connection.poll()
                else:
                    with connection.cursor() as cursor:  # still there? (a quiet database)
                        cursor.execute("SELECT 1")
                self._hear(connection.notifies)
                self._cache.alive()
        finally:
            self._cache.lost()
            connection.close()

    def _hear(self, notices: list) -> None:
        while notices:
            table, _, key = notices.pop(0).payload.partition(":")
            repository = self._repositories.get(table)
            if repository is not None:
                self._cache.changed(repository, None if key == "*" else key)
