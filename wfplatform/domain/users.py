from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from .codec import utcnow

ROLES = ("user", "admin")


@dataclass
class User:
    email: str
    password_hash: str
    name: str = ""
    role: str = "user"
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def email_key(self) -> str:
        """Emails are unique case-insensitively."""
        return self.email.strip().lower()
