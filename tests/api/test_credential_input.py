"""Credentials under hostile and unusual input and through a whole cut-over, in every
mode on SQLite and PostgreSQL: an expiry is one instant in UTC in every backend, and one
that leaves the years 1 to 9999 in UTC is a 422; JSON bodies take only the types the
document gives; refused data is never echoed; credentials open at every step of the
cut-over and back."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.api.conftest import app_config, login, make_admin, register
from tests.api.test_credentials import BODY, SECRET, _create
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.bootstrap import services
from wfplatform.domain.codec import utcnow
from wfplatform.errors import Conflict

PLUS_TWO = timezone(timedelta(hours=2))


def _answer(call, *args, **kwargs):
    """The response, or a test failure naming the exception a 500 would have hidden
    (TESTING propagates it)."""
    try:
        return call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"a 500: {type(error).__name__}: {error}")


# -- expires_at ------------------------------------------------------------------------------
def test_an_expires_at_with_an_offset_expires_at_that_instant_in_every_mode(app, client, auth):
    """An expiry sent with an offset expires at that instant, whichever backend reads it
    (SQLite keeps no offset: the service stores UTC), so `for_execution` refuses it."""
    expired = (utcnow() - timedelta(hours=1)).astimezone(PLUS_TWO)
    created = _create(client, auth, expires_at=expired.isoformat())
    answered = client.get(f"/api/credentials/{created['id']}", headers=auth).get_json()
    assert datetime.fromisoformat(answered["expires_at"]) == expired  # the same instant
    owner = client.get("/api/users/me", headers=auth).get_json()["id"]
    with pytest.raises(Conflict, match="expired"):
        services(app).credentials.for_execution(created["id"], owner)


def test_expires_at_is_answered_the_same_in_every_mode(app, client, auth):
    """Answered in UTC in every mode: a mode switch changes no answer."""
    created = _create(client, auth, expires_at="2030-01-01T00:00:00+02:00")
    answered = client.get(f"/api/credentials/{created['id']}", headers=auth).get_json()
    assert answered["expires_at"] == "2029-12-31T22:00:00+00:00"


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_expires_at_beyond_the_datetime_range_in_utc_is_a_422(app, client, auth, when):
    """A date whose instant in UTC leaves the years 1 to 9999 is refused before storage (it
    would fail every later read, and a backfill)."""
    response = _answer(
        client.post, "/api/credentials", json={**BODY, "expires_at": when}, headers=auth
    )
    if response.status_code == 201:  # memory-only keeps it: it must stay readable then
        path = f"/api/credentials/{response.get_json()['id']}"
        assert _answer(client.get, path, headers=auth).status_code == 200
        assert _answer(client.get, "/api/credentials", headers=auth).status_code == 200
        admin = make_admin(app, client)
        listed = _answer(client.get, "/api/credentials?owner=all", headers=admin)
        assert listed.status_code == 200
        pytest.fail(f"{when} was stored (201) instead of refused (422)")
    assert response.status_code == 422


# -- JSON body types ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body", [{"is_active": "no"}, {"is_active": 0}, {"name": "x", "version": "1"}]
)
def test_json_body_fields_take_only_the_types_the_document_gives(client, auth, body):
    """`"no"`, `0` and `"1"` are not the boolean and integer the document gives."""
    created = _create(client, auth)
    response = client.patch(f"/api/credentials/{created['id']}", json=body, headers=auth)
    assert response.status_code == 422


@pytest.mark.parametrize("kind", ["nan", "too-deep", "too-big"])
def test_refused_data_is_never_echoed(client, auth, kind):
    """Non-finite, too deeply nested or too large `data` is a 422/400 whose body never
    carries the submitted secret."""
    secret = "xoxb-echo-me-not"
    if kind == "nan":
        raw = '{"name":"n","type":"t","data":{"t":"' + secret + '","x":NaN}}'
    elif kind == "too-deep":
        raw = '{"name":"n","type":"t","data":{"a":' + "[" * 40 + f'"{secret}"' + "]" * 40 + "}}"
    else:
        raw = json.dumps({**BODY, "data": {"token": secret + "s" * 70_000}})
    response = client.post(
        "/api/credentials", data=raw, content_type="application/json", headers=auth
    )
    assert response.status_code in (400, 422)
    assert secret.encode() not in response.data


@pytest.fixture
def memory_app(engine, database_url, tmp_path):
    app = create_app(
        app_config(database_url, "memory-only", None, tmp_path),
        instance_path=str(tmp_path / "instance"),
    )
    yield app
    close_app(app)


def _switch(client, admin, **body) -> None:
    response = client.put("/admin/migration/mode", json={"reason": "r", **body}, headers=admin)
    assert response.status_code == 200, response.get_json()


def _backfilled(client, admin) -> dict:
    """A confirmed backfill of every repository, followed to its end: its job."""
    started = client.post("/admin/migrations", json={"dry_run": False}, headers=admin)
    deadline = time.monotonic() + 30
    while (job := client.get(started.headers["Location"], headers=admin).get_json())[
        "state"
    ] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def _revealed(client, auth, credential_id):
    response = client.get(f"/api/credentials/{credential_id}?reveal=true", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_credentials_open_through_the_whole_cut_over_and_back(memory_app):
    """memory-only -> dual -> backfill -> dual reading the database -> database-only -> dual
    -> load-memory -> dual reading memory: every credential (made in each mode, and one
    sealed again in database-only) opens, `verify` finds no difference, and `verify-keys`
    opens every one."""
    client = memory_app.test_client()
    admin = make_admin(memory_app, client)
    auth = login(client, register(client)["email"])
    first = _create(client, auth)
    _switch(client, admin, mode="dual")
    second = _create(client, auth, name="second", data={"k": "v2"})
    job = _backfilled(client, admin)
    assert job["state"] == "completed", job
    assert job["result"]["repositories"]["credentials"]["insert"] >= 1
    verify = client.post("/admin/migration/verify", json={}, headers=admin).get_json()
    assert verify["differences"] == 0
    _switch(client, admin, mode="dual", read_from="database")
    assert _revealed(client, auth, first["id"]) == SECRET
    assert _revealed(client, auth, second["id"]) == {"k": "v2"}
    _switch(client, admin, mode="database-only")
    third = _create(client, auth, name="third", data={"k": "v3"})
    path = f"/api/credentials/{first['id']}"
    assert client.patch(path, json={"data": {"rotated": "1"}}, headers=auth).status_code == 200
    _switch(client, admin, mode="dual", read_from="database")
    client.post("/admin/migration/load-memory", json={}, headers=admin)
    _switch(client, admin, mode="dual", read_from="memory")
    assert _revealed(client, auth, first["id"]) == {"rotated": "1"}
    assert _revealed(client, auth, third["id"]) == {"k": "v3"}
    assert client.get("/api/credentials", headers=auth).get_json()["total"] == 3
    result = memory_app.test_cli_runner().invoke(args=["wf", "verify-keys"])
    assert result.exit_code == 0, result.output


def test_one_users_far_expires_at_does_not_stop_the_backfill(memory_app):
    """An expiry no backend can read back is refused at once, so a backfill never meets one
    (one user's input would otherwise stop every repository's move to the database)."""
    client = memory_app.test_client()
    admin = make_admin(memory_app, client)
    auth = login(client, register(client)["email"])
    client.post(
        "/api/credentials", json={**BODY, "expires_at": "9999-12-31T23:00:00-14:00"}, headers=auth
    )
    _switch(client, admin, mode="dual")
    job = _backfilled(client, admin)
    assert job["state"] == "completed", job["error"]
