"""Shadow reads run here, off the request thread, through a bounded queue.

A request only enqueues; when the queue is full the sample is dropped (and counted). Off
the thread is not enough in one process: the comparisons' Python work (the other
backend's read, decoding, comparing) holds the interpreter lock the requests need, and at
rate 1.0 a database read compared for each memory read costs many times the read itself.
So the worker keeps to a `budget`: the share of one CPU its comparisons may use, resting
before each in proportion to the CPU time the one before took (the first as if it had
taken `FIRST_COST`): so the budget holds from the first comparison, and a burst of samples
after a quiet spell waits its turn instead of running at once while the requests that
sampled it are still being served. What the budget cannot compare waits in the queue and
is dropped when the queue is full: shadow reads sample, they never slow a request down
by more than the budget.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


DEFAULT_BUDGET = 0.05
FIRST_COST = 0.005  # CPU seconds: about a comparison of a page read from the database


class ShadowReader:
    def __init__(self, capacity: int = 1000, budget: float = DEFAULT_BUDGET) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"the shadow reads' budget is a share of one CPU: {budget}")
        self._rest_per_cpu_second = (1 - budget) / budget
        self._resting = threading.Event()  # set by close: stop resting
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, task: Callable[[], None]) -> bool:
        """Queue a comparison; False when it was dropped because the queue is full."""
        self._ensure_started()
        try:
            self._queue.put_nowait(task)
        except queue.Full:
            return False
        return True

    def has_room(self) -> bool:
        """Whether a comparison submitted now would be queued (a sampled read checks
        before doing the work of one that would be dropped)."""
        return not self._queue.full()

    def drain(self) -> None:
        """Wait until every queued comparison has run (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._resting.set()
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="wf-shadow-reads", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        cost = FIRST_COST
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                self._resting.wait(cost * self._rest_per_cpu_second)
                started = time.thread_time()
                try:
                    task()
                except Exception:  # a failed comparison must not stop the worker
                    log.exception("shadow read failed")
                cost = time.thread_time() - started
            finally:
                self._queue.task_done()
