"""A stale export restored over HTTP brings no credential back: tokens issued before a
password change, the old password and a key revoked since all stay refused."""

from __future__ import annotations

import pytest

from tests.api.conftest import login, make_admin, register
from tests.api.test_admin_backup import export, run_import
from wfplatform.bootstrap import services
from wfplatform.services.context import Actor


@pytest.fixture
def admin(app, client):
    return make_admin(app, client)


def test_a_stale_export_revives_no_token_password_or_key(app, client, admin):
    user = register(client, password="old password")
    stale_token = login(client, user["email"], "old password")
    key, secret = services(app).api_keys.create(user["id"], "robot", Actor(user["id"]))
    stale = export(client, admin)
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": "old password", "new_password": "new password"},
        headers=stale_token,
    )
    assert changed.status_code == 200
    fresh_token = login(client, user["email"], "new password")
    revoked = client.delete(f"/api/users/me/api-keys/{key.id}", headers=fresh_token)
    assert revoked.status_code == 200

    restored = run_import(app, client, admin, stale)

    assert restored["state"] == "completed", restored
    kept = restored["result"]["security_kept"]
    assert kept["users"] == [
        {"id": user["id"], "email": user["email"], "fields": ["password_hash"]}
    ]
    assert [entry["id"] for entry in kept["api_keys"]] == [key.id]
    assert client.get("/api/users/me", headers=stale_token).status_code == 401
    assert client.get("/api/users/me", headers={"X-API-Key": secret}).status_code == 401
    old = client.post("/api/auth/login", json={"email": user["email"], "password": "old password"})
    assert old.status_code == 401
    assert client.get("/api/users/me", headers=fresh_token).status_code == 200
    assert "$argon2" not in str(restored)  # the report carries no hash
