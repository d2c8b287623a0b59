"""Every answer of every route carries the security headers: no MIME sniffing, no framing,
no referrer, a Content-Security-Policy, and no caching of answers that hold tokens, key
secrets or anyone's records. A route added later is covered without new test code."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.api.conftest import login, register

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture(params=[pytest.param(("memory-only", None), id="memory-only")])
def app(request, app):
    return app


def example_url(rule) -> str:
    """The rule with each variable filled in (a UUID fits every converter but `int`)."""

    def fill(match: re.Match) -> str:
        converter = match.group(1) or ""
        return "1" if converter.startswith("int") else str(uuid.uuid4())

    return re.sub(r"<(?:([^:>]+):)?[^>]+>", fill, rule.rule)


def calls(app) -> list[tuple[str, str]]:
    return sorted(
        (method, example_url(rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def assert_secured(response, where: str) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, f"{where}: {name}"
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, where
    assert "http" not in policy, f"{where}: the policy admits another host"


def test_every_route_answers_with_the_security_headers(app, client, auth):
    answered = 0
    for headers in ({}, auth):  # anonymous (mostly 401) and a user (mostly 2xx, 403, 404)
        for method, url in calls(app):
            with client.open(url, method=method, json={}, headers=headers) as response:
                where = f"{method} {url} ({response.status_code})"
                assert_secured(response, where)
                if response.mimetype == "application/json":
                    assert response.headers["Content-Security-Policy"] == JSON_POLICY, where
                    assert response.headers["Cache-Control"] == "no-store", where
            answered += 1
    assert answered >= 2 * 40


@pytest.mark.parametrize("method, url", [("GET", "/no/such/page"), ("DELETE", "/health")])
def test_routing_errors_carry_them_too(client, method, url):
    response = client.open(url, method=method)
    assert response.status_code in (404, 405)
    assert_secured(response, url)
    assert response.headers["Cache-Control"] == "no-store"


def test_answers_with_tokens_or_key_secrets_are_never_stored(client):
    email = register(client)["email"]
    logged_in = client.post("/api/auth/login", json={"email": email, "password": "correct horse"})
    assert logged_in.status_code == 200 and logged_in.get_json()["access_token"]
    assert logged_in.headers["Cache-Control"] == "no-store"

    auth = login(client, email)
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": "correct horse", "new_password": "a new horse battery"},
        headers=auth,
    )
    assert changed.status_code == 200 and changed.get_json()["access_token"]
    assert changed.headers["Cache-Control"] == "no-store"

    auth = login(client, email, "a new horse battery")
    created = client.post("/api/users/me/api-keys", json={"name": "ci"}, headers=auth)
    assert created.headers["Cache-Control"] == "no-store"


def test_the_docs_page_has_its_own_policy_that_admits_only_this_service(client):
    page = client.get("/docs")
    assert_secured(page, "/docs")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "default-src 'none'" in policy
