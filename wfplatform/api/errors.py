"""Every error answer in the one shape, `{"error": {"code", "message", "details"}}`, from
this one module: domain errors, storage outages, HTTP errors (request validation
included) and JSON nested too deep to parse."""

from __future__ import annotations

import math

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import (
    DomainError,
    StorageUnavailable,
    Unauthorized,
    bounded,
    error_body,
)


def http_error(error: HTTPException):
    """What flask-smorest's `Api` answers for an HTTP error (see `JsonErrorApi`)."""
    data = getattr(error, "data", None) or {}
    details = bounded(data.get("errors") or data.get("messages"))
    if error.code == 422 and details is not None:
        return error_body("validation_failed", "the request is not valid", details), 422
    if error.code == 400 and details is not None:  # e.g. a body that is not JSON
        return error_body("bad_request", "the request body could not be read", details), 400
    if error.code >= 500:
        return error_body("internal_error", "something went wrong on our side"), error.code
    headers = {
        name: value for name, value in error.get_headers() if name.lower() != "content-type"
    }  # e.g. Allow on a 405
    headers.update(data.get("headers", {}))
    code = (error.name or "error").lower().replace(" ", "_")
    return error_body(code, error.description), error.code, headers


def _domain_error(error: DomainError):
    headers = {}
    retry_after = getattr(error, "retry_after", None)  # back-offs, a busy resource
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="wfplatform"'
    return jsonify(error.to_dict()), error.status, headers


def _storage_unavailable(error: StorageUnavailable):
    """Clients come back when the database is tried again (`WF_DB_RETRY_AFTER`), in the
    whole seconds Retry-After carries."""
    retry_after = math.ceil(current_app.config["WF_DB_RETRY_AFTER"])
    return jsonify(error.to_dict()), 503, {"Retry-After": str(retry_after)}


def _too_deep(_error: RecursionError):
    """A JSON body nested deeper than the parser can follow (a client error, not ours)."""
    return jsonify(error_body("bad_request", "the JSON document nests too deeply")), 400


def init_app(app: Flask) -> None:
    app.register_error_handler(RecursionError, _too_deep)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(StorageUnavailable, _storage_unavailable)
