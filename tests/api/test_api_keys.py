"""API keys for machine clients: shown once, listed without the secret, revocable."""

from __future__ import annotations


def create_key(client, auth, name="ci robot", password="correct horse") -> dict:
    body = {"name": name, "current_password": password}
    response = client.post("/api/users/me/api-keys", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_key_is_shown_once_and_works_in_either_header(client, auth):
    created = create_key(client, auth)
    secret = created["key"]
    assert secret.startswith("wfk_") and created["prefix"] == secret[:12]
    me = client.get("/api/users/me", headers=auth).get_json()
    for headers in ({"Authorization": f"Bearer {secret}"}, {"X-API-Key": secret}):
        response = client.get("/api/users/me", headers=headers)
        assert response.status_code == 200
        assert response.get_json()["id"] == me["id"]


def test_listing_never_shows_a_secret(client, auth):
    secret = create_key(client, auth)["key"]
    listed = client.get("/api/users/me/api-keys", headers=auth)
    assert listed.status_code == 200
    (key,) = listed.get_json()["items"]
    assert "key" not in key and "key_hash" not in key
    assert secret not in listed.get_data(as_text=True)
    used = client.get("/api/users/me/api-keys", headers={"X-API-Key": secret}).get_json()
    assert used["items"][0]["last_used_at"] is not None


def test_a_revoked_key_stops_working_at_once(client, auth):
    created = create_key(client, auth)
    revoked = client.delete(f"/api/users/me/api-keys/{created['id']}", headers=auth)
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert client.get("/api/users/me", headers={"X-API-Key": created["key"]}).status_code == 401


def test_nobody_revokes_someone_elses_key(client, auth):
    from tests.api.conftest import login, register

    created = create_key(client, auth)
    stranger = login(client, register(client)["email"])
    response = client.delete(f"/api/users/me/api-keys/{created['id']}", headers=stranger)
    assert response.status_code == 404
    assert client.get("/api/users/me", headers={"X-API-Key": created["key"]}).status_code == 200


def test_an_unknown_key_is_401(client):
    response = client.get("/api/users/me", headers={"X-API-Key": "wfk_not-a-real-key"})
    assert response.status_code == 401


def test_minting_a_key_asks_for_the_current_password(client, auth):
    wrong = {"name": "k", "current_password": "not the password"}
    refused = client.post("/api/users/me/api-keys", json=wrong, headers=auth)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    missing = client.post("/api/users/me/api-keys", json={"name": "k"}, headers=auth)
    assert missing.status_code == 422
    assert "current_password" in missing.get_json()["error"]["details"]["json"]
    assert client.get("/api/users/me/api-keys", headers=auth).get_json()["items"] == []


def test_a_key_never_mints_keys_even_with_the_password(client, auth):
    key = {"X-API-Key": create_key(client, auth)["key"]}
    body = {"name": "child", "current_password": "correct horse"}
    refused = client.post("/api/users/me/api-keys", json=body, headers=key)
    assert refused.status_code == 403
    assert "API key" in refused.get_json()["error"]["message"]
    assert len(client.get("/api/users/me/api-keys", headers=auth).get_json()["items"]) == 1


def test_a_password_change_revokes_every_key_and_says_so_in_the_audit_log(app, client, auth):
    from tests.api.conftest import make_admin

    first, second = create_key(client, auth, "one"), create_key(client, auth, "two")
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": "correct horse", "new_password": "a brand new password"},
        headers={"X-API-Key": first["key"]},
    )
    assert changed.status_code == 200
    for created in (first, second):
        assert client.get("/api/users/me", headers={"X-API-Key": created["key"]}).status_code == 401
    fresh = {"Authorization": f"Bearer {changed.get_json()['access_token']}"}
    listed = client.get("/api/users/me/api-keys", headers=fresh).get_json()["items"]
    assert all(key["revoked_at"] is not None for key in listed)
    admin = make_admin(app, client)
    trail = client.get("/api/audit-logs?action=api_key.revoke", headers=admin).get_json()
    assert {entry["resource_id"] for entry in trail["items"]} == {first["id"], second["id"]}
    assert all(entry["changes"] == {"reason": "password_change"} for entry in trail["items"])
