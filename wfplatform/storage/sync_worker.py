"""The adapter's background worker: its duties every second, and the heartbeat."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from opentelemetry.instrumentation.utils import suppress_instrumentation

from ..errors import StorageUnavailable
from . import fleet
from .parts import StorageParts

log = logging.getLogger(__name__)


class Duties(Protocol):
    """What the worker does each round (`Storage` does these)."""

    def follow_mode_changes(self) -> list[str]: ...

    def process_warning(self) -> str | None: ...

    def catch_up(self) -> None: ...


class SyncWorker:
    """The adapter's background duties, every `interval` seconds (or when woken): follow
    mode changes made by other processes (and warn when several processes share
    per-process modes), and catch up (`Storage.catch_up`: replay the journal while it is
    not empty, load memory copies a start-up could not). A thread of its own
    says this process is alive, so a long replay or a switch waiting for its gate never
    makes the process look dead (its jobs would be reported interrupted)."""

    def __init__(self, parts: StorageParts, duties: Duties, interval: float = 1.0) -> None:
        self._parts = parts
        self._duties = duties
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._warned: str | None = None

    def start(self) -> None:
        if self._threads:
            return
        for target, name in ((self._run, "wf-storage-sync"), (self._beat, "wf-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with suppress_instrumentation():
                    self._parts.processes.beat(fleet.activity(self._parts))
            except StorageUnavailable as fault:
                self._parts.health.mark_down(fault.message)
            except Exception:  # the heartbeat must survive anything and try again
                log.exception("heartbeat failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._tick()
            except StorageUnavailable as fault:
                self._parts.health.mark_down(fault.message)
            except Exception:  # the worker must survive anything and try again
                log.exception("background storage duty failed")

    def _tick(self) -> None:
        duties = self._duties
        with suppress_instrumentation():  # a trace of SQL spans every second helps nobody
            duties.follow_mode_changes()
            warning = duties.process_warning()
        if warning and warning != self._warned:
            log.warning(warning)
        self._warned = warning
        duties.catch_up()
