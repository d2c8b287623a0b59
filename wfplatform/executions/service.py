"""Executions, the use case: run a workflow, list and read runs, cancel and retry them.

Ownership as for workflows (`services.ownership`): another user is told a run does not
exist; an admin reads every run but cancels, retries and starts only their own."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..domain.codec import utcnow
from ..domain.executions import (
    CANCELLED,
    CRASHED,
    FAILED,
    QUEUED,
    RUNNING,
    STARTED_SEQ,
    Execution,
    NodeExecution,
)
from ..domain.ids import is_uuid
from ..domain.workflows import WorkflowVersion
from ..errors import Conflict, NotFound, ValidationFailed
from ..repositories.base import Page
from ..repositories.executions import ExecutionQuery
from ..services import audit
from ..services.context import Actor
from ..services.ownership import OWNER_ME, changeable, owner_scope, readable
from ..storage.adapter import Storage
from . import events
from .checks import run_problems
from .claims import RELEASED
from .engine import ExecutionEngine
from .events import Event

KIND = "execution"
RETRIED = (FAILED, CRASHED, CANCELLED)
ARCHIVED = "archived"
ARCHIVED_REFUSAL = "an archived workflow does not run: change its status first"
WAIT_POLL_SECONDS = (0.01, 0.25)  # `?wait=true` reads the row this often, first to last


class Executions:
    def __init__(self, storage: Storage, engine: ExecutionEngine) -> None:
        self.storage = storage
        self.engine = engine
        self.settings = engine.settings

    # -- starting ------------------------------------------------------------------------------
    def execute(self, actor: Actor, workflow_id: str, given: Any = None) -> Execution:
        """Record a run of the workflow's latest version as queued and queue it; a 422
        when it cannot run, and then nothing is recorded."""
        if not is_uuid(workflow_id):
            raise NotFound("no such workflow")
        workflow = changeable(self.storage.workflows.get(workflow_id), actor, "workflow")
        if workflow.status == ARCHIVED:
            raise Conflict(ARCHIVED_REFUSAL)
        number = self.storage.workflow_versions.latest_number(workflow_id)
        version = self.storage.workflow_versions.get_number(workflow_id, number)
        if version is None:
            raise Conflict("the workflow has no stored version to run")
        self._check_input(given)
        self._check_runnable(version, actor.user_id)
        execution = Execution(
            workflow_id=workflow_id, user_id=actor.user_id, workflow_version=number, input=given
        )
        self.storage.executions.add(execution)
        self.engine.queue.submit(execution.id)
        return execution

    def retry(self, actor: Actor, execution_id: str) -> Execution:
        """A new execution of the same version with the same input, linked to the one it
        repeats; each execution is retried once, up to `WF_EXECUTION_MAX_RETRIES` in a
        row."""
        original = changeable(self._fetch(execution_id), actor, KIND)
        if original.status not in RETRIED:
            raise Conflict(
                f"a {original.status} execution is not retried: only {', '.join(RETRIED)}"
            )
        if original.attempt > self.settings.max_retries:
            raise Conflict(
                f"this run is retry {original.attempt - 1}, and at most "
                f"{self.settings.max_retries} are made (WF_EXECUTION_MAX_RETRIES)"
            )
        workflow = self.storage.workflows.get(original.workflow_id)
        if workflow is not None and workflow.status == ARCHIVED:
            raise Conflict(ARCHIVED_REFUSAL)
        version = self.storage.workflow_versions.get_number(
            original.workflow_id, original.workflow_version
        )
        if version is None:
            raise Conflict(f"the workflow's version {original.workflow_version} is gone")
        self._check_runnable(version, actor.user_id)
        retry = Execution(
            workflow_id=original.workflow_id,
            user_id=original.user_id,
            workflow_version=original.workflow_version,
            input=original.input,
            trigger="retry",
            retry_of=original.id,
            attempt=original.attempt + 1,
        )

        def record(uow) -> Execution:
            uow.executions.add(retry)
            audit.record(uow, actor, "execution.retry", KIND, original.id, {"retry": retry.id})
            return retry

        try:
            self.storage.atomic(record)
        except Conflict:
            raise Conflict("the execution was retried already") from None
        self.engine.queue.submit(retry.id)
        return retry

    # -- reads ---------------------------------------------------------------------------------
    def list(self, actor: Actor, query: ExecutionQuery, owner: str = OWNER_ME) -> Page:
        scoped = dataclasses.replace(query, user_id=owner_scope(actor, owner, KIND))
        return self.storage.executions.list(scoped)

    def get(self, actor: Actor, execution_id: str) -> Execution:
        return readable(self._fetch(execution_id), actor, KIND)

    def nodes(self, actor: Actor, execution_id: str) -> tuple[Execution, list[NodeExecution]]:
        """The execution and its node executions in the order they started (time and
        dependency order: a run runs one node at a time, each after its inputs)."""
        execution = self.get(actor, execution_id)
        return execution, self.storage.node_executions.for_execution(execution_id)

    def events(
        self, actor: Actor, execution_id: str, after: int = 0
    ) -> tuple[Execution, list[Event]]:
        """The execution and its stored events numbered above `after`."""
        execution, nodes = self.nodes(actor, execution_id)
        return execution, [e for e in events.stored(execution, nodes) if e.seq > after]

    def follow(
        self, actor: Actor, execution_id: str, after: int = 0
    ) -> tuple[Iterator[str], Callable]:
        """The execution's events after `after` as Server-Sent Events, live until the
        final one, and what frees the stream's slot (see `streams`)."""
        self.get(actor, execution_id)

        def read(since: int) -> tuple[bool, list[Event]]:
            execution, found = self.events(actor, execution_id, since)
            return execution.finished, found

        return self.engine.streams.open(execution_id, after, read)

    def wait(self, execution: Execution, seconds: float) -> Execution:
        """The execution once it finished, or as it is after `seconds`."""
        deadline = time.monotonic() + min(seconds, self.settings.wait_seconds)
        pause, longest = WAIT_POLL_SECONDS
        while not execution.finished and time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, longest)
            execution = self.storage.executions.get(execution.id) or execution
        return execution

    # -- cancelling ----------------------------------------------------------------------------
    def cancel(self, actor: Actor, execution_id: str) -> Execution:
        """A queued execution is cancelled at once; a running one is asked to stop, which
        it does before its next node (or inside `wait`). 409 once it finished."""
        changeable(self._fetch(execution_id), actor, KIND)

        def decide(current: Execution) -> dict[str, Any] | None:
            now = utcnow()
            if current.status == QUEUED:
                return {
                    "status": CANCELLED,
                    "cancel_requested_at": now,
                    "finished_at": now,
                    "duration_ms": 0,
                    "last_seq": STARTED_SEQ,
                    **RELEASED,
                }
            if current.status == RUNNING and current.cancel_requested_at is None:
                return {"cancel_requested_at": now}
            return None

        changed = self.engine.runner.claims.change(execution_id, decide)
        current = changed or self._fetch(execution_id)
        if current is None or (changed is None and current.finished):
            raise Conflict(f"the execution is {current.status if current else 'gone'} already")
        if changed is not None:
            if changed.status == CANCELLED:
                self.engine.bus.publish(events.finished(changed))
            self.engine.signals.signal(execution_id)
            self.storage.atomic(
                lambda uow: audit.record(uow, actor, "execution.cancel", KIND, execution_id)
            )
        return current

    # -- helpers -------------------------------------------------------------------------------
    def _fetch(self, execution_id: str) -> Execution | None:
        if not is_uuid(execution_id):
            raise NotFound(f"no such {KIND}")
        return self.storage.executions.get(execution_id)

    def _check_input(self, given: Any) -> None:
        size = len(json.dumps(given, ensure_ascii=False, separators=(",", ":")).encode())
        if size > self.settings.max_output_bytes:
            raise ValidationFailed(
                "the input is too large",
                {"input": [f"at most {self.settings.max_output_bytes} bytes as JSON"]},
            )

    def _check_runnable(self, version: WorkflowVersion, user_id: str) -> None:
        def credential_problem(credential_id: str) -> str | None:
            found = self.storage.credentials.get(credential_id) if is_uuid(credential_id) else None
            if found is None or found.user_id != user_id:
                return f"no credential {credential_id} of yours"
            if not found.is_active:
                return f"the credential {found.name!r} is inactive"
            if found.expires_at is not None and found.expires_at <= utcnow():
                return f"the credential {found.name!r} has expired"
            return None

        problems = run_problems(version, self.engine.runner.types, credential_problem)
        if problems:
            raise ValidationFailed("the workflow cannot run", problems)
