"""The HTTP API: flask-smorest blueprints whose marshmallow schemas validate requests and
generate the OpenAPI document (served at /openapi.json, browsable at /docs: see `docs`)."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import docs, errors, health
from .openapi import (
    ErrorSchema,
    ErrorStatuses,
    SchemaRules,
    dict_keys2properties,
    raw2properties,
)

API_TITLE = "wfplatform"
API_VERSION = "1"
API_DESCRIPTION = (
    "Every string is valid Unicode every backend stores: a lone UTF-16 surrogate or a NUL "
    "anywhere in a request is a 422 (a 404 in a path). Errors are the `Error` shape."
)


class JsonErrorApi(Api):
    """Every HTTP error, including request validation, in the one error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return errors.http_error(error)


api = JsonErrorApi()


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", API_TITLE)
    app.config.setdefault("API_VERSION", API_VERSION)
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")  # 3.1: JSON Schema, `propertyNames`
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {"info": {"description": API_DESCRIPTION}})
    api.init_app(app, spec_kwargs={"extra_plugins": [ErrorStatuses(app), SchemaRules()]})
    api.ma_plugin.converter.add_attribute_function(dict_keys2properties)
    api.ma_plugin.converter.add_attribute_function(raw2properties)
    app.register_blueprint(docs.blueprint)  # /docs, instead of flask-smorest's CDN page
    app.register_blueprint(health.blueprint)  # /health, /health/ready: outside the API
    errors.init_app(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "access token or API key"}
    )
    api.spec.components.security_scheme(
        "apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    from . import (
        audit_logs,
        auth,
        backfills,
        backup,
        credentials,
        cutover,
        execution_schemas,
        executions,
        users,
        workflows,
    )

    blueprints = (
        auth,
        users,
        workflows,
        executions,
        credentials,
        audit_logs,
        cutover,
        backfills,
        backup,
    )
    for blueprint in (module.blp for module in blueprints):
        api.register_blueprint(blueprint)
    execution_schemas.document_node_types(api.spec)
