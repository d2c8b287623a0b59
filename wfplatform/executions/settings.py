"""The engine's settings, read once from the app's configuration (see docs/OPERATIONS.md,
"Executions")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .destinations import NetworkPolicy


@dataclass(frozen=True)
class EngineSettings:
    workers: int = 4  # runs at once in one process (the in-process queue's threads)
    concurrency: int = 20  # running executions at once over every process (0: no limit)
    workflow_concurrency: int = 0  # per workflow, unless its settings say (0: no limit)
    lease_seconds: float = 30.0
    sweep_seconds: float = 5.0
    cancel_poll_seconds: float = 1.0  # how often a `wait` looks for a cancel from elsewhere
    max_retries: int = 3  # retries of one execution (`POST .../retry`)
    wait_seconds: float = 30.0  # the longest `?wait=true` waits
    max_output_bytes: int = 1024 * 1024  # one node's stored input or output
    max_data_bytes: int = 16 * 1024 * 1024  # everything one execution stores
    max_response_bytes: int = 10 * 1024 * 1024  # an answer `http_request` reads
    event_streams: int = 32  # event streams one process serves at once
    stream_poll_seconds: float = 1.0  # how often a stream reads for events made elsewhere
    network: NetworkPolicy = NetworkPolicy(())

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> EngineSettings:
        network = NetworkPolicy.parse(config["WF_HTTP_DENY"], config["WF_HTTP_ALLOW"])
        return cls(network=network, **{field: config[name] for field, name in SETTINGS.items()})


# each field and the setting it is read from
SETTINGS = {
    "workers": "WF_EXECUTION_WORKERS",
    "concurrency": "WF_EXECUTION_CONCURRENCY",
    "workflow_concurrency": "WF_EXECUTION_WORKFLOW_CONCURRENCY",
    "lease_seconds": "WF_EXECUTION_LEASE_SECONDS",
    "sweep_seconds": "WF_EXECUTION_SWEEP_SECONDS",
    "cancel_poll_seconds": "WF_EXECUTION_CANCEL_POLL_SECONDS",
    "max_retries": "WF_EXECUTION_MAX_RETRIES",
    "wait_seconds": "WF_EXECUTION_WAIT_SECONDS",
    "max_output_bytes": "WF_EXECUTION_MAX_OUTPUT_BYTES",
    "max_data_bytes": "WF_EXECUTION_MAX_DATA_BYTES",
    "max_response_bytes": "WF_HTTP_MAX_RESPONSE_BYTES",
    "event_streams": "WF_EXECUTION_EVENT_STREAMS",
    "stream_poll_seconds": "WF_EXECUTION_EVENT_POLL_SECONDS",
}
