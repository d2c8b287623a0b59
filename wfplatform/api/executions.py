"""Executions: run a workflow (`POST /api/workflows/<id>/execute`), list and read runs,
their timeline, cancel and retry them."""

from __future__ import annotations

import re

from flask import Response, request, stream_with_context, url_for
from flask.views import MethodView

from ..bootstrap import services
from ..errors import ValidationFailed
from ..repositories.executions import ExecutionQuery
from .blueprint import Blueprint
from .execution_schemas import (
    EventsQuerySchema,
    ExecuteSchema,
    ExecutionListQuerySchema,
    ExecutionPageSchema,
    ExecutionSchema,
    TimelineSchema,
    WaitQuerySchema,
)
from .limits import limit_per_user
from .schemas import page_body
from .security import SECURITY, current_actor, login_required

blp = Blueprint("executions", __name__, url_prefix="/api", description="Executions")
limit_per_user(blp)
NOT_FOUND = "no such execution, or another user's"
NOT_YOURS = "an admin may read another user's execution, not cancel or retry it"
EVENT_NUMBER_PATTERN = r"^[0-9]{1,9}$"  # the document and the parser share it
_EVENT_NUMBER = re.compile(EVENT_NUMBER_PATTERN)
CANNOT_RUN = "the graph cannot run (a cycle, an unknown node type or parameters, a credential)"


def _detail(execution) -> dict:
    _, nodes = services().executions.nodes(current_actor(), execution.id)
    return {**vars(execution), "node_executions": nodes}


def _accepted(execution, waited: bool):
    """202 with a `Location` while it runs; 200 once it finished (after `?wait=true`)."""
    status = 200 if waited and execution.finished else 202
    location = url_for("executions.ExecutionItem", execution_id=execution.id)
    return _detail(execution), status, {"Location": location}


@blp.route("/workflows/<uuid:workflow_id>/execute")
class Execute(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(ExecuteSchema)
    @blp.arguments(WaitQuerySchema, location="query")
    @blp.response(202, ExecutionSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(200, schema=ExecutionSchema, description="finished (`wait=true`)")
    @blp.alt_response(403, description="an admin may read another user's workflow, not run it")
    @blp.alt_response(404, description="no such workflow, or another user's")
    @blp.alt_response(409, description="the workflow is archived")
    @blp.alt_response(422, description=CANNOT_RUN)
    def post(self, body, query, workflow_id):
        """Run the workflow's latest version by hand: recorded as `queued`, then run by
        the queue. A graph that cannot run is a 422, and nothing is recorded."""
        executions = services().executions
        execution = executions.execute(current_actor(), str(workflow_id), body.get("input"))
        if query["wait"]:
            execution = executions.wait(execution, executions.settings.wait_seconds)
        return _accepted(execution, query["wait"])


@blp.route("/executions")
class ExecutionList(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(ExecutionListQuerySchema, location="query")
    @blp.response(200, ExecutionPageSchema)
    @blp.alt_response(403, description="`owner` other than `me` without the admin role")
    def get(self, query):
        """Your executions, newest first (admins: `owner=all` or a user id)."""
        workflow_id = query.get("workflow_id")
        filters = ExecutionQuery(
            workflow_id=str(workflow_id) if workflow_id else None,
            status=query.get("status"),
            since=query.get("since"),
            until=query.get("until"),
            limit=query["limit"],
            offset=query["offset"],
        )
        page = services().executions.list(current_actor(), filters, query["owner"])
        return page_body(page, query)


@blp.route("/executions/<uuid:execution_id>")
class ExecutionItem(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, ExecutionSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, execution_id):
        """One execution with its node executions, in the order they ran."""
        execution, nodes = services().executions.nodes(current_actor(), str(execution_id))
        return {**vars(execution), "node_executions": nodes}


@blp.route("/executions/<uuid:execution_id>/timeline")
class ExecutionTimeline(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, TimelineSchema)
    @blp.alt_response(404, description=NOT_FOUND)
    def get(self, execution_id):
        """Each node attempt in time and dependency order, with its offset from the start."""
        execution, nodes = services().executions.nodes(current_actor(), str(execution_id))
        start = execution.started_at
        entries = [
            {
                **vars(node),
                "offset_ms": int((node.started_at - start).total_seconds() * 1000) if start else 0,
            }
            for node in nodes
        ]
        return {**vars(execution), "execution_id": execution.id, "entries": entries}


@blp.route("/executions/<uuid:execution_id>/cancel")
class ExecutionCancel(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(202, ExecutionSchema)
    @blp.alt_response(200, schema=ExecutionSchema, description="it was queued: cancelled now")
    @blp.alt_response(403, description=NOT_YOURS)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="it finished already")
    def post(self, execution_id):
        """Cancel: a queued run at once (200); a running one stops before its next node,
        or inside a `wait` (202: follow it)."""
        execution = services().executions.cancel(current_actor(), str(execution_id))
        return _detail(execution), 200 if execution.finished else 202


@blp.route("/executions/<uuid:execution_id>/retry")
class ExecutionRetry(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(WaitQuerySchema, location="query")
    @blp.response(202, ExecutionSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(200, schema=ExecutionSchema, description="finished (`wait=true`)")
    @blp.alt_response(403, description=NOT_YOURS)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(
        409,
        description="not failed, crashed or cancelled; retried already; or the last retry allowed",
    )
    @blp.alt_response(422, description=CANNOT_RUN)
    def post(self, query, execution_id):
        """A new execution of the same workflow version with the same input, linked to
        this one (`retry_of`, `attempt`)."""
        executions = services().executions
        retry = executions.retry(current_actor(), str(execution_id))
        if query["wait"]:
            retry = executions.wait(retry, executions.settings.wait_seconds)
        return _accepted(retry, query["wait"])


LAST_EVENT_ID = {
    "in": "header",
    "name": "Last-Event-ID",
    "required": False,
    "schema": {"type": "string", "pattern": EVENT_NUMBER_PATTERN},
    "description": "the last event seen (a reconnecting EventSource sends it); wins over `after`",
}
EVENT_STREAM = {
    "description": "`text/event-stream`: the events after the one given, then live until "
    "the final one (`id:` is the event's number, `event:` its type, `data:` JSON)",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


@blp.route("/executions/<uuid:execution_id>/events")
class ExecutionEvents(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY, parameters=[LAST_EVENT_ID], responses={"200": EVENT_STREAM})
    @blp.arguments(EventsQuerySchema, location="query")
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(422, description="`Last-Event-ID` is not an event number")
    @blp.alt_response(503, description="this process streams as many as it may: `Retry-After`")
    def get(self, query, execution_id):
        """The execution's events as Server-Sent Events: stored ones replayed, then live
        (from whichever process runs it), keep-alive comments, closed after the final one."""
        after = query["after"]
        header = request.headers.get("Last-Event-ID")
        if header is not None:
            if not _EVENT_NUMBER.match(header):
                raise ValidationFailed(
                    "Last-Event-ID must be an event number", {"Last-Event-ID": ["not a number"]}
                )
            after = int(header)
        lines, free = services().executions.follow(current_actor(), str(execution_id), after)
        response = Response(
            stream_with_context(lines),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        response.call_on_close(free)
        return response
