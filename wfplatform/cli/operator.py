"""Who runs a command: the OS user, as every audit entry and mode change a command writes
names them (`cli:<user>`, where an HTTP request has its User-Agent)."""

from __future__ import annotations

import getpass

from ..services.context import Actor


def operator() -> Actor:
    name = f"cli:{getpass.getuser()}"
    return Actor(user_id=None, role="admin", user_agent=name, label=name)
