"""Imports hold records to the API's rules: an admin's restore reports each record the API
would refuse and keeps the owner's lists working; a user's workflow import is checked like
a create."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import make_admin
from tests.api.test_admin_backup import export, run_import, with_record
from tests.api.workflow_helpers import EDGES, NODES, create
from tests.factories import make_workflow
from wfplatform.domain.codec import to_dict
from wfplatform.domain.users import User


@pytest.fixture
def admin(app, client):
    return make_admin(app, client)


def test_a_restored_string_node_is_reported_and_the_owners_lists_keep_working(
    app, client, auth, admin
):
    owner_id = client.get("/api/users/me", headers=auth).get_json()["id"]
    create(client, auth, nodes=NODES, edges=EDGES)
    hostile = {**to_dict(make_workflow(User("x@example.com", "x", id=owner_id))), "edges": []}
    hostile["nodes"] = ["evil"]
    body = with_record(export(client, admin), "workflows", hostile)

    refused = run_import(app, client, admin, body)
    assert refused["state"] == "failed"
    (sample,) = refused["error"]["details"]["repositories"]["workflows"]["samples"]
    assert sample["id"] == hostile["id"]
    assert sample["problems"] == {"nodes": {"0": {"_schema": ["Invalid input type."]}}}
    forced = run_import(app, client, admin, body, force="true")
    assert forced["state"] == "completed"

    listed = client.get("/api/workflows?node_type=webhook", headers=auth)
    assert listed.status_code == 200
    assert listed.get_json()["total"] == 1
    assert client.get(f"/api/workflows/{hostile['id']}", headers=auth).status_code == 404


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


HOSTILE_WORKFLOWS = {
    "string node": {"name": "w", "nodes": ["evil"]},
    "deep nesting": {"name": "w", "settings": nested(40)},
    "edge to nowhere": {"name": "w", "nodes": NODES, "edges": [{"from": "hook", "to": "gone"}]},
    "duplicate node ids": {"name": "w", "nodes": [NODES[0], NODES[0]]},
    "overlong name": {"name": "n" * 201},
    "unknown field": {"name": "w", "owner_id": "someone else"},
    "not finite": {"name": "w", "settings": {"x": float("nan")}},
}


@pytest.mark.parametrize("attack", HOSTILE_WORKFLOWS)
def test_a_users_workflow_import_is_checked_like_a_create(client, auth, attack):
    document = {"format": "wfplatform.workflow", "format_version": 1}
    document["workflow"] = HOSTILE_WORKFLOWS[attack]
    body = json.dumps(document, allow_nan=True)
    for path in ("/api/workflows/import", "/api/workflows"):
        sent = body if path.endswith("import") else json.dumps(document["workflow"])
        response = client.post(path, data=sent, headers=auth, content_type="application/json")
        assert response.status_code == 422, (path, response.get_json())
        assert set(response.get_json()["error"]) == {"code", "message", "details"}
    assert client.get("/api/workflows", headers=auth).get_json()["total"] == 0
