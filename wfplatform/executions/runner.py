"""Runs one execution: claims it, keeps its lease, runs its nodes in dependency order and
records each (two writes a node: its start, its end), then finishes it. A queue delivering
an execution that is not queued any more finds nothing to do.

Before each node the run reads its execution row: a cancel asked anywhere stops it there,
and so does a row that no longer names this runner (its lease was lost and the sweeper
decided). Node outputs flow along the edges as items; a node none of whose edges carried
an item does not run (`if`'s other branch)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain.codec import utcnow
from ..domain.executions import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    STARTED_SEQ,
    SUCCESS,
    Execution,
    NodeExecution,
)
from ..domain.workflows import WorkflowVersion
from ..errors import Conflict, DomainError, StorageUnavailable
from ..services.credentials import Credentials
from ..storage.adapter import Storage
from . import events
from .cancels import CancelSignals
from .claims import Claims, NoSlot
from .data_limits import DataBudget, Unfit, size_of
from .events import EventBus
from .graph import Input, Plan
from .lease import LeaseKeeper
from .nodes.base import Cancelled, Item, NodeCall, NodeFailed, NodeType, Outputs
from .retry_policy import RetryPolicy
from .settings import EngineSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str
    error: dict[str, Any] | None = None
    lost: bool = False  # the lease was lost: the row is not this runner's to finish


LOST = Outcome(RUNNING, lost=True)


class Runner:
    def __init__(
        self,
        storage: Storage,
        credentials: Credentials,
        settings: EngineSettings,
        types: dict[str, NodeType],
        bus: EventBus,
        signals: CancelSignals,
        name: str,
    ) -> None:
        """`name`: this runner in the rows it claims. `submit` (the queue's) is set once
        the queue exists: executions held back for a slot are offered again through it
        when a run here ends (and by the sweeper, for slots freed elsewhere)."""
        self.storage = storage
        self.credentials = credentials
        self.settings = settings
        self.types = types
        self.bus = bus
        self.signals = signals
        self.name = name
        self.submit: Callable[[str], None] = lambda execution_id: None
        self._held: set[str] = set()
        self._held_lock = threading.Lock()
        self.claims = Claims(storage, settings.lease_seconds, settings.concurrency)

    def run(self, execution_id: str) -> None:
        execution = self.storage.executions.get(execution_id)
        if execution is None or execution.status != QUEUED:
            return  # delivered again, or cancelled meanwhile: nothing to do
        version = self.storage.workflow_versions.get_number(
            execution.workflow_id, execution.workflow_version
        )
        try:
            claimed = self.claims.claim(execution_id, self.name, self._workflow_limit(execution))
        except NoSlot:
            with self._held_lock:
                self._held.add(execution_id)
            return
        if claimed is None:
            return
        if claimed.status == CANCELLED:
            self.bus.publish(events.finished(claimed))
            return
        self.bus.publish(events.started(claimed))
        run = _Run(self, claimed, version)
        lease = LeaseKeeper(self.claims, execution_id, self.name, claimed.lease_expires_at)
        try:
            with lease:
                run.lease = lease
                outcome = _ended(run)
        finally:
            self.signals.forget(execution_id)
        if not outcome.lost:
            final = self.claims.finish(execution_id, self.name, run.final(outcome))
            if final is not None:
                self.bus.publish(events.finished(final))
        with self._held_lock:
            held, self._held = self._held, set()
        for waiting in held:
            self.submit(waiting)

    def _workflow_limit(self, execution: Execution) -> int:
        """The workflow's `settings.concurrency` as it is now, when a positive integer,
        else the default (`WF_EXECUTION_WORKFLOW_CONCURRENCY`)."""
        workflow = self.storage.workflows.get(execution.workflow_id)
        given = workflow.settings.get("concurrency") if workflow is not None else None
        if isinstance(given, float) and given.is_integer():
            given = int(given)  # JSON's 1.0 is 1, as the API reads integers
        if isinstance(given, int) and not isinstance(given, bool) and given > 0:
            return given
        return self.settings.workflow_concurrency


class _Run:
    """The state of one run: the next event number, the data budget, the nodes' outputs."""

    def __init__(self, runner: Runner, execution: Execution, version: WorkflowVersion | None):
        self.runner = runner
        self.storage = runner.storage
        self.execution = execution
        self.version = version
        self.seq = STARTED_SEQ
        settings = runner.settings
        self.budget = DataBudget(settings.max_output_bytes, settings.max_data_bytes)
        self.stop = runner.signals.watch(execution.id)
        self.lease: LeaseKeeper | None = None

    def nodes(self) -> Outcome:
        if self.version is None:
            number = self.execution.workflow_version
            return Outcome(FAILED, {"message": f"the workflow's version {number} is gone"})
        plan = Plan.of(self.version.nodes, self.version.edges)
        outputs: dict[str, Outputs] = {}
        for node_id in plan.order:
            incoming = plan.inputs_of(node_id)
            inputs = [_carried(outputs, edge) for edge in incoming]
            if incoming and not any(inputs):
                continue
            items = [i for part in inputs for i in part] if incoming else _items(self.execution)
            node = plan.nodes[node_id]
            try:
                self._check_stop()
            except Cancelled as cancelled:
                return self._cancelled_before(node, items, cancelled)
            result = self._node(node, inputs, items)
            if isinstance(result, Outcome):
                return result
            outputs[node_id] = result
        return Outcome(SUCCESS)

    def final(self, outcome: Outcome) -> dict[str, Any]:
        """The changes that finish the execution row."""
        self.seq += 1
        return {
            "status": outcome.status,
            "error": outcome.error,
            "finished_at": utcnow(),
            "last_seq": self.seq,
            "data_bytes": self.budget.used,
            "truncated": self.budget.cut,
        }

    # -- one node ----------------------------------------------------------------------------
    def _node(self, node: dict, inputs: list[list[Item]], items: list[Item]) -> Outputs | Outcome:
        """Its outputs, or how the run ends here: the node failed after its last attempt,
        a cancel, or a lost lease."""
        policy = RetryPolicy.of(node)
        outcome = Outcome(FAILED)
        for attempt in range(1, policy.attempts + 1):
            record = self._begin(node, attempt, items)
            result = self._attempt(node, record, inputs, items)
            if not isinstance(result, Outcome):
                return result
            outcome = result
            if outcome.status != FAILED or attempt == policy.attempts:
                break
            try:
                self._pause(policy.delay(attempt))
            except Cancelled as cancelled:  # the next attempt is where it took effect
                return self._cancelled_before(node, items, cancelled, attempt + 1)
        return outcome

    def _attempt(
        self, node: dict, record: NodeExecution, inputs: list[list[Item]], items: list[Item]
    ) -> Outputs | Outcome:
        kind = self.runner.types[node["type"]]
        try:
            call = NodeCall(
                node=node,
                parameters=kind.load(node),
                inputs=inputs,
                items=items,
                idempotency_key=record.idempotency_key,
                credential=lambda credential_type: self._credential(node, credential_type),
                pause=self._pause,
            )
            outputs = kind.run(call)
            size = self.budget.check(outputs)
        except Cancelled as cancelled:
            if cancelled.lost:
                return LOST
            if not self._end(record, CANCELLED, error={"message": "cancelled while it ran"}):
                return LOST
            return Outcome(CANCELLED, {"message": "cancelled", "node_id": node["id"]})
        except StorageUnavailable:
            raise  # the run cannot be recorded: its lease runs out, the sweeper decides
        except Unfit as unfit:
            message = f"its output cannot be kept: {unfit}"
        except Exception as failure:
            message = _message(failure, kind)
        else:
            try:
                kept = self._end(record, SUCCESS, output=outputs, size=size)
            except DomainError as refused:  # a backend refused the output after all
                message = f"its output could not be stored: {refused.message}"
            else:
                return outputs if kept else LOST
        error = {"message": message, "node_id": node["id"]}
        return Outcome(FAILED, error) if self._end(record, FAILED, error=error) else LOST

    def _begin(self, node: dict, attempt: int, items: list[Item]) -> NodeExecution:
        self.seq += 1
        stored, cut = self.budget.keep(items, size_of(items))
        record = NodeExecution(
            execution_id=self.execution.id,
            node_id=node["id"],
            node_type=node["type"],
            attempt=attempt,
            input=stored,
            truncated=cut,
            start_seq=self.seq,
        )
        self.storage.node_executions.add(record)
        self.runner.bus.publish(events.node_started(record))
        return record

    def _end(
        self,
        record: NodeExecution,
        status: str,
        output: Outputs | None = None,
        error: dict[str, Any] | None = None,
        size: int = 0,
    ) -> bool:
        """Record the end of an attempt; False when the row changed meanwhile: the sweeper
        ended it, having crashed the run (its lease was lost), and nothing more is written."""
        self.seq += 1
        stored, cut = self.budget.keep(output, size) if output is not None else (None, False)
        now = utcnow()
        done = dataclasses.replace(
            record,
            status=status,
            output=stored,
            error=error,
            truncated=record.truncated or cut,
            end_seq=self.seq,
            finished_at=now,
            duration_ms=int((now - record.started_at).total_seconds() * 1000),
            version=record.version + 1,
        )
        try:
            self.storage.node_executions.update(done)
        except Conflict:
            return False
        self.runner.bus.publish(events.node_finished(done))
        return True

    def _cancelled_before(
        self, node: dict, items: list[Item], cancelled: Cancelled, attempt: int = 1
    ) -> Outcome:
        """A cancel found before a node (or its next attempt) runs is recorded on it."""
        if cancelled.lost:
            return LOST
        record = self._begin(node, attempt, items)
        if not self._end(record, CANCELLED, error={"message": "cancelled before it ran"}):
            return LOST
        return Outcome(CANCELLED, {"message": "cancelled", "node_id": node["id"]})

    # -- what a node may ask -----------------------------------------------------------------
    def _credential(self, node: dict, credential_type: str) -> dict[str, Any]:
        reference = (node.get("credentials") or {}).get(credential_type)
        if not isinstance(reference, dict) or not reference.get("id"):
            raise NodeFailed(f"the node names no {credential_type} credential")
        return self.runner.credentials.for_execution(str(reference["id"]), self.execution.user_id)

    def _pause(self, seconds: float) -> None:
        """Sleep, looking for a cancel: at once for one asked in this process, every
        `cancel_poll_seconds` in the row for one asked elsewhere."""
        self._check_stop()  # a pause of 0 (a retry without interval) looks too
        deadline = time.monotonic() + seconds
        poll = self.runner.settings.cancel_poll_seconds
        while (left := deadline - time.monotonic()) > 0:
            self.stop.wait(min(left, poll))
            self._check_stop()

    def _check_stop(self) -> None:
        if self.lease is not None and self.lease.lost.is_set():
            raise Cancelled(lost=True)
        if self.stop.is_set():
            raise Cancelled()
        current = self.storage.executions.get(self.execution.id)
        if current is None or current.status != RUNNING or current.runner != self.runner.name:
            raise Cancelled(lost=True)
        if current.cancel_requested_at is not None:
            raise Cancelled()


def _ended(run: _Run) -> Outcome:
    """How the run ended; a failure of the engine itself fails the run (never a row left
    `running`), named by its kind and place only (its message may hold data)."""
    try:
        return run.nodes()
    except StorageUnavailable:
        raise
    except Exception as failure:
        log.error("execution %s: the engine failed with %s", run.execution.id, _kind(failure))
        return Outcome(FAILED, {"message": f"the engine failed ({type(failure).__name__})"})


def _kind(failure: Exception) -> str:
    """A failure's type and where it was raised, not its message (it may hold data)."""
    where = traceback.extract_tb(failure.__traceback__)[-1]
    return f"{type(failure).__name__} at {where.filename}:{where.lineno}"


def _carried(outputs: dict[str, Outputs], edge: Input) -> list[Item]:
    produced = outputs.get(edge.source)
    if produced is None or edge.output >= len(produced):
        return []
    return produced[edge.output]


def _items(execution: Execution) -> list[Item]:
    """A trigger's items: the input object, each object of an input list, or the input
    as `{"value": ...}`; one empty item without input."""
    value = execution.input
    if value is None:
        return [{}]
    values = value if isinstance(value, list) else [value]
    return [v if isinstance(v, dict) else {"value": v} for v in values]


def _message(failure: Exception, kind: NodeType) -> str:
    """What the execution records of a failure: a node's or a domain error's own message;
    for anything else only its kind (a message from a library may hold what was sent)."""
    if isinstance(failure, NodeFailed):
        return str(failure)
    if isinstance(failure, DomainError):
        return failure.message
    log.error("node type %s failed with %s", kind.name, _kind(failure))
    return f"{kind.name} failed: {type(failure).__name__}"
