"""Credentials through the API, in every mode on SQLite and PostgreSQL: every backend holds
the data sealed only (never a byte of it in the clear); answers never carry it, except to
its owner asking for it (audited, not cached); a sealed value that was changed or moved to
another record does not open; another user is told a credential does not exist; an admin
sees its metadata, never its data."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest

from tests.api.conftest import app_config, login, make_admin, register
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.bootstrap import get_storage, services
from wfplatform.domain.codec import utcnow
from wfplatform.errors import Conflict, GuardRefused, NotFound
from wfplatform.storage.modes import DATABASE, MEMORY

SECRET = {"token": "xoxb-very-secret-token", "nested": {"password": "hunter2-hunter2"}}
BODY = {"name": "Slack bot", "type": "slackApi", "data": SECRET}


def _create(client, auth, **fields) -> dict:
    response = client.post("/api/credentials", json={**BODY, **fields}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _stored(app, credential_id: str) -> dict:
    """The stored record in each backend the credentials' mode writes, by backend."""
    storage = get_storage(app)
    mode = storage.mode("credentials")
    found = {}
    if MEMORY in (mode.primary, mode.secondary):
        found[MEMORY] = storage.in_memory("credentials").fetch(credential_id)
    if DATABASE in (mode.primary, mode.secondary):
        with storage.on_database() as database:
            found[DATABASE] = database.repository("credentials").fetch(credential_id)
    return found


def _store_everywhere(app, record) -> None:
    """Write `record` as it is into every backend, past the services (as an attacker with
    the database, or a bad restore, would)."""
    storage = get_storage(app)
    for backend in _stored(app, record.id):
        if backend == MEMORY:
            storage.in_memory("credentials").upsert(record)
        else:
            with storage.on_database(write=True) as database:
                database.repository("credentials").upsert(record)
                database.commit()


def _metric(client, sample: str) -> float:
    """The value of one sample of `GET /metrics` (0 when it is not there yet)."""
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _other_user(client) -> dict:
    return login(client, register(client)["email"])


def test_every_backend_holds_the_data_sealed_and_answers_never_carry_it(app, client, auth):
    created = _create(client, auth)
    assert "data" not in created and "sealed_data" not in created
    assert created["name"] == "Slack bot" and created["version"] == 1
    for response in (
        client.get(f"/api/credentials/{created['id']}", headers=auth),
        client.get("/api/credentials", headers=auth),
    ):
        assert response.status_code == 200
        assert b"xoxb" not in response.data and b"hunter2" not in response.data
        assert b"sealed" not in response.data and b"wfenc" not in response.data
    stored = _stored(app, created["id"])
    assert stored
    for record in stored.values():
        assert record.sealed_data.startswith("wfenc:v1:test-key-1:")
        assert "xoxb" not in record.sealed_data and "hunter2" not in record.sealed_data
    assert len({record.sealed_data for record in stored.values()}) == 1  # the same bytes


