"""Admins: made from the CLI or the environment, usable in every storage mode."""

from __future__ import annotations

from tests.api.conftest import login, make_admin, register
from wfplatform.api.services import services
from wfplatform.services import admins
from wfplatform.storage_ext import get_storage


def test_an_admin_made_from_the_cli_can_log_in_and_read_the_audit_log(app, client):
    headers = make_admin(app, client)
    assert client.get("/api/users/me", headers=headers).get_json()["role"] == "admin"
    register(client, "audited@example.com")
    entries = client.get("/api/audit-logs?action=user.register", headers=headers).get_json()
    assert entries["total"] >= 1
    assert entries["items"][0]["action"] == "user.register"


def test_an_admin_made_by_another_process_logs_in_without_a_restart(app, client):
    """The CLI runs in its own process: it writes the admin to the database only."""
    storage = get_storage(app)
    admins.ensure_admin(storage, services(app).passwords, "ops@example.com", "admin password")
    memory = storage.memory_repository("users")
    known = memory.get_by_email("ops@example.com")
    if known is not None:
        memory.discard(known.id)  # as if this process never saw it
    headers = login(client, "ops@example.com", "admin password")
    assert client.get("/api/users/me", headers=headers).get_json()["role"] == "admin"


def test_the_environment_bootstraps_an_admin_once(app, client):
    app.config.update(WF_ADMIN_EMAIL="boot@example.com", WF_ADMIN_PASSWORD="boot password")
    storage, passwords = get_storage(app), services(app).passwords
    first = admins.bootstrap(storage, passwords, app.config)
    again = admins.bootstrap(storage, passwords, app.config)
    assert first.id == again.id
    login(client, "boot@example.com", "boot password")


def test_a_worker_starting_late_keeps_the_admin_another_one_made(app, client):
    """Workers bootstrapping at once: one found no admin, then another created it."""
    storage, passwords = get_storage(app), services(app).passwords
    admins.ensure_admin(storage, passwords, "boot@example.com", "boot password")
    signed_in = login(client, "boot@example.com", "boot password")

    admins.ensure_admin(storage, passwords, "boot@example.com", "boot password", reset=False)
    assert client.get("/api/users/me", headers=signed_in).status_code == 200

    admins.ensure_admin(storage, passwords, "boot@example.com", "new password")  # the CLI
    assert client.get("/api/users/me", headers=signed_in).status_code == 401
    login(client, "boot@example.com", "new password")


def test_only_admins_read_the_audit_log(client, auth):
    assert client.get("/api/audit-logs", headers=auth).status_code == 403
    assert client.get("/api/audit-logs").status_code == 401


def test_the_audit_log_filters_and_paginates(app, client):
    headers = make_admin(app, client)
    for _ in range(3):
        register(client)
    page = client.get(
        "/api/audit-logs?action=user.register&limit=2&offset=1", headers=headers
    ).get_json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    assert all(item["action"] == "user.register" for item in page["items"])
    bad = client.get("/api/audit-logs?limit=1000", headers=headers)
    assert bad.status_code == 422


def test_no_password_or_key_reaches_the_audit_log(app, client, auth):
    headers = make_admin(app, client)
    client.post(
        "/api/users/me/password",
        json={"current_password": "correct horse", "new_password": "secret new password"},
        headers=auth,
    )
    secret = client.post("/api/users/me/api-keys", json={"name": "k"}, headers=headers)
    body = client.get("/api/audit-logs?limit=100", headers=headers).get_data(as_text=True)
    assert "secret new password" not in body and "correct horse" not in body
    assert secret.get_json()["key"] not in body
    assert "user.password_change" in body


def test_the_audit_log_reads_any_time_zone_offset_iso_8601_allows(app, client):
    """PostgreSQL refuses offsets past 15:59; found by the OpenAPI fuzzing."""
    headers = make_admin(app, client)
    register(client)
    for offset in ("%2B16:00", "-23:59"):
        since = client.get(f"/api/audit-logs?since=2000-01-01T00:00:00{offset}", headers=headers)
        until = client.get(f"/api/audit-logs?until=2000-01-01T00:00:00{offset}", headers=headers)
        assert since.status_code == 200 and since.get_json()["total"] >= 1
        assert until.status_code == 200 and until.get_json()["total"] == 0
