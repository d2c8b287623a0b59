"""The audit trail: one entry per mutating call, written in the same unit of work."""

from __future__ import annotations

from typing import Any

from ..domain.audit import AuditEntry
from .context import Actor

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


def record(
    uow,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    uow.audit_logs.add(
        AuditEntry(
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            actor_id=actor.user_id,
            ip=actor.ip,
            user_agent=(actor.user_agent or "")[:USER_AGENT_LIMIT] or None,
            changes=changes or {},
        )
    )
