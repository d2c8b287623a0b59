"""Helpers for tests that build whole apps."""

from __future__ import annotations

from flask import Flask

from wfplatform.extensions import db


def close_app(app: Flask) -> None:
    """Stop the app's execution engine and storage if they were built, and close its
    database connections."""
    built = app.extensions.get("wf_services")
    if built is not None:
        built.executions.engine.close()
    storage = app.extensions.get("wf_storage")
    if storage is not None:
        storage.close()
    with app.app_context():
        db.engine.dispose()
