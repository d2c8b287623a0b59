"""Record ids are UUID strings."""

from __future__ import annotations

import uuid
from typing import Any


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(value: Any) -> bool:
    """Whether `value` can be an id: anything else names nothing and never reaches a query
    (a NUL, say, which PostgreSQL's driver refuses outright)."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
