from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from .codec import utcnow
from .validation import check_record

ROLES = ("user", "admin")
MAX_LENGTHS = {"email": 320, "name": 200, "password_hash": 255}


@dataclass
class User:
    email: str
    password_hash: str
    name: str = ""
    role: str = "user"
    is_active: bool = True
    # No longer written: failed logins are counted in the rate limiter's storage (see
    # services/login_throttle.py). Kept so the schema and export documents stay as they
    # are; dropping them needs a revision and a new export format version together.
    failed_logins: int = 0
    locked_until: datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def email_key(self) -> str:
        """Emails are unique case-insensitively."""
        return self.email.strip().lower()

    def validate(self) -> None:
        check_record(self, MAX_LENGTHS, {"role": ROLES}, required=("email", "password_hash"))
