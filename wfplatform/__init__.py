"""wfplatform: a workflow-automation backend whose storage cuts over from memory to a
database gradually, safely and observably."""

from __future__ import annotations

from typing import Any

from flask import Flask

from . import api, bootstrap, cli, config, observability
from .api import limits, proxies, request_text, security, security_headers
from .extensions import MIGRATIONS, db, migrate
from .storage import private_files


def create_app(
    test_config: dict[str, Any] | None = None, instance_path: str | None = None
) -> Flask:
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    if test_config:
        app.config.update(test_config)
    private_files.make_folder(app.instance_path)
    config.load(app)
    private_files.create_sqlite_database(app.config["SQLALCHEMY_DATABASE_URI"])
    proxies.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    observability.init_app(app, bootstrap.get_storage)  # first hooks: request id, metrics, span
    bootstrap.init_app(app)
    request_text.init_app(app)  # before anything reads a request
    security.init_app(app)  # authenticates before the rate limiter counts per user
    limits.init_app(app)
    api.init_app(app)  # the blueprints, /health and the error handlers
    security_headers.init_app(app)
    cli.init_app(app)
    bootstrap.start_serving(app)  # last: storage up before the first request
    return app
