"""Helpers for tests that build whole apps."""

from __future__ import annotations

from flask import Flask

from wfplatform.extensions import db


def close_app(app: Flask) -> None:
    """Stop the app's storage if it was built, and close its database connections."""
    storage = app.extensions.get("wf_storage")
    if storage is not None:
        storage.close()
    with app.app_context():
        db.engine.dispose()
