"""Admins: made from the CLI or the environment, usable in every storage mode."""

from __future__ import annotations

import getpass

import pytest
import sqlalchemy as sa

from tests.api.conftest import login, make_admin, register
from wfplatform.bootstrap import get_storage, services
from wfplatform.services import admins


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
    memory = storage.in_memory("users")
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
    body = {"name": "k", "current_password": "admin password"}
    secret = client.post("/api/users/me/api-keys", json=body, headers=headers)
    body = client.get("/api/audit-logs?limit=100", headers=headers).get_data(as_text=True)
    assert "secret new password" not in body and "correct horse" not in body
    assert secret.get_json()["key"] not in body
    assert "user.password_change" in body


def create_admin(app, *args: str):
    return app.test_cli_runner().invoke(
        args=["wf", "create-admin", *args, "--password", "the admin password"]
    )


def test_create_admin_refuses_an_existing_account_unless_asked_to_promote_it(app, client):
    user = register(client, "early@example.com")
    headers = login(client, user["email"])
    refused = create_admin(app, "--email", "early@example.com")
    assert refused.exit_code != 0
    assert "--promote" in refused.output
    me = client.get("/api/users/me", headers=headers).get_json()
    assert me["role"] == "user"
    login(client, user["email"])  # the password is untouched


def test_promoting_revokes_the_accounts_keys_and_tokens_and_forgives_its_failures(app, client):
    user = register(client, "early@example.com")
    headers = login(client, user["email"])
    body = {"name": "planted", "current_password": "correct horse"}
    key = client.post("/api/users/me/api-keys", json=body, headers=headers).get_json()
    for _ in range(6):  # five failures from this address, then a back-off
        client.post("/api/auth/login", json={"email": user["email"], "password": "guess"})

    promoted = create_admin(app, "--email", "early@example.com", "--promote")
    assert promoted.exit_code == 0, promoted.output

    assert client.get("/api/users/me", headers=headers).status_code == 401
    assert client.get("/api/users/me", headers={"X-API-Key": key["key"]}).status_code == 401
    admin = login(client, user["email"], "the admin password")  # no back-off left
    assert client.get("/api/users/me", headers=admin).get_json()["role"] == "admin"
    (listed,) = client.get("/api/users/me/api-keys", headers=admin).get_json()["items"]
    assert listed["revoked_at"] is not None
    (entry,) = client.get("/api/audit-logs?action=user.promote", headers=admin).get_json()["items"]
    assert entry["resource_id"] == user["id"]
    assert entry["user_agent"] == f"cli:{getpass.getuser()}"
    assert entry["changes"] == {
        "role": {"from": "user", "to": "admin"},
        "password": "changed",
        "api_keys_revoked": 1,
    }


def test_the_environment_never_promotes_an_existing_account(app, client, caplog):
    register(client, "boot@example.com")
    app.config.update(WF_ADMIN_EMAIL="boot@example.com", WF_ADMIN_PASSWORD="boot password")
    assert admins.bootstrap(get_storage(app), services(app).passwords, app.config) is None
    assert "boot@example.com" in caplog.text and "not an admin" in caplog.text
    headers = login(client, "boot@example.com")
    assert client.get("/api/users/me", headers=headers).get_json()["role"] == "user"


@pytest.mark.parametrize("app", [("dual", "memory")], indirect=True)
def test_a_promotion_only_the_database_saw_reaches_memory_with_its_revocations(app, client):
    """`create-admin` runs apart from the server: its memory does not hold the account."""
    user = register(client, "apart@example.com")
    headers = login(client, user["email"])
    body = {"name": "planted", "current_password": "correct horse"}
    key = client.post("/api/users/me/api-keys", json=body, headers=headers).get_json()
    storage = get_storage(app)
    memory_users = storage.in_memory("users")
    held = memory_users.fetch(user["id"])
    memory_users.discard(user["id"])  # as if this process never saw the account
    assert create_admin(app, "--email", user["email"], "--promote").exit_code == 0
    with storage.parts.engine.connect() as connection:
        role = connection.scalar(sa.text("SELECT role FROM users WHERE id = :id"), user)
        revoked_at = connection.scalar(
            sa.text("SELECT revoked_at FROM api_keys WHERE id = :id"), key
        )
    assert role == "admin" and revoked_at is not None

    memory_users.upsert(held)  # the server's memory, still as before the promotion
    admins.load_admins_into_memory(storage)  # what the server does at start or next login
    assert memory_users.fetch(user["id"]).role == "admin"
    assert client.get("/api/users/me", headers={"X-API-Key": key["key"]}).status_code == 401


def test_resetting_an_admins_password_revokes_its_keys_like_any_password_change(app, client):
    headers = make_admin(app, client)
    body = {"name": "ops robot", "current_password": "admin password"}
    key = client.post("/api/users/me/api-keys", json=body, headers=headers).get_json()
    email = client.get("/api/users/me", headers=headers).get_json()["email"]
    assert create_admin(app, "--email", email).exit_code == 0
    assert client.get("/api/users/me", headers={"X-API-Key": key["key"]}).status_code == 401
    admin = login(client, email, "the admin password")
    (entry,) = client.get("/api/audit-logs?action=user.password_reset", headers=admin).get_json()[
        "items"
    ]
    assert entry["changes"] == {"password": "changed", "api_keys_revoked": 1}
    assert entry["user_agent"] == f"cli:{getpass.getuser()}"


def test_the_audit_log_reads_any_time_zone_offset_iso_8601_allows(app, client):
    """PostgreSQL refuses offsets past 15:59; found by the OpenAPI fuzzing."""
    headers = make_admin(app, client)
    register(client)
    for offset in ("%2B16:00", "-23:59"):
        since = client.get(f"/api/audit-logs?since=2000-01-01T00:00:00{offset}", headers=headers)
        until = client.get(f"/api/audit-logs?until=2000-01-01T00:00:00{offset}", headers=headers)
        assert since.status_code == 200 and since.get_json()["total"] >= 1
        assert until.status_code == 200 and until.get_json()["total"] == 0
