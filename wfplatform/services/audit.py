"""The audit trail: who did what, written with the change it records.

- In a unit of work: `record(uow, ...)`, committed with the change, in every mode.
- With a control-plane change (a mode switch, an admin made from the CLI), which commits
  in the database whatever mode the audit log runs in: the entry waits in the outbox,
  stored in the change's own transaction, until `AuditLog.deliver` writes it (right after
  the change, and again at start-up and before the log is read, for one a fault held up).
- On its own (an export, an import's summary): `AuditLog.record(...)`.
"""

from __future__ import annotations

import logging
from typing import Any

from ..domain.audit import AuditEntry
from ..errors import Conflict, StorageUnavailable
from ..repositories.audit import AuditQuery
from ..repositories.base import Page
from ..storage.adapter import Storage
from ..storage.audit_outbox import AuditOutbox
from ..storage.modes import DATABASE
from .context import Actor

log = logging.getLogger(__name__)
# Fields whose values may appear in the trail; every other changed field is named only.
PLAIN_FIELDS = frozenset({"name", "email", "role", "status", "is_active", "tags", "version"})
USER_AGENT_LIMIT = 512


def summarise(before: Any | None, after: Any | None, fields: list[str]) -> dict[str, Any]:
    """Changed fields; values only for fields in PLAIN_FIELDS, never for secrets."""
    changed = {}
    for name in fields:
        old = getattr(before, name, None) if before is not None else None
        new = getattr(after, name, None) if after is not None else None
        if old == new:
            continue
        changed[name] = {"from": old, "to": new} if name in PLAIN_FIELDS else "changed"
    return changed


def entry(
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        actor_id=actor.user_id,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:USER_AGENT_LIMIT] or None,
        changes=changes or {},
    )


def record(
    uow,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Audit a change made in the unit of work `uow`, committed with it."""
    uow.audit_logs.add(entry(actor, action, resource_type, resource_id, changes))


class AuditLog:
    """The audit log as a whole: entries written on their own, the outbox delivered, and
    the log read (admins' `GET /api/audit-logs`)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._outbox = AuditOutbox(storage.control_plane_engine)

    def record(
        self,
        actor: Actor,
        action: str,
        resource_type: str,
        resource_id: str | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Audit something that changed nothing else (an export), or whose changes
        committed already (an import's summary): a unit of work of its own."""
        audited = entry(actor, action, resource_type, resource_id, changes)
        self._storage.atomic(lambda uow: uow.audit_logs.add(audited))

    def list(self, query: AuditQuery) -> Page:
        """Entries newest first, those still in the outbox included."""
        self.deliver()
        return self._storage.audit_logs.list(query)

    def deliver(self) -> int:
        """Write every entry waiting in the outbox to the audit log, once each whoever
        delivers it meanwhile (the entry keeps its id); returns how many were waiting. While
        the database is down they wait on: it holds the outbox.

        An entry leaves the outbox only once it is where every process reads the audit log,
        the database. While the log's primary copy is process memory (`memory-only`, `dual`
        reading memory), each process writes it to its own memory and the entry stays: a
        command (`flask wf mode set`, `create-admin`) runs beside the server, and its memory
        ends with it."""
        try:
            waiting = self._outbox.waiting()
            for audited in waiting:
                if self._write_once(audited) == DATABASE:
                    self._outbox.forget(audited.id)
        except StorageUnavailable as fault:
            log.warning("audit entries wait in the outbox: %s", fault.message)
            return 0
        return len(waiting)

    def _write_once(self, audited: AuditEntry) -> str:
        """Write `audited` unless the audit log has it; returns where the log is read now
        (any single step later, the entry is there too)."""

        def write(uow) -> None:
            if uow.audit_logs.get(audited.id) is None:
                uow.audit_logs.add(audited)

        try:
            self._storage.atomic(write)
        except Conflict:
            if self._storage.audit_logs.get(audited.id) is None:
                raise  # not another delivery of this entry: something else refused it
        return self._storage.serving_mode("audit_logs").primary
