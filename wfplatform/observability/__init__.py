"""Traces, metrics and logs an operator can use (see docs/OPERATIONS.md).

    observability.init_app(app, storage)  # after the database extension, before anything
                                          # that handles requests (hooks run in order)

Nothing here reaches the network at start-up: traces are exported only when `OTEL_*` asks
for it, metrics are pulled from `GET /metrics`, logs go to stderr."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from ..extensions import db
from ..storage.adapter import Storage
from ..storage.tracing import is_tracing
from . import logs, metrics, request_hooks, server_spans, tracing
from .backfill import TracedBackfiller
from .metrics import Metrics

__all__ = ["Metrics", "TracedBackfiller", "get_metrics", "init_app"]


def init_app(app: Flask, storage: Callable[[Flask], Storage]) -> None:
    """`storage(app)`: the app's storage, which the metrics read at scrape time."""
    logs.install(app.config["WF_LOG_FORMAT"], app.config["WF_LOG_LEVEL"])
    tracing.configure_provider()
    collected = metrics.init_app(app, storage)
    request_hooks.init_app(app, collected)
    if is_tracing():  # instrumentation with no provider would make no-op spans at a cost
        server_spans.init_app(app)
        with app.app_context():
            tracing.instrument_engine(db.engine)


def get_metrics(app: Flask) -> Metrics | None:
    return app.extensions.get("wf_metrics")
