"""Numbered versions and restore, duplicates, export and import, and the audit trail they
leave; in dual modes both backends agree afterwards."""

from __future__ import annotations

import threading

from tests.api.conftest import login, make_admin, register
from tests.api.workflow_helpers import EDGES, NODES, assert_backends_agree, create, url
from wfplatform.repositories.audit import AuditQuery


def _versions(client, auth, workflow) -> list[int]:
    response = client.get(url(workflow, "versions"), headers=auth)
    assert response.status_code == 200
    return [item["number"] for item in response.get_json()["items"]]


def test_node_changes_and_requests_store_numbered_versions(client, auth):
    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    assert _versions(client, auth, workflow) == [1]

    client.patch(url(workflow), json={"name": "Renamed"}, headers=auth)
    assert _versions(client, auth, workflow) == [1]  # a rename alone stores none
    client.patch(url(workflow), json={"edges": EDGES[:1]}, headers=auth)
    client.patch(url(workflow), json={"create_version": True}, headers=auth)

    page = client.get(url(workflow, "versions") + "?limit=2", headers=auth).get_json()
    assert (page["total"], [item["number"] for item in page["items"]]) == (3, [3, 2])
    assert "nodes" not in page["items"][0]
    second = client.get(url(workflow, "versions", "2"), headers=auth).get_json()
    assert (second["name"], second["edges"], second["nodes"]) == ("Renamed", EDGES[:1], NODES)
    assert second["created_by"] == workflow["owner_id"]


def test_restore_applies_a_snapshot_and_stores_it_as_a_new_version(app, client, auth):
    workflow = create(client, auth, nodes=NODES, edges=EDGES, settings={"timezone": "UTC"})
    client.patch(
        url(workflow), json={"name": "Changed", "nodes": NODES[:1], "edges": []}, headers=auth
    )

    restored = client.post(url(workflow, "versions", "1", "restore"), headers=auth)
    assert restored.status_code == 200
    body = restored.get_json()
    assert (body["name"], body["nodes"], body["edges"]) == ("Orders", NODES, EDGES)
    assert (body["version"], restored.headers["ETag"]) == (3, '"3"')
    assert _versions(client, auth, workflow) == [3, 2, 1]
    stale = client.post(
        url(workflow, "versions", "1", "restore"), headers={**auth, "If-Match": "2"}
    )
    assert stale.status_code == 409
    assert_backends_agree(app)


def test_unknown_or_malformed_version_numbers_are_not_found(client, auth):
    workflow = create(client, auth)
    for number in ("9", "x", "-1", "99999999999999999999"):
        assert client.get(url(workflow, "versions", number), headers=auth).status_code == 404
    assert client.post(url(workflow, "versions", "9", "restore"), headers=auth).status_code == 404


def test_duplicate_makes_a_draft_copy_for_the_caller(app, client, auth):
    workflow = create(client, auth, status="active", nodes=NODES, edges=EDGES)
    client.patch(url(workflow), json={"create_version": True}, headers=auth)
    admin = make_admin(app, client)

    response = client.post(url(workflow, "duplicate"), headers=admin)
    assert response.status_code == 201
    copy = response.get_json()
    assert copy["id"] != workflow["id"]
    assert (copy["name"], copy["status"], copy["version"]) == ("Orders (copy)", "draft", 1)
    assert copy["owner_id"] != workflow["owner_id"]
    assert (copy["nodes"], copy["edges"]) == (NODES, EDGES)
    assert _versions(client, admin, copy) == [1]
    assert_backends_agree(app)


def test_export_then_import_round_trips(app, client, auth):
    fields = {"description": "d", "status": "active", "tags": ["shop"], "settings": {"retries": 2}}
    workflow = create(client, auth, nodes=NODES, edges=EDGES, **fields)
    document = client.get(url(workflow, "export"), headers=auth).get_json()
    assert (document["format"], document["format_version"]) == ("wfplatform.workflow", 1)
    assert set(document["workflow"]) == {*fields, "name", "nodes", "edges"}

    other = login(client, register(client)["email"])
    response = client.post("/api/workflows/import", json=document, headers=other)
    assert response.status_code == 201
    imported = response.get_json()
    assert imported["id"] != workflow["id"]
    assert imported["owner_id"] != workflow["owner_id"]
    again = client.get(url(imported, "export"), headers=other).get_json()
    assert again["workflow"] == document["workflow"]
    assert_backends_agree(app)


def test_import_checks_the_document_strictly(client, auth):
    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    document = client.get(url(workflow, "export"), headers=auth).get_json()

    def rejected(changes: dict, workflow_changes: dict | None = None) -> dict:
        body = {**document, **changes}
        body["workflow"] = {**document["workflow"], **(workflow_changes or {})}
        response = client.post("/api/workflows/import", json=body, headers=auth)
        assert response.status_code == 422
        return response.get_json()["error"]["details"]

    assert "format" in rejected({"format": "n8n"})["json"]
    assert "format_version" in rejected({"format_version": 2})["json"]
    assert "id" in rejected({}, {"id": workflow["id"]})["json"]["workflow"]
    assert "edges" in rejected({}, {"edges": [{"from": "hook", "to": "nowhere"}]})
    assert client.get("/api/workflows", headers=auth).get_json()["total"] == 1


def test_every_change_leaves_an_audit_entry(app, client, auth):
    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    client.patch(
        url(workflow), json={"name": "Renamed", "nodes": NODES[:1], "edges": []}, headers=auth
    )
    client.post(url(workflow, "versions", "1", "restore"), headers=auth)
    copy = client.post(url(workflow, "duplicate"), headers=auth).get_json()
    document = client.get(url(workflow, "export"), headers=auth).get_json()
    imported = client.post("/api/workflows/import", json=document, headers=auth).get_json()
    client.delete(url(workflow), headers=auth)

    storage = app.extensions["wf_storage"]
    entries = storage.audit_logs.list(AuditQuery(resource_type="workflow", limit=20)).items
    trail = [(entry.action, entry.resource_id) for entry in reversed(entries)]
    assert trail == [
        ("workflow.create", workflow["id"]),
        ("workflow.update", workflow["id"]),
        ("workflow.restore", workflow["id"]),
        ("workflow.duplicate", copy["id"]),
        ("workflow.import", imported["id"]),
        ("workflow.delete", workflow["id"]),
    ]
    update = entries[-2].changes
    assert update["name"] == {"from": "Orders", "to": "Renamed"}
    assert (update["nodes"], update["edges"], update["stored_version"]) == ("changed", "changed", 2)
    assert entries[-3].changes["restored_version"] == 1
    assert all(entry.actor_id == workflow["owner_id"] for entry in entries)
    assert_backends_agree(app)


def test_concurrent_changes_either_apply_or_conflict(app, client, auth):
    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    statuses = []

    def rename_node(index: int) -> None:
        nodes = [{**NODES[0], "name": f"hook {index}"}, *NODES[1:]]
        response = app.test_client().patch(url(workflow), json={"nodes": nodes}, headers=auth)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=rename_node, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(statuses) <= {200, 409} and 200 in statuses
    applied = statuses.count(200)
    assert client.get(url(workflow), headers=auth).get_json()["version"] == 1 + applied
    assert _versions(client, auth, workflow) == list(range(1 + applied, 0, -1))
    assert_backends_agree(app)
