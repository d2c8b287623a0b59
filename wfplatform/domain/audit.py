from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .codec import utcnow


@dataclass
class AuditEntry:
    """Who did what to which resource, when, from where; `changes` summarises the changed
    fields (values only for fields that are never secret)."""

    action: str
    resource_type: str
    resource_id: str | None = None
    actor_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)
