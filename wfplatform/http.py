"""HTTP plumbing shared by every blueprint: JSON errors and the health endpoint."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from werkzeug.exceptions import HTTPException

from .errors import DomainError, StorageUnavailable

health = Blueprint("health", __name__)


@health.get("/health")
def liveness():
    return jsonify({"status": "ok"})


def _domain_error(error: DomainError):
    return jsonify(error.to_dict()), error.status


def _storage_unavailable(error: StorageUnavailable):
    body = {"error": {"code": error.code, "message": "storage is unavailable", "details": None}}
    return jsonify(body), 503, {"Retry-After": "1"}


def _http_error(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "_")
    body = {"error": {"code": code, "message": error.description, "details": None}}
    return jsonify(body), error.code


def init_app(app: Flask) -> None:
    app.register_blueprint(health)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(StorageUnavailable, _storage_unavailable)
    app.register_error_handler(HTTPException, _http_error)
