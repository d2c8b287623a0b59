"""Workflows: CRUD, numbered versions, duplicates, export and import.

A workflow's `version` is its ETag. `If-Match` (or a `version` field in the body) makes a
change conditional on it: 409 when the workflow changed since it was read."""

from __future__ import annotations

import re

from flask import request, url_for
from flask.views import MethodView

from ..bootstrap import services
from ..errors import DomainError, ValidationFailed
from ..repositories.workflows import WorkflowQuery
from .blueprint import Blueprint
from .limits import limit_per_user
from .schemas import PaginationSchema, page_body
from .security import SECURITY, current_actor, login_required
from .workflow_schemas import (
    ExportDocumentSchema,
    VersionPageSchema,
    VersionSchema,
    WorkflowFieldsSchema,
    WorkflowListQuerySchema,
    WorkflowPageSchema,
    WorkflowSchema,
    WorkflowUpdateSchema,
)

blp = Blueprint("workflows", __name__, url_prefix="/api/workflows", description="Workflows")
limit_per_user(blp)

# One version, plain, quoted or weak, or `*` (any); the document and the parser share it.
IF_MATCH_PATTERN = r'^(\*|(W/)?("[0-9]{1,10}"|[0-9]{1,10}))$'
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
    "description": 'the workflow\'s version as read (its ETag, e.g. "3"); 409 when stale',
}
ETAG = {"ETag": {"description": "the workflow's version", "schema": {"type": "string"}}}
ADMINS_READ_ONLY = "an admin may read another user's workflow, not change it"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


def _with_etag(workflow, status: int = 200, location: bool = False):
    headers = {"ETag": f'"{workflow.version}"'}
    if location:
        headers["Location"] = url_for("workflows.WorkflowItem", workflow_id=workflow.id)
    return workflow, status, headers


def _expected_version(from_body: int | None = None) -> int | None:
    """The version a change is conditional on: `If-Match` (`IF_MATCH_PATTERN`; `*` is
    any) or the body's `version`; both given must agree."""
    header = request.headers.get("If-Match")
    if header is None:
        return from_body
    if not _IF_MATCH.fullmatch(header.strip()):
        raise DomainError('If-Match must be one workflow version, e.g. "3"', {"If-Match": header})
    if header.strip() == "*":
        return from_body
    value = header.strip().removeprefix("W/").strip('"')
    if from_body is not None and from_body != int(value):
        raise ValidationFailed(
            "If-Match and version name different versions", {"version": ["differs from If-Match"]}
        )
    return int(value)


@blp.route("")
class WorkflowList(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(WorkflowListQuerySchema, location="query")
    @blp.response(200, WorkflowPageSchema)
    @blp.alt_response(403, description="`owner` other than `me` without the admin role")
    def get(self, query):
        """Your workflows (admins: `owner=all` or a user id); every filter given must match."""
        filters = WorkflowQuery(
            status=query.get("status"),
            tags=query.get("tags", ()),
            search=query.get("search"),
            node_type=query.get("node_type"),
            credential_type=query.get("credential_type"),
            order=query["order"],
            limit=query["limit"],
            offset=query["offset"],
        )
        page = services().workflows.list(current_actor(), filters, query["owner"])
        return page_body(page, query)

    @blp.doc(security=SECURITY)
    @blp.arguments(WorkflowFieldsSchema)
    @blp.response(201, WorkflowSchema, headers=ETAG)
    @blp.alt_response(409, description="a quota of your account is used up (`quota_exceeded`)")
    def post(self, body):
        """Create a workflow; its first numbered version is stored with it."""
        return _with_etag(services().workflows.create(current_actor(), body), 201, location=True)


@blp.route("/<uuid:workflow_id>")
class WorkflowItem(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, WorkflowSchema, headers=ETAG)
    @blp.alt_response(404, description="no such workflow, or another user's")
    def get(self, workflow_id):
        """One workflow; the ETag header carries its version."""
        return _with_etag(services().workflows.get(current_actor(), str(workflow_id)))

    @blp.doc(security=SECURITY, parameters=[IF_MATCH])
    @blp.arguments(WorkflowUpdateSchema)
    @blp.response(200, WorkflowSchema, headers=ETAG)
    @blp.alt_response(403, description=ADMINS_READ_ONLY)
    @blp.alt_response(404, description="no such workflow, or another user's")
    @blp.alt_response(409, description="the workflow changed since, or a quota is used up")
    def patch(self, body, workflow_id):
        """Change fields. A change of nodes or edges, or `create_version: true`, also
        stores a numbered version."""
        expected = _expected_version(body.pop("version", None))
        create_version = body.pop("create_version")
        workflow = services().workflows.update(
            current_actor(), str(workflow_id), body, expected, create_version
        )
        return _with_etag(workflow)

    @blp.doc(security=SECURITY, parameters=[IF_MATCH])
    @blp.response(204)
    @blp.alt_response(403, description=ADMINS_READ_ONLY)
    @blp.alt_response(404, description="no such workflow, or another user's")
    @blp.alt_response(409, description="the workflow changed since the version given")
    def delete(self, workflow_id):
        """Delete the workflow and all its versions."""
        services().workflows.delete(current_actor(), str(workflow_id), _expected_version())


@blp.route("/<uuid:workflow_id>/versions")
class VersionList(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, VersionPageSchema)
    def get(self, query, workflow_id):
        """Numbered versions, newest first, without their nodes, edges and settings."""
        page = services().workflows.versions(
            current_actor(), str(workflow_id), query["limit"], query["offset"]
        )
        return page_body(page, query)


@blp.route("/<uuid:workflow_id>/versions/<int:number>")
class VersionItem(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, VersionSchema)
    def get(self, workflow_id, number):
        """One numbered version, complete."""
        return services().workflows.version(current_actor(), str(workflow_id), number)


@blp.route("/<uuid:workflow_id>/versions/<int:number>/restore")
class VersionRestore(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY, parameters=[IF_MATCH])
    @blp.response(200, WorkflowSchema, headers=ETAG)
    @blp.alt_response(403, description=ADMINS_READ_ONLY)
    @blp.alt_response(409, description="the workflow changed since, or a quota is used up")
    def post(self, workflow_id, number):
        """Make the workflow what this version was; that is stored as a new version."""
        workflow = services().workflows.restore(
            current_actor(), str(workflow_id), number, _expected_version()
        )
        return _with_etag(workflow)


@blp.route("/<uuid:workflow_id>/duplicate")
class Duplicate(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(201, WorkflowSchema, headers=ETAG)
    @blp.alt_response(409, description="a quota of your account is used up (`quota_exceeded`)")
    def post(self, workflow_id):
        """A copy for you: named "<name> (copy)", a draft, at version 1."""
        workflow = services().workflows.duplicate(current_actor(), str(workflow_id))
        return _with_etag(workflow, 201, location=True)


@blp.route("/<uuid:workflow_id>/export")
class Export(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, ExportDocumentSchema)
    def get(self, workflow_id):
        """The workflow as a self-contained document for `POST /api/workflows/import`."""
        return services().workflows.export(current_actor(), str(workflow_id))


@blp.route("/import")
class Import(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(ExportDocumentSchema)
    @blp.response(201, WorkflowSchema, headers=ETAG)
    @blp.alt_response(409, description="a quota of your account is used up (`quota_exceeded`)")
    def post(self, document):
        """A new workflow of yours from an exported document (checked strictly)."""
        workflow = services().workflows.import_document(current_actor(), document)
        return _with_etag(workflow, 201, location=True)
