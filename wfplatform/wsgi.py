"""The WSGI entry point of a serving process (`gunicorn wfplatform.wsgi:app`), after
`flask db upgrade`. Like any start of `create_app()` outside the Flask CLI, storage is up
before the first request (see `wfplatform.bootstrap`)."""

from . import create_app

app = create_app()
