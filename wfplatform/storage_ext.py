"""Binds the storage adapter to a Flask app.

The adapter is built on first use: by `wfplatform.startup` at the end of `create_app()`
in a serving process, else by whatever needs it first (CLI commands such as
`flask db upgrade` must run before its control-plane tables exist)."""

from __future__ import annotations

import atexit

from flask import Flask

from .backends.sql import configure_engine
from .extensions import built_once, db
from .storage.adapter import Storage
from .storage.mode_registry import ModeRegistry


def init_app(app: Flask) -> None:
    app.extensions["wf_storage"] = None
    with app.app_context():
        configure_engine(db.engine)


def get_storage(app: Flask | None = None) -> Storage:
    return built_once("wf_storage", _build, app)


def _build(app: Flask) -> Storage:
    with app.app_context():
        engine = db.engine
    from .repositories import REPOSITORIES

    modes = ModeRegistry(engine, [r.name for r in REPOSITORIES], app.config["WF_STORAGE_DEFAULT"])
    modes.load()
    storage = Storage(
        engine,
        modes,
        app.config["WF_JOURNAL_PATH"],
        retry_after=app.config["WF_DB_RETRY_AFTER"],
        sync_interval=app.config["WF_SYNC_INTERVAL"],
    )
    if app.config["WF_START_STORAGE"]:
        storage.start()
        atexit.register(storage.close)
    return storage
