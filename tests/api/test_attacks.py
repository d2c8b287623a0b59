"""Attacks on the login back-off, the JSON bodies and imports, as an attacker and a careless
client would try them. Each test states what the attacker would gain."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from tests.api.conftest import make_admin, register
from tests.api.test_admin_backup import export, run_import
from tests.api.workflow_helpers import assert_backends_agree
from wfplatform.bootstrap import get_storage, services
from wfplatform.services.context import Actor

ATTACKER = "203.0.113.66"
ONE_MODE = pytest.mark.parametrize("app", [("memory-only", None)], indirect=True)


def attempt(client, email: str, password: str, address: str):
    body = {"email": email, "password": password}
    return client.post("/api/auth/login", json=body, environ_base={"REMOTE_ADDR": address})


# -- the login back-off -------------------------------------------------------------------------
@ONE_MODE
def test_concurrent_guesses_cannot_outrun_the_back_off(app):
    """The back-off checks the counts, then verifies the password, then counts the
    failure: guesses sent at once all pass the check before any is counted. An attacker
    sending bursts gets as many guesses per back-off as it sends in parallel (the README's
    "about 110 passwords a day per account and address" becomes thousands), and over many
    addresses the per-account bound goes the same way."""
    app.config.update(
        WF_LOGIN_MAX_FAILURES=3,
        WF_PASSWORD_TIME_COST=3,  # the default cost: a password check takes a while
        WF_PASSWORD_MEMORY_KIB=32768,
    )
    client = app.test_client()
    register(client, "burst@example.com")
    guesses = 8
    start = threading.Barrier(guesses)
    statuses: list[int] = []

    def guess(number: int) -> None:
        start.wait()
        response = attempt(app.test_client(), "burst@example.com", f"guess {number}", "192.0.2.9")
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses).count(401) <= 3, statuses  # the threshold: the rest wait (429)


@ONE_MODE
def test_one_ipv6_host_cannot_spray_passwords_from_addresses_of_its_own_network(client):
    """A host on IPv6 is given a /64 (2**64 addresses) and picks any of them per request;
    the per-address count (and the login rate limit) key on the full address, so one
    machine sprays a common password over every account without ever backing off."""
    app = client.application
    app.config.update(WF_LOGIN_MAX_FAILURES_PER_ADDRESS=9)
    statuses = [
        attempt(client, f"victim{n}@example.com", "Summer2026!", f"2001:db8:1:2::{n + 1:x}")
        for n in range(10)
    ]
    assert statuses[-1].status_code == 429, [response.status_code for response in statuses]


@ONE_MODE
def test_the_owner_on_a_rotated_ipv6_address_of_the_same_network_is_not_a_stranger(client):
    """IPv6 privacy addresses (RFC 8981) change the interface part every day: the owner's
    usual network is its /64, not one address. Guesses spread over a few addresses slow
    every address the account has not logged in from, so after a rotation the owner is
    kept out from their usual network by an attacker elsewhere."""
    app = client.application
    app.config.update(WF_LOGIN_MAX_FAILURES=3, WF_LOGIN_MAX_FAILURES_PER_ACCOUNT=6)
    register(client, "owner6@example.com")
    usual = attempt(client, "owner6@example.com", "correct horse", "2001:db8:7:7::aaaa")
    assert usual.status_code == 200
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(3):
            attempt(client, "owner6@example.com", "guess", address)
    rotated = attempt(client, "owner6@example.com", "correct horse", "2001:db8:7:7::bbbb")
    assert rotated.status_code == 200, rotated.get_json()


@ONE_MODE
def test_a_backed_off_unknown_email_costs_no_more_work_than_a_known_one(app, client):
    """A login for an email memory does not know queries the database for a CLI-made
    admin before the back-off is checked; a known email answers its 429 from memory. Once
    an address backs off, every further 429 is answered in microseconds for a registered
    email and after database round trips for an unknown one, with no password hash to
    blur the difference: a timing oracle for enumeration. Counted here as SQL statements
    (deterministic), the cause of the time."""
    app.config.update(WF_LOGIN_MAX_FAILURES=1, WF_LOGIN_MAX_FAILURES_PER_ADDRESS=1000)
    register(client, "known@example.com")
    for email in ("known@example.com", "nobody@example.com"):
        attempt(client, email, "guess", ATTACKER)  # each pair now backs off

    def statements_for(email: str) -> int:
        seen: list[str] = []
        listen = lambda *args: seen.append(args[2])  # noqa: E731 (before_cursor_execute)
        engine = get_storage(app).parts.engine
        sa.event.listen(engine, "before_cursor_execute", listen)
        try:
            assert attempt(client, email, "guess", ATTACKER).status_code == 429
        finally:
            sa.event.remove(engine, "before_cursor_execute", listen)
        return len(seen)

    assert statements_for("nobody@example.com") == statements_for("known@example.com")


# -- request bodies -------------------------------------------------------------------------------
@ONE_MODE
@pytest.mark.parametrize(
    "path, template",
    [
        ("/api/auth/login", '{"email": "a@example.com", "password": %s}'),
        ("/api/auth/register", '{"email": %s, "password": "correct horse"}'),
    ],
)
def test_a_json_integer_too_long_for_python_is_a_client_error_not_a_500(client, path, template):
    """Python refuses to convert integers of more than 4300 digits (CVE-2020-10735's
    limit) with a ValueError that is not a JSONDecodeError, so webargs lets it through:
    any anonymous client makes the service answer 500 (and log a traceback) at will."""
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    body = template % ("9" * 4301)
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "bad_request"


@ONE_MODE
def test_an_import_holding_a_too_long_integer_is_refused_not_crashed(app, client):
    """The import's reader catches `JSONDecodeError` only; the same ValueError crashes the
    job with `internal_error` and a traceback in the log instead of reporting the document
    as invalid (issue 10 finding 7: one bad record is reported, never a crashed run)."""
    admin = make_admin(app, client)
    document = export(client, admin).decode().replace('"Administrator"', "9" * 4301, 1)

    finished = run_import(app, client, admin, document.encode())

    assert finished["state"] == "failed"
    assert finished["error"]["code"] == "invalid_export", finished["error"]


@pytest.mark.parametrize(
    "app", [("dual", "memory"), ("database-only", None)], indirect=True, ids=["dual", "db-only"]
)
def test_a_float_every_backend_stores_the_same_way(app, client, auth):
    """PostgreSQL's jsonb keeps numbers as exact decimals: `1e300` comes back as the
    301-digit integer 10**300, which is not the float that was sent. Any user's one request
    makes memory and the database differ for good (verify reports it, a backfill copies it
    again, the guards refuse the flip of reads), and in database-only the value read back
    is not the value acknowledged."""
    body = {"name": "numbers", "settings": {"threshold": 1e300}}
    created = client.post("/api/workflows", json=body, headers=auth)
    assert created.status_code == 201, created.get_json()
    read = client.get(f"/api/workflows/{created.get_json()['id']}", headers=auth)
    assert read.get_json()["settings"] == created.get_json()["settings"]
    assert_backends_agree(app)


# -- imports ------------------------------------------------------------------------------------
@ONE_MODE
def test_an_import_never_promotes_an_account_that_keeps_its_keys_and_tokens(app, client):
    """The security model says an existing account becomes an admin only through
    `create-admin --promote`, which revokes its keys and tokens. An export whose record of
    that account says `admin` (an older export from before a demotion, one from another
    environment, one edited) promotes it in place: the user's live API key and token now
    carry the admin role, exactly what finding 3 closed for create-admin."""
    admin = make_admin(app, client)
    user = register(client, password="user password")
    _, secret = services(app).api_keys.create(user["id"], "robot", Actor(user["id"]))
    document = json.loads(export(client, admin))
    for record in document["repositories"]["users"]:
        if record["id"] == user["id"]:
            record["role"] = "admin"

    restored = run_import(app, client, admin, json.dumps(document).encode())

    assert restored["state"] == "completed", restored
    with_key = client.get("/admin/migration", headers={"X-API-Key": secret})
    assert with_key.status_code in (401, 403), "the user's old key reaches the admin routes"
