"""Lost updates, in-process: threads racing on the same workflows with `If-Match` through
the Flask app, in every storage mode, on SQLite and PostgreSQL. Every accepted change is in
the history, every other attempt is a 409, and in `dual` verify finds no difference.
(tests/e2e/test_lost_updates.py runs the same race against two gunicorn workers.)"""

from __future__ import annotations

from flask import Flask

from tests.api.conftest import login, register
from tests.contention import Contention
from tests.figures import report
from wfplatform.bootstrap import get_storage
from wfplatform.storage.modes import Mode

WRITERS = 6
ATTEMPTS = 10
FIRST_NAME = "raced"


def sender(app: Flask, headers: dict):
    client = app.test_client()  # one per thread

    def send(method: str, path: str, body, extra: dict):
        response = client.open(path, method=method, json=body, headers={**headers, **extra})
        return response.status_code, response.get_json()

    return send


def test_racing_conditional_updates_lose_no_accepted_change(app: Flask):
    client = app.test_client()
    user = register(client)
    headers = login(client, user["email"])
    created = [
        client.post("/api/workflows", json={"name": FIRST_NAME}, headers=headers).get_json()["id"]
        for _ in range(2)
    ]
    contention = Contention(created)

    contention.race([sender(app, headers) for _ in range(WRITERS)], ATTEMPTS)

    assert contention.statuses[409] > 0, "the writers never raced"
    assert contention.statuses[200] >= len(created)
    contention.assert_history_holds_every_accepted_change(sender(app, headers), FIRST_NAME)
    storage = get_storage(app)
    figures = contention.summary()
    mode = storage.parts.modes.get("workflows")
    if mode.mode is Mode.DUAL:
        figures["differences"] = storage.verify()["differences"]
        assert figures["differences"] == 0
    report(f"lost-updates-in-process {storage.parts.engine.dialect.name} {mode.label()}", figures)
