"""Behind a reverse proxy: with `WF_TRUSTED_PROXIES` the rate limiter and the audit log see
each client's own address (from `X-Forwarded-For`); without it, a forged header changes
nothing and every client behind the proxy shares the proxy's address."""

from __future__ import annotations

import pytest

from tests.api.conftest import app_config, make_admin
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.config import ConfigurationError

PROXY = "127.0.0.2"  # the address the service sees a request come from
CLIENTS = ("203.0.113.7", "203.0.113.8")  # documentation addresses, never contacted
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def config(database_url: str, tmp_path, trusted_proxies: int) -> dict:
    return {
        **app_config(database_url, "memory-only", None, tmp_path),
        "WF_TRUSTED_PROXIES": trusted_proxies,
        "WF_RATELIMIT_LOGIN": "2 per minute",
    }


@pytest.fixture(params=[0, 1], ids=["proxies-untrusted", "one-trusted-proxy"])
def app(request, engine, database_url, tmp_path):
    app = create_app(config(database_url, tmp_path, request.param), str(tmp_path / "instance"))
    yield app
    close_app(app)


def through_proxy(client_address: str) -> dict:
    return {
        "environ_base": {"REMOTE_ADDR": PROXY},
        "headers": {"X-Forwarded-For": client_address},
    }


def login_statuses(client, client_address: str, times: int) -> list[int]:
    body = {"email": "nobody@example.com", "password": "wrong password"}
    return [
        client.post("/api/auth/login", json=body, **through_proxy(client_address)).status_code
        for _ in range(times)
    ]


def test_the_login_limit_counts_each_client_or_the_proxy(app, client):
    first, second = CLIENTS
    assert login_statuses(client, first, 3) == [401, 401, 429]
    if app.config["WF_TRUSTED_PROXIES"]:
        assert login_statuses(client, second, 1) == [401]  # its own allowance
    else:
        assert login_statuses(client, second, 1) == [429]  # one address behind the proxy


def test_the_audit_log_records_the_client_address_or_the_proxy(app, client):
    admin = make_admin(app, client)
    response = client.post(
        "/api/auth/register",
        json={"email": "behind@example.com", "password": "correct horse"},
        **through_proxy(CLIENTS[0]),
    )
    assert response.status_code == 201
    entries = client.get(
        "/api/audit-logs", query_string={"action": "user.register"}, headers=admin
    ).get_json()["items"]
    expected = CLIENTS[0] if app.config["WF_TRUSTED_PROXIES"] else PROXY
    assert [entry["ip"] for entry in entries] == [expected]


def test_only_the_trusted_number_of_hops_is_believed(app, client):
    """A client may send its own X-Forwarded-For; the proxy appends the address it saw.
    With one trusted hop, only that last entry counts."""
    forged = f"198.51.100.1, {CLIENTS[0]}"
    first = login_statuses(client, forged, 2)
    second = login_statuses(client, f"198.51.100.2, {CLIENTS[0]}", 1)
    assert first + second == [401, 401, 429]  # one client, whatever it forged


def test_a_negative_number_of_proxies_is_refused_at_start_up(database_url, tmp_path):
    with pytest.raises(ConfigurationError, match="WF_TRUSTED_PROXIES=-1"):
        create_app(config(database_url, tmp_path, -1), str(tmp_path / "instance"))
