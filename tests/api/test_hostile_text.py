"""Text no backend can store (a lone UTF-16 surrogate, a NUL), sent wherever the API reads a
string: every one is a 422 in the error shape naming the field, never a 500, and nothing is
stored in either backend."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import login, make_admin, register
from tests.api.workflow_helpers import create, url
from wfplatform.backends.sql import new_session
from wfplatform.bootstrap import get_storage, services
from wfplatform.domain.users import User
from wfplatform.services.workflows import EXPORT_FORMAT, EXPORT_FORMAT_VERSION

# A lone high and a lone low surrogate (not valid Unicode: UTF-8 cannot encode them), and
# NUL (valid Unicode, but PostgreSQL stores it in neither text nor jsonb).
UNSTORABLE = ("\ud800", "\udfff", "\u0000")


def send(client, method: str, path: str, body: object, headers: dict | None = None):
    """`body` as JSON the way any client's encoder writes it: the character as an escape."""
    data = json.dumps(body)  # ensure_ascii: "\ud800" travels as the six characters \ud800
    return client.open(
        path, method=method, data=data, content_type="application/json", headers=headers
    )


def stored(app) -> dict[str, tuple[int, int]]:
    """How many records each repository holds in memory and in the database."""
    with app.app_context():
        storage = get_storage()
        with new_session(storage.parts.engine) as session:
            return {
                name: (storage.in_memory(name).count(), binding.sql(session).count())
                for name, binding in storage.parts.bindings.items()
            }


def assert_refused(response, *path: str) -> None:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    node = error["details"]
    for step in path:
        assert step in node, (path, error["details"])
        node = node[step]


def test_accounts_refuse_unstorable_text_and_store_nothing(app, client):
    known = register(client)["email"]
    before = stored(app)
    fine = {"email": "new@example.com", "password": "correct horse"}
    for bad in UNSTORABLE:
        for body, field in [
            ({**fine, "email": f"new{bad}@example.com"}, "email"),
            ({**fine, "password": f"correct{bad}horse"}, "password"),
            ({**fine, "name": f"Ada{bad}"}, "name"),
        ]:
            assert_refused(send(client, "POST", "/api/auth/register", body), "json", field)
        for body, field in [
            ({"email": known, "password": f"correct{bad}horse"}, "password"),
            ({"email": f"{known}{bad}", "password": "correct horse"}, "email"),
        ]:
            assert_refused(send(client, "POST", "/api/auth/login", body), "json", field)
    assert stored(app) == before
    assert client.post("/api/auth/register", json=fine).status_code == 201


def test_a_signed_in_user_cannot_store_unstorable_text_in_the_account(app, client, auth):
    before = stored(app)
    me = "/api/users/me"
    for bad in UNSTORABLE:
        assert_refused(send(client, "PATCH", me, {"name": bad}, auth), "json", "name")
        email = {"email": f"a{bad}@x.org"}
        assert_refused(send(client, "PATCH", me, email, auth), "json", "email")
        change = {"current_password": "correct horse", "new_password": f"new {bad} password"}
        response = send(client, "POST", f"{me}/password", change, auth)
        assert_refused(response, "json", "new_password")
        wrong = {"current_password": f"correct{bad}horse", "new_password": "new password"}
        response = send(client, "POST", f"{me}/password", wrong, auth)
        assert_refused(response, "json", "current_password")
        key = {"name": f"ci {bad}"}
        assert_refused(send(client, "POST", f"{me}/api-keys", key, auth), "json", "name")
    assert stored(app) == before
    assert client.get(me, headers=auth).get_json()["name"] == ""


def test_workflow_writes_refuse_unstorable_text_at_any_depth(app, client, auth):
    workflow = create(client, auth)
    before = stored(app)
    node = {"id": "hook", "type": "webhook", "parameters": {"path": "orders"}}
    for bad in UNSTORABLE:
        for body, path in [
            ({"name": f"Orders {bad}"}, ("name",)),
            ({"name": "Orders", "tags": ["fine", bad]}, ("tags", "1")),
            ({"name": "Orders", "nodes": [{**node, "parameters": {"p": [bad]}}]}, ("nodes", "0")),
            ({"name": "Orders", "settings": {f"zone{bad}": "UTC"}}, ("settings", "_schema")),
            ({"name": "Orders", f"field{bad}": 1}, ("_schema",)),
        ]:
            assert_refused(send(client, "POST", "/api/workflows", body, auth), "json", *path)
        update = {"description": f"new {bad}", "version": 1}
        assert_refused(send(client, "PATCH", url(workflow), update, auth), "json", "description")
        document = {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "workflow": {"name": "Imported", "nodes": [{**node, "name": bad}]},
        }
        response = send(client, "POST", "/api/workflows/import", document, auth)
        assert_refused(response, "json", "workflow", "nodes", "0", "name")
    assert stored(app) == before
    assert client.get(url(workflow), headers=auth).get_json()["version"] == 1


def test_raw_bytes_that_decode_to_a_surrogate_are_refused_too(app, client, auth):
    """UTF-8 bytes of a surrogate (ED A0 80) instead of the escape: not UTF-8 at all."""
    before = stored(app)
    body = b'{"name": "Orders \xed\xa0\x80"}'
    response = client.post(
        "/api/workflows", data=body, content_type="application/json", headers=auth
    )
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["error"]["code"] in ("bad_request", "validation_failed")
    assert stored(app) == before


def test_query_parameters_refuse_nul_and_a_path_holding_it_names_nothing(client, auth):
    create(client, auth, name="Orders")
    for query in ("search=%00", "tags=a%00b", "node_type=%00", "credential_type=x%00"):
        response = client.get(f"/api/workflows?{query}", headers=auth)
        assert_refused(response, "query", query.split("=")[0])
    assert_refused(client.get("/api/workflows?%00=1", headers=auth), "query", "_schema")
    assert client.delete("/api/users/me/api-keys/key%00", headers=auth).status_code == 404


