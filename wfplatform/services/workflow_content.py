"""What a client may give a workflow (and each of its versions): the marshmallow schemas
that check it, shared by the API (request bodies, the OpenAPI document) and by imports of
export documents, so a record is held to the same rules whichever way it arrives."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..domain.workflows import MAX_LENGTHS, STATUSES, graph_problems
from .json_fields import JsonInteger

MAX_DEPTH = 32
TAG = validate.Regexp(r"^[^,]{1,50}$", error="1 to 50 characters, no commas")


def plain_json(value: Any) -> None:
    """Finite numbers (Python's parser accepts NaN and Infinity; JSON and PostgreSQL do
    not) and bounded nesting (deeper data would exhaust recursion further on)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError("numbers must be finite")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _coordinate(value: Any) -> None:
    """Any finite number, kept as sent (n8n uses integers; a Float field would not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("a number")
    plain_json(value)


def _free_json(description: str) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(), validate=plain_json, metadata={"description": description}
    )


class RetrySchema(Schema):
    """How often the engine tries a node, and how long it waits between tries: `interval`
    seconds after the first, times `backoff` after each further one, at most
    `max_interval_seconds` (docs/NODES.md, "Retries")."""

    attempts = JsonInteger(validate=validate.Range(1, 10), metadata={"description": "tries"})
    interval_seconds = fields.Float(validate=validate.Range(0, 3600), allow_nan=False)
    backoff = fields.Float(validate=validate.Range(1, 10), allow_nan=False)
    max_interval_seconds = fields.Float(validate=validate.Range(0, 3600), allow_nan=False)


class NodeSchema(Schema):
    """One step of a workflow, in n8n's node shape. Any type string is accepted."""

    id = fields.String(
        required=True,
        validate=validate.Length(1, 100),
        metadata={"description": "not blank, unique within the workflow (422 otherwise)"},
    )
    name = fields.String(validate=validate.Length(max=200))
    type = fields.String(
        required=True,
        validate=validate.Length(1, 200),
        metadata={
            "description": "a built-in type (docs/NODES.md) or any n8n type string",
            "example": "http_request",
        },
    )
    parameters = _free_json("the type's settings; see docs/NODES.md")
    credentials = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 100)),
        values=fields.Raw(),
        validate=plain_json,
        metadata={
            "description": "credentials by credential type, e.g. "
            '{"slackApi": {"id": "...", "name": "Slack bot"}}; the keys make the '
            "workflow's required_credential_types"
        },
    )
    credential_type = fields.String(
        validate=validate.Length(1, 100),
        metadata={"description": "older form of one credential type; prefer `credentials`"},
    )
    retry = fields.Nested(RetrySchema, metadata={"description": "one try when absent"})
    position = fields.List(
        fields.Raw(validate=_coordinate, metadata={"type": "number"}),
        validate=validate.Length(equal=2),
        metadata={"description": "[x, y] on the editor's canvas"},
    )


ENDPOINT = "the id of a node of the same workflow (422 otherwise)"


class EdgeSchema(Schema):
    """A connection from one node's output to another node."""

    from_ = fields.String(
        required=True,
        data_key="from",
        attribute="from",
        validate=validate.Length(min=1),
        metadata={"description": ENDPOINT},
    )
    to = fields.String(
        required=True, validate=validate.Length(min=1), metadata={"description": ENDPOINT}
    )
    output = JsonInteger(
        validate=validate.Range(0, 100),
        metadata={
            "description": "which output of `from` (e.g. `if`: 0 true, 1 false); 0 when absent"
        },
    )


def name_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, MAX_LENGTHS["name"]), **kwargs)


class WorkflowFieldsSchema(Schema):
    """What a client may set. The derived fields (`node_types`, ...) are not among them."""

    name = name_field(required=True)
    description = fields.String(validate=validate.Length(max=10_000))
    status = fields.String(validate=validate.OneOf(STATUSES))
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(max=50))
    nodes = fields.List(fields.Nested(NodeSchema), validate=validate.Length(max=1000))
    edges = fields.List(fields.Nested(EdgeSchema), validate=validate.Length(max=5000))
    settings = _free_json('workflow-wide settings, e.g. {"timezone": "Europe/Berlin"}')


def content_problems(record: Any) -> dict[str, Any]:
    """What the API would refuse in a stored workflow or version (the fields it has of
    `WorkflowFieldsSchema`), and its graph's problems; empty when nothing."""
    names = [name for name in WorkflowFieldsSchema().fields if hasattr(record, name)]
    problems = WorkflowFieldsSchema(only=names).validate({n: getattr(record, n) for n in names})
    if not problems:
        problems.update(graph_problems(record.nodes, record.edges))
    return problems
