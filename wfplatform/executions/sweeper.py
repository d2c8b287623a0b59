"""The sweeper, in every process that runs the engine: a run still `running` after its lease
expired is marked `crashed` (never earlier: a live run renews its lease, so a process that
restarts never declares another process's run dead), with its unfinished node executions;
queued executions are offered to the queue again (a delivery lost with a process, or an
execution that waited for a slot)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime, timedelta

from ..domain.codec import utcnow
from ..domain.executions import CRASHED, RUNNING, STARTED_SEQ, Execution
from ..errors import Conflict, StorageUnavailable
from ..storage.adapter import Storage
from . import events
from .claims import Claims
from .events import EventBus
from .queue import ExecutionQueue

BATCH = 100
log = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self,
        storage: Storage,
        claims: Claims,
        queue: ExecutionQueue,
        bus: EventBus,
        every_seconds: float,
        per_workflow: int,
        runner_name: str,
    ) -> None:
        """`per_workflow`: queued executions of one workflow offered a round."""
        self.name = f"sweeper:{runner_name}"
        self.storage = storage
        self.per_workflow = per_workflow
        self.claims = claims
        self.queue = queue
        self.bus = bus
        self.every = every_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """One round: how many runs it marked crashed and how many queued ones it offered
        (the oldest of each workflow first, so a workflow at its limit holds back no other)."""
        now = now or utcnow()
        expired = self.storage.executions.lease_expired(now, BATCH)
        crashed = sum(self._crash(execution, now) for execution in expired)
        # an execution queued a moment ago is on its way to a runner already
        settled = now - timedelta(seconds=self.every)
        queued = self.storage.executions.queued(BATCH, per_workflow=self.per_workflow)
        waiting = [execution for execution in queued if execution.created_at < settled]
        for execution in waiting:
            self.queue.submit(execution.id)
        return {"crashed": crashed, "offered": len(waiting)}

    def _crash(self, execution: Execution, now: datetime) -> bool:
        """Take the run over (a late renewal then stops its runner instead of racing the
        sweep), end its unfinished node attempts, then the run: a round cut short leaves
        the run `running` under a lease of the sweeper's, for a later round to finish, and
        a stream never sees the final event before a node's."""
        taken = self.claims.take_over(execution.id, now, self.name)
        if taken is None:
            return False  # renewed, finished or taken by another sweeper meanwhile
        # the runner it had (or the sweeper whose round was cut short)
        error = {"message": "its runner stopped renewing its lease", "runner": execution.runner}
        ended = self._end_nodes(execution.id, now, error)
        nodes = self.storage.node_executions.for_execution(execution.id)  # the latest ends too
        seq = max((max(n.start_seq, n.end_seq or 0) for n in nodes), default=STARTED_SEQ)
        crashed = self.claims.crash(execution.id, now, seq + 1, error, self.name)
        for node in ended:
            self.bus.publish(events.node_finished(node))
        if crashed is None:
            return False
        self.bus.publish(events.finished(crashed))
        log.warning("execution %s crashed: %s", execution.id, error)
        return True

    def _end_nodes(self, execution_id: str, now: datetime, error: dict) -> list:
        nodes = self.storage.node_executions.for_execution(execution_id)
        seq = max((max(n.start_seq, n.end_seq or 0) for n in nodes), default=STARTED_SEQ)
        ended = []
        for node in (n for n in nodes if n.status == RUNNING):
            seq += 1
            changed = dataclasses.replace(
                node,
                status=CRASHED,
                end_seq=seq,
                finished_at=now,
                error=error,
                version=node.version + 1,
            )
            try:
                ended.append(self.storage.node_executions.update(changed))
            except Conflict:
                seq -= 1  # its runner ended it meanwhile (it stops at its next look)
        return ended

    # -- the thread ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="wf-sweeper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sweep()
            except StorageUnavailable as fault:
                log.warning("the execution sweeper waits for the database (%s)", fault)
            except Exception:
                log.exception("the execution sweeper failed; it tries again")
