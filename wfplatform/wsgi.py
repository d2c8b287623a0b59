"""The WSGI entry point of a serving process (`gunicorn wfplatform.wsgi:app`).

Unlike `create_app()`, it brings storage up at start-up, after `flask db upgrade`: the
adapter loads the stored modes and replays what an earlier process left in the sync
journal, and admins made from the CLI (or `WF_ADMIN_EMAIL`) are ready before the first
request."""

from . import create_app
from .api.services import services
from .services import admins
from .storage_ext import get_storage

app = create_app()
admins.bootstrap(get_storage(app), services(app).passwords, app.config)