def test_credentials_with_nul_are_refused_before_anyone_looks_them_up(client, auth):
    for headers in ({"Authorization": "Bearer wfk_\x00"}, {"X-API-Key": "wfk_abc\x00"}):
        assert_refused(client.get("/api/users/me", headers=headers), "headers")
    response = client.get("/api/users/me", headers={**auth, "User-Agent": "curl\x00"})
    assert_refused(response, "headers", "User-Agent")


def test_other_control_characters_are_text_like_any_other(client, auth):
    """Tabs, escapes and bells are valid Unicode every backend stores: kept as sent."""
    name = "tab\there \x1b[31m bell\x07 \x7f"
    workflow = create(client, auth, name=name, tags=["\x01"])
    assert client.get(url(workflow), headers=auth).get_json()["name"] == name
    found = client.get("/api/workflows?search=%09here", headers=auth).get_json()
    assert [item["id"] for item in found["items"]] == [workflow["id"]]


def test_the_error_never_repeats_the_offending_text(client, auth):
    secret = "hunter2\u0000" + "x" * 5000
    response = send(client, "POST", "/api/auth/login", {"email": "a@b.c", "password": secret})
    assert response.status_code == 422
    assert "hunter2" not in response.get_data(as_text=True)


def test_a_later_user_is_unaffected_by_a_refused_one(client):
    """A refused request leaves nothing half-done: the same email registers afterwards."""
    send(client, "POST", "/api/auth/register", {"email": "z@x.org", "password": "pass\ud800word"})
    register(client, "z@x.org")
    login(client, "z@x.org")


@pytest.mark.parametrize("app", [("dual", "memory"), ("memory-only", None)], indirect=True)
def test_records_stored_before_the_checks_break_neither_the_export_nor_later_writes(app, client):
    """Pre-fix data: an account with a lone surrogate in its name, only in memory. Its new
    workflow is acknowledged (in dual the database then fails on copying the owner first:
    counted, not a 500), and the export answers 200 and keeps the name as it is."""
    with app.app_context():
        hashed = services().passwords.hash("correct horse")
        owner = User(email="early@example.com", password_hash=hashed, name="Ada \ud800")
        get_storage().in_memory("users").upsert(owner)
    headers = login(client, "early@example.com")
    response = client.post("/api/workflows", json={"name": "Later"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert client.get(url(response.get_json()), headers=headers).status_code == 200
    admin = make_admin(app, client)
    export = client.get("/admin/export", headers=admin)
    assert export.status_code == 200
    assert b'"Ada \\ud800"' in export.get_data()


def test_validation_details_are_bounded_whatever_the_client_sends(client, auth):
    """marshmallow names every unknown field: thousands of huge names would come back."""
    body = {f"field {index} {'x' * 3_000}": 1 for index in range(2_000)}  # 6 MB
    response = client.post("/api/auth/login", json=body)
    assert response.status_code == 422
    assert len(response.get_data()) < 10_000
    details = response.get_json()["error"]["details"]["json"]
    assert "email" in details and "password" in details  # what is missing is still said
    assert any(key.startswith("field") and len(key) < 300 for key in details)
    assert details["…"] == f"and {2_002 - (len(details) - 1)} more"
    nodes = [{"id": "n", "type": "webhook", "unknown": "x" * 1_000}] * 1_000
    response = client.post("/api/workflows", json={"name": "Many", "nodes": nodes}, headers=auth)
    assert response.status_code == 422
    assert len(response.get_data()) < 10_000
    assert response.get_json()["error"]["details"]["json"]["nodes"]["…"] == "and 980 more"


@pytest.mark.parametrize("app", [("memory-only", None)], indirect=True)
def test_command_line_arguments_refuse_unstorable_text(app):
    """What an operator types (or a script passes: undecodable bytes in argv arrive as
    lone surrogates) is checked like a request, for every `flask wf` command."""
    runner = app.test_cli_runner()
    for bad in UNSTORABLE:
        result = runner.invoke(args=["wf", "mode", "set", "dual", "--reason", f"why{bad}"])
        assert result.exit_code == 2, result.output
        assert "argument 5" in result.output and "cannot be stored" in result.output
        email = f"ops{bad}@example.com"
        result = runner.invoke(args=["wf", "create-admin", "--email", email, "--password", "x" * 9])
        assert result.exit_code == 2, result.output
    shown = runner.invoke(args=["wf", "mode", "show"])
    assert json.loads(shown.output)["users"]["mode"] == "memory-only"


@pytest.mark.parametrize("app", [("dual", "memory")], indirect=True)
def test_an_admin_repairs_text_stored_before_the_checks(app, client, auth):
    with app.app_context():
        hashed = services().passwords.hash("correct horse")
        owner = User(email="early@example.com", password_hash=hashed, name="Ada \ud800")
        get_storage().in_memory("users").upsert(owner)
    admin = make_admin(app, client)
    assert client.post("/admin/migration/repair-text", json={}, headers=auth).status_code == 403

    preview = client.post("/admin/migration/repair-text", json={"dry_run": True}, headers=admin)
    assert preview.get_json()["ids"] == {"users": [owner.id]}
    repaired = client.post("/admin/migration/repair-text", json={}, headers=admin).get_json()

    assert repaired == {
        "dry_run": False,
        "repaired": {"users": 1},
        "ids": {"users": [owner.id]},
        "refused": {},
    }
    me = client.get("/api/users/me", headers=login(client, "early@example.com")).get_json()
    assert me["name"] == "Ada \ufffd"
