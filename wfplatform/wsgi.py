"""The WSGI entry point of a serving process (`gunicorn wfplatform.wsgi:app`).

Unlike `create_app()`, it builds the storage adapter at start-up, after `flask db upgrade`:
the adapter loads the stored modes and replays what an earlier process left in the sync
journal before the first request arrives."""

from . import create_app
from .storage_ext import get_storage

app = create_app()
get_storage(app)
