"""Every change a runner or the sweeper makes to an execution row, each from the version
read (`ExecutionRepository.update`): on a `Conflict` (another runner, a cancel, a slot
taken meanwhile) the row is read again and the change decided again.

- `claim`: `queued` to `running` with this runner's name, a lease and free slots; nothing
  when the execution is no longer queued (a queue delivering it again) or no slot is free
  (it stays queued until one is).
- `renew`: a later lease, only while the row still names this runner as running it.
- `finish`: the end of a run, on the same condition: a runner that lost its lease never
  overwrites what the sweeper decided.
- `take_over` and `crash`: the sweeper's, only for a run still running whose lease has
  expired: first the row is made the sweeper's, then its nodes and the run are ended."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..domain.codec import utcnow
from ..domain.executions import CANCELLED, CRASHED, QUEUED, RUNNING, STARTED_SEQ, Execution
from ..errors import Conflict
from ..storage.adapter import Storage

ATTEMPTS = 8  # reads and decisions again after a conflict
RELEASED = {"workflow_slot": None, "global_slot": None, "lease_expires_at": None}
Decision = Callable[[Execution], "dict[str, Any] | None"]


class NoSlot(Exception):
    """Every slot of a limit is held: the execution stays queued until one is free."""


class Claims:
    def __init__(self, storage: Storage, lease_seconds: float, concurrency: int) -> None:
        """`concurrency`: running executions over every process (0: no limit)."""
        self.storage = storage
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency

    def change(self, execution_id: str, decide: Decision) -> Execution | None:
        """The row as `decide` changed it, or None when `decide` answers None (nothing to
        change) or the row is gone."""
        for _ in range(ATTEMPTS):
            current = self.storage.executions.get(execution_id)
            if current is None:
                return None
            changes = decide(current)
            if changes is None:
                return None
            changed = dataclasses.replace(
                current, **changes, version=current.version + 1, updated_at=utcnow()
            )
            try:
                return self.storage.executions.update(changed)
            except Conflict:
                continue
        return None

    def claim(self, execution_id: str, runner: str, workflow_limit: int) -> Execution | None:
        """The claimed row (or the row cancelled before it ran: `status` says); `NoSlot`
        when a concurrency limit is reached."""

        def decide(current: Execution) -> dict[str, Any] | None:
            if current.status != QUEUED:
                return None
            now = utcnow()
            if current.cancel_requested_at is not None:
                return {"status": CANCELLED, "finished_at": now, "last_seq": STARTED_SEQ}
            slots = self._free_slots(current.workflow_id, workflow_limit)
            return {
                "status": RUNNING,
                "runner": runner,
                "lease_expires_at": now + self.lease,
                "started_at": now,
                "last_seq": STARTED_SEQ,
                **slots,
            }

        return self.change(execution_id, decide)

    def renew(self, execution_id: str, runner: str) -> Execution | None:
        """The row with a later lease; None when this runner no longer holds it."""

        def decide(current: Execution) -> dict[str, Any] | None:
            if current.status != RUNNING or current.runner != runner:
                return None
            return {"lease_expires_at": utcnow() + self.lease}

        return self.change(execution_id, decide)

    def finish(self, execution_id: str, runner: str, changes: dict[str, Any]) -> Execution | None:
        def decide(current: Execution) -> dict[str, Any] | None:
            if current.status != RUNNING or current.runner != runner:
                return None
            return {**changes, **RELEASED, **_ended(current, changes["finished_at"])}

        return self.change(execution_id, decide)

    def take_over(self, execution_id: str, now: datetime, sweeper: str) -> Execution | None:
        """The sweeper's first step with a run whose lease expired: the row names the
        sweeper, with a lease of its own, so a renewal arriving late finds the run is no
        longer its runner's (and stops it), and a sweep cut short is taken over again once
        this lease expires. None when the lease is live (renewed meanwhile)."""

        def decide(current: Execution) -> dict[str, Any] | None:
            lease = current.lease_expires_at
            if current.status != RUNNING or lease is None or lease >= now:
                return None
            return {"runner": sweeper, "lease_expires_at": now + self.lease}

        return self.change(execution_id, decide)

    def crash(
        self, execution_id: str, now: datetime, last_seq: int, error: dict[str, Any], sweeper: str
    ) -> Execution | None:
        """The run `take_over` gave `sweeper`, ended `crashed`."""

        def decide(current: Execution) -> dict[str, Any] | None:
            if current.status != RUNNING or current.runner != sweeper:
                return None
            return {
                "status": CRASHED,
                "error": error,
                "finished_at": now,
                "last_seq": last_seq,
                **RELEASED,
                **_ended(current, now),
            }

        return self.change(execution_id, decide)

    def _free_slots(self, workflow_id: str, workflow_limit: int) -> dict[str, int | None]:
        """The lowest free slot under each limit (None where there is no limit); `NoSlot`
        when as many runs as the limit hold one (a limit lowered below the slots held
        counts those runs, not the numbers)."""
        slots: dict[str, int | None] = {"workflow_slot": None, "global_slot": None}
        if not workflow_limit and not self.concurrency:
            return slots
        running = self.storage.executions.running()
        for name, limit, holders in (
            ("workflow_slot", workflow_limit, [e for e in running if e.workflow_id == workflow_id]),
            ("global_slot", self.concurrency, running),
        ):
            if limit:
                taken = {getattr(execution, name) for execution in holders} - {None}
                if len(taken) >= limit:
                    raise NoSlot(name)
                slots[name] = next(slot for slot in range(len(taken) + 1) if slot not in taken)
        return slots


def _ended(current: Execution, at: datetime) -> dict[str, Any]:
    started = current.started_at or at
    return {"duration_ms": max(0, int((at - started).total_seconds() * 1000))}
