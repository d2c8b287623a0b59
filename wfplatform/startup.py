"""A serving process is ready before its first request, whatever started it: `gunicorn
wfplatform.wsgi:app`, `gunicorn 'wfplatform:create_app()'`, `flask run` or a program
embedding the app. Storage starts (the journal an earlier process left is replayed, the
memory copies of repositories in `dual` are loaded, see `storage.warmup`) and the admins
made from the CLI or by `WF_ADMIN_EMAIL` are in place.

Other Flask CLI commands start nothing here: `flask db upgrade` runs before the
control-plane tables exist, and a one-off command starts storage when it first uses it
(`storage_ext.get_storage`). With `WF_START_STORAGE=False` (tests) storage is built on
first use and never started.

A process starting while the database is down (a worker gunicorn starts again after one
died mid-outage) waits for it instead of failing: the stored modes decide how to serve,
and a worker that fails to boot makes gunicorn stop serving altogether."""

from __future__ import annotations

import logging
import time

import click
from flask import Flask
from flask.cli import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from .api.services import services
from .errors import StorageUnavailable
from .services import admins
from .storage_ext import get_storage

log = logging.getLogger(__name__)
START_RETRY_SECONDS = 1.0


def init_app(app: Flask) -> None:
    """Last in `create_app()`: everything a request needs is registered by then."""
    if app.config["WF_START_STORAGE"] and _about_to_serve():
        _start(app)


def _start(app: Flask) -> None:
    while True:
        try:
            admins.bootstrap(get_storage(app), services(app).passwords, app.config)
            return
        except StorageUnavailable as fault:
            log.warning("the database does not answer (%s); waiting for it before serving", fault)
            time.sleep(START_RETRY_SECONDS)


def _about_to_serve() -> bool:
    context = click.get_current_context(silent=True)
    if context is None:
        return True  # not the Flask CLI: a WSGI server, or a program embedding the app
    if context.command.name != "run":
        return False
    reload = context.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    # With the reloader, the watching parent never serves: its child does.
    return not reload or is_running_from_reloader()
