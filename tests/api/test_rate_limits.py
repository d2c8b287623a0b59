"""Rate limits answer 429 with Retry-After: per client address on login, per user on the API."""

from __future__ import annotations

import socket
import time

import pytest

from tests.api.conftest import app_config, login, register
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.config import ConfigurationError


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


def test_counted_answers_say_what_is_left_of_the_window(client):
    headers = login(client, register(client)["email"])
    answers = [client.get("/api/users/me", headers=headers) for _ in range(6)]
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == [4, 3, 2, 1, 0, 0]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"5"}
    reset = int(answers[-1].headers["X-RateLimit-Reset"])
    assert 0 < reset - time.time() <= 61
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 61
    unlimited = client.get("/health")  # outside the API: counted by no limit
    assert unlimited.status_code == 200
    assert "X-RateLimit-Limit" not in unlimited.headers


def test_one_count_per_user_covers_the_whole_api(client):
    headers = login(client, register(client)["email"])
    paths = ["/api/users/me", "/api/workflows", "/api/users/me/api-keys"] * 2
    statuses = [client.get(path, headers=headers).status_code for path in paths]
    assert statuses == [200] * 5 + [429]


def test_login_and_registration_are_counted_apart(client):
    users = [register(client) for _ in range(3)]
    for user in users:
        login(client, user["email"])
    assert (
        client.post("/api/auth/login", json={"email": "x@y.z", "password": "p"}).status_code == 429
    )
    assert (
        client.post("/api/auth/register", json={"email": "a@b.c", "password": "p"}).status_code
        == 429
    )


def _unreachable_redis() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def test_unreachable_counters_let_requests_through_and_say_so_once(database_url, tmp_path, caplog):
    config = {
        **app_config(database_url, "memory-only", None, tmp_path),
        "WF_RATELIMIT_API": "2 per minute",
        "WF_RATELIMIT_STORAGE_URL": _unreachable_redis(),
    }
    app = create_app(config, str(tmp_path / "instance"))
    try:
        client = app.test_client()
        statuses = [client.get("/api/workflows").status_code for _ in range(4)]
        assert statuses == [401] * 4  # counted nowhere, refused by authentication only
        warnings = [r for r in caplog.records if "rate limits are not counted" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        close_app(app)


def test_logins_wait_for_unreachable_counters_and_tokens_keep_working(
    engine, database_url, tmp_path, caplog
):
    """A login that cannot be counted is refused (503), never let through uncounted."""
    config = app_config(database_url, "database-only", None, tmp_path)
    app = create_app(config, str(tmp_path / "instance"))
    try:
        client = app.test_client()
        register(client, "owner@example.com")
        headers = login(client, "owner@example.com")
    finally:
        close_app(app)
    app = create_app(
        {**config, "WF_RATELIMIT_STORAGE_URL": _unreachable_redis()}, str(tmp_path / "instance")
    )
    try:
        client = app.test_client()
        for password in ("correct horse", "a wrong guess of a password"):
            answer = client.post(
                "/api/auth/login", json={"email": "owner@example.com", "password": password}
            )
            assert answer.status_code == 503
            assert answer.json["error"]["code"] == "storage_unavailable"
            assert int(answer.headers["Retry-After"]) >= 1
        assert client.get("/api/workflows", headers=headers).status_code == 200
        warnings = [r for r in caplog.records if "failed logins are not counted" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        close_app(app)


@pytest.mark.parametrize("setting", ["WF_RATELIMIT_API", "WF_RATELIMIT_LOGIN"])
def test_a_limit_that_does_not_parse_stops_start_up(engine, database_url, tmp_path, setting):
    config = {**app_config(database_url, "memory-only", None, tmp_path), setting: "lots"}
    with pytest.raises(ConfigurationError, match=f"{setting}='lots' is not a rate limit"):
        create_app(config, str(tmp_path / "instance"))
