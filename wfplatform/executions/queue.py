"""The execution queue carries execution ids only: the row is the truth, so a lost,
repeated or late delivery costs nothing (the runner finds the row not queued, or the
sweeper offers it again). One interface, whichever backend carries the ids:

- `InProcessQueue` (the default, nothing to install): a bounded pool of threads in the
  service process;
- `rq_queue.RqQueue` (`WF_EXECUTION_QUEUE_URL=redis://...`): RQ on Redis, run by worker
  processes on any machine (`flask wf worker`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger(__name__)


class ExecutionQueue(Protocol):
    backend: str

    def submit(self, execution_id: str) -> None:
        """Deliver the id to a runner (at least once, eventually, with the sweeper)."""

    def depth(self) -> int:
        """Ids waiting for a runner."""

    def close(self) -> None: ...


class InProcessQueue:
    """`workers` threads; an id already waiting or running is not taken twice, and past
    `capacity` waiting ids a new one is left to the sweeper, which offers every queued
    execution again."""

    backend = "in-process"

    def __init__(self, run: Callable[[str], None], workers: int, capacity: int = 10_000) -> None:
        self._run = run
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="wf-execution")
        self._capacity = capacity
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, execution_id: str) -> None:
        with self._lock:
            if execution_id in self._taken or len(self._taken) >= self._capacity:
                return
            self._taken.add(execution_id)
        try:
            self._pool.submit(self._one, execution_id)
        except RuntimeError:  # the pool is shut down: the process is ending
            with self._lock:
                self._taken.discard(execution_id)

    def depth(self) -> int:
        with self._lock:
            return len(self._taken)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _one(self, execution_id: str) -> None:
        try:
            self._run(execution_id)
        except Exception:
            log.exception("execution %s: the runner failed", execution_id)
        finally:
            with self._lock:
                self._taken.discard(execution_id)
