from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who is calling, and from where (for authorisation and the audit trail)."""

    user_id: str | None
    role: str = "user"
    ip: str | None = None
    user_agent: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM = Actor(user_id=None, role="admin")
