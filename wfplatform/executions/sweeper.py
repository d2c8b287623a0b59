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
    ) -> None:
        """`per_workflow`: queued executions of one workflow offered a round."""
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
        """Its unfinished node attempts first, then the run itself: a round cut short in
        between leaves the run `running` and expired, for the next round to finish, and a
        stream never sees the final event before a node's."""
        nodes = self.storage.node_executions.for_execution(execution.id)
        seq = max((max(n.start_seq, n.end_seq or 0) for n in nodes), default=STARTED_SEQ)
        error = {"message": "its runner stopped renewing its lease", "runner": execution.runner}
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
                seq -= 1  # its runner ended it meanwhile: the run is alive after all
        crashed = self.claims.crash(execution.id, now, seq + 1, error)
        for node in ended:
            self.bus.publish(events.node_finished(node))
        if crashed is None:
            return False  # renewed, finished or crashed by another sweeper meanwhile
        self.bus.publish(events.finished(crashed))
        log.warning("execution %s crashed: %s", execution.id, error)
        return True

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
