"""Rate limits answer 429 with Retry-After: per client address on login, per user on the API."""

from __future__ import annotations

import pytest

from tests.api.conftest import login, register


@pytest.fixture
def app(app):
    app.config.update(WF_RATELIMIT_LOGIN="3 per minute", WF_RATELIMIT_API="5 per minute")
    return app


def test_logins_are_limited_per_client(client):
    statuses = [
        client.post("/api/auth/login", json={"email": "x@example.com", "password": "y"}).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("/api/auth/login", json={"email": "x@example.com", "password": "y"})
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0


def test_the_api_is_limited_per_user(client):
    first = login(client, register(client)["email"])
    second = login(client, register(client)["email"])
    statuses = [client.get("/api/users/me", headers=first).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert client.get("/api/users/me", headers=second).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer forged.token.value"}, {"X-API-Key": "wfk_not-a-real-key"}],
    ids=["token", "api-key"],
)
def test_hammering_with_a_bad_credential_is_limited_per_client(client, headers):
    statuses = [client.get("/api/users/me", headers=headers).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.get("/api/workflows", headers=headers)
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    elsewhere = client.get(
        "/api/users/me", headers=headers, environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert elsewhere.status_code == 401
    valid = login(client, register(client)["email"])
    assert client.get("/api/users/me", headers=valid).status_code == 200
