"""Accounts over HTTP: registration, login, tokens, lockout, profile and password."""

from __future__ import annotations

import pytest

from tests.api.conftest import login, register


def test_registers_and_logs_in_with_a_token_that_identifies_the_user(client):
    user = register(client, "Ada@Example.com")
    assert user["role"] == "user"
    assert "password" not in user and "password_hash" not in user
    headers = login(client, "ada@example.COM")
    me = client.get("/api/users/me", headers=headers).get_json()
    assert me["id"] == user["id"]


def test_an_email_is_taken_whatever_its_case(client):
    register(client, "grace@example.com")
    response = client.post(
        "/api/auth/register", json={"email": "GRACE@example.com", "password": "another one"}
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "long enough"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "long enough", "role": "admin"}, "role"),
    ],
)
def test_registration_rejects_bad_input_clearly(client, body, field):
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]["json"]


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client):
    register(client, "known@example.com")
    wrong = client.post("/api/auth/login", json={"email": "known@example.com", "password": "x"})
    unknown = client.post("/api/auth/login", json={"email": "who@example.com", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_requests_without_valid_credentials_get_401(client):
    assert client.get("/api/users/me").status_code == 401
    bad = client.get("/api/users/me", headers={"Authorization": "Bearer forged.token.value"})
    assert bad.status_code == 401
    assert client.get("/api/users/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_profile_changes_keep_emails_unique(client, auth):
    register(client, "other@example.com")
    renamed = client.patch("/api/users/me", json={"name": "New Name"}, headers=auth)
    assert renamed.status_code == 200
    assert renamed.get_json()["name"] == "New Name"
    taken = client.patch(
        "/api/users/me",
        json={"email": "OTHER@example.com", "current_password": "correct horse"},
        headers=auth,
    )
    assert taken.status_code == 409


def test_changing_the_email_asks_for_the_current_password(client, auth):
    missing = client.patch("/api/users/me", json={"email": "new@example.com"}, headers=auth)
    assert missing.status_code == 422
    assert "current_password" in missing.get_json()["error"]["details"]["json"]
    wrong = client.patch(
        "/api/users/me",
        json={"email": "new@example.com", "current_password": "not it at all"},
        headers=auth,
    )
    assert wrong.status_code == 403
    assert client.get("/api/users/me", headers=auth).get_json()["email"] != "new@example.com"
    moved = client.patch(
        "/api/users/me",
        json={"email": "new@example.com", "current_password": "correct horse"},
        headers=auth,
    )
    assert moved.status_code == 200
    login(client, "new@example.com")


def test_a_stale_token_does_not_stand_in_the_way_of_logging_in_or_registering(client):
    user = register(client, "stale@example.com")
    stale = login(client, user["email"])
    client.post(
        "/api/users/me/password",
        json={"current_password": "correct horse", "new_password": "the next password"},
        headers=stale,
    )
    assert client.get("/api/users/me", headers=stale).status_code == 401
    relogin = client.post(
        "/api/auth/login",
        json={"email": user["email"], "password": "the next password"},
        headers=stale,
    )
    assert relogin.status_code == 200
    garbage = {"Authorization": "Basic not-even-bearer"}
    fresh = client.post(
        "/api/auth/register",
        json={"email": "another@example.com", "password": "correct horse"},
        headers=garbage,
    )
    assert fresh.status_code == 201


def test_a_password_change_invalidates_earlier_tokens(client):
    user = register(client, "changer@example.com")
    old = login(client, user["email"])
    wrong = client.post(
        "/api/users/me/password",
        json={"current_password": "not it", "new_password": "brand new password"},
        headers=old,
    )
    assert wrong.status_code == 403
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": "correct horse", "new_password": "brand new password"},
        headers=old,
    )
    assert changed.status_code == 200
    fresh = {"Authorization": f"Bearer {changed.get_json()['access_token']}"}
    assert client.get("/api/users/me", headers=old).status_code == 401
    assert client.get("/api/users/me", headers=fresh).status_code == 200
    login(client, user["email"], "brand new password")


def test_hostile_bodies_are_client_errors_not_crashes(client):
    deep = "[" * 100_000 + "]" * 100_000
    nested = client.post("/api/auth/login", data=deep, headers={"Content-Type": "application/json"})
    assert nested.status_code == 400
    assert nested.get_json()["error"]["code"] == "bad_request"
    huge = client.post(
        "/api/auth/register",
        data=b"{" + b" " * (11 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.get_json()["error"]["code"] == "request_entity_too_large"
    broken = client.post(
        "/api/auth/login", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.get_json()["error"]["message"] == "the request body could not be read"
    assert broken.get_json()["error"]["details"] == {"json": ["Invalid JSON body."]}
