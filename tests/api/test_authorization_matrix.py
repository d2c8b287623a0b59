"""Who may do what: every route of the app's URL map, called by an anonymous client,
another user, the owner and an admin, answers the status this matrix states, and that
status is one the OpenAPI document declares for the operation.

A route without an entry fails `test_every_route_has_an_entry`: adding a route means
deciding, here, who may call it. "The owner" owns the records the path names (a
workflow, an API key); on routes that name none it is simply a logged-in user."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest

from tests.api.conftest import login, make_admin, register
from tests.api.fuzzing import fuzzed_app

ANONYMOUS, OTHER, OWNER, ADMIN = "anonymous", "another user", "the owner", "an admin"
CALLERS = (ANONYMOUS, OTHER, OWNER, ADMIN)
PASSWORD = "admin password"  # every caller's, so a body that asks for it fits them all
UNKNOWN = "4f0c4f6e-3b0e-4a52-9f0e-1d5e7cc2b7a1"
NEW, OWNERS = "<a new address>", "<the owner's address>"  # filled in per test


@dataclass(frozen=True)
class Entry:
    """The statuses of one operation by caller, and what to send."""

    anonymous: int
    other: int
    owner: int
    admin: int
    body: dict | None = None
    query: str = ""
    raw: bool = False  # the body is the app's own export document

    def status(self, caller: str) -> int:
        return {ANONYMOUS: self.anonymous, OTHER: self.other, OWNER: self.owner}.get(
            caller, self.admin
        )


def users_only(status: int, **request) -> Entry:
    """Any logged-in caller, on records of their own."""
    return Entry(401, status, status, status, **request)


def owner_only(status: int, admin: int | None = None, **request) -> Entry:
    """The owner's records: another user is told they do not exist."""
    return Entry(401, 404, status, status if admin is None else admin, **request)


def admins_only(status: int = 200, **request) -> Entry:
    return Entry(401, 403, 403, status, **request)


def anyone(status: int = 200, **request) -> Entry:
    return Entry(status, status, status, status, **request)


