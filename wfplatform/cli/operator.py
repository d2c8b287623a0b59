"""Who runs a command: the OS user, as every audit entry and mode change a command writes
names them (`cli:<user>`, where an HTTP request has its User-Agent)."""

from __future__ import annotations

import getpass

from ..domain.text import scrub
from ..services.context import Actor


def operator() -> Actor:
    """The OS user's name as every backend stores it: undecodable bytes in it (which Python
    hands over as lone surrogates) replaced by U+FFFD."""
    name = f"cli:{scrub(getpass.getuser())}"
    return Actor(user_id=None, role="admin", user_agent=name, label=name)
