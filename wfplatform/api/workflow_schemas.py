"""Request and response schemas of the workflows API. The node and edge schemas are what
the OpenAPI document lists as the node object; docs/NODES.md describes the node types."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from ..domain.workflows import MAX_LENGTHS, STATUSES
from ..repositories.workflows import ORDER_FIELDS
from ..services.workflows import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, OWNER_ALL, OWNER_ME
from .schemas import JsonBoolean, JsonInteger, PageSchema, PaginationSchema

ORDERS = [prefix + name for name in ORDER_FIELDS for prefix in ("", "-")]
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


def _name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, MAX_LENGTHS["name"]), **kwargs)


class WorkflowFieldsSchema(Schema):
    """What a client may set. The derived fields (`node_types`, ...) are not among them."""

    name = _name(required=True)
    description = fields.String(validate=validate.Length(max=10_000))
    status = fields.String(validate=validate.OneOf(STATUSES))
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(max=50))
    nodes = fields.List(fields.Nested(NodeSchema), validate=validate.Length(max=1000))
    edges = fields.List(fields.Nested(EdgeSchema), validate=validate.Length(max=5000))
    settings = _free_json('workflow-wide settings, e.g. {"timezone": "Europe/Berlin"}')


class WorkflowUpdateSchema(WorkflowFieldsSchema):
    name = _name()
    create_version = JsonBoolean(
        load_default=False,
        metadata={
            "description": "store a numbered version even if the nodes and edges did not change"
        },
    )
    version = JsonInteger(
        validate=validate.Range(1),
        metadata={"description": "the version you changed (or send If-Match); 409 if stale"},
    )


class WorkflowSchema(Schema):
    id = fields.String(dump_only=True)
    owner_id = fields.String(dump_only=True, attribute="user_id")
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    tags = fields.List(fields.String(), dump_only=True)
    nodes = fields.List(fields.Nested(NodeSchema), dump_only=True)
    edges = fields.List(fields.Nested(EdgeSchema), dump_only=True)
    settings = fields.Dict(dump_only=True)
    node_types = fields.List(fields.String(), dump_only=True)
    required_credential_types = fields.List(fields.String(), dump_only=True)
    version = fields.Integer(
        dump_only=True, metadata={"description": "grows with every change; the ETag"}
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class WorkflowPageSchema(PageSchema):
    items = fields.List(fields.Nested(WorkflowSchema))


class WorkflowListQuerySchema(PaginationSchema):
    order = fields.String(load_default="-updated_at", validate=validate.OneOf(ORDERS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    tags = fields.List(
        fields.String(),
        metadata={"description": "any of these; repeat the parameter or separate by commas"},
    )
    search = fields.String(
        validate=validate.Length(1, 200),
        metadata={"description": "in the name and the description, case-insensitive"},
    )
    node_type = fields.String(validate=validate.Length(1, 200))
    credential_type = fields.String(validate=validate.Length(1, 100))
    owner = fields.String(
        load_default=OWNER_ME,
        validate=validate.Length(1, 36),
        metadata={"description": f"`{OWNER_ME}`; admins also `{OWNER_ALL}` or a user id"},
    )

    @post_load
    def split_tags(self, data: dict, **kwargs) -> dict:
        if "tags" in data:
            split = (tag.strip() for value in data["tags"] for tag in value.split(","))
            data["tags"] = tuple(tag for tag in split if tag)
        return data


class VersionSummarySchema(Schema):
    """A version in a list: without its nodes, edges and settings."""

    number = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    created_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class VersionSchema(VersionSummarySchema):
    workflow_id = fields.String(dump_only=True)
    nodes = fields.List(fields.Nested(NodeSchema), dump_only=True)
    edges = fields.List(fields.Nested(EdgeSchema), dump_only=True)
    settings = fields.Dict(dump_only=True)


class VersionPageSchema(PageSchema):
    items = fields.List(fields.Nested(VersionSummarySchema))


class ExportDocumentSchema(Schema):
    """A workflow as a self-contained document: no ids, no owner."""

    format = fields.String(required=True, validate=validate.Equal(EXPORT_FORMAT))
    format_version = JsonInteger(required=True, validate=validate.Equal(EXPORT_FORMAT_VERSION))
    exported_at = fields.AwareDateTime()
    workflow = fields.Nested(WorkflowFieldsSchema, required=True)
