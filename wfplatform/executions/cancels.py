"""Cancels asked in this process reach its runs at once (a `wait` wakes up); a cancel asked
elsewhere is found in the execution row, which a run reads before every node and every
`cancel_poll_seconds` while it waits."""

from __future__ import annotations

import threading


class CancelSignals:
    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def watch(self, execution_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(execution_id, threading.Event())

    def forget(self, execution_id: str) -> None:
        with self._lock:
            self._events.pop(execution_id, None)

    def signal(self, execution_id: str) -> None:
        with self._lock:
            event = self._events.get(execution_id)
        if event is not None:
            event.set()
