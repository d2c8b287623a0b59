"""Lifecycle events: made from the stored rows, so a live event and its replay from the
database are one and the same (see `domain.executions` for the numbering), and published
on one in-process bus that other parts subscribe to.

Types: `execution.started`, `node_started`, `node_completed`, `node_failed`,
`node_cancelled`, then one of `execution.completed`, `execution.failed`,
`execution.cancelled`, `execution.crashed`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.executions import (
    CANCELLED,
    CRASHED,
    FAILED,
    STARTED_SEQ,
    SUCCESS,
    Execution,
    NodeExecution,
)

FINAL_TYPES = {
    SUCCESS: "execution.completed",
    FAILED: "execution.failed",
    CANCELLED: "execution.cancelled",
    CRASHED: "execution.crashed",
}
NODE_END_TYPES = {
    SUCCESS: "node_completed",
    FAILED: "node_failed",
    CANCELLED: "node_cancelled",
    CRASHED: "node_failed",
}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    execution_id: str
    seq: int
    type: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.type in FINAL_TYPES.values()


def started(execution: Execution) -> Event:
    return Event(execution.id, STARTED_SEQ, "execution.started", execution.started_at, {})


def finished(execution: Execution) -> Event:
    data: dict[str, Any] = {"status": execution.status, "duration_ms": execution.duration_ms}
    if execution.error:
        data["error"] = execution.error
    if execution.truncated:
        data["truncated"] = execution.truncated
    at = execution.finished_at or execution.updated_at
    return Event(execution.id, execution.last_seq, FINAL_TYPES[execution.status], at, data)


def node_started(node: NodeExecution) -> Event:
    data = {"node_id": node.node_id, "node_type": node.node_type, "attempt": node.attempt}
    return Event(node.execution_id, node.start_seq, "node_started", node.started_at, data)


def node_finished(node: NodeExecution) -> Event:
    data: dict[str, Any] = {
        "node_id": node.node_id,
        "node_type": node.node_type,
        "attempt": node.attempt,
        "status": node.status,
        "duration_ms": node.duration_ms,
    }
    if node.error:
        data["error"] = node.error
    at = node.finished_at or node.started_at
    return Event(node.execution_id, node.end_seq or 0, NODE_END_TYPES[node.status], at, data)


def stored(execution: Execution, nodes: list[NodeExecution]) -> list[Event]:
    """Every event the rows hold, in sequence order."""
    events = [started(execution)] if execution.started_at is not None else []
    for node in nodes:
        events.append(node_started(node))
        if node.end_seq is not None:
            events.append(node_finished(node))
    if execution.finished:
        events.append(finished(execution))
    return sorted(events, key=lambda event: event.seq)


Subscriber = Callable[[Event], None]


class EventBus:
    """Subscribers are called on the publishing thread, in the order they subscribed; one
    that raises is logged and the others still hear the event."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Returns what unsubscribes it."""
        with self._lock:
            self._subscribers = [*self._subscribers, subscriber]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not subscriber]

        return unsubscribe

    def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("an execution event subscriber failed on %s", event.type)
