"""What the OpenAPI document says beyond what flask-smorest derives from each route's
schemas: the one error shape, the error statuses every operation can answer (derived from
how its route is guarded and what it reads, so the document cannot drift from the code),
and the limits on dictionary keys."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Flask
from marshmallow import Schema, fields

from .security import admin_required, login_required


class ErrorDetailSchema(Schema):
    code = fields.String(
        required=True, metadata={"description": "machine-readable, e.g. `validation_failed`"}
    )
    message = fields.String(required=True, metadata={"description": "for people"})
    details = fields.Raw(
        required=True,
        allow_none=True,
        metadata={"description": "what was wrong, e.g. messages by field; null if nothing more"},
    )


class ErrorSchema(Schema):
    """Every error answer of the API: `{"error": {"code", "message", "details"}}`."""

    error = fields.Nested(ErrorDetailSchema, required=True)


ERROR_COMPONENT = "Error"
EVERY_OPERATION = (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
GUARDS = {
    login_required: (HTTPStatus.UNAUTHORIZED,),
    admin_required: (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN),
}
WITH_BODY = (
    HTTPStatus.BAD_REQUEST,  # not JSON
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNPROCESSABLE_ENTITY,
)


class ErrorStatuses(BasePlugin):
    """Adds to each operation the error statuses its route answers whatever the view does,
    as references to flask-smorest's response components (which carry `ErrorSchema`), and
    marks a request body optional when its schema requires no field (the service reads a
    missing body as `{}`)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.spec: APISpec | None = None

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec
        spec.components.schema(ERROR_COMPONENT, schema=ErrorSchema)

    def operation_helper(self, path=None, operations=None, **kwargs: Any) -> None:
        rule = kwargs["rule"]
        view = self.app.view_functions[rule.endpoint]
        guards = getattr(getattr(view, "view_class", None), "decorators", ())
        for operation in (operations or {}).values():
            if "requestBody" in operation:
                self._mark_optional_body(operation["requestBody"])
            responses = operation.setdefault("responses", {})
            _describe_errors(responses)
            documented = {str(status) for status in responses}
            for status in _statuses(operation, rule, guards):
                if str(status.value) not in documented:
                    responses[str(status.value)] = status.name
                    documented.add(str(status.value))

    def _mark_optional_body(self, body: dict) -> None:
        schema = body.get("content", {}).get("application/json", {}).get("schema", {})
        reference = schema.get("$ref", "") if isinstance(schema, dict) else ""
        if not reference.startswith("#/components/schemas/"):
            return  # a hand-written body: its `required` stands
        component = self.spec.components.schemas[reference.rsplit("/", 1)[1]]
        body["required"] = bool(component.get("required"))


def _statuses(operation: dict, rule, guards) -> list[HTTPStatus]:
    statuses = [*EVERY_OPERATION]
    for guard in guards:
        statuses.extend(GUARDS.get(guard, ()))
    if rule.arguments:
        statuses.append(HTTPStatus.NOT_FOUND)
    if "requestBody" in operation:
        statuses.extend(WITH_BODY)
    if any(parameter.get("in") == "header" for parameter in operation.get("parameters", ())):
        statuses.append(HTTPStatus.BAD_REQUEST)  # a header the document constrains
    return statuses


class SchemaRules(BasePlugin):
    """Rules across members, which a schema checks in a `validates_schema` and JSON Schema
    states as keywords (`dependentRequired`, ...): declared once on the schema class as
    `json_schema_rules`, and copied into its component."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        return dict(getattr(schema_class, "json_schema_rules", {})) or None


def _describe_errors(responses: dict) -> None:
    """Error responses documented with a description only (`alt_response(409, ...)`) get
    the error shape."""
    for status, response in responses.items():
        if str(status).isdigit() and int(status) >= 400 and isinstance(response, dict):
            response.setdefault("content", {"application/json": {"schema": ERROR_COMPONENT}})


def dict_keys2properties(self, field: fields.Field, **kwargs: Any) -> dict:
    """`propertyNames` for a dictionary whose keys are checked (OpenAPI 3.1)."""
    if isinstance(field, fields.Dict) and field.key_field is not None:
        names = self.field2property(field.key_field)
        names.pop("type", None)  # keys are strings anyway
        if names:
            return {"propertyNames": names}
    return {}


def raw2properties(self, field: fields.Field, ret: dict, **kwargs: Any) -> dict:
    """Any value but null for a Raw field that refuses null (`{}` alone would allow it)."""
    if type(field) is fields.Raw and not field.allow_none and "type" not in ret:
        return {"not": {"type": "null"}}
    return {}
