from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from .codec import utcnow
from .validation import check_record

MAX_LENGTHS = {"name": 100}


@dataclass
class ApiKey:
    """A machine client's key. Only its SHA-256 is stored; the key is shown once."""

    user_id: str
    name: str
    prefix: str
    key_hash: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)

    def validate(self) -> None:
        check_record(self, MAX_LENGTHS, required=("name",))

    @property
    def active(self) -> bool:
        return self.revoked_at is None
