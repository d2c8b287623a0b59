"""Database plumbing for the adapter: sessions, and driver faults turned into
`StorageUnavailable` so the adapter can tell an outage from an answer."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..errors import StorageUnavailable

T = TypeVar("T")
INFRASTRUCTURE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sa_exc.ResourceClosedError,
)


# PostgreSQL's answers that say the server cannot take this now, whatever the data: read-only
# (a standby, a failover still promoting: SQLSTATE 25006) or out of resources (class 53:
# disk full, out of memory, too many connections). An outage: retried, never set aside.
OUTAGE_SQLSTATES = ("25006", "53")


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    code = getattr(exc.orig, "pgcode", None) or ""
    return exc.connection_invalidated or code.startswith(OUTAGE_SQLSTATES)


class _FaultTranslation:
    """A database outage raised inside becomes `StorageUnavailable`; anything else passes
    as it is. A class, not a generator: every database read enters it."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, _trace: Any) -> bool:
        if isinstance(exc, sa_exc.SQLAlchemyError) and is_outage(exc):
            raise StorageUnavailable("database", _summary(exc)) from exc
        return False


_TRANSLATION = _FaultTranslation()


def translate_faults() -> AbstractContextManager[None]:
    return _TRANSLATION


def _summary(exc: BaseException) -> str:
    """The driver's first line, never the SQL or its parameters (they may hold secrets)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0][:200] if text else type(original).__name__


def new_session(engine: Engine, *, write: bool = False, single_read: bool = False) -> Session:
    """A session; `write=True` takes SQLite's write lock at BEGIN (see `configure_engine`).
    `single_read=True` promises it is closed after one read: the records it makes may then
    keep the JSON the driver decoded for them, as nothing else holds it (see `owns_rows`)."""
    session = Session(engine, expire_on_commit=False, autoflush=False)
    session.info[SINGLE_READ] = single_read
    if write and engine.dialect.name == "sqlite":
        session.connection(execution_options={WRITE_OPTION: True})
    return session


WRITE_OPTION = "wf_write_transaction"
SINGLE_READ = "wf_single_read"


def owns_rows(session: Session) -> bool:
    """Whether records made from this session's rows may share the rows' JSON values. Not
    in a session that lives on (a unit of work): its identity map keeps the rows, and a
    caller changing a record would change what the next read of that row returns."""
    return session.info.get(SINGLE_READ, False)


ENGINE_OPTIONS = {
    "pool_pre_ping": True,  # a connection pooled before a database restart is tested first
    "hide_parameters": True,  # SQL parameters (password hashes...) never reach an error text
}


@dataclass(frozen=True)
class TimeBounds:
    """How long a request may wait on PostgreSQL before it is an outage (a 503, or a
    fallback where the mode has one), in seconds: to connect (libpq's `connect_timeout`,
    whole seconds), for a pooled connection, and for one statement (the server cancels
    it; 0 turns this off). A database that stops answering never holds a request longer."""

    connect: float = 5.0
    pool: float = 10.0
    statement: float = 30.0


def engine_options(url: str, bounds: TimeBounds = TimeBounds()) -> dict:
    """Options for an engine on `url`. psycopg2 sends an executemany that SQLAlchemy does
    not batch itself (the UPDATEs and DELETEs of a large flush) a row per round trip unless
    asked to batch."""
    if not url.startswith("postgresql+psycopg2"):
        return dict(ENGINE_OPTIONS)
    connect_args = {
        "connect_timeout": max(1, math.ceil(bounds.connect)),
        "options": f"-c statement_timeout={int(bounds.statement * 1000)}",
    }
    return {
        **ENGINE_OPTIONS,
        "executemany_mode": "values_plus_batch",
        "pool_timeout": bounds.pool,
        "connect_args": connect_args,
    }


def reading_engine(url: str, bounds: TimeBounds = TimeBounds()) -> Engine | None:
    """On PostgreSQL, a second pool for reads outside a unit of work: in autocommit, a
    read is one round trip instead of four (the pre-ping, BEGIN, the query, ROLLBACK).
    Nothing is lost: at READ COMMITTED each statement has its own snapshot either way,
    and a read on a connection the database dropped since its last use (a restart) runs
    again once on a new one (`once_more_if_dropped`) instead of being pinged before every
    use. None elsewhere: SQLite reads use the one engine."""
    if not url.startswith("postgresql+psycopg2"):
        return None
    options = {**engine_options(url, bounds), "pool_pre_ping": False}
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", **options)


def once_more_if_dropped(work: Callable[[], T]) -> T:
    """`work`, run once more if the database had dropped the pooled connection it used
    (the pool then replaces every connection older than that). Only for work that may
    safely run twice: reads."""
    try:
        return work()
    except sa_exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return work()


def configure_engine(engine: Engine) -> None:
    """SQLite: enforce foreign keys, wait on locks, write-ahead log, and explicit
    transactions so savepoints work; a write session begins IMMEDIATE so it never fails
    upgrading a read lock to a write lock while another writer holds it."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
