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

from sqlalchemy.engine import Engine

from ..models.change_notices import CHANNEL, TRIGGER
from .parts import StorageParts
from .record_cache import RecordCache

log = logging.getLogger(__name__)

APPLICATION_NAME = "wfplatform change feed"  # how pg_stat_activity names its connection
POLL_SECONDS = 1.0
RETRY_SECONDS = 1.0


ANNOUNCING = (
    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE t.tgname = %s AND c.relname = ANY(%s) "
    "AND c.relnamespace = to_regnamespace(current_schema())"
)


def follow(parts: StorageParts) -> ChangeFeed | None:
    """The started feed of the repositories declaring `cached_reads`, on PostgreSQL with a
    cache to fill; else None, and the cache serves nothing. The feed finds out, once
    connected, which of their tables announce their changes (revision 0010)."""
    tables = {
        binding.sql.model.__tablename__: name
        for name, binding in parts.bindings.items()
        if binding.spec.cached_reads
    }
    if not parts.cache.capacity or parts.engine.dialect.name != "postgresql" or not tables:
        return None
    feed = ChangeFeed(parts.engine, parts.cache, tables)
    feed.start()
    return feed


class NothingAnnounced(Exception):
    """No table of a cached repository announces its changes (not upgraded yet)."""


class ChangeFeed:
    """`repositories`: table name -> repository name, the tables to listen to. Down (the
    database away, or not upgraded) it says so once, then tries again every second."""

    def __init__(self, engine: Engine, cache: RecordCache, repositories: dict[str, str]) -> None:
        self._engine = engine
        self._cache = cache
        self._repositories = repositories
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._said: str | None = None  # the fault last logged, not repeated every second

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
                if self._stopping.is_set():
                    return
                if str(error) != self._said:
                    self._said = str(error)
                    log.warning("the record cache is off: %s", error)
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
                cursor.execute(ANNOUNCING, (TRIGGER, list(self._repositories)))
                announcing = {table for (table,) in cursor.fetchall()}
            if not announcing:
                raise NothingAnnounced("no cached table announces its changes: flask db upgrade")
            if self._said is not None:
                log.info("the record cache is on again")
                self._said = None
            # Listening from here on: what was kept before may have changed unheard.
            self._cache.lost()
            self._cache.alive({self._repositories[table] for table in announcing})
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