WORKFLOW = "/api/workflows/<uuid:workflow_id>"
CREDENTIAL = "/api/credentials/<uuid:credential_id>"
EXECUTION = "/api/executions/<uuid:execution_id>"  # the owner's failed run
MATRIX: dict[tuple[str, str], Entry] = {
    ("GET", "/health"): anyone(),
    ("GET", "/health/ready"): anyone(),
    ("GET", "/metrics"): anyone(),  # unless WF_METRICS_TOKEN is set
    ("GET", "/openapi.json"): anyone(),
    ("GET", "/docs"): anyone(),
    ("GET", "/docs/docs.js"): anyone(),
    ("GET", "/docs/assets/<path:filename>"): anyone(404),  # a file Swagger UI does not have
    ("GET", "/static/<path:filename>"): anyone(404),  # the API serves no static files
    ("POST", "/api/auth/register"): anyone(201, body={"email": NEW, "password": PASSWORD}),
    ("POST", "/api/auth/login"): anyone(200, body={"email": OWNERS, "password": PASSWORD}),
    ("GET", "/api/users/me"): users_only(200),
    ("PATCH", "/api/users/me"): users_only(200, body={"name": "Ada"}),
    ("POST", "/api/users/me/password"): users_only(
        200, body={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("GET", "/api/users/me/api-keys"): users_only(200),
    ("POST", "/api/users/me/api-keys"): users_only(201, body={"name": "ci"}),
    ("DELETE", "/api/users/me/api-keys/<key_id>"): owner_only(200, admin=404),
    ("GET", "/api/workflows"): users_only(200),
    ("POST", "/api/workflows"): users_only(201, body={"name": "Orders"}),
    ("POST", "/api/workflows/import"): users_only(
        201,
        body={
            "format": "wfplatform.workflow",
            "format_version": 1,
            "workflow": {"name": "Orders"},
        },
    ),
    ("GET", WORKFLOW): owner_only(200),
    ("PATCH", WORKFLOW): owner_only(200, admin=403, body={"name": "Renamed"}),  # admins read
    ("DELETE", WORKFLOW): owner_only(204, admin=403),
    ("GET", f"{WORKFLOW}/versions"): owner_only(200),
    ("GET", f"{WORKFLOW}/versions/<int:number>"): owner_only(200),
    ("POST", f"{WORKFLOW}/versions/<int:number>/restore"): owner_only(200, admin=403),
    ("POST", f"{WORKFLOW}/duplicate"): owner_only(201),
    ("GET", f"{WORKFLOW}/export"): owner_only(200),
    ("POST", f"{WORKFLOW}/execute"): owner_only(202, admin=403, body={"input": {"n": 1}}),
    ("GET", "/api/executions"): users_only(200),
    ("GET", EXECUTION): owner_only(200),
    ("GET", f"{EXECUTION}/timeline"): owner_only(200),
    ("GET", f"{EXECUTION}/events"): owner_only(200),  # it finished: the stream ends
    ("POST", f"{EXECUTION}/cancel"): owner_only(409, admin=403),  # it failed already
    ("POST", f"{EXECUTION}/retry"): owner_only(202, admin=403),
    ("GET", "/api/credentials"): users_only(200),
    ("POST", "/api/credentials"): users_only(
        201, body={"name": "Slack", "type": "slackApi", "data": {"token": "xoxb"}}
    ),
    ("GET", CREDENTIAL): owner_only(200),  # admins see metadata (never data: a 403)
    ("PATCH", CREDENTIAL): owner_only(200, admin=403, body={"name": "Renamed"}),
    ("DELETE", CREDENTIAL): owner_only(204, admin=403),
    ("GET", "/api/audit-logs"): admins_only(),
    ("GET", "/admin/migration"): admins_only(),
    ("PUT", "/admin/migration/mode"): admins_only(
        body={"mode": "memory-only", "reason": "authorization matrix", "dry_run": True}
    ),
    ("GET", "/admin/migration/readiness"): admins_only(),
    ("GET", "/admin/migration/history"): admins_only(),
    ("POST", "/admin/migration/stats/reset"): admins_only(body={}),
    ("POST", "/admin/migration/sync"): admins_only(),
    ("POST", "/admin/migration/verify"): admins_only(body={}),
    # memory-only: memory is the primary copy, loading it from the database is refused
    ("POST", "/admin/migration/load-memory"): admins_only(
        409, body={"repositories": ["audit_logs"]}
    ),
    ("POST", "/admin/migration/repair-text"): admins_only(body={"dry_run": True}),
    ("GET", "/admin/migrations"): admins_only(),
    ("POST", "/admin/migrations"): admins_only(202, body={"dry_run": True}),
    ("GET", "/admin/migrations/<backfill_id>"): admins_only(404),  # no such run
    ("POST", "/admin/migrations/<backfill_id>/rollback"): admins_only(404, body={}),
    ("GET", "/admin/export"): admins_only(),
    ("POST", "/admin/import"): admins_only(202, query="?dry_run=true", raw=True),
    ("GET", "/admin/imports"): admins_only(),
    ("GET", "/admin/imports/<job_id>"): admins_only(404),  # no such job
    ("POST", "/admin/integrity"): admins_only(body={}),
}
CASES = [
    pytest.param(method, rule, caller, id=f"{method} {rule} by {caller}")
    for (method, rule) in MATRIX
    for caller in CALLERS
]


def routes(app) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


@pytest.fixture(scope="module")
def service(request, tmp_path_factory):
    with fuzzed_app(
        request, tmp_path_factory.mktemp("matrix"), "memory-only", None, "sqlite"
    ) as app:
        yield app


@pytest.fixture(scope="module")
def document(service) -> dict:
    return service.test_client().get("/openapi.json").get_json()


def test_every_route_has_an_entry(service):
    assert routes(service) - set(MATRIX) == set(), "add the routes to MATRIX"
    assert set(MATRIX) - routes(service) == set(), "remove the routes gone from MATRIX"


def _headers(service, client, caller: str) -> dict:
    if caller == ANONYMOUS:
        return {}
    if caller == ADMIN:
        return make_admin(service, client)
    return login(client, register(client, password=PASSWORD)["email"], PASSWORD)


# a workflow whose runs fail: retried (202), not cancelled (409: finished)
RUNNABLE = {
    "name": "Owned",
    "nodes": [{"id": "start", "type": "manual"}, {"id": "boom", "type": "fail"}],
    "edges": [{"from": "start", "to": "boom"}],
}
VARIABLE = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def _documented(document: dict, method: str, rule: str) -> dict | None:
    return document["paths"].get(VARIABLE.sub(r"{\1}", rule), {}).get(method.lower())


def _body(document: dict, method: str, rule: str, entry: Entry, owner_email: str):
    """The entry's body, addresses filled in, with the current password where the
    document asks for one."""
    if entry.body is None:
        return None
    addresses = {NEW: f"new-{uuid.uuid4().hex}@example.com", OWNERS: owner_email}
    body = {name: addresses.get(str(value), value) for name, value in entry.body.items()}
    content = _documented(document, method, rule).get("requestBody", {}).get("content", {})
    reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    schema = document["components"]["schemas"].get(reference.rsplit("/", 1)[-1], {})
    if "current_password" in schema.get("properties", {}):
        body["current_password"] = PASSWORD
    return body


def _path(client, document: dict, rule: str, owner: dict) -> str:
    """The rule with its variables naming the owner's records."""
    workflow = client.post("/api/workflows", json=RUNNABLE, headers=owner).get_json()
    run = None
    if "<uuid:execution_id>" in rule:  # a run only where the rule names one
        execute = f"/api/workflows/{workflow['id']}/execute?wait=true"
        run = client.post(execute, json={}, headers=owner).get_json()
    key_entry = Entry(401, 201, 201, 201, body={"name": "k"})
    key_body = _body(document, "POST", "/api/users/me/api-keys", key_entry, "")
    key = client.post("/api/users/me/api-keys", json=key_body, headers=owner).get_json()
    credential_body = {"name": "Owned", "type": "httpBasicAuth", "data": {"user": "u"}}
    credential = client.post("/api/credentials", json=credential_body, headers=owner).get_json()
    values = {
        "workflow_id": workflow["id"],
        "number": "1",
        "key_id": key["id"],
        "credential_id": credential["id"],
        "execution_id": run["id"] if run else UNKNOWN,
    }
    return VARIABLE.sub(lambda match: values.get(match.group(1), UNKNOWN), rule)


@pytest.mark.parametrize(("method", "rule", "caller"), CASES)
def test_each_caller_gets_the_documented_status(service, document, method, rule, caller):
    client = service.test_client()
    entry = MATRIX[(method, rule)]
    owner = login(client, register(client, password=PASSWORD)["email"], PASSWORD)
    owner_email = client.get("/api/users/me", headers=owner).get_json()["email"]
    path = _path(client, document, rule, owner) + entry.query
    headers = owner if caller == OWNER else _headers(service, client, caller)
    if entry.raw:
        export = client.get("/admin/export", headers=make_admin(service, client)).get_data()
        headers = {**headers, "Content-Type": "application/json"}
        response = client.open(path, method=method, data=export, headers=headers)
    else:
        body = _body(document, method, rule, entry, owner_email)
        response = client.open(path, method=method, json=body, headers=headers)
    response.close()  # a file answer (the /docs assets) holds its file open until then
    assert response.status_code == entry.status(caller), response.get_data(as_text=True)[:300]
    operation = _documented(document, method, rule)
    if operation is not None:  # /health, /metrics, /docs are outside the document
        assert str(response.status_code) in operation["responses"], "not in the document"