def test_its_owner_reveals_the_data_not_cached_and_audited(app, client, auth):
    created = _create(client, auth)
    response = client.get(
        f"/api/credentials/{created['id']}?reveal=true",
        headers={**auth, "User-Agent": "reveal-test/1.0"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code == 200
    assert response.get_json()["data"] == SECRET
    assert response.headers["Cache-Control"] == "no-store"
    admin = make_admin(app, client)
    entries = client.get("/api/audit-logs?action=credential.reveal", headers=admin).get_json()[
        "items"
    ]
    (entry,) = [e for e in entries if e["resource_id"] == created["id"]]
    assert (entry["ip"], entry["user_agent"]) == ("198.51.100.7", "reveal-test/1.0")
    trail = client.get("/api/audit-logs?resource_type=credential", headers=admin).data
    assert b"xoxb" not in trail and b"hunter2" not in trail


def test_another_user_is_told_it_does_not_exist_on_every_route(client, auth):
    created = _create(client, auth)
    other = _other_user(client)
    path = f"/api/credentials/{created['id']}"
    assert client.get(path, headers=other).status_code == 404
    assert client.get(f"{path}?reveal=true", headers=other).status_code == 404
    assert client.patch(path, json={"name": "mine"}, headers=other).status_code == 404
    assert client.delete(path, headers=other).status_code == 404
    assert client.get("/api/credentials", headers=other).get_json()["items"] == []
    assert client.get(path, headers=auth).get_json()["name"] == "Slack bot"


def test_an_admin_sees_the_metadata_but_cannot_reveal_or_change_it(app, client, auth):
    created = _create(client, auth)
    admin = make_admin(app, client)
    path = f"/api/credentials/{created['id']}"
    assert client.get(path, headers=admin).get_json()["type"] == "slackApi"
    refused = client.get(f"{path}?reveal=true", headers=admin)
    assert refused.status_code == 403 and b"xoxb" not in refused.data
    assert client.patch(path, json={"name": "admin's"}, headers=admin).status_code == 403
    listed = client.get("/api/credentials?owner=all", headers=admin).get_json()["items"]
    assert created["id"] in {item["id"] for item in listed}
    assert client.get("/api/credentials?owner=all", headers=auth).status_code == 403


def test_new_data_is_sealed_anew_and_a_stale_version_is_refused(app, client, auth):
    created = _create(client, auth)
    path = f"/api/credentials/{created['id']}"
    before = next(iter(_stored(app, created["id"]).values())).sealed_data
    changed = client.patch(path, json={"data": {"token": "rotated"}, "version": 1}, headers=auth)
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    assert next(iter(_stored(app, created["id"]).values())).sealed_data != before
    revealed = client.get(f"{path}?reveal=true", headers=auth).get_json()
    assert revealed["data"] == {"token": "rotated"}
    stale = client.patch(path, json={"name": "late", "version": 1}, headers=auth)
    assert stale.status_code == 409
    unchanged = client.patch(path, json={}, headers=auth)
    assert unchanged.status_code == 200 and unchanged.get_json()["version"] == 2


@pytest.mark.parametrize("change", ["tampered", "moved"])
def test_a_changed_or_moved_sealed_value_does_not_open(app, client, auth, change):
    victim = _create(client, auth)
    donor = _create(client, auth, name="Another", data={"token": "donor-secret"})
    record = next(iter(_stored(app, victim["id"]).values()))
    if change == "tampered":
        text = record.sealed_data
        sealed = text[:-6] + ("A" if text[-6] != "A" else "B") + text[-5:]
    else:
        sealed = next(iter(_stored(app, donor["id"]).values())).sealed_data
    _store_everywhere(app, dataclasses.replace(record, sealed_data=sealed))
    assert _metric(client, "wf_credential_open_failures_total") == 0
    response = client.get(f"/api/credentials/{victim['id']}?reveal=true", headers=auth)
    assert response.status_code == 503
    assert _metric(client, "wf_credential_open_failures_total") == 1
    assert _metric(client, 'wf_credential_seals_total{key_id="test-key-1"}') == 2
    body = response.get_json()
    assert body["error"]["code"] == "credential_undecryptable"
    assert b"donor-secret" not in response.data and b"xoxb" not in response.data


def test_a_credential_a_workflow_uses_is_deleted_only_when_forced(client, auth):
    created = _create(client, auth)
    node = {"id": "n1", "type": "slack", "credentials": {"slackApi": {"id": created["id"]}}}
    workflow = client.post(
        "/api/workflows", json={"name": "Notify", "nodes": [node]}, headers=auth
    ).get_json()
    path = f"/api/credentials/{created['id']}"
    refused = client.delete(path, headers=auth)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["workflows"] == [
        {"id": workflow["id"], "name": "Notify"}
    ]
    assert client.delete(f"{path}?force=true", headers=auth).status_code == 204
    assert client.get(path, headers=auth).status_code == 404


def test_lists_filter_by_type_and_page(client, auth):
    for n in range(3):
        _create(client, auth, name=f"Basic {n}", type="httpBasicAuth")
    _create(client, auth, name="Slack")
    page = client.get("/api/credentials?type=httpBasicAuth&limit=2", headers=auth).get_json()
    assert [item["name"] for item in page["items"]] == ["Basic 0", "Basic 1"]
    assert (page["total"], page["limit"]) == (3, 2)
    rest = client.get("/api/credentials?type=httpBasicAuth&offset=2", headers=auth).get_json()
    assert [item["name"] for item in rest["items"]] == ["Basic 2"]


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "data": "a string"},
        {**BODY, "data": {"x": "y" * 70_000}},
        {**BODY, "name": ""},
        {"name": "no type", "data": {}},
        {**BODY, "expires_at": "2030-01-01T00:00:00"},  # no offset
    ],
)
def test_bad_input_is_a_clear_422(client, auth, body):
    response = client.post("/api/credentials", json=body, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_a_run_gets_the_data_of_an_active_credential_and_marks_it_used(app, client, auth):
    created = _create(client, auth)
    owner = client.get("/api/users/me", headers=auth).get_json()["id"]
    credentials = services(app).credentials
    assert credentials.for_execution(created["id"], owner) == SECRET
    used = client.get(f"/api/credentials/{created['id']}", headers=auth).get_json()
    assert used["last_used_at"] is not None
    with pytest.raises(NotFound):
        credentials.for_execution(created["id"], "someone-else")
    path = f"/api/credentials/{created['id']}"
    client.patch(path, json={"is_active": False}, headers=auth)
    with pytest.raises(Conflict, match="inactive"):
        credentials.for_execution(created["id"], owner)
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    client.patch(path, json={"is_active": True, "expires_at": past}, headers=auth)
    with pytest.raises(Conflict, match="expired"):
        credentials.for_execution(created["id"], owner)


@pytest.fixture
def dual_app(database_url, engine, tmp_path):
    app = create_app(
        app_config(database_url, "dual", MEMORY, tmp_path), instance_path=str(tmp_path / "i")
    )
    yield app
    close_app(app)


def test_reads_do_not_move_to_the_database_while_a_credential_there_does_not_open(dual_app):
    client = dual_app.test_client()
    auth = login(client, register(client)["email"])
    victim, donor = _create(client, auth), _create(client, auth, name="donor")
    storage = get_storage(dual_app)
    moved = dataclasses.replace(
        storage.in_memory("credentials").fetch(victim["id"]),
        sealed_data=storage.in_memory("credentials").fetch(donor["id"]).sealed_data,
    )
    with storage.on_database(write=True) as database:  # the database's copy only
        database.repository("credentials").upsert(moved)
        database.commit()
    reasons = storage.readiness("credentials")["steps"]
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=DATABASE, reason="reads move", actor="ops")
    (reason,) = [r for r in refused.value.details["refused"]["credentials"] if "open" in r]
    assert reason.startswith("1 credential(s) in the database do not open with")
    assert victim["id"] in reason and "xoxb" not in reason
    assert any(reason in step.get("reasons", []) for step in reasons.values())
    storage.switch("dual", read_from=DATABASE, reason="forced", actor="ops", force=True)
    refused_again = pytest.raises(GuardRefused)
    with refused_again:
        storage.switch("database-only", reason="memory goes", actor="ops")


def test_edits_racing_from_one_version_leave_exactly_one_winner(app, client, auth):
    created = _create(client, auth)
    path = f"/api/credentials/{created['id']}"
    start = threading.Barrier(6)
    answers: dict[str, int] = {}

    def edit(name: str) -> None:
        racer = app.test_client()
        start.wait()
        body = {"name": name, "data": {"token": name}, "version": 1}
        answers[name] = racer.patch(path, json=body, headers=auth).status_code

    threads = [threading.Thread(target=edit, args=(f"racer {n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (winner,) = [name for name, status in answers.items() if status == 200]
    assert sorted(answers.values()) == [200] + [409] * 5
    revealed = client.get(f"{path}?reveal=true", headers=auth).get_json()
    assert (revealed["name"], revealed["data"], revealed["version"]) == (
        winner, {"token": winner}, 2
    )  # fmt: skip
