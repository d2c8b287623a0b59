"""`GET /health/ready`: is this process able to serve, in the modes it runs?"""

from __future__ import annotations

import sqlalchemy as sa

from .errors import StorageUnavailable
from .storage.adapter import Storage
from .storage.modes import MEMORY, Mode
from .storage.sql import translate_faults


def probe(storage: Storage) -> tuple[dict, int]:
    """Ready (200), degraded (200: serving, partly from a fallback or behind the journal)
    or not ready (503, with the failing parts)."""
    database_error = _database_error(storage)
    journal = len(storage.journal)
    repositories, degraded, failing = {}, False, []
    for name, mode in storage.modes.snapshot().items():
        state = _repository_state(mode, database_error, journal)
        repositories[name] = {"mode": mode.label(), **state}
        degraded = degraded or state["serving_from"] != mode.primary or state["behind"]
        if not state["usable"]:
            failing.append(name)
    status = "not_ready" if failing else "degraded" if degraded else "ready"
    body = {
        "status": status,
        "database": {"reachable": database_error is None, "error": database_error},
        "journal": journal,
        "repositories": repositories,
        "failing": failing,
    }
    return body, 503 if failing else 200


def _database_error(storage: Storage) -> str | None:
    try:
        with translate_faults(), storage.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except StorageUnavailable as fault:
        return fault.message
    return None


def _repository_state(mode, database_error: str | None, journal: int) -> dict:
    database_ok = database_error is None
    if mode.mode is Mode.MEMORY_ONLY:
        return {"usable": True, "serving_from": MEMORY, "behind": False}
    if mode.primary == MEMORY:  # dual reading memory: database writes queue in the journal
        return {"usable": True, "serving_from": MEMORY, "behind": bool(journal) or not database_ok}
    if database_ok:
        return {"usable": True, "serving_from": mode.primary, "behind": bool(journal)}
    if mode.can_fall_back:
        return {"usable": True, "serving_from": MEMORY, "behind": True}
    return {"usable": False, "serving_from": None, "behind": True}
