"""The OpenAPI document is generated from the code and covers every API route."""

from __future__ import annotations

import re

import pytest

from wfplatform.executions.nodes import BUILT_IN


@pytest.fixture(params=[pytest.param(("memory-only", None), id="memory-only")])
def app(request, app):
    return app


def test_every_api_route_and_method_is_documented(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in /openapi.json"


def test_the_interactive_page_is_served(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.get_data(as_text=True).lower()


def _operation(spec: dict, path: str, method: str) -> dict:
    return spec["paths"][path][method.lower()]


def _resolve(spec: dict, item: dict) -> dict:
    """A `$ref` of the document (`#/components/...`), followed."""
    while "$ref" in item:
        node = spec
        for part in item["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        item = node
    return item


def _error_schema(spec: dict, path: str, method: str, status: int) -> dict:
    response = _resolve(spec, _operation(spec, path, method)["responses"][str(status)])
    return _resolve(spec, response["content"]["application/json"]["schema"])


ERRORS = [
    # (what is wrong, method, path as documented, path sent, body, who calls, status)
    ("anonymous", "GET", "/api/users/me", "/api/users/me", None, None, 401),
    ("not an admin", "GET", "/api/audit-logs", "/api/audit-logs", None, "user", 403),
    (
        "no such workflow",
        "GET",
        "/api/workflows/{workflow_id}",
        "/api/workflows/4f0c4f6e-3b0e-4a52-9f0e-1d5e7cc2b7a1",
        None,
        "user",
        404,
    ),
    ("invalid body", "POST", "/api/workflows", "/api/workflows", {"name": ""}, "user", 422),
    ("not JSON", "POST", "/api/auth/login", "/api/auth/login", b"{", None, 400),
]


@pytest.mark.parametrize(
    ("method", "documented", "sent", "body", "caller", "status"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_each_error_answer_is_documented_for_its_route_in_the_error_shape(
    client, auth, method, documented, sent, body, caller, status
):
    spec = client.get("/openapi.json").get_json()
    headers = auth if caller == "user" else {}
    if isinstance(body, bytes):
        headers = {**headers, "Content-Type": "application/json"}
        response = client.open(sent, method=method, data=body, headers=headers)
    else:
        response = client.open(sent, method=method, json=body, headers=headers)
    assert response.status_code == status
    schema = _error_schema(spec, documented, method, status)
    error = _resolve(spec, schema["properties"]["error"])
    assert schema["required"] == ["error"]
    assert set(error["required"]) == {"code", "message", "details"}
    assert set(response.get_json()) == {"error"}
    assert set(response.get_json()["error"]) == set(error["properties"])


def test_an_undeclared_method_answers_405_in_the_error_shape_with_allow(client, auth):
    response = client.open("/api/users/me", method="TRACE", headers=auth)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed
    assert "TRACE" not in allowed


IF_MATCH_VALUES = ['"3"', "3", 'W/"3"', "*", '"6?M"', 'W/""', "", '""3""', "abc", '"12345678901"']


@pytest.mark.parametrize("value", IF_MATCH_VALUES)
def test_the_service_reads_exactly_the_if_match_values_the_document_allows(client, auth, value):
    spec = client.get("/openapi.json").get_json()
    parameters = _operation(spec, "/api/workflows/{workflow_id}", "DELETE")["parameters"]
    schema = next(p for p in parameters if p["name"] == "If-Match")["schema"]
    documented = re.fullmatch(schema["pattern"], value) is not None
    missing = "/api/workflows/4f0c4f6e-3b0e-4a52-9f0e-1d5e7cc2b7a1"
    response = client.delete(missing, headers={**auth, "If-Match": value})
    assert (response.status_code == 404) is documented


def test_a_body_is_documented_as_optional_where_the_service_reads_none_as_empty(client, auth):
    spec = client.get("/openapi.json").get_json()
    assert _operation(spec, "/api/users/me", "PATCH")["requestBody"]["required"] is False
    assert _operation(spec, "/api/workflows", "POST")["requestBody"]["required"] is True
    assert client.patch("/api/users/me", headers=auth).status_code == 200


def test_the_document_carries_the_limits_on_credential_types(client):
    spec = client.get("/openapi.json").get_json()
    node = spec["components"]["schemas"]["Node"]["properties"]
    assert node["credentials"]["propertyNames"] == {"minLength": 1, "maxLength": 100}


def test_an_integer_is_what_the_document_calls_one(client, auth):
    """OpenAPI 3.1 is JSON Schema: 1.0 is an integer, "1" is not (found by the fuzzing)."""
    workflow = client.post("/api/workflows", json={"name": "w"}, headers=auth).get_json()
    url = f"/api/workflows/{workflow['id']}"
    assert client.patch(url, json={"version": 1.0}, headers=auth).status_code == 200
    for value in ("2", 2.5, True):
        assert client.patch(url, json={"version": value}, headers=auth).status_code == 422


def test_any_value_the_service_reads_excludes_null_unless_it_accepts_null(client, auth):
    """A marshmallow Raw field refuses null unless it allows none (found by the fuzzing)."""
    spec = client.get("/openapi.json").get_json()
    credentials = spec["components"]["schemas"]["Node"]["properties"]["credentials"]
    assert credentials["additionalProperties"] == {"not": {"type": "null"}}
    node = {"id": "a", "type": "noop", "credentials": {"slackApi": None}}
    response = client.post("/api/workflows", json={"name": "w", "nodes": [node]}, headers=auth)
    assert response.status_code == 422


def test_the_document_lists_every_node_type_the_engine_runs_with_its_parameters(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for kind in BUILT_IN:
        listed = schemas[f"NodeType.{kind.name}"]
        assert listed["description"] == kind.description
        assert set(listed.get("properties", {})) == set(kind.parameters().fields)
    assert "url" in schemas["NodeType.http_request"]["required"]
