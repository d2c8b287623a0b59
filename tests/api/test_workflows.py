"""The workflows API: CRUD, ownership, filters, pagination, concurrency and bad input."""

from __future__ import annotations

from tests.api.conftest import login, make_admin, register
from tests.api.workflow_helpers import EDGES, NODES, assert_backends_agree, create, url
from wfplatform.repositories import base


def test_creates_a_workflow_with_derived_fields_and_an_etag(client, auth):
    response = client.post(
        "/api/workflows",
        json={"name": " Orders ", "tags": ["shop"], "nodes": NODES, "edges": EDGES},
        headers=auth,
    )
    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"] == url(created)
    assert response.headers["ETag"] == '"1"'
    assert created["name"] == "Orders"
    assert created["status"] == "draft"
    assert created["node_types"] == ["http_request", "slack", "webhook"]
    assert created["required_credential_types"] == ["http_basic", "slackApi"]

    fetched = client.get(url(created), headers=auth)
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.get_json() == created


def test_derived_and_unknown_fields_are_rejected(client, auth):
    body = {"name": "Orders", "node_types": ["webhook"]}
    response = client.post("/api/workflows", json=body, headers=auth)
    assert response.status_code == 422
    assert "node_types" in response.get_json()["error"]["details"]["json"]

    workflow = create(client, auth)
    response = client.patch(url(workflow), json={"owner_id": "someone"}, headers=auth)
    assert response.status_code == 422


def test_an_invalid_graph_is_a_422_naming_the_problem(client, auth):
    nodes = [{"id": "a", "type": "webhook"}, {"id": "a", "type": "set"}]
    edges = [{"from": "a", "to": "missing"}]
    response = client.post(
        "/api/workflows", json={"name": "Bad", "nodes": nodes, "edges": edges}, headers=auth
    )
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert details["nodes"] == {"1": {"id": ["duplicate node id 'a'"]}}
    assert details["edges"] == {"0": {"to": ["no node with id 'missing'"]}}

    response = client.post(
        "/api/workflows", json={"name": "Bad", "nodes": [{"id": "", "type": ""}]}, headers=auth
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["json"]["nodes"]["0"]) == {"id", "type"}

    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    response = client.patch(url(workflow), json={"nodes": NODES[:1]}, headers=auth)
    assert response.status_code == 422  # the remaining edges point at removed nodes
    assert set(response.get_json()["error"]["details"]["edges"]) == {"0", "1"}


def test_another_users_workflow_is_not_found(client, auth):
    workflow = create(client, auth)
    other = login(client, register(client)["email"])

    assert client.get(url(workflow), headers=other).status_code == 404
    assert client.patch(url(workflow), json={"name": "x"}, headers=other).status_code == 404
    assert client.delete(url(workflow), headers=other).status_code == 404
    assert client.get(url(workflow, "versions"), headers=other).status_code == 404
    assert client.get(url(workflow, "export"), headers=other).status_code == 404
    assert client.post(url(workflow, "duplicate"), headers=other).status_code == 404
    assert client.get("/api/workflows", headers=other).get_json()["total"] == 0
    assert client.get("/api/workflows?owner=all", headers=other).status_code == 403


def test_admins_read_every_workflow_but_change_only_their_own(app, client, auth):
    workflow = create(client, auth)
    admin = make_admin(app, client)

    assert client.get(url(workflow), headers=admin).status_code == 200
    assert client.get("/api/workflows", headers=admin).get_json()["total"] == 0
    everyone = client.get("/api/workflows?owner=all", headers=admin).get_json()
    assert [item["id"] for item in everyone["items"]] == [workflow["id"]]
    owner = workflow["owner_id"]
    assert client.get(f"/api/workflows?owner={owner}", headers=admin).get_json()["total"] == 1
    assert client.patch(url(workflow), json={"name": "x"}, headers=admin).status_code == 403


def test_list_filters_by_status_tags_search_node_and_credential_type(client, auth):
    webhook = create(client, auth, name="Order intake", tags=["shop"], nodes=NODES, edges=EDGES)
    timer = create(
        client,
        auth,
        name="Nightly",
        description="cleans up ORDERS",
        status="active",
        tags=["ops", "cron"],
        nodes=[{"id": "t", "type": "schedule"}],
    )
    create(client, auth, name="Unrelated", tags=["misc"])

    def ids(query: str) -> set[str]:
        response = client.get(f"/api/workflows?{query}", headers=auth)
        assert response.status_code == 200, response.get_json()
        return {item["id"] for item in response.get_json()["items"]}

    assert ids("status=active") == {timer["id"]}
    assert ids("tags=shop&tags=cron") == ids("tags=shop,cron") == {webhook["id"], timer["id"]}
    assert ids("search=oRdEr") == {webhook["id"], timer["id"]}
    assert ids("node_type=schedule") == {timer["id"]}
    assert ids("credential_type=slackApi") == ids("credential_type=http_basic") == {webhook["id"]}
    assert ids("status=active&tags=shop") == set()


