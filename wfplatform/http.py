"""HTTP plumbing outside the API: domain errors as JSON, and the liveness endpoint."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify

from . import readiness_probe
from .errors import DomainError, StorageUnavailable, TooManyAttempts, Unauthorized, error_body
from .storage_ext import get_storage

health = Blueprint("health", __name__)


@health.get("/health")
def liveness():
    """The process answers (nothing else is checked: see /health/ready)."""
    return jsonify({"status": "ok"})


@health.get("/health/ready")
def ready():
    body, status = readiness_probe.probe(get_storage())
    return jsonify(body), status


def _domain_error(error: DomainError):
    headers = {}
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="wfplatform"'
    return jsonify(error.to_dict()), error.status, headers


def _storage_unavailable(error: StorageUnavailable):
    return jsonify(error.to_dict()), 503, {"Retry-After": "1"}


def _too_deep(_error: RecursionError):
    """A JSON body nested deeper than the parser can follow (a client error, not ours)."""
    return jsonify(error_body("bad_request", "the JSON document nests too deeply")), 400


def init_app(app: Flask) -> None:
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: unbounded
        app.config["MAX_CONTENT_LENGTH"] = app.config["WF_MAX_REQUEST_BYTES"]
    app.register_error_handler(RecursionError, _too_deep)
    app.register_blueprint(health)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(StorageUnavailable, _storage_unavailable)
