"""Following an execution's events (Server-Sent Events): what is stored after the last
event a client saw is read from storage and sent, then the stream waits for more and reads
again, until the final event. The rows are the source, never the bus: the bus only wakes a
stream of this process early, so a client that reconnects (`Last-Event-ID`), or follows a
run on another process or machine, gets every event once and in order. Each stream holds a
thread of the server, so a process serves at most `capacity` at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import DomainError
from .events import Event, EventBus

RECONNECT_MS = 2000  # what a client waits before reconnecting
Read = Callable[[int], "tuple[bool, list[Event]]"]  # after -> (finished?, events after it)


class TooManyStreams(DomainError):
    """Every stream of this process is taken: a 503 to try again after `retry_after`."""

    status = 503
    code = "too_many_streams"
    retry_after = 5


@dataclass(frozen=True)
class StreamTiming:
    poll_seconds: float = 1.0  # how often storage is read again for events made elsewhere
    keep_alive_seconds: float = 15.0  # a comment line when nothing happened


class EventStreams:
    def __init__(self, bus: EventBus, capacity: int, timing: StreamTiming = StreamTiming()):
        self.bus = bus
        self.timing = timing
        self._slots = threading.BoundedSemaphore(capacity)

    def open(self, execution_id: str, after: int, read: Read) -> tuple[Iterator[str], Callable]:
        """The stream's lines, and what to call when the server closes it (which frees its
        slot, however far the client read); `TooManyStreams` when none is free."""
        if not self._slots.acquire(blocking=False):
            raise TooManyStreams(
                "this process follows as many executions as it may "
                "(WF_EXECUTION_EVENT_STREAMS): try again, or another instance"
            )
        freed = threading.Event()

        def free() -> None:
            if not freed.is_set():
                freed.set()
                self._slots.release()

        return self._lines(execution_id, after, read), free

    def _lines(self, execution_id: str, after: int, read: Read) -> Iterator[str]:
        woken = threading.Event()

        def wake(event: Event) -> None:
            if event.execution_id == execution_id:
                woken.set()

        unsubscribe = self.bus.subscribe(wake)
        try:
            yield f"retry: {RECONNECT_MS}\n\n"
            quiet_since = time.monotonic()
            while True:
                woken.clear()
                finished, found = read(after)
                for event in found:
                    after = event.seq
                    yield _line(event)
                if finished and not found or any(event.final for event in found):
                    return
                if found:
                    quiet_since = time.monotonic()
                woken.wait(self.timing.poll_seconds)
                if time.monotonic() - quiet_since >= self.timing.keep_alive_seconds:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
        finally:
            unsubscribe()


def _line(event: Event) -> str:
    payload = {
        "execution_id": event.execution_id,
        "seq": event.seq,
        "type": event.type,
        "at": event.at.isoformat(),
        "data": event.data,
    }
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"