def test_list_paginates_and_orders(client, auth):
    for name in ("b", "c", "a"):
        create(client, auth, name=name)

    def names(query: str) -> list[str]:
        return [
            item["name"]
            for item in client.get(f"/api/workflows?{query}", headers=auth).json["items"]
        ]

    assert names("") == ["a", "c", "b"]  # default: most recently updated first
    assert names("order=name") == ["a", "b", "c"]
    assert names("order=-name") == ["c", "b", "a"]
    assert names("order=created_at") == ["b", "c", "a"]
    page = client.get("/api/workflows?order=name&limit=2&offset=1", headers=auth).get_json()
    assert (page["total"], page["total_exact"], page["limit"], page["offset"]) == (3, True, 2, 1)
    assert [item["name"] for item in page["items"]] == ["b", "c"]


def test_a_total_past_the_count_cap_says_it_is_not_exact(client, auth, monkeypatch):
    for name in ("a", "b", "c"):
        create(client, auth, name=name)
    monkeypatch.setattr(base, "COUNTED_AT_MOST", 2)

    page = client.get("/api/workflows?limit=1", headers=auth).get_json()

    assert (page["total"], page["total_exact"], len(page["items"])) == (2, False, 1)


def test_a_stale_if_match_or_version_is_a_409(client, auth):
    workflow = create(client, auth)
    changed = client.patch(url(workflow), json={"name": "v2"}, headers={**auth, "If-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'

    stale = client.patch(url(workflow), json={"name": "v3"}, headers={**auth, "If-Match": "1"})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["details"] == {"expected_version": 1, "current_version": 2}
    assert (
        client.patch(url(workflow), json={"name": "v3", "version": 1}, headers=auth).status_code
        == 409
    )
    assert (
        client.patch(url(workflow), json={"name": "v3", "version": 2}, headers=auth).status_code
        == 200
    )
    bad = client.patch(url(workflow), json={"name": "v4"}, headers={**auth, "If-Match": "abc"})
    assert bad.status_code == 400
    assert client.delete(url(workflow), headers={**auth, "If-Match": '"2"'}).status_code == 409


def test_delete_removes_the_workflow_and_its_versions(app, client, auth):
    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    client.patch(url(workflow), json={"create_version": True}, headers=auth)

    assert client.delete(url(workflow), headers=auth).status_code == 204
    assert client.get(url(workflow), headers=auth).status_code == 404
    assert client.get(url(workflow, "versions"), headers=auth).status_code == 404
    assert client.delete(url(workflow), headers=auth).status_code == 404
    assert app.extensions["wf_storage"].workflow_versions.list_for(workflow["id"]) == []
    assert_backends_agree(app)


BAD_INPUT = [
    ("get", "/api/workflows/not-a-uuid", {}, 404),
    ("get", "/api/workflows/00000000-0000-4000-8000-000000000000", {}, 404),
    ("get", "/api/workflows?order=size&status=gone&limit=0&offset=-1", {}, 422),
    ("get", "/api/workflows?offset=99999999999999999999", {}, 422),
    ("post", "/api/workflows", {"data": "{not json", "content_type": "application/json"}, 400),
    ("post", "/api/workflows", {"json": ["a", "list"]}, 422),
    ("post", "/api/workflows", {"json": {"name": "x", "settings": {"n": float("nan")}}}, 422),
    ("post", "/api/workflows", {"json": {"name": "x", "tags": ["a,b"]}}, 422),
    ("post", "/api/workflows", {"json": {"name": "   "}}, 422),
]


def test_bad_input_is_a_json_error_never_a_500(client, auth):
    for method, path, kwargs, status in BAD_INPUT:
        response = getattr(client, method)(path, headers=auth, **kwargs)
        assert response.status_code == status, (method, path, response.get_json())
        assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_workflows_need_a_login(client):
    assert client.get("/api/workflows").status_code == 401


def test_the_openapi_document_lists_the_node_schema(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert {"id", "type", "parameters", "credentials", "position"} <= set(
        schemas["Node"]["properties"]
    )
    assert schemas["Node"]["required"] == ["id", "type"]
    assert set(schemas["Edge"]["properties"]) == {"from", "to", "output"}
