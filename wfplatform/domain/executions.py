"""Executions: one run of a workflow version, and the record of each node it ran.

The execution row is the truth of a run (a queue only carries its id): who runs it (the
`runner` holding a lease until `lease_expires_at`), whether a cancel was asked, and which
concurrency slots it holds. The slots are unique per workflow and overall while a run
holds them, and empty otherwise (a unique key ignores an empty value, as SQL ignores NULL),
so a claim beyond a limit is refused by every backend alike, across machines.

Every lifecycle event of a run has a number in one sequence per execution, stored with the
row it belongs to: 1 is `execution.started`, each node execution keeps the numbers of its
start and its end, and a finished execution's `last_seq` is its final event. So the stored
rows replay every event in order (see `executions.events`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .codec import utcnow
from .validation import check_record

QUEUED, RUNNING = "queued", "running"
SUCCESS, FAILED, CANCELLED, CRASHED = "success", "failed", "cancelled", "crashed"
STATUSES = (QUEUED, RUNNING, SUCCESS, FAILED, CANCELLED, CRASHED)
FINISHED = frozenset({SUCCESS, FAILED, CANCELLED, CRASHED})
NODE_STATUSES = (RUNNING, SUCCESS, FAILED, CANCELLED, CRASHED)
TRIGGERS = ("manual", "retry")
STARTED_SEQ = 1  # the number of `execution.started`


@dataclass
class Execution:
    workflow_id: str
    user_id: str
    workflow_version: int  # the number of the workflow version it runs
    status: str = QUEUED
    trigger: str = "manual"
    input: Any = None  # the JSON the trigger received
    error: dict[str, Any] | None = None  # {"message", "node_id"?}: why it failed
    retry_of: str | None = None  # the execution this one repeats
    attempt: int = 1
    runner: str | None = None  # who holds the lease
    lease_expires_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    workflow_slot: int | None = None  # held while running under a per-workflow limit
    global_slot: int | None = None  # held while running under the overall limit
    last_seq: int = 0
    data_bytes: int = 0  # inputs and outputs its node executions store
    truncated: int = 0  # node outputs cut to the limits
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    version: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def validate(self) -> None:
        check_record(self, {"runner": 200}, {"status": STATUSES, "trigger": TRIGGERS})

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class NodeExecution:
    """One attempt of one node in one execution."""

    execution_id: str
    node_id: str
    node_type: str
    attempt: int = 1
    status: str = RUNNING
    input: Any = None  # the items it received
    output: Any = None  # its items, per output: [[item, ...], ...]
    error: dict[str, Any] | None = None
    truncated: bool = False  # input or output cut to the limits
    start_seq: int = 0
    end_seq: int | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_ms: int | None = None
    version: int = 1  # its end replaces its start: a row the sweeper ended meanwhile wins
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def validate(self) -> None:
        check_record(self, {"node_id": 100, "node_type": 200}, {"status": NODE_STATUSES})

    @property
    def idempotency_key(self) -> str:
        """What this attempt's side effects are keyed by (`http_request` sends it)."""
        return f"{self.execution_id}:{self.node_id}:{self.attempt}"
