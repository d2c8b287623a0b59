"""Request and response schemas of the workflows API. What a workflow may contain (the node
and edge schemas, what the OpenAPI document lists as the node object) is defined in
`services.workflow_content`, which imports share; docs/NODES.md describes the node types."""

from __future__ import annotations

from marshmallow import Schema, fields, post_load, validate

from ..domain.workflows import STATUSES
from ..repositories.workflows import ORDER_FIELDS
from ..services.json_fields import JsonBoolean, JsonInteger
from ..services.workflow_content import EdgeSchema, NodeSchema, WorkflowFieldsSchema, name_field
from ..services.workflows import EXPORT_FORMAT, EXPORT_FORMAT_VERSION
from .schemas import PageSchema, PaginationSchema, owner_filter

ORDERS = [prefix + name for name in ORDER_FIELDS for prefix in ("", "-")]


class StoredList(fields.List):
    """A list of stored JSON dumped as it is. It was loaded through the item schema when it
    was written, so it is in that schema's form already (`tests/api/test_stored_content.py`);
    dumping it item by item again took a third of a list's time. The OpenAPI document
    still describes the items."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class WorkflowUpdateSchema(WorkflowFieldsSchema):
    name = name_field()
    create_version = JsonBoolean(
        load_default=False,
        metadata={
            "description": "store a numbered version even if the nodes and edges did not change"
        },
    )
    version = JsonInteger(
        validate=validate.Range(1),
        metadata={
            "description": "the version you changed (or send If-Match; both: the same "
            "version, 422 otherwise); 409 if stale"
        },
    )


class WorkflowSchema(Schema):
    id = fields.String(dump_only=True)
    owner_id = fields.String(dump_only=True, attribute="user_id")
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    tags = fields.List(fields.String(), dump_only=True)
    nodes = StoredList(fields.Nested(NodeSchema), dump_only=True)
    edges = StoredList(fields.Nested(EdgeSchema), dump_only=True)
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
    owner = owner_filter()

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
    nodes = StoredList(fields.Nested(NodeSchema), dump_only=True)
    edges = StoredList(fields.Nested(EdgeSchema), dump_only=True)
    settings = fields.Dict(dump_only=True)


class VersionPageSchema(PageSchema):
    items = fields.List(fields.Nested(VersionSummarySchema))


class ExportDocumentSchema(Schema):
    """A workflow as a self-contained document: no ids, no owner."""

    format = fields.String(required=True, validate=validate.Equal(EXPORT_FORMAT))
    format_version = JsonInteger(required=True, validate=validate.Equal(EXPORT_FORMAT_VERSION))
    exported_at = fields.AwareDateTime()
    workflow = fields.Nested(WorkflowFieldsSchema, required=True)
