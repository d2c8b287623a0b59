"""Per-user quotas on workflows, versions and stored bytes, in every storage mode: one user
filling a quota is refused with a 409 naming the quota, its limit and the usage, while
another user is unaffected; every path that stores a workflow or a version counts."""

from __future__ import annotations

from tests.api.conftest import login, make_admin, register
from tests.api.workflow_helpers import EDGES, NODES, assert_backends_agree, create, url


def limits(app, **quotas: int) -> None:
    """Set quotas before the app's services are built (on the first request)."""
    for name, value in quotas.items():
        app.config[f"WF_QUOTA_{name.upper()}"] = value


def other_user(client) -> dict:
    return login(client, register(client)["email"])


def assert_quota_refused(response, quota: str, limit: int) -> dict:
    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["quota"] == quota
    assert error["details"]["limit"] == limit
    assert quota in error["message"]
    return error["details"]


def test_a_user_at_the_workflow_quota_is_refused_and_another_is_not(app, client):
    limits(app, workflows=2)
    attacker, bystander = other_user(client), other_user(client)
    first = create(client, attacker, nodes=NODES, edges=EDGES)
    create(client, attacker)

    refused = client.post("/api/workflows", json={"name": "one more"}, headers=attacker)
    details = assert_quota_refused(refused, "workflows", 2)
    assert details["usage"] == 2
    duplicate = client.post(url(first, "duplicate"), headers=attacker)
    assert_quota_refused(duplicate, "workflows", 2)
    exported = client.get(url(first, "export"), headers=attacker).get_json()
    imported = client.post("/api/workflows/import", json=exported, headers=attacker)
    assert_quota_refused(imported, "workflows", 2)

    create(client, bystander)  # unaffected by the attacker's usage
    listed = client.get("/api/workflows", headers=attacker).get_json()
    assert listed["total"] == 2  # nothing of the refused requests was stored
    assert client.delete(url(first), headers=attacker).status_code == 204
    create(client, attacker)  # deleting frees the quota
    assert_backends_agree(app)


def test_a_user_at_the_version_quota_can_no_longer_store_versions(app, client):
    limits(app, versions=3)
    attacker, bystander = other_user(client), other_user(client)
    workflow = create(client, attacker, nodes=NODES, edges=EDGES)
    for _ in range(2):
        stored = client.patch(url(workflow), json={"create_version": True}, headers=attacker)
        assert stored.status_code == 200

    again = client.patch(url(workflow), json={"create_version": True}, headers=attacker)
    assert assert_quota_refused(again, "versions", 3)["usage"] == 3
    edges = client.patch(url(workflow), json={"edges": EDGES[:1]}, headers=attacker)
    assert_quota_refused(edges, "versions", 3)
    restore = client.post(url(workflow, "versions", "1", "restore"), headers=attacker)
    assert_quota_refused(restore, "versions", 3)
    new = client.post("/api/workflows", json={"name": "needs a version"}, headers=attacker)
    assert_quota_refused(new, "versions", 3)

    renamed = client.patch(url(workflow), json={"name": "Renamed"}, headers=attacker)
    assert renamed.status_code == 200  # a change without a version stays possible
    assert client.get(url(workflow), headers=attacker).get_json()["version"] == 4
    create(client, bystander)
    assert_backends_agree(app)


def test_stored_bytes_count_workflows_and_their_versions(app, client):
    limits(app, bytes=20_000)
    attacker, bystander = other_user(client), other_user(client)
    large = [{"id": "a", "type": "code", "parameters": {"code": "x" * 4_000}}]
    create(client, attacker, nodes=large)  # the workflow and its version 1 hold it twice
    create(client, attacker, nodes=large)

    refused = client.post(
        "/api/workflows", json={"name": "third", "nodes": large}, headers=attacker
    )
    details = assert_quota_refused(refused, "bytes", 20_000)
    assert 16_000 <= details["usage"] <= 20_000
    assert details["requested"] > 8_000
    create(client, bystander, nodes=large)
    small = client.post("/api/workflows", json={"name": "small"}, headers=attacker)
    assert small.status_code == 201  # what still fits is stored
    grow = client.patch(url(small.get_json()), json={"description": "x" * 4_000}, headers=attacker)
    assert_quota_refused(grow, "bytes", 20_000)
    assert_backends_agree(app)


def test_a_quota_of_zero_is_no_limit(app, client):
    limits(app, workflows=0, versions=0, bytes=0)
    headers = other_user(client)
    for _ in range(3):
        workflow = create(client, headers, nodes=NODES, edges=EDGES)
        stored = client.patch(url(workflow), json={"create_version": True}, headers=headers)
        assert stored.status_code == 200


def test_quotas_apply_to_admins_too(app, client):
    limits(app, workflows=1)
    admin = make_admin(app, client)
    create(client, admin)
    refused = client.post("/api/workflows", json={"name": "second"}, headers=admin)
    assert_quota_refused(refused, "workflows", 1)
