"""Shadow reads run here, off the request thread, through a bounded queue.

A request only enqueues; when the queue is full the sample is dropped (and counted), so
shadow reads never slow a request down.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class ShadowReader:
    def __init__(self, capacity: int = 1000) -> None:
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

    def drain(self) -> None:
        """Wait until every queued comparison has run (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
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
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                task()
            except Exception:  # a failed comparison must not stop the worker
                log.exception("shadow read failed")
            finally:
                self._queue.task_done()
