"""Workflows: ownership, optimistic concurrency, numbered versions, duplicates, export and
import.

Every workflow belongs to one user. Anyone else is told it does not exist (404, so ids do
not leak); admins may read every workflow but change only their own (403 otherwise, as
they can see it anyway). Each write commits in one unit of work together with its version
snapshot and its audit entry."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..domain.codec import utcnow
from ..domain.ids import is_uuid, new_id
from ..domain.workflows import MAX_LENGTHS, Workflow, WorkflowVersion, graph_problems
from ..errors import Conflict, NotFound, ValidationFailed
from ..repositories.base import Page
from ..repositories.workflows import WorkflowQuery
from ..storage.adapter import Storage
from . import audit
from .context import Actor
from .ownership import OWNER_ME, changeable, owner_scope, readable
from .quotas import Quotas

EDITABLE = ("name", "description", "status", "tags", "nodes", "edges", "settings")
# A change of these always stores a numbered version; other changes only when asked to.
VERSIONED = frozenset({"nodes", "edges"})
SNAPSHOT = ("name", "nodes", "edges", "settings")
EXPORT_FORMAT = "wfplatform.workflow"
EXPORT_FORMAT_VERSION = 1
COPY_SUFFIX = " (copy)"
MAX_NUMBER = 2**31 - 1  # version numbers are 32-bit integer columns


class Workflows:
    def __init__(self, storage: Storage, quotas: Quotas | None = None) -> None:
        self.storage = storage
        self.quotas = quotas or Quotas()

    # -- reads --------------------------------------------------------------------------------
    def list(self, actor: Actor, filters: WorkflowQuery, owner: str = OWNER_ME) -> Page:
        """One page of the workflows of `owner`: `me`, or for admins `all` or a user id
        (whatever `filters.user_id` says)."""
        query = dataclasses.replace(filters, user_id=owner_scope(actor, owner, "workflow"))
        return self.storage.workflows.list(query)

    def get(self, actor: Actor, workflow_id: str) -> Workflow:
        return readable(self._fetch(workflow_id), actor, "workflow")

    def versions(self, actor: Actor, workflow_id: str, limit: int, offset: int) -> Page:
        """A page of the numbered versions, newest first."""
        self.get(actor, workflow_id)
        return self.storage.workflow_versions.page_for(workflow_id, limit, offset)

    def version(self, actor: Actor, workflow_id: str, number: int) -> WorkflowVersion:
        self.get(actor, workflow_id)
        found = None
        if 1 <= number <= MAX_NUMBER:
            found = self.storage.workflow_versions.get_number(workflow_id, number)
        if found is None:
            raise NotFound(f"the workflow has no version {number}")
        return found

    def export(self, actor: Actor, workflow_id: str) -> dict[str, Any]:
        """A self-contained document: no ids, no owner, nothing tied to this installation."""
        workflow = self.get(actor, workflow_id)
        return {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_at": utcnow(),
            "workflow": {name: getattr(workflow, name) for name in EDITABLE},
        }

    # -- writes -------------------------------------------------------------------------------
    def create(self, actor: Actor, fields: dict[str, Any]) -> Workflow:
        workflow = _new_workflow(actor, fields)
        return self.storage.atomic(
            lambda uow: self._insert(uow, actor, workflow, "workflow.create")
        )

    def import_document(self, actor: Actor, document: dict[str, Any]) -> Workflow:
        """A new workflow of `actor` from an export document."""
        problems = {}
        if document.get("format") != EXPORT_FORMAT:
            problems["format"] = [f"must be {EXPORT_FORMAT!r}"]
        if document.get("format_version") != EXPORT_FORMAT_VERSION:
            problems["format_version"] = [f"must be {EXPORT_FORMAT_VERSION}"]
        if problems:
            raise ValidationFailed("not a workflow export this server can read", problems)
        workflow = _new_workflow(actor, document["workflow"])
        return self.storage.atomic(
            lambda uow: self._insert(uow, actor, workflow, "workflow.import")
        )

    def duplicate(self, actor: Actor, workflow_id: str) -> Workflow:
        """A draft copy owned by `actor` (anyone who may read the original)."""
        _require_uuid(workflow_id)
        copy_id = new_id()  # the same id if the unit of work runs again

        def duplicate(uow) -> Workflow:
            source = readable(uow.workflows.get(workflow_id), actor, "workflow")
            copy = Workflow(
                id=copy_id,
                user_id=actor.user_id,
                name=_copy_name(source.name),
                description=source.description,
                status="draft",
                tags=source.tags,
                nodes=source.nodes,
                edges=source.edges,
                settings=source.settings,
            )
            extra = {"duplicated_from": source.id}
            return self._insert(uow, actor, copy, "workflow.duplicate", extra)

        return self.storage.atomic(duplicate)

    def update(
        self,
        actor: Actor,
        workflow_id: str,
        changes: dict[str, Any],
        expected_version: int | None = None,
        create_version: bool = False,
    ) -> Workflow:
        """Apply `changes`; a change of nodes or edges, or `create_version`, also stores a
        numbered version. Nothing to change and nothing asked: the workflow as it is."""
        changes = _normalise(changes)

        def update(uow) -> Workflow:
            current = self._writable(uow, workflow_id, actor, expected_version)
            proposed = dataclasses.replace(current, **changes)
            changed = [
                name for name in EDITABLE if getattr(proposed, name) != getattr(current, name)
            ]
            if not changed and not create_version:
                return current
            if VERSIONED & set(changed):
                _check_graph(proposed)  # only then: older records may predate the checks
            versioned = create_version or bool(VERSIONED & set(changed))
            version = _next_version(uow, proposed, actor) if versioned else None
            self._admit(uow, current, proposed, version)
            stored = uow.workflows.update(proposed, expected_version=current.version)
            summary = audit.summarise(current, stored, [*changed, "version"])
            if version is not None:
                summary["stored_version"] = uow.workflow_versions.add(version).number
            audit.record(uow, actor, "workflow.update", "workflow", workflow_id, summary)
            return stored

        return self.storage.atomic(update)

    def restore(
        self, actor: Actor, workflow_id: str, number: int, expected_version: int | None = None
    ) -> Workflow:
        """Make the workflow what version `number` was, and store that as a new version."""

        def restore(uow) -> Workflow:
            current = self._writable(uow, workflow_id, actor, expected_version)
            snapshot = None
            if 1 <= number <= MAX_NUMBER:
                snapshot = uow.workflow_versions.get_number(workflow_id, number)
            if snapshot is None:
                raise NotFound(f"the workflow has no version {number}")
            proposed = dataclasses.replace(
                current, **{name: getattr(snapshot, name) for name in SNAPSHOT}
            )
            version = _next_version(uow, proposed, actor)
            self._admit(uow, current, proposed, version)
            stored = uow.workflows.update(proposed, expected_version=current.version)
            summary = audit.summarise(current, stored, [*SNAPSHOT, "version"])
            summary["restored_version"] = number
            summary["stored_version"] = uow.workflow_versions.add(version).number
            audit.record(uow, actor, "workflow.restore", "workflow", workflow_id, summary)
            return stored

        return self.storage.atomic(restore)

    def delete(self, actor: Actor, workflow_id: str, expected_version: int | None = None) -> None:
        """The versions first, then the workflow: foreign keys do not cascade."""

        def delete(uow) -> None:
            current = self._writable(uow, workflow_id, actor, expected_version)
            removed = uow.workflow_versions.delete_for(workflow_id)
            uow.workflows.delete(workflow_id)
            summary = audit.summarise(current, None, ["name", "status"])
            summary["versions_deleted"] = removed
            audit.record(uow, actor, "workflow.delete", "workflow", workflow_id, summary)

        self.storage.atomic(delete)

    # -- helpers ------------------------------------------------------------------------------
    def _insert(
        self, uow, actor: Actor, workflow: Workflow, action: str, extra: dict | None = None
    ) -> Workflow:
        """A new workflow, its version 1 and its audit entry."""
        version = _next_version(uow, workflow, actor)
        self._admit(uow, None, workflow, version)
        uow.workflows.add(workflow)
        uow.workflow_versions.add(version)
        summary = audit.summarise(None, workflow, list(EDITABLE))
        audit.record(uow, actor, action, "workflow", workflow.id, {**summary, **(extra or {})})
        return workflow

    def _admit(
        self, uow, before: Workflow | None, after: Workflow, version: WorkflowVersion | None
    ) -> None:
        """The owner's quotas allow replacing `before` (None: nothing) by `after`, and
        storing `version` (None: none)."""
        added = after.stored_bytes - (before.stored_bytes if before else 0)
        self.quotas.check(
            uow,
            after.user_id,
            workflows=0 if before else 1,
            versions=1 if version else 0,
            size=added + (version.stored_bytes if version else 0),
        )

    def _fetch(self, workflow_id: str) -> Workflow | None:
        _require_uuid(workflow_id)
        return self.storage.workflows.get(workflow_id)

    @staticmethod
    def _writable(uow, workflow_id: str, actor: Actor, expected_version: int | None) -> Workflow:
        _require_uuid(workflow_id)
        workflow = changeable(uow.workflows.get(workflow_id), actor, "workflow")
        if expected_version is not None and expected_version != workflow.version:
            raise Conflict(
                "the workflow changed meanwhile",
                {"expected_version": expected_version, "current_version": workflow.version},
            )
        return workflow


def _require_uuid(workflow_id: str) -> None:
    if not is_uuid(workflow_id):
        raise NotFound("no such workflow")


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    fields = {name: value for name, value in fields.items() if name in EDITABLE}
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    if "tags" in fields:
        fields["tags"] = list(dict.fromkeys(tag.strip() for tag in fields["tags"]))
    return fields


def _new_workflow(actor: Actor, fields: dict[str, Any]) -> Workflow:
    workflow = Workflow(user_id=actor.user_id, **_normalise(fields))
    _check_graph(workflow)
    return workflow


def _check_graph(workflow: Workflow) -> None:
    problems = graph_problems(workflow.nodes, workflow.edges)
    if problems:
        raise ValidationFailed("the workflow's nodes or edges are not valid", problems)


def _copy_name(name: str) -> str:
    return name[: MAX_LENGTHS["name"] - len(COPY_SUFFIX)] + COPY_SUFFIX


def _next_version(uow, workflow: Workflow, actor: Actor) -> WorkflowVersion:
    """The snapshot of the workflow as its next numbered version (not stored yet)."""
    number = uow.workflow_versions.latest_number(workflow.id) + 1
    snapshot = {name: getattr(workflow, name) for name in SNAPSHOT}
    return WorkflowVersion(
        workflow_id=workflow.id, number=number, created_by=actor.user_id, **snapshot
    )
