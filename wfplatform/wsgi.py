"""The WSGI entry point of a serving process (`gunicorn wfplatform.wsgi:app`).

Unlike `create_app()`, it brings storage up at start-up, after `flask db upgrade`: the
adapter loads the stored modes and replays what an earlier process left in the sync
journal, and admins made from the CLI (or `WF_ADMIN_EMAIL`) are ready before the first
request.

A process starting while the database is down (a worker gunicorn starts again after one
died mid-outage) waits for it instead of failing: the stored modes decide how to serve,
and a worker that fails to boot makes gunicorn stop serving altogether."""

import logging
import time

from . import create_app
from .api.services import services
from .errors import StorageUnavailable
from .services import admins
from .storage_ext import get_storage

log = logging.getLogger(__name__)
START_RETRY_SECONDS = 1.0


def _start(app) -> None:
    while True:
        try:
            admins.bootstrap(get_storage(app), services(app).passwords, app.config)
            return
        except StorageUnavailable as fault:
            log.warning("the database does not answer (%s); waiting for it before serving", fault)
            time.sleep(START_RETRY_SECONDS)


app = create_app()
_start(app)
