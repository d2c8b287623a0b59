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
from ..domain.executions import CRASHED, RUNNING
from ..errors import StorageUnavailable
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
    ) -> None:
        self.storage = storage
        self.claims = claims
        self.queue = queue
        self.bus = bus
        self.every = every_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """One round: how many runs it marked crashed and how many queued ones it offered."""
        now = now or utcnow()
        crashed = sum(
            self._crash(e.id, now) for e in self.storage.executions.lease_expired(now, BATCH)
        )
        # an execution queued a moment ago is on its way to a runner already
        settled = now - timedelta(seconds=self.every)
        waiting = [e for e in self.storage.executions.queued(BATCH) if e.created_at < settled]
        for execution in waiting:
            self.queue.submit(execution.id)
        return {"crashed": crashed, "offered": len(waiting)}

    def _crash(self, execution_id: str, now: datetime) -> bool:
        nodes = self.storage.node_executions.for_execution(execution_id)
        seq = max((max(n.start_seq, n.end_seq or 0) for n in nodes), default=1)
        unfinished = [n for n in nodes if n.status == RUNNING]
        last_seq = seq + len(unfinished) + 1
        crashed = self.claims.crash(execution_id, now, last_seq)
        if crashed is None:
            return False  # renewed, finished or crashed by another sweeper meanwhile
        for offset, node in enumerate(unfinished, start=1):
            ended = dataclasses.replace(
                node, status=CRASHED, end_seq=seq + offset, finished_at=now, error=crashed.error
            )
            self.storage.node_executions.update(ended)
            self.bus.publish(events.node_finished(ended))
        self.bus.publish(events.finished(crashed))
        log.warning("execution %s crashed: %s", execution_id, crashed.error)
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
