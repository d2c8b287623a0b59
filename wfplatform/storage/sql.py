"""Database plumbing for the adapter: sessions, and driver faults turned into
`StorageUnavailable` so the adapter can tell an outage from an answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..errors import StorageUnavailable

INFRASTRUCTURE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sa_exc.ResourceClosedError,
)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


@contextmanager
def translate_faults() -> Iterator[None]:
    try:
        yield
    except StorageUnavailable:
        raise
    except sa_exc.SQLAlchemyError as exc:
        if is_outage(exc):
            raise StorageUnavailable("database", _summary(exc)) from exc
        raise


def _summary(exc: BaseException) -> str:
    """The driver's first line, never the SQL or its parameters (they may hold secrets)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0][:200] if text else type(original).__name__


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False, autoflush=False)


def configure_engine(engine: Engine) -> None:
    """SQLite: enforce foreign keys, wait on locks instead of failing, write-ahead log."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
