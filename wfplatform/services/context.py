from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who is calling, and from where (for authorisation and the audit trail); `label`
    names them where a person reads it, as the mode history does (an email, or
    `cli:<OS user>`)."""

    user_id: str | None
    role: str = "user"
    ip: str | None = None
    user_agent: str | None = None
    label: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM = Actor(user_id=None, role="admin")
