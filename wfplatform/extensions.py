"""Extensions created unbound; `create_app()` binds them with `init_app(app)`."""

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


T = TypeVar("T")
db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"  # migrate's directory


@functools.cache
def head_revision() -> str | None:
    """The Alembic head of this code: what `flask db upgrade` leaves a database at, and
    the schema an export records (a test keeps the head single). Read once a process:
    the migrations are code, and parsing them costs every app build some milliseconds."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


_build_lock = threading.RLock()


def built_once(name: str, build: Callable[[Flask], T], app: Flask | None = None) -> T:
    """`app.extensions[name]`, built by `build(app)` on first use (once, whatever the
    threads): parts that connect to something are made when needed, not at import."""
    app = app or current_app._get_current_object()
    value = app.extensions.get(name)
    if value is None:
        with _build_lock:
            value = app.extensions.get(name)
            if value is None:
                value = app.extensions[name] = build(app)
    return value
