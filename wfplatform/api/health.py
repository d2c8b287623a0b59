"""`GET /health`: the process answers; `GET /health/ready`: is it able to serve, in the
modes it runs?

Load balancers and orchestrators call them anonymously, so they name no host, user or
driver text: the database's error goes to the log (once per new error) and to admins in
`GET /admin/migration` (`database.last_error`)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from ..bootstrap import get_storage
from ..storage.adapter import Storage
from ..storage.modes import MEMORY, Mode

log = logging.getLogger(__name__)
DATABASE_DOWN = "the database does not answer (the log and GET /admin/migration say why)"
blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def liveness():
    """The process answers (nothing else is checked: see /health/ready)."""
    return jsonify({"status": "ok"})


@blueprint.get("/health/ready")
def ready():
    body, status = probe(get_storage())
    return jsonify(body), status


def probe(storage: Storage) -> tuple[dict, int]:
    """Ready (200), degraded (200: serving, partly from a fallback or behind the journal)
    or not ready (503, with the failing parts and why); `warnings` while damaged journal
    lines are kept aside (the service serves, but some writes were not replayed)."""
    database_ok = _database_answers(storage)
    journal = storage.journal_length()
    repositories, degraded, failing = {}, False, []
    for name in storage.repository_names:
        mode = storage.serving_mode(name)
        waiting = storage.waiting_for_memory(name)
        if waiting is None:
            state = _repository_state(mode, database_ok, journal)
        else:
            state = {"usable": False, "serving_from": None, "behind": True, "reason": waiting}
        repositories[name] = {"mode": mode.label(), **state}
        degraded = degraded or state["serving_from"] != mode.primary or state["behind"]
        if not state["usable"]:
            failing.append(name)
    status = "not_ready" if failing else "degraded" if degraded else "ready"
    warning = storage.journal_warning()
    body = {
        "status": status,
        "database": {"reachable": database_ok, "error": None if database_ok else DATABASE_DOWN},
        "journal": journal,
        "repositories": repositories,
        "failing": failing,
        "warnings": [warning] if warning else [],
    }
    return body, 503 if failing else 200


def _database_answers(storage: Storage) -> bool:
    known = storage.database_health()["last_error"]
    error = storage.check_database()
    if error is not None and error != known:
        log.warning("readiness: the database does not answer: %s", error)
    return error is None


def _repository_state(mode, database_ok: bool, journal: int) -> dict:
    if mode.mode is Mode.MEMORY_ONLY:
        return {"usable": True, "serving_from": MEMORY, "behind": False}
    if mode.primary == MEMORY:  # dual reading memory: database writes queue in the journal
        return {"usable": True, "serving_from": MEMORY, "behind": bool(journal) or not database_ok}
    if database_ok:
        return {"usable": True, "serving_from": mode.primary, "behind": bool(journal)}
    if mode.can_fall_back:
        return {"usable": True, "serving_from": MEMORY, "behind": True}
    return {"usable": False, "serving_from": None, "behind": True, "reason": DATABASE_DOWN}
