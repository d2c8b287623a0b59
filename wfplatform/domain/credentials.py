"""A credential: a secret a workflow uses (an API key, an OAuth token, a password of
another service). Storage only ever holds its data sealed (see `services.encryption`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from .codec import utcnow
from .validation import check_record

MAX_LENGTHS = {"name": 200, "type": 100, "sealed_data": 1_000_000}


@dataclass
class Credential:
    user_id: str
    name: str
    type: str  # free-form, as n8n names them: slackApi, httpBasicAuth, ...
    sealed_data: str  # the JSON `data` object, sealed
    expires_at: datetime | None = None
    is_active: bool = True
    last_used_at: datetime | None = None
    version: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def validate(self) -> None:
        check_record(self, MAX_LENGTHS, required=("name", "type", "sealed_data"))

    def sealing_context(self) -> bytes:
        """What a seal of its data is bound to: this record's id and owner."""
        return f"wfplatform.credential\0{self.id}\0{self.user_id}".encode()
