"""Failed logins back off per account and client address instead of locking accounts, and
answer an unknown email exactly as a known one. The counters live in the rate limiter's
storage, not in the records, so one storage mode is enough here."""

from __future__ import annotations

import pytest

from tests.api.conftest import app_config, login, make_admin, register
from tests.apps import close_app
from wfplatform import create_app

pytestmark = pytest.mark.parametrize("app", [("memory-only", None)], indirect=True)
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


@pytest.fixture
def client(app):
    app.config.update(
        WF_LOGIN_MAX_FAILURES=3,
        WF_LOGIN_MAX_FAILURES_PER_ACCOUNT=6,
        WF_LOGIN_MAX_FAILURES_PER_ADDRESS=9,
    )
    return app.test_client()


def attempt(client, email: str, password: str, address: str):
    body = {"email": email, "password": password}
    return client.post("/api/auth/login", json=body, environ_base={"REMOTE_ADDR": address})


def answer(response) -> tuple:
    return response.status_code, response.get_json(), response.headers.get("Retry-After")


def test_an_unknown_email_fails_exactly_like_a_known_one_however_often(client):
    register(client, "known@example.com")
    known = [answer(attempt(client, "known@example.com", "guess", ATTACKER)) for _ in range(5)]
    unknown = [answer(attempt(client, "nobody@example.com", "guess", OWNER)) for _ in range(5)]
    assert known == unknown
    assert [status for status, _, _ in known] == [401, 401, 401, 429, 429]
    assert known[3][1]["error"]["code"] == "too_many_requests"
    assert int(known[3][2]) >= 1


def test_an_attacker_never_keeps_the_owner_out_not_even_the_admin(app, client):
    admin = client.get("/api/users/me", headers=make_admin(app, client)).get_json()
    for _ in range(6):
        attempt(client, admin["email"], "guess", ATTACKER)
    right = attempt(client, admin["email"], "admin password", ATTACKER)
    wrong = attempt(client, admin["email"], "guess", ATTACKER)
    assert answer(right)[:2] == answer(wrong)[:2]  # backing off says nothing of the password
    assert right.status_code == 429
    assert attempt(client, admin["email"], "admin password", OWNER).status_code == 200


def test_a_successful_login_forgives_that_addresss_failures(client):
    register(client, "forgetful@example.com")
    for _ in range(2):
        attempt(client, "forgetful@example.com", "no", OWNER)
    assert attempt(client, "forgetful@example.com", "correct horse", OWNER).status_code == 200
    for _ in range(2):
        attempt(client, "forgetful@example.com", "no", OWNER)
    assert attempt(client, "forgetful@example.com", "correct horse", OWNER).status_code == 200


def test_guesses_from_many_addresses_slow_new_addresses_but_not_familiar_ones(client):
    register(client, "target@example.com")
    login(client, "target@example.com")  # 127.0.0.1 is now a familiar address
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(3):
            attempt(client, "target@example.com", "guess", address)
    stranger = attempt(client, "target@example.com", "correct horse", "192.0.2.3")
    assert stranger.status_code == 429
    assert attempt(client, "target@example.com", "correct horse", "127.0.0.1").status_code == 200


def test_one_address_guessing_many_accounts_backs_off(client):
    statuses = [
        attempt(client, f"victim{n}@example.com", "guess", ATTACKER).status_code for n in range(10)
    ]
    assert statuses == [401] * 9 + [429]
    assert attempt(client, "victim0@example.com", "guess", OWNER).status_code == 401


def test_wrong_current_passwords_count_as_failed_logins(client):
    user = register(client, "stolen@example.com")
    headers = login(client, user["email"])
    body = {"current_password": "guess", "new_password": "attacker password"}
    statuses = [
        client.post("/api/users/me/password", json=body, headers=headers).status_code
        for _ in range(4)
    ]
    assert statuses == [403, 403, 403, 429]
    assert attempt(client, user["email"], "correct horse", "127.0.0.1").status_code == 429


def test_processes_sharing_redis_share_the_failure_counts(
    app, client, redis_url, database_url, tmp_path
):
    url, prefix = redis_url
    shared = {"WF_RATELIMIT_STORAGE_URL": url, "WF_RATELIMIT_PREFIX": prefix}
    config = {**app_config(database_url, "memory-only", None, tmp_path), **shared}
    first = create_app({**config, "WF_LOGIN_MAX_FAILURES": 3}, str(tmp_path / "first"))
    second = create_app({**config, "WF_LOGIN_MAX_FAILURES": 3}, str(tmp_path / "second"))
    try:
        for _ in range(3):
            assert (
                attempt(first.test_client(), "x@example.com", "guess", ATTACKER).status_code == 401
            )
        assert attempt(second.test_client(), "x@example.com", "guess", ATTACKER).status_code == 429
        assert attempt(second.test_client(), "x@example.com", "guess", OWNER).status_code == 401
    finally:
        close_app(first)
        close_app(second)
