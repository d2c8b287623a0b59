"""One process's engine: its runner, its queue and its sweeper, built together (the
composition root builds one per process; an RQ worker builds its own)."""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any

from ..services.credentials import Credentials
from ..storage.adapter import Storage
from ..storage.modes import RepositoryMode, needs_one_process
from .cancels import CancelSignals
from .events import EventBus
from .http_client import HttpClient
from .nodes import node_types
from .queue import ExecutionQueue, InProcessQueue
from .runner import Runner
from .settings import EngineSettings
from .streams import EventStreams, StreamTiming
from .sweeper import Sweeper

KEPT_FROM_WORKERS = (
    "WF_EXECUTION_QUEUE_URL sends executions to worker processes, which read every record "
    "from the database: this mode would keep records in process memory (unset it first, "
    "with one serving process running the executions)"
)


def readiness_with_workers(
    _parts: Any, _current: RepositoryMode, target: RepositoryMode
) -> list[str]:
    """A step refused while executions run on worker processes: into a mode that keeps
    records in process memory (see `Storage.add_readiness_check`)."""
    return [KEPT_FROM_WORKERS] if needs_one_process({"": target}) else []


def runner_name() -> str:
    """This process among every runner (host, pid, and a token: pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class ExecutionEngine:
    def __init__(
        self,
        storage: Storage,
        credentials: Credentials,
        settings: EngineSettings,
        queue: ExecutionQueue | None = None,
    ) -> None:
        """`queue`: where executions go (RQ, see `rq_queue`); this process's thread pool
        when None."""
        self.storage = storage
        self.settings = settings
        self.bus = EventBus()
        self.signals = CancelSignals()
        client = HttpClient(settings.network, settings.max_response_bytes)
        self.runner = Runner(
            storage,
            credentials,
            settings,
            node_types(client),
            self.bus,
            self.signals,
            runner_name(),
        )
        self.queue = queue or InProcessQueue(self.runner.run, settings.workers)
        self.runner.submit = self.queue.submit
        self.streams = EventStreams(
            self.bus, settings.event_streams, StreamTiming(settings.stream_poll_seconds)
        )
        self.sweeper = Sweeper(
            storage,
            self.runner.claims,
            self.queue,
            self.bus,
            settings.sweep_seconds,
            per_workflow=max(1, settings.workers),
            runner_name=self.runner.name,
        )

    def start(self) -> None:
        """The sweeper's thread (a serving process, a worker)."""
        self.sweeper.start()

    def close(self) -> None:
        self.sweeper.stop()
        self.queue.close()
