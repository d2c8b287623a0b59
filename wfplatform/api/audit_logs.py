"""The audit log, for admins."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from ..bootstrap import services
from ..repositories.audit import AuditQuery
from .blueprint import Blueprint
from .limits import limit_per_user
from .schemas import PageSchema, PaginationSchema, page_body
from .security import SECURITY, admin_required

blp = Blueprint("audit_logs", __name__, url_prefix="/api/audit-logs", description="Audit log")
limit_per_user(blp)


class AuditFilterSchema(PaginationSchema):
    actor_id = fields.String()
    action = fields.String()
    resource_type = fields.String()
    resource_id = fields.String()
    since = fields.AwareDateTime(metadata={"description": "ISO 8601, inclusive"})
    until = fields.AwareDateTime(metadata={"description": "ISO 8601, exclusive"})


class AuditEntrySchema(Schema):
    id = fields.String()
    action = fields.String()
    resource_type = fields.String()
    resource_id = fields.String(allow_none=True)
    actor_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    changes = fields.Dict()
    created_at = fields.DateTime()


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEntrySchema))


@blp.route("")
class AuditLogs(MethodView):
    decorators = [admin_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(AuditFilterSchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, query):
        """Entries newest first; every filter given must match."""
        filters = AuditQuery(
            actor_id=query.get("actor_id"),
            action=query.get("action"),
            resource_type=query.get("resource_type"),
            resource_id=query.get("resource_id"),
            since=query.get("since"),
            until=query.get("until"),
            limit=query["limit"],
            offset=query["offset"],
        )
        page = services().audit.list(filters)
        return page_body(page, query)
