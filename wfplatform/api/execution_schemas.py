"""Executions as the API reads and answers them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..domain.executions import STATUSES
from ..executions.nodes import BUILT_IN
from ..services.json_fields import UtcDateTime
from ..services.workflow_content import plain_json
from .schemas import PageSchema, PaginationSchema, owner_filter


class ExecuteSchema(Schema):
    input = fields.Raw(
        allow_none=True,
        validate=plain_json,
        metadata={
            "description": "any JSON: an object is the trigger's one item, a list of "
            'objects its items, anything else `{"value": ...}`'
        },
    )


class WaitQuerySchema(Schema):
    wait = fields.Boolean(
        load_default=False,
        metadata={"description": "wait (at most WF_EXECUTION_WAIT_SECONDS) for the end"},
    )


class ExecutionSummarySchema(Schema):
    """An execution in a list: without its input."""

    id = fields.String(dump_only=True)
    workflow_id = fields.String(dump_only=True)
    owner_id = fields.String(dump_only=True, attribute="user_id")
    workflow_version = fields.Integer(
        dump_only=True, metadata={"description": "the number of the workflow version it ran"}
    )
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    trigger = fields.String(dump_only=True)
    error = fields.Dict(dump_only=True, allow_none=True)
    retry_of = fields.String(dump_only=True, allow_none=True)
    attempt = fields.Integer(dump_only=True)
    runner = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "holds its lease"}
    )
    lease_expires_at = fields.DateTime(dump_only=True, allow_none=True)
    cancel_requested_at = fields.DateTime(dump_only=True, allow_none=True)
    data_bytes = fields.Integer(dump_only=True)
    truncated = fields.Integer(
        dump_only=True, metadata={"description": "node inputs and outputs cut to the limits"}
    )
    created_at = fields.DateTime(dump_only=True)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)
    duration_ms = fields.Integer(dump_only=True, allow_none=True)


class NodeExecutionSchema(Schema):
    id = fields.String(dump_only=True)
    node_id = fields.String(dump_only=True)
    node_type = fields.String(dump_only=True)
    attempt = fields.Integer(dump_only=True)
    idempotency_key = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    input = fields.Raw(dump_only=True, metadata={"description": "the items it received"})
    output = fields.Raw(dump_only=True, metadata={"description": "its items, one list per output"})
    error = fields.Dict(dump_only=True, allow_none=True)
    truncated = fields.Boolean(dump_only=True)
    started_at = fields.DateTime(dump_only=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)
    duration_ms = fields.Integer(dump_only=True, allow_none=True)


class ExecutionSchema(ExecutionSummarySchema):
    input = fields.Raw(dump_only=True)
    node_executions = fields.List(fields.Nested(NodeExecutionSchema), dump_only=True)


class ExecutionPageSchema(PageSchema):
    items = fields.List(fields.Nested(ExecutionSummarySchema))


class ExecutionListQuerySchema(PaginationSchema):
    workflow_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(STATUSES))
    since = UtcDateTime(metadata={"description": "created at or after"})
    until = UtcDateTime(metadata={"description": "created before"})
    owner = owner_filter()


class TimelineEntrySchema(Schema):
    node_id = fields.String(dump_only=True)
    node_type = fields.String(dump_only=True)
    attempt = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    error = fields.Dict(dump_only=True, allow_none=True)
    started_at = fields.DateTime(dump_only=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)
    duration_ms = fields.Integer(dump_only=True, allow_none=True)
    offset_ms = fields.Integer(
        dump_only=True, metadata={"description": "from the start of the execution"}
    )


class TimelineSchema(Schema):
    execution_id = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)
    duration_ms = fields.Integer(dump_only=True, allow_none=True)
    entries = fields.List(fields.Nested(TimelineEntrySchema), dump_only=True)


class EventsQuerySchema(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(0, 10**9 - 1),
        metadata={"description": "the last event seen: replay from the next"},
    )


def document_node_types(spec) -> None:
    """Each node type the engine runs, as a component `NodeType.<name>`: its description
    and the schema of its `parameters` (docs/NODES.md has an example of each)."""
    for kind in BUILT_IN:
        own = type(f"{kind.__name__}Parameters", (kind.parameters,), {})  # one class a name
        spec.components.schema(f"NodeType.{kind.name}", schema=own)
        spec.components.schemas[f"NodeType.{kind.name}"]["description"] = kind.description
